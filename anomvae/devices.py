"""Where tensors live and in which precision: the device and training precision a
detector's ``device`` / ``precision`` parameters resolve to, autocast on or held
off, the scoring batch size for a device, the host-to-device path of scoring
batches (pinned memory on CUDA), and the batched evaluation every scoring method
of the detectors goes through (:func:`run_batched`)."""

from __future__ import annotations

import contextlib
from collections.abc import Callable
from typing import Any

import numpy as np
import torch
from torch import Tensor

__all__ = [
    "CUDA_MIN_SCORING_BATCH",
    "CUDA_SCORING_BATCH",
    "SCORING_BATCH",
    "autocast",
    "full_precision",
    "native_bf16",
    "resolve_device",
    "resolve_precision",
    "rows_tensor",
    "run_batched",
    "scoring_rows",
    "to_device",
]

#: Rows per scoring batch off CUDA: small enough that a layer's float64 output
#: (2,048 rows x 256 units is 4 MB) stays in cache and its buffer is reused;
#: 8,192 rows scored 15-25% slower. A row's score does not depend on the batch.
SCORING_BATCH = 2048
#: On CUDA, scoring batches grow up to this many rows (one kernel launch sequence
#: per batch), as long as the largest intermediate, rows x Monte Carlo samples x
#: layer width, stays within :data:`CUDA_SCORING_ELEMENTS` (64 MB in float32);
#: never below :data:`CUDA_MIN_SCORING_BATCH`.
CUDA_SCORING_BATCH = 65536
CUDA_MIN_SCORING_BATCH = 8192
CUDA_SCORING_ELEMENTS = 65536 * 256
#: Device types whose autocast state :func:`autocast` sets (torch has autocast for
#: both in every supported version).
_AUTOCAST_DEVICES = ("cpu", "cuda")


def autocast(
    device_type: str, bfloat16: bool
) -> contextlib.AbstractContextManager[object]:
    """bfloat16 autocast on ``device_type`` when ``bfloat16``; otherwise autocast
    switched *off* (also inside a caller's own autocast region), so float32 work
    stays float32. The weight-cast cache is off: weights change every step, and an
    enclosing autocast region would otherwise keep their stale bfloat16 copies.
    Device types other than CPU and CUDA get no context when ``bfloat16`` is False.
    """
    if not bfloat16 and device_type not in _AUTOCAST_DEVICES:
        return contextlib.nullcontext()
    return torch.autocast(
        device_type, dtype=torch.bfloat16, enabled=bfloat16, cache_enabled=False
    )


def resolve_device(device: str) -> torch.device:
    if device == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    dev = torch.device(device)
    if dev.type == "cuda" and not torch.cuda.is_available():
        raise ValueError(
            f"device={device!r} but CUDA is not available; use device='auto'"
        )
    return dev


def native_bf16(device: torch.device) -> bool:
    """Whether the CUDA ``device`` computes bfloat16 natively. By default
    ``torch.cuda.is_bf16_supported`` also counts emulated support, which is slower
    than float32 (pre-Ampere GPUs)."""
    with torch.cuda.device(device):
        try:
            return bool(torch.cuda.is_bf16_supported(including_emulation=False))
        except TypeError:  # a torch without the argument: ask the hardware
            major, _ = torch.cuda.get_device_capability(device)
            return bool(torch.version.hip) or major >= 8


def resolve_precision(precision: str, device: torch.device) -> str:
    """The training precision ``precision`` means on ``device``: "float32" or
    "bfloat16"."""
    if precision != "auto":
        return precision
    if device.type == "cuda" and native_bf16(device):
        return "bfloat16"
    return "float32"


def full_precision(device: torch.device) -> contextlib.AbstractContextManager[object]:
    """Autocast switched off: scores are computed in the network's own dtype even
    inside a caller's autocast region."""
    return autocast(device.type, False)


def rows_tensor(values: np.ndarray, param: torch.Tensor) -> torch.Tensor:
    """Rows for scoring: on the network's device in its dtype; for a CUDA network
    they stay on the host as they are, and :func:`to_device` moves each batch."""
    if param.device.type == "cuda":
        return torch.as_tensor(values)
    return torch.tensor(values, dtype=param.dtype, device=param.device)


def to_device(rows: torch.Tensor, param: torch.Tensor) -> torch.Tensor:
    """A batch of :func:`rows_tensor` rows on the network's device. For CUDA it is
    converted into pinned (page-locked) host memory and copied without blocking
    the host, which goes on to prepare the next batch while the GPU works on this
    one; torch's pinned-memory cache reuses a buffer once its copy has finished."""
    if param.device.type != "cuda":
        return rows
    staged = torch.empty(rows.shape, dtype=param.dtype, pin_memory=True)
    return staged.copy_(rows).to(param.device, non_blocking=True)


def scoring_rows(device: torch.device, width: int, n_samples: int = 0) -> int:
    """Rows per scoring batch: :data:`SCORING_BATCH` off CUDA; on CUDA as many as
    the :data:`CUDA_SCORING_ELEMENTS` budget allows for a network whose widest
    layer has ``width`` units and a score drawing ``n_samples`` Monte Carlo
    samples per row, between :data:`CUDA_MIN_SCORING_BATCH` and
    :data:`CUDA_SCORING_BATCH`.
    """
    if device.type != "cuda":
        return SCORING_BATCH
    rows = CUDA_SCORING_ELEMENTS // (width * max(1, n_samples))
    return int(np.clip(rows, CUDA_MIN_SCORING_BATCH, CUDA_SCORING_BATCH))


def _batch_of(c: Any, start: int, rows: int, param: Tensor) -> Any:
    """Rows ``start:start + rows`` of what travels beside the input: a condition
    tensor, or a mixed table's batch of targets (anything with ``map``), moved to
    the network's device."""
    if c is None:
        return None
    block = c[start : start + rows]
    if isinstance(block, Tensor):
        return to_device(block, param)
    if param.device.type != "cuda":
        return block
    return block.map(lambda t: t.to(param.device, non_blocking=True))


def run_batched(
    fn: Callable[[Tensor, Any], Tensor],
    x: Tensor,
    c: Any,
    param: Tensor,
    rows: int,
) -> np.ndarray:
    """``fn(x, c)`` over batches of ``rows`` rows, as one float64 array.

    ``x`` and ``c`` come from :func:`rows_tensor`; ``param`` is one of the
    network's parameters (its device and dtype). Runs under ``no_grad`` and never
    autocast: scores keep the network's precision. On CUDA, batches reach the GPU
    through :func:`to_device` and the results are copied back only once every
    batch is queued: no host sync between batches.
    """
    out = []
    with torch.no_grad(), full_precision(param.device):
        for s in range(0, x.shape[0], rows):
            xb = to_device(x[s : s + rows], param)
            out.append(fn(xb, _batch_of(c, s, rows, param)))
    return np.concatenate([o.double().cpu().numpy() for o in out], axis=0)
