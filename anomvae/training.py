"""The one training loop: minibatch Adam, validation split, early stopping with
best-weight restore, KL warm-up, gradient clipping, a step budget, progress display.

Detectors hand it an *objective*: a closure ``objective(x, c, warmup=w,
training=t) -> scalar loss``. ``warmup`` is the KL warm-up factor in [0, 1] (the
closure multiplies β by it); ``training=False`` asks for the validation loss (no
input corruption, full β).

Mixed precision: with ``TrainConfig(precision="bfloat16")`` only the forward pass and
the objective run under ``torch.autocast(dtype=torch.bfloat16)``. The network casts
its encoder's and decoder's outputs back to float32, so likelihoods, KL terms and
loss reductions are float32; the backpropagated and the validation losses are
float32, and the weights, gradients and Adam's state stay float32. bfloat16 has
float32's exponent range, so unlike float16 no loss scaling is needed.
``"float32"`` never autocasts: it is the plain float32 loop.
"""

from __future__ import annotations

import contextlib
import math
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Protocol

import torch
from torch import Tensor, nn

from anomvae.exceptions import TrainingError

__all__ = [
    "PRECISIONS",
    "Objective",
    "TrainConfig",
    "TrainResult",
    "autocast",
    "check_noise",
    "corrupt",
    "train",
]

#: Below this many rows no validation split is taken (nothing to early-stop on).
MIN_ROWS_FOR_VALIDATION = 20
#: Training precisions :func:`train` accepts (a detector's ``precision`` resolved).
PRECISIONS = ("float32", "bfloat16")
#: Device types whose autocast state :func:`autocast` sets (torch has autocast for
#: both in every supported version).
_AUTOCAST_DEVICES = ("cpu", "cuda")


class Objective(Protocol):
    def __call__(
        self, x: Tensor, c: Tensor | None, *, warmup: float, training: bool
    ) -> Tensor: ...


@dataclass(frozen=True)
class TrainConfig:
    """Training hyper-parameters (a detector's parameters, already validated)."""

    batch_size: int = 128
    max_epochs: int = 100
    max_steps: int | None = None
    learning_rate: float = 1e-3
    weight_decay: float = 0.0
    validation_fraction: float = 0.1
    patience: int | None = 10
    clip_grad_norm: float | None = 5.0
    warmup_epochs: int = 0
    verbose: int = 0
    precision: str = "float32"


@dataclass
class TrainResult:
    """What :func:`train` learned about the run, for the detector's fitted attributes."""

    history: dict[str, list[float]] = field(
        default_factory=lambda: {"train_loss": [], "val_loss": [], "beta_factor": []}
    )
    n_epochs: int = 0
    n_steps: int = 0
    best_epoch: int = 0
    n_train: int = 0
    n_validation: int = 0


def check_noise(noise: str | None, level: float) -> None:
    """Reject a masking probability of 1 or more (nothing would be left)."""
    if noise == "masking" and level >= 1:
        raise ValueError(
            "noise='masking' needs noise_level < 1 (the masking probability)"
        )


def corrupt(x: Tensor, noise: str | None, level: float) -> Tensor:
    """Training-time input corruption of the denoising objectives: ``"masking"`` sets
    each (scaled) cell to 0, the training mean, with probability ``level``;
    ``"gaussian"`` adds noise of standard deviation ``level``; None leaves ``x``."""
    if noise is None or level <= 0:
        return x
    if noise == "gaussian":
        return x + level * torch.randn_like(x)
    return x * (torch.rand_like(x) >= level)


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


def _adam(params: list[nn.Parameter], config: TrainConfig) -> torch.optim.Optimizer:
    """Adam with its fused kernel (one kernel per step instead of a Python loop over
    parameter tensors: several times faster for these small networks), falling back
    to the multi-tensor version where the fused one is unavailable."""
    lr, decay = config.learning_rate, config.weight_decay
    try:
        return torch.optim.Adam(params, lr=lr, weight_decay=decay, fused=True)
    except (RuntimeError, TypeError):
        return torch.optim.Adam(params, lr=lr, weight_decay=decay, foreach=True)


def _split(
    n: int, fraction: float, generator: torch.Generator
) -> tuple[Tensor, Tensor]:
    perm = torch.randperm(n, generator=generator)
    n_val = round(fraction * n) if n >= MIN_ROWS_FOR_VALIDATION else 0
    return perm[n_val:], perm[:n_val]


def _mean_loss(
    objective: Objective, x: Tensor, c: Tensor | None, batch_size: int
) -> float:
    # Accumulated on the device in float64: one host sync per validation pass.
    total = torch.zeros((), dtype=torch.float64, device=x.device)
    for start in range(0, x.shape[0], batch_size):
        xb = x[start : start + batch_size]
        cb = None if c is None else c[start : start + batch_size]
        loss = objective(xb, cb, warmup=1.0, training=False)
        total += loss.detach().double() * xb.shape[0]
    return float(total) / max(x.shape[0], 1)


def train(
    net: nn.Module,
    objective: Objective,
    x: Tensor,
    c: Tensor | None,
    config: TrainConfig,
    *,
    generator: torch.Generator,
    on_epoch: Callable[[int, float, float], None] | None = None,
) -> TrainResult:
    """Train ``net`` in place on rows ``x`` (and conditions ``c``) and return the
    history. The best weights by validation loss are restored at the end.

    Raises :class:`~anomvae.exceptions.TrainingError` when the loss stops being
    finite, instead of returning a model that scores garbage.
    """
    if config.precision not in PRECISIONS:
        raise ValueError(
            f"precision must be one of {PRECISIONS}, got {config.precision!r}"
        )
    mixed = config.precision == "bfloat16"
    device_type = x.device.type

    def forward(
        x: Tensor, c: Tensor | None, *, warmup: float, training: bool
    ) -> Tensor:
        # Only the forward pass and the objective autocast (no optimizer step
        # inside); the loss leaves as float32.
        with autocast(device_type, True):
            loss = objective(x, c, warmup=warmup, training=training)
        return loss.float()

    if mixed:
        step_objective: Objective = forward
        # Per-step contexts inside; nothing to switch off around them.
        guard: contextlib.AbstractContextManager[object] = contextlib.nullcontext()
    else:
        # The exact float32 loop, with autocast held off for the whole run.
        step_objective, guard = objective, autocast(device_type, False)
    with guard:
        return _train(net, step_objective, x, c, config, generator, on_epoch)


def _train(
    net: nn.Module,
    objective: Objective,
    x: Tensor,
    c: Tensor | None,
    config: TrainConfig,
    generator: torch.Generator,
    on_epoch: Callable[[int, float, float], None] | None,
) -> TrainResult:
    train_idx, val_idx = _split(x.shape[0], config.validation_fraction, generator)
    x_val = x[val_idx]
    c_val = None if c is None else c[val_idx]
    n_train = train_idx.numel()
    batch_size = max(1, min(config.batch_size, n_train))
    params = list(net.parameters())  # listed once: not on every step
    optimizer = _adam(params, config)
    result = TrainResult(n_train=n_train, n_validation=val_idx.numel())
    best_loss, best_state, bad_epochs = math.inf, None, 0
    max_steps = config.max_steps if config.max_steps is not None else math.inf
    progress = _Progress(config.verbose, config.max_epochs)
    try:
        for epoch in range(config.max_epochs):
            warm = (
                min(1.0, (epoch + 1) / config.warmup_epochs)
                if config.warmup_epochs
                else 1.0
            )
            net.train(True)
            # One host-to-device copy of the epoch's order, not one per step.
            order = train_idx[torch.randperm(n_train, generator=generator)].to(x.device)
            running = torch.zeros((), device=x.device)
            seen = 0
            for start in range(0, n_train, batch_size):
                idx = order[start : start + batch_size]
                loss = objective(
                    x[idx], None if c is None else c[idx], warmup=warm, training=True
                )
                optimizer.zero_grad(set_to_none=True)
                loss.backward()
                if config.clip_grad_norm is not None:
                    nn.utils.clip_grad_norm_(params, config.clip_grad_norm)
                optimizer.step()
                running += loss.detach() * idx.numel()
                seen += idx.numel()
                result.n_steps += 1
                if result.n_steps >= max_steps:
                    break
            # Rows actually seen: the step budget can end an epoch early.
            train_loss = float(running) / max(seen, 1)
            if not math.isfinite(train_loss):
                raise TrainingError(
                    f"training diverged: the loss became {train_loss} in epoch {epoch + 1}. "
                    "Lower learning_rate, keep scaling on, or check the input for extreme "
                    "values."
                )
            net.train(False)
            with torch.no_grad():
                val_loss = (
                    _mean_loss(objective, x_val, c_val, 1024)
                    if len(x_val)
                    else math.nan
                )
            result.history["train_loss"].append(train_loss)
            result.history["val_loss"].append(val_loss)
            result.history["beta_factor"].append(warm)
            result.n_epochs = epoch + 1
            progress.update(epoch, train_loss, val_loss)
            if on_epoch is not None:
                on_epoch(epoch, train_loss, val_loss)
            if result.n_steps >= max_steps:
                break
            if not len(x_val) or warm < 1.0:
                continue
            if best_state is None or val_loss < best_loss - 1e-4 * abs(best_loss):
                best_loss, bad_epochs, result.best_epoch = val_loss, 0, epoch + 1
                # Tensor copies only (deepcopy of the state dict costs ~8% of
                # a small fit's time).
                best_state = {
                    k: v.detach().clone() for k, v in net.state_dict().items()
                }
            else:
                bad_epochs += 1
                if config.patience is not None and bad_epochs >= config.patience:
                    break
    finally:
        progress.close()
    if best_state is not None:
        net.load_state_dict(best_state)
    else:
        result.best_epoch = result.n_epochs
    net.train(False)
    return result


class _Progress:
    """A rich progress bar on stderr when ``verbose`` (and stderr is a terminal
    or verbose >= 2); silent otherwise."""

    def __init__(self, verbose: int, total: int):
        self._bar = None
        if not verbose:
            return
        from rich.console import Console
        from rich.progress import Progress

        console = Console(stderr=True)
        if not console.is_terminal and verbose < 2:
            return
        self._bar = Progress(console=console, transient=False)
        self._task = self._bar.add_task("training", total=total)
        self._bar.start()

    def update(self, epoch: int, train_loss: float, val_loss: float) -> None:
        if self._bar is not None:
            self._bar.update(
                self._task,
                completed=epoch + 1,
                description=f"epoch {epoch + 1} train {train_loss:.4g} val {val_loss:.4g}",
            )

    def close(self) -> None:
        if self._bar is not None:
            self._bar.stop()
