"""Suite-wide test settings."""

from __future__ import annotations

from collections.abc import Iterator

import numpy as np
import pytest


@pytest.fixture(scope="session", autouse=True)
def _one_torch_thread() -> Iterator[None]:
    """One torch thread for the whole suite. The networks in the tests are tiny, and
    on shared CI cores torch's intra-op threads contend and train them ~10x slower;
    results do not depend on the thread count."""
    import torch

    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


@pytest.fixture
def constant_columns() -> tuple[np.ndarray, np.ndarray]:
    """Training rows whose columns 2, 4 and 5 are constant (0, 0.1 and 1e6: the
    last two not exactly representable as a mean), and test rows that keep or
    leave those values, by whole units and by one ulp."""
    rng = np.random.default_rng(3)
    X = rng.normal(size=(300, 6))
    X[:, 2], X[:, 4], X[:, 5] = 0.0, 0.1, 1e6
    test = np.repeat(X[:5], 6, axis=0)
    test[1::6, 2] = 1.0  # one cell off
    test[2::6, 4] = np.nextafter(0.1, 1.0)  # off by one ulp still counts
    test[3::6, [2, 4, 5]] = [-1.0, 0.3, 1e6 + 1]  # three cells off
    test[4::6, 0] = 50.0  # a varying column: no out-of-support cell
    test[5::6, 5] = np.nextafter(1e6, 0.0)
    return X, test
