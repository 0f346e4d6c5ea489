"""The one training loop: minibatch Adam, validation split, early stopping with
best-weight restore, KL warm-up, gradient clipping, a step budget, progress display.

Cut into small named pieces, as skorch cuts its net: :func:`train_step` (one
minibatch), :func:`train_epoch` (a pass over the shuffled rows), :func:`validation_loss`,
:class:`BestWeights` (best-weight restore and patience) and :func:`warmup_factor`;
:func:`train` strings them together.

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

from anomvae.devices import autocast
from anomvae.exceptions import TrainingError
from anomvae.runtime import Progress

__all__ = [
    "PRECISIONS",
    "BestWeights",
    "Objective",
    "TrainConfig",
    "TrainResult",
    "check_noise",
    "corrupt",
    "train",
    "train_epoch",
    "train_step",
    "validation_loss",
    "warmup_factor",
]

#: Below this many rows no validation split is taken (nothing to early-stop on).
MIN_ROWS_FOR_VALIDATION = 20
#: Training precisions :func:`train` accepts (a detector's ``precision`` resolved).
PRECISIONS = ("float32", "bfloat16")
#: Rows per validation-loss block.
_VALIDATION_BATCH = 1024


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
    """The loop: epochs of :func:`train_epoch`, each followed by
    :func:`validation_loss` and the :class:`BestWeights` / patience bookkeeping,
    until the step or epoch budget ends or patience runs out."""
    train_idx, val_idx = _split(x.shape[0], config.validation_fraction, generator)
    x_val = x[val_idx]
    c_val = None if c is None else c[val_idx]
    n_train = train_idx.numel()
    batch_size = max(1, min(config.batch_size, n_train))
    params = list(net.parameters())  # listed once: not on every step
    optimizer = _adam(params, config)
    result = TrainResult(n_train=n_train, n_validation=val_idx.numel())
    best = BestWeights(config.patience)
    max_steps = config.max_steps if config.max_steps is not None else math.inf
    total_steps = min(config.max_epochs * -(-n_train // batch_size), max_steps)
    progress = Progress(
        total_steps,
        description="training",
        enabled=config.verbose >= 2 or (bool(config.verbose) and Progress.terminal()),
        transient=False,
    )
    with progress:
        for epoch in range(config.max_epochs):
            warm = warmup_factor(epoch, config.warmup_epochs)
            # One host-to-device copy of the epoch's order, not one per step.
            order = train_idx[torch.randperm(n_train, generator=generator)].to(x.device)
            budget = max_steps - result.n_steps
            train_loss, steps = train_epoch(
                net, objective, optimizer, params, x, c, order, batch_size,
                warmup=warm, clip_grad_norm=config.clip_grad_norm, max_steps=budget,
            )  # fmt: skip
            result.n_steps += steps
            if not math.isfinite(train_loss):
                raise TrainingError(
                    f"training diverged: the loss became {train_loss} in epoch "
                    f"{epoch + 1}. Lower learning_rate, keep scaling on, or check the "
                    "input for extreme values."
                )
            val_loss = validation_loss(net, objective, x_val, c_val)
            result.history["train_loss"].append(train_loss)
            result.history["val_loss"].append(val_loss)
            result.history["beta_factor"].append(warm)
            result.n_epochs = epoch + 1
            progress.update(
                result.n_steps,
                description=f"epoch {epoch + 1} train {train_loss:.4g} "
                f"val {val_loss:.4g}",
            )
            if on_epoch is not None:
                on_epoch(epoch, train_loss, val_loss)
            if result.n_steps >= max_steps:
                break
            # Nothing to compare without validation rows, or before β is complete.
            if len(x_val) and warm >= 1.0 and best.update(epoch, val_loss, net):
                break
    result.best_epoch = best.restore(net, result.n_epochs)
    net.train(False)
    return result


def warmup_factor(epoch: int, warmup_epochs: int) -> float:
    """The KL warm-up factor of (0-based) ``epoch``: rises linearly from
    ``1 / warmup_epochs`` to 1 over ``warmup_epochs`` epochs; 1 without warm-up."""
    return min(1.0, (epoch + 1) / warmup_epochs) if warmup_epochs else 1.0


def train_step(
    objective: Objective,
    optimizer: torch.optim.Optimizer,
    params: list[nn.Parameter],
    xb: Tensor,
    cb: Tensor | None,
    *,
    warmup: float,
    clip_grad_norm: float | None,
) -> Tensor:
    """One gradient step on a minibatch; returns its (detached) loss."""
    loss = objective(xb, cb, warmup=warmup, training=True)
    optimizer.zero_grad(set_to_none=True)
    loss.backward()
    if clip_grad_norm is not None:
        nn.utils.clip_grad_norm_(params, clip_grad_norm)
    optimizer.step()
    return loss.detach()


def train_epoch(
    net: nn.Module,
    objective: Objective,
    optimizer: torch.optim.Optimizer,
    params: list[nn.Parameter],
    x: Tensor,
    c: Tensor | None,
    order: Tensor,
    batch_size: int,
    *,
    warmup: float,
    clip_grad_norm: float | None,
    max_steps: float,
) -> tuple[float, int]:
    """Minibatch steps over the rows ``order`` (at most ``max_steps`` of them).
    Returns the mean loss over the rows actually seen (the step budget can end an
    epoch early) and the number of steps taken."""
    net.train(True)
    running = torch.zeros((), device=x.device)
    seen = steps = 0
    for start in range(0, order.numel(), batch_size):
        idx = order[start : start + batch_size]
        loss = train_step(
            objective, optimizer, params, x[idx], None if c is None else c[idx],
            warmup=warmup, clip_grad_norm=clip_grad_norm,
        )  # fmt: skip
        running += loss * idx.numel()
        seen += idx.numel()
        steps += 1
        if steps >= max_steps:
            break
    return float(running) / max(seen, 1), steps


def validation_loss(
    net: nn.Module, objective: Objective, x: Tensor, c: Tensor | None
) -> float:
    """Mean validation loss (no input corruption, full β) in evaluation mode, in
    blocks of 1,024 rows; NaN without validation rows. Accumulated on the device in
    float64: one host sync per pass."""
    if not len(x):
        return math.nan
    net.train(False)
    with torch.no_grad():
        total = torch.zeros((), dtype=torch.float64, device=x.device)
        for start in range(0, x.shape[0], _VALIDATION_BATCH):
            xb = x[start : start + _VALIDATION_BATCH]
            cb = None if c is None else c[start : start + _VALIDATION_BATCH]
            loss = objective(xb, cb, warmup=1.0, training=False)
            total += loss.detach().double() * xb.shape[0]
    return float(total) / x.shape[0]


class BestWeights:
    """Early stopping with best-weight restore.

    :meth:`update` records an epoch's validation loss and keeps a copy of the
    weights when it improves on the best by more than a relative 1e-4; it returns
    True when ``patience`` epochs in a row did not improve. :meth:`restore` puts
    the best weights back at the end.
    """

    def __init__(self, patience: int | None) -> None:
        self.patience = patience
        self.loss = math.inf
        self.epoch = 0
        self.state: dict[str, Tensor] | None = None
        self.bad_epochs = 0

    def update(self, epoch: int, val_loss: float, net: nn.Module) -> bool:
        """Record ``val_loss`` of (0-based) ``epoch``; True means stop now."""
        if self.state is None or val_loss < self.loss - 1e-4 * abs(self.loss):
            self.loss, self.bad_epochs, self.epoch = val_loss, 0, epoch + 1
            # Tensor copies only (deepcopy of the state dict costs ~8% of a small
            # fit's time).
            self.state = {k: v.detach().clone() for k, v in net.state_dict().items()}
            return False
        self.bad_epochs += 1
        return self.patience is not None and self.bad_epochs >= self.patience

    def restore(self, net: nn.Module, n_epochs: int) -> int:
        """Load the best weights into ``net``; returns the (1-based) best epoch,
        or ``n_epochs`` when no validation loss was ever compared."""
        if self.state is None:
            return n_epochs
        net.load_state_dict(self.state)
        return self.epoch
