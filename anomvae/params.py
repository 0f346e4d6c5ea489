"""The parameter documentation every detector renders from one source.

Detector class docstrings hold ``{parameters}`` and ``{attributes}`` placeholders;
:func:`document` fills them with the sections below, so a parameter shared by the
four detectors is described once (PyOD repeats the same paragraph in 43 files).
"""

from __future__ import annotations

import inspect
from collections.abc import Callable
from typing import TypeVar

__all__ = [
    "COMMON_ATTRIBUTES",
    "COMMON_PARAMETERS",
    "VARIATIONAL_PARAMETERS",
    "document",
]

_T = TypeVar("_T", bound=type)

COMMON_PARAMETERS = """\
hidden_layer_sizes : tuple of int or "auto", default="auto"
    Widths of the encoder's hidden layers; the decoder mirrors them. "auto" is
    ``(w, w // 2)`` with ``w`` the next power of two at or above ``n_features``,
    clipped to [64, 256]: wide inputs get wide layers.
latent_dim : int or "auto", default="auto"
    Size of the bottleneck. "auto" is 16 for images. For tabular data it is
    ``clip(n_features, 1, 16)`` for the variational and denoising detectors, whose
    KL term or input corruption already stops them from copying their input, and
    ``clip(n_features // 2, 1, 16)`` for the plain autoencoder, which only its
    bottleneck stops (see the user guide's "How the defaults were chosen").
activation : {"relu", "gelu", "tanh", "elu", "leaky_relu"}, default="relu"
architecture : {"mlp", "conv"}, default="mlp"
    "conv" uses strided convolutions; rows are images of ``image_shape``.
image_shape : tuple of int or None, default=None
    ``(height, width)`` or ``(channels, height, width)`` for ``architecture="conv"``.
    Input may then also be given as an array of shape ``(n, *image_shape)``.
scaler : {"auto", "standard", "robust", "minmax", None}, default="auto"
    Per-feature scaling fitted on the training rows and saved with the model
    (constant columns are safe). "auto" is "standard", or none for a Bernoulli
    likelihood.
categorical_features : "from_dtype", array-like of str, int or bool, or None, \
default="from_dtype"
    Which columns of a table are categories, as in
    :class:`~sklearn.ensemble.HistGradientBoostingClassifier`: "from_dtype" takes
    text, ``category`` and object columns (and 0/1 or boolean ones as flags);
    names, indices or a boolean mask add digit-coded categories (ranks 1-8,
    hospital codes), whose values are then levels ("1", not the number 1).
min_frequency : int, float or None, default=None
    Levels seen in fewer training rows (or a smaller share of them) go to one
    "infrequent" level, as in :class:`~sklearn.preprocessing.OneHotEncoder`.
max_categories : int or None, default=None
    At most this many levels per column, the infrequent one included (as
    ``OneHotEncoder``); beyond that, the least frequent levels are pooled. A hard
    cap of 1,001 always applies, so a column with 100,000 distinct strings
    neither explodes memory nor the model file.
handle_unknown : {"flag", "error"}, default="flag"
    A category (or flag value) never seen in training: "flag" counts the cell as
    maximally surprising in the score's own unit and names it in explanations;
    "error" raises :class:`~anomvae.exceptions.DataError` naming the column, row
    and value. (Where a column pooled rare levels, an unseen one joins them.)
numeric_transform : {"auto", "none", "log1p", "signed_log1p"} or dict, default="auto"
    Of a table's numeric columns: "auto" takes ``log1p`` (signed for negative
    values) of heavy-tailed ones, such as byte counts, so their tails do not
    dominate; "log1p" / "signed_log1p" / "none" apply to every numeric column, a
    dict maps column names to one of them; see
    :meth:`anomvae.schema.TableSchema.infer`.

    The five parameters above apply to mixed tables only: a DataFrame with a
    text, category or boolean column, or with blank cells (NaN, None, pd.NA),
    or columns named by ``categorical_features``. Every column then gets its
    own likelihood over one shared latent code (Gaussian for numbers,
    categorical for categories, Bernoulli for flags), a blank cell is left out
    of its column's likelihood and whether a column is blank is itself
    modelled. Numeric arrays and DataFrames without blanks use the plain
    numeric path, unchanged.
contamination : "auto" or float in (0, 0.5], default="auto"
    Share of training rows that ``predict`` flags; sets ``offset_`` at that
    quantile of the training scores ("auto" = 0.01). For a threshold with a stated
    false-positive rate on new data use :class:`anomvae.ThresholdCalibrator`.
batch_size : int, default=128
max_epochs : int, default=500
max_steps : int or None, default=1000
    Cap on the number of gradient steps; training stops at whichever of
    ``max_epochs`` and ``max_steps`` comes first. Counting steps rather than epochs
    gives small and large data sets a similar amount of training.
learning_rate : float, default=1e-3
    Adam's learning rate.
weight_decay : float, default=0.0
validation_fraction : float in [0, 1), default=0.1
    Share of rows held out to measure the validation loss (none below 20 rows); the
    weights with the lowest validation loss are restored at the end of training.
patience : int or None, default=None
    Epochs without validation improvement before stopping early. None (the
    default) trains for the whole ``max_steps`` / ``max_epochs`` budget. Counted in
    epochs, patience only ever fires on small data, where an epoch is a few steps
    and the validation rows a handful: 20 epochs stopped some benchmark sets after
    about 30 steps (see the user guide's "How the defaults were chosen").
clip_grad_norm : float or None, default=5.0
random_state : int, RandomState or None, default=None
    Seeds weight initialisation, batching, noise and Monte Carlo scoring: the same
    value and data give the same model and the same scores.
device : str, default="auto"
    "auto" picks CUDA when available, else "cpu"; or any torch device string.
precision : {"auto", "float32", "bfloat16"}, default="auto"
    Arithmetic of the training forward pass. "bfloat16" runs it under
    ``torch.autocast`` in bfloat16 (on CUDA, and on the CPU where it is mostly
    slower but exercises the same path); "float32" never autocasts; "auto" is
    bfloat16 on a CUDA device with native bfloat16 support (Ampere or newer),
    float32 otherwise, so CPU training is exactly float32. bfloat16 has float32's
    exponent range, so no loss scaling (``GradScaler``) is needed, unlike float16.
    The weights, gradients and optimizer state stay float32, and likelihoods, KL
    terms and loss reductions are computed in float32. Scoring never autocasts:
    float64 on the CPU, float32 on CUDA. ``training_precision_`` records what was
    used.
n_jobs : int or None, default=None
    torch threads of ``fit`` and of the scoring methods, as scikit-learn reads
    ``n_jobs``: None is 1 (the networks are small, and beside a busy process more
    threads made fits many times slower: ``benchmarks/results/threads.md``), -1
    every available core, -2 all but one. Results do not depend on it beyond
    float rounding. ``anomvae fit --threads`` sets it; ``anomvae score`` runs its
    own scoring threads.
verbose : int, default=0
    1 shows a progress bar when stderr is a terminal; 2 always.
score_type : {"hybrid", "reconstruction", "latent_knn", "ensemble"}, default="hybrid"
    The anomaly score. "reconstruction": mean squared reconstruction error (on the
    scaled data). "latent_knn": distance from the row's latent code to its 3rd
    nearest training code (up to 4,096 kept). "hybrid": both, each standardised by the
    median and interquartile range of the training rows' scores, the latent one
    weighted twice (:data:`anomvae.scoring.HYBRID_LATENT_WEIGHT`), added, plus 3
    (:data:`anomvae.scoring.HYBRID_SUPPORT_WEIGHT`) per cell holding another value
    than the one its feature had on every training row. "ensemble": the hybrid
    score plus twice the standardised distance from the scaled row to its nearest
    training row (up to 4,096 kept, fewer past 512 features;
    :data:`anomvae.scoring.ENSEMBLE_INPUT_WEIGHT`).
    A fitted detector can switch scores with ``set_params`` without refitting."""

VARIATIONAL_PARAMETERS = """\
beta : float, default=0.1
    Weight of the KL term (β-VAE; β = 1 is the plain VAE). The default, 0.1,
    keeps reconstructions sharp; see the user guide's benchmark page.
kl_warmup_epochs : int, default=10
    β rises linearly from 0 over this many epochs (against posterior collapse);
    early stopping only starts once it is complete.
n_samples : int, default=1
    Monte Carlo samples of z per row in training.
likelihood : {"gaussian", "bernoulli"}, default="gaussian"
    Gaussian with a learned per-feature variance, or Bernoulli for data in [0, 1].
score_type : {"hybrid", "reconstruction", "latent_knn", "ensemble", "elbo", \
"iw_nll", "kl", "recon_prob"}, default="hybrid"
    The anomaly score; beyond the four above, the likelihood-based scores of
    :func:`anomvae.scoring.anomaly_scores`.
noise : {"masking", "gaussian"} or None, default="masking"
    Corruption of the (scaled) input during training (a denoising VAE, Im et al.
    2017); None trains on clean rows.
noise_level : float, default=0.3
    Masking probability, or the Gaussian noise's standard deviation.
n_score_samples : int, default=32
    Monte Carlo samples per row for the sampled scores (fixed draws shared by all
    rows, so scoring is deterministic)."""

COMMON_ATTRIBUTES = """\
Attributes
----------
n_features_in_ : int
feature_names_in_ : ndarray of str
    Only when fitted on a DataFrame with string column names.
offset_ : float
    ``decision_function = score_samples - offset_``.
history_ : dict of list
    Per-epoch ``train_loss``, ``val_loss`` and ``beta_factor``.
n_iter_ : int
    Epochs run.
training_precision_ : {"float32", "bfloat16"}
    The training arithmetic ``precision`` resolved to.
training_profile_ : anomvae.monitoring.TrainingProfile or None
    Each feature column of the training rows before scaling (blank count,
    median, IQR, 1,024 sampled values), named as ``feature_names_in_`` or
    ``x0, x1, ...``: what a run report's column tests compare new rows with.
    None for images (``architecture="conv"``) and for model files saved before
    it existed.
network_ : torch.nn.Module
scaler_ : anomvae.preprocessing.Scaler
schema_ : anomvae.schema.TableSchema or None
    The column kinds, levels, transforms and blank rates of a mixed table (see
    ``categorical_features``); None for numeric data."""


def document(*sections: str) -> Callable[[_T], _T]:
    """Fill a class docstring's ``{parameters}`` and ``{attributes}`` placeholders
    from the shared sections (one source for the parameters every detector has)."""

    def wrap(cls: _T) -> _T:
        doc = inspect.cleandoc(cls.__doc__ or "")
        doc = doc.replace("{parameters}", "\n".join(sections))
        cls.__doc__ = doc.replace("{attributes}", COMMON_ATTRIBUTES)
        return cls

    return wrap
