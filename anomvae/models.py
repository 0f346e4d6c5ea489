"""The torch networks: one builder for every detector.

:func:`build_network` turns a :class:`NetworkSpec` (plain data, saved in model files)
into an :class:`AutoencoderNet`. Deterministic and variational autoencoders, MLP and
convolutional bodies, with or without condition inputs, are all the same class with
different parts switched on, so there is exactly one encoder/decoder implementation.
"""

from __future__ import annotations

import itertools
import math
from dataclasses import asdict, dataclass, field
from typing import Any, NamedTuple

import torch
from torch import Tensor, nn

__all__ = ["AEOutput", "AutoencoderNet", "NetworkSpec", "build_network", "make_mlp"]

#: Bounds on log-variances, so that a feature the model explains perfectly cannot
#: drive its likelihood to infinity and a diverging encoder cannot overflow exp().
LATENT_LOGVAR_RANGE = (-12.0, 8.0)
DECODER_LOGVAR_MIN = -7.0

_ACTIVATIONS: dict[str, type[nn.Module]] = {
    "relu": nn.ReLU,
    "gelu": nn.GELU,
    "tanh": nn.Tanh,
    "elu": nn.ELU,
    "leaky_relu": nn.LeakyReLU,
}


@dataclass(frozen=True)
class NetworkSpec:
    """Everything needed to rebuild a network; JSON-serialisable via ``to_dict``."""

    n_features: int
    latent_dim: int
    hidden_layer_sizes: tuple[int, ...] = (64, 32)
    activation: str = "relu"
    variational: bool = False
    likelihood: str = "gaussian"  # "gaussian" or "bernoulli" (variational only)
    n_conditions: int = 0
    architecture: str = "mlp"  # "mlp" or "conv"
    image_shape: tuple[int, int, int] | None = None  # (channels, height, width)
    conv_channels: tuple[int, ...] = field(default=(32, 64))

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON-ready dictionary."""
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> NetworkSpec:
        """Inverse of :meth:`to_dict` (lists become tuples again)."""
        data = dict(data)
        for key in ("hidden_layer_sizes", "conv_channels", "image_shape"):
            if data.get(key) is not None:
                data[key] = tuple(int(v) for v in data[key])
        return cls(**data)


class AEOutput(NamedTuple):
    """Output of a forward pass.

    ``x_hat`` is the decoder's mean (Gaussian) or logits (Bernoulli); ``mu`` the
    latent code (posterior mean); ``logvar`` the posterior log-variance, ``None``
    for deterministic autoencoders; ``z`` the latent sample that was decoded.
    """

    x_hat: Tensor
    mu: Tensor
    logvar: Tensor | None
    z: Tensor


def make_mlp(
    sizes: tuple[int, ...], activation: str, *, last_activation: bool
) -> nn.Sequential:
    """Linear layers ``sizes[0] -> sizes[1] -> ...`` with activations between them."""
    act = _ACTIVATIONS[activation]
    layers: list[nn.Module] = []
    for i, (n_in, n_out) in enumerate(itertools.pairwise(sizes)):
        layers.append(nn.Linear(n_in, n_out))
        if i < len(sizes) - 2 or last_activation:
            layers.append(act())
    return nn.Sequential(*layers)


class _ConvBody(nn.Module):
    """Strided 3x3 convolutions: image -> flat feature vector."""

    def __init__(
        self,
        image_shape: tuple[int, int, int],
        channels: tuple[int, ...],
        activation: str,
    ):
        super().__init__()
        act = _ACTIVATIONS[activation]
        c, h, w = image_shape
        layers: list[nn.Module] = []
        for ch in channels:
            layers += [nn.Conv2d(c, ch, 3, stride=2, padding=1), act()]
            c, h, w = ch, math.ceil(h / 2), math.ceil(w / 2)
        self.net = nn.Sequential(*layers)
        self.image_shape = image_shape
        self.out_shape = (c, h, w)

    def forward(self, x: Tensor) -> Tensor:
        return self.net(x.reshape(-1, *self.image_shape)).flatten(1)


class _DeconvHead(nn.Module):
    """Transposed convolutions: flat vector -> image (cropped) -> flat pixels."""

    def __init__(
        self,
        image_shape: tuple[int, int, int],
        channels: tuple[int, ...],
        in_shape: tuple[int, int, int],
        activation: str,
    ):
        super().__init__()
        act = _ACTIVATIONS[activation]
        self.in_shape = in_shape
        self.image_shape = image_shape
        outs = (*reversed(channels[:-1]), image_shape[0])
        layers: list[nn.Module] = []
        c = in_shape[0]
        for i, ch in enumerate(outs):
            layers.append(
                nn.ConvTranspose2d(c, ch, 3, stride=2, padding=1, output_padding=1)
            )
            if i < len(outs) - 1:
                layers.append(act())
            c = ch
        self.net = nn.Sequential(*layers)

    def forward(self, h: Tensor) -> Tensor:
        _, height, width = self.image_shape
        out = self.net(h.reshape(-1, *self.in_shape))
        return out[:, :, :height, :width].flatten(1)


class AutoencoderNet(nn.Module):
    """Encoder, (optionally Gaussian) latent, decoder.

    Condition vectors ``c`` (conditional VAE) are concatenated to the encoder's
    features and to the latent code, so both halves see the context.
    """

    def __init__(self, spec: NetworkSpec):
        super().__init__()
        self.spec = spec
        hidden = spec.hidden_layer_sizes
        act = spec.activation
        if spec.architecture == "conv":
            if spec.image_shape is None:
                raise ValueError("architecture='conv' needs image_shape")
            body = _ConvBody(spec.image_shape, spec.conv_channels, act)
            n_body = math.prod(body.out_shape)
            self.encoder_body: nn.Module = body
            enc_sizes = (n_body + spec.n_conditions, *hidden)
            dec_sizes = (spec.latent_dim + spec.n_conditions, *reversed(hidden), n_body)
            self.encoder_mlp = make_mlp(enc_sizes, act, last_activation=True)
            self.decoder_mlp = make_mlp(dec_sizes, act, last_activation=True)
            self.decoder_head: nn.Module = _DeconvHead(
                spec.image_shape, spec.conv_channels, body.out_shape, act
            )
            n_enc_out = enc_sizes[-1]
        else:
            self.encoder_body = nn.Identity()
            enc_sizes = (spec.n_features + spec.n_conditions, *hidden)
            dec_sizes = (
                spec.latent_dim + spec.n_conditions,
                *reversed(hidden),
                spec.n_features,
            )
            self.encoder_mlp = make_mlp(enc_sizes, act, last_activation=True)
            self.decoder_mlp = make_mlp(dec_sizes, act, last_activation=False)
            self.decoder_head = nn.Identity()
            n_enc_out = enc_sizes[-1]
        self.to_mu = nn.Linear(n_enc_out, spec.latent_dim)
        self.to_logvar = (
            nn.Linear(n_enc_out, spec.latent_dim) if spec.variational else None
        )
        # Per-feature decoder log-variance (the "learned variance" of the Gaussian
        # likelihood). Deterministic autoencoders keep it at 0 and never use it.
        self.decoder_logvar_raw = nn.Parameter(
            torch.zeros(spec.n_features), requires_grad=spec.variational
        )

    @property
    def variational(self) -> bool:
        return self.spec.variational

    def _full(self, out: Tensor) -> Tensor:
        """An output in the weights' dtype. Under bfloat16 autocast (training with
        ``precision="bfloat16"``) the layers compute in bfloat16; casting the
        encoder's and decoder's outputs back keeps every likelihood, KL and loss
        reduction in float32. Without autocast the dtypes already agree and the
        output is returned as it is (no operation is added)."""
        dtype = self.to_mu.weight.dtype
        return out if out.dtype == dtype else out.to(dtype)

    def decoder_logvar(self) -> Tensor:
        """Per-feature log-variance of the Gaussian decoder, bounded below."""
        return self.decoder_logvar_raw.clamp(min=DECODER_LOGVAR_MIN)

    def encode(
        self, x: Tensor, c: Tensor | None = None
    ) -> tuple[Tensor, Tensor | None]:
        """Posterior mean and log-variance (``None`` when not variational)."""
        h = self.encoder_body(x)
        if c is not None and c.shape[-1]:
            h = torch.cat([h, c], dim=-1)
        h = self.encoder_mlp(h)
        mu = self._full(self.to_mu(h))
        if self.to_logvar is None:
            return mu, None
        return mu, self._full(self.to_logvar(h)).clamp(*LATENT_LOGVAR_RANGE)

    def decode(self, z: Tensor, c: Tensor | None = None) -> Tensor:
        """Decoder mean (Gaussian) or logits (Bernoulli); ``z`` may have leading
        sample dimensions ``(K, n, latent_dim)``."""
        if c is not None and c.shape[-1]:
            c = c.expand(*z.shape[:-1], c.shape[-1])
            z = torch.cat([z, c], dim=-1)
        lead = z.shape[:-1]
        h = self.decoder_mlp(z.reshape(-1, z.shape[-1]))
        out = self._full(self.decoder_head(h))
        return out.reshape(*lead, out.shape[-1])

    def forward(
        self, x: Tensor, c: Tensor | None = None, *, sample: bool = True
    ) -> AEOutput:
        """Encode, sample (reparameterisation trick) when ``sample``, decode."""
        mu, logvar = self.encode(x, c)
        z = mu
        if logvar is not None and sample:
            z = mu + torch.exp(0.5 * logvar) * torch.randn_like(mu)
        return AEOutput(self.decode(z, c), mu, logvar, z)


def build_network(spec: NetworkSpec) -> AutoencoderNet:
    """The one network builder used by every detector."""
    if spec.activation not in _ACTIVATIONS:
        raise ValueError(
            f"unknown activation {spec.activation!r}; use one of {sorted(_ACTIVATIONS)}"
        )
    return AutoencoderNet(spec)
