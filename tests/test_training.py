"""The training loop's named pieces: warm-up, best-weight restore and patience,
the step budget, and the progress bar that counts what it says it counts."""

from __future__ import annotations

from typing import Any, ClassVar

import numpy as np
import pytest
import torch
from torch import nn

from anomvae import VAEDetector, training
from anomvae.training import BestWeights, warmup_factor


def test_warmup_rises_linearly_to_one() -> None:
    assert [warmup_factor(e, 4) for e in range(6)] == [0.25, 0.5, 0.75, 1, 1, 1]
    assert warmup_factor(0, 0) == 1.0


def test_best_weights_restores_the_best_epoch_and_stops_on_patience() -> None:
    net = nn.Linear(2, 1)
    best = BestWeights(patience=2)
    losses = [3.0, 1.0, 1.5, 0.99995, 2.0]  # 0.99995 is no real improvement
    stops = []
    for epoch, loss in enumerate(losses):
        with torch.no_grad():
            net.weight.fill_(float(epoch))
        stops.append(best.update(epoch, loss, net))
    assert stops == [False, False, False, True, True]
    assert best.restore(net, len(losses)) == 2  # 1-based: the epoch with loss 1.0
    assert torch.all(net.weight == 1.0)


def test_without_comparisons_the_last_epoch_is_kept() -> None:
    net = nn.Linear(2, 1)
    assert BestWeights(None).restore(net, 7) == 7


class _Recorder:
    """Stands in for runtime.Progress and records what the loop tells it."""

    made: ClassVar[list[_Recorder]] = []

    def __init__(self, total: float | None, **kwargs: Any) -> None:
        self.total = total
        self.kwargs = kwargs
        self.completed: list[float] = []
        _Recorder.made.append(self)

    def update(self, completed: float, **kwargs: Any) -> None:
        self.completed.append(completed)

    def __enter__(self) -> _Recorder:
        return self

    def __exit__(self, *exc: object) -> None:
        pass


@pytest.mark.parametrize(("rows", "max_steps"), [(2000, 37), (64, 1000)])
def test_progress_bar_counts_steps_and_ends_full(
    monkeypatch: pytest.MonkeyPatch, rows: int, max_steps: int
) -> None:
    """The bar's total is the steps the run can take (the step budget, or every
    epoch's steps on tiny data), and the last update reaches it: it used to count
    epochs out of ``max_epochs`` and stop at a third when the step budget ended."""
    _Recorder.made.clear()
    monkeypatch.setattr(training, "Progress", _Recorder)
    X = np.random.default_rng(0).normal(size=(rows, 3))
    det = VAEDetector(
        max_steps=max_steps, max_epochs=20, batch_size=32, verbose=2, random_state=0
    ).fit(X)
    (bar,) = _Recorder.made
    assert bar.kwargs["enabled"] is True
    n_train = rows - round(0.1 * rows)
    expected = min(max_steps, 20 * -(-n_train // 32))
    assert bar.total == expected
    assert bar.completed[-1] == det.n_steps_ == expected
