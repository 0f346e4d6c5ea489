"""The public API documents itself: every name exported by ``anomvae`` (the
detectors, the calibrator, the model-selection helpers, save and load) and every
public method of those classes has numpydoc ``Parameters`` and ``Returns`` (or
``Yields``) sections, as scikit-learn's own estimators do. scikit-learn's inherited
methods (``get_params``, ``fit_predict``...) are documented by scikit-learn."""

from __future__ import annotations

import inspect

import pytest

import anomvae


def _public_callables() -> list[tuple[str, object]]:
    found: list[tuple[str, object]] = []
    for name in anomvae.__all__:
        obj = getattr(anomvae, name)
        if inspect.isclass(obj):
            if issubclass(obj, Exception):
                continue
            for klass in obj.__mro__:
                if not klass.__module__.startswith("anomvae"):
                    continue
                for attr, member in vars(klass).items():
                    if attr.startswith("_") or not inspect.isfunction(member):
                        continue
                    found.append((f"{name}.{attr}", member))
        elif inspect.isfunction(obj):
            found.append((name, obj))
    return sorted(dict(found).items())


@pytest.mark.parametrize(("name", "func"), _public_callables(), ids=lambda v: str(v))
def test_public_callable_has_numpydoc_sections(name: str, func: object) -> None:
    doc = inspect.getdoc(func) or ""
    params = [
        p
        for p in inspect.signature(func).parameters  # type: ignore[arg-type]
        if p not in ("self", "cls")
    ]
    if params:
        assert "Parameters\n----------" in doc, f"{name}: no Parameters section"
    assert any(
        f"{section}\n{'-' * len(section)}" in doc for section in ("Returns", "Yields")
    ), f"{name}: no Returns section"


def test_the_check_sees_the_detectors_methods() -> None:
    names = {name for name, _ in _public_callables()}
    assert {
        "VAEDetector.fit",
        "VAEDetector.explain",
        "ThresholdCalibrator.predict",
    } <= (names)
