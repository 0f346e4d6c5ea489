"""The model cache of worker processes: each loads a model file once and reuses
it for every partition it scores, so tasks carry only the model's path."""

from __future__ import annotations

import hashlib
import os
import threading
from typing import Any

from anomvae.exceptions import ModelFileError
from anomvae.persistence import load

__all__ = ["load_cached", "model_loads"]

_MODELS: dict[tuple[str, int, int, str], Any] = {}
_LOCK = threading.Lock()
_LOADS = 0


def load_cached(
    model_path: str | os.PathLike[str], key: str | bytes | None = None
) -> Any:
    """:func:`anomvae.load` once per process and model file.

    The cache key is the resolved path with the file's modification time and
    size, so a model replaced on disk (``anomvae fit`` renames a new file onto
    it) is loaded again, and an unchanged one never is. ``key`` is the signing
    key the file must carry (as :func:`anomvae.load`); a load verified with one
    key is not reused for another.
    """
    global _LOADS
    path = os.path.realpath(model_path)
    try:
        st = os.stat(path)
    except OSError as exc:
        raise ModelFileError(f"cannot read {model_path}: {exc.strerror}") from None
    secret = key.encode() if isinstance(key, str) else key
    verified = "" if secret is None else hashlib.sha256(secret).hexdigest()
    entry = (path, st.st_mtime_ns, st.st_size, verified)
    with _LOCK:
        model = _MODELS.get(entry)
        if model is None:
            model = load(path, key=key)
            for old in [k for k in _MODELS if k[0] == path]:
                del _MODELS[old]
            _MODELS[entry] = model
            _LOADS += 1
    return model


def model_loads() -> int:
    """How many times this process loaded a model file (for tests and logs)."""
    return _LOADS
