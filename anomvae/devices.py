"""Where tensors live and in which precision: the device and training precision a
detector's ``device`` / ``precision`` parameters resolve to, autocast held off for
scoring, and the host-to-device path of scoring batches (pinned memory on CUDA)."""

from __future__ import annotations

import contextlib

import numpy as np
import torch

from anomvae.training import autocast

__all__ = [
    "full_precision",
    "native_bf16",
    "resolve_device",
    "resolve_precision",
    "rows_tensor",
    "to_device",
]


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
