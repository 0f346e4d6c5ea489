"""Image grids: inputs, reconstructions and error maps, latent traversals and
interpolations."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

import numpy as np

if TYPE_CHECKING:
    from matplotlib.figure import Figure
    from numpy.typing import ArrayLike

from anomvae.plotting.latent import _encoded_conditions, _feature_array, decode_latent


def _image_shape(
    detector: Any, image_shape: Sequence[int] | None, sample: Any = None
) -> tuple[int, ...]:
    if image_shape is not None:
        return tuple(int(v) for v in image_shape)
    spec = getattr(detector, "network_spec_", None)
    if spec is not None and spec.image_shape is not None:
        c, h, w = spec.image_shape
        return (h, w) if c == 1 else (c, h, w)
    if sample is not None and np.ndim(sample) >= 3:
        return tuple(np.shape(sample)[1:])
    raise ValueError("pass image_shape=(height, width) to draw rows as images")


def _as_images(arr: ArrayLike, shape: Sequence[int]) -> np.ndarray:
    """Rows to an array of images (n, h, w) or, for 3-4 channels, (n, h, w, c)."""
    a = np.asarray(arr, dtype=np.float64)
    images = a.reshape(-1, *shape)
    if len(shape) == 3:
        if shape[0] == 1:
            return images[:, 0]
        if shape[0] not in (3, 4):
            raise ValueError(f"cannot draw images with {shape[0]} channels")
        return images.transpose(0, 2, 3, 1)
    return images


def _per_row(value: Any, n: int) -> list[Any]:
    if isinstance(value, str) or not isinstance(value, Sequence):
        return [value] * n
    if len(value) != n:
        raise ValueError(f"{len(value)} settings for {n} rows of images")
    return list(value)


def plot_image_grid(
    rows: Sequence[ArrayLike] | np.ndarray,
    *,
    image_shape: Sequence[int] | None = None,
    row_labels: Sequence[str] | None = None,
    titles: Sequence[str] | None = None,
    cmap: str | Sequence[str] = "gray",
    vmin: float | Sequence[float | None] | None = None,
    vmax: float | Sequence[float | None] | None = None,
    scale: float = 1.0,
    title: str | None = None,
) -> Figure:
    """A grid of images: one grid row per array of images.

    Parameters
    ----------
    rows : sequence of array-like, or one array
        Each of shape ``(n_i, h, w)``, ``(n_i, c, h, w)`` or flat ``(n_i, h * w)``
        with ``image_shape``. A single array is one row. Columns: the longest row.
    image_shape : (h, w) or (c, h, w), default=None
        Needed for flat rows.
    row_labels : sequence of str, default=None
        Drawn left of each row.
    titles : sequence of str, default=None
        Column titles above the first row.
    cmap, vmin, vmax : one value or one per row, default="gray", None, None
        Colour map and range; None scales each row to its own range.
    scale : float, default=1.0
        Inches per image.
    title : str, default=None
        Title of the figure.

    Returns
    -------
    matplotlib.figure.Figure
    """
    import matplotlib.pyplot as plt

    if isinstance(rows, np.ndarray):
        rows = [rows]
    grids = []
    for r in rows:
        arr = np.asarray(r, dtype=np.float64)
        shape = image_shape if image_shape is not None else arr.shape[1:]
        if len(shape) not in (2, 3):
            raise ValueError("pass image_shape=(height, width) for flat rows")
        grids.append(_as_images(arr, shape))
    n_rows, n_cols = len(grids), max(len(g) for g in grids)
    cmaps = _per_row(cmap, n_rows)
    lows, highs = _per_row(vmin, n_rows), _per_row(vmax, n_rows)
    fig, axes = plt.subplots(
        n_rows,
        n_cols,
        figsize=(scale * n_cols, scale * n_rows + (0.7 if title else 0.3)),
        squeeze=False,
    )
    for i, images in enumerate(grids):
        lo = float(images.min()) if lows[i] is None else lows[i]
        hi = float(images.max()) if highs[i] is None else highs[i]
        for j, ax in enumerate(axes[i]):
            ax.set_xticks([])
            ax.set_yticks([])
            if j >= len(images):
                ax.set_axis_off()
                continue
            ax.imshow(images[j], cmap=cmaps[i], vmin=lo, vmax=hi)
        if row_labels is not None:
            axes[i, 0].set_ylabel(row_labels[i])
    for j, column_title in enumerate(titles or ()):
        axes[0, j].set_title(column_title, fontsize="small")
    if title is not None:
        fig.suptitle(title)
    fig.tight_layout()
    return fig


def plot_reconstructions(
    detector: Any,
    X: Any,
    *,
    n: int = 8,
    image_shape: Sequence[int] | None = None,
    titles: Sequence[str] | None = None,
    title: str | None = None,
) -> Figure:
    """Inputs, their reconstructions and the absolute error maps, for images.

    Parameters
    ----------
    detector : fitted anomvae detector
    X : array-like of images (n, h, w) or flat rows, or DataFrame
        The first ``n`` rows are drawn.
    n : int, default=8
    image_shape : (h, w) or (c, h, w), default=None
        Defaults to the detector's ``image_shape`` or the shape of ``X``.
    titles : sequence of str, default=None
        Column titles, e.g. each image's anomaly score.
    title : str, default=None
        Title of the figure.

    Returns
    -------
    matplotlib.figure.Figure
        Three rows: input, reconstruction, ``|error|`` (inputs and reconstructions
        share a grey scale, the errors run from 0 to their maximum).
    """
    shape = _image_shape(detector, image_shape, X)
    head = X.iloc[:n] if hasattr(X, "iloc") else np.asarray(X)[:n]
    if isinstance(head, np.ndarray) and head.ndim > 2:  # images: MLPs need flat rows
        head = head.reshape(len(head), -1)
    inputs = _feature_array(detector, head)
    recon = np.asarray(detector.reconstruct(head)).reshape(inputs.shape)
    error = np.abs(inputs - recon)
    lo, hi = (
        float(min(inputs.min(), recon.min())),
        float(max(inputs.max(), recon.max())),
    )
    return plot_image_grid(
        [inputs, recon, error],
        image_shape=shape,
        row_labels=["input", "reconstruction", "|error|"],
        titles=titles,
        cmap=["gray", "gray", "magma"],
        vmin=[lo, lo, 0.0],
        vmax=[hi, hi, float(error.max()) or 1.0],
        title=title,
    )


def plot_latent_traversal(
    detector: Any,
    *,
    dims: int | Sequence[int] = 0,
    values: ArrayLike = (-2.5, -1.5, -0.5, 0.5, 1.5, 2.5),
    base: Any = None,
    conditions: Any = None,
    image_shape: Sequence[int] | None = None,
    title: str | None = None,
) -> Figure:
    """Decode codes that vary one latent dimension at a time (one row per dim).

    Parameters
    ----------
    detector : fitted anomvae detector with image rows
    dims : int or sequence of int, default=0
        Latent dimensions to traverse (0-based).
    values : array-like, default=(-2.5, ..., 2.5)
        Values the traversed dimension takes; for a VAE in prior standard
        deviations.
    base : one row, default=None
        The code the others dimensions keep: the encoding of this row, or the
        prior mean (zeros) when None.
    conditions : DataFrame or array-like, default=None
        Conditional VAE: the condition for every decoded image.
    image_shape : (h, w) or (c, h, w), default=None
    title : str, default=None
        Title of the figure.

    Returns
    -------
    matplotlib.figure.Figure
    """
    shape = _image_shape(detector, image_shape, None)
    latent_dim = int(detector.network_spec_.latent_dim)
    start = (
        np.zeros(latent_dim)
        if base is None
        else np.asarray(detector.transform(_one_row(base)))[0]
    )
    grid = np.asarray(values, dtype=np.float64)
    dim_list = [dims] if isinstance(dims, int | np.integer) else list(dims)
    rows = []
    for dim in dim_list:
        codes = np.tile(start, (grid.size, 1))
        codes[:, dim] = grid
        rows.append(decode_latent(detector, codes, conditions))
    return plot_image_grid(
        rows,
        image_shape=shape,
        row_labels=[f"z[{d}]" for d in dim_list],
        titles=[f"{v:+.2g}" for v in grid],
        vmin=float(np.min(rows)),
        vmax=float(np.max(rows)),
        title=title,
    )


def _one_row(x: Any) -> Any:
    import pandas as pd

    if isinstance(x, pd.Series):
        return x.to_frame().T.infer_objects()
    if isinstance(x, pd.DataFrame):
        return x
    return np.asarray(x).reshape(1, -1)


def plot_interpolation(
    detector: Any,
    a: Any,
    b: Any,
    *,
    steps: int = 8,
    conditions: Any = None,
    image_shape: Sequence[int] | None = None,
    title: str | None = None,
) -> Figure:
    """Decode the straight line between the latent codes of two rows.

    One row of images: input ``a``, ``steps`` decoded points from
    ``transform(a)`` to ``transform(b)``, input ``b``.

    Parameters
    ----------
    detector : fitted anomvae detector with image rows
    a, b : one row each (an image, a flat row, a Series or one-row DataFrame)
    steps : int, default=8
    conditions : DataFrame or array-like, default=None
        Conditional VAE: the condition of every decoded image; when None, the
        encoded conditions of ``a`` and ``b`` (DataFrame rows) are interpolated
        along with the codes.
    image_shape : (h, w) or (c, h, w), default=None
        Defaults to the detector's ``image_shape`` or the shape of ``a``.
    title : str, default=None
        Title of the figure.

    Returns
    -------
    matplotlib.figure.Figure
    """
    import pandas as pd

    sample = np.asarray(a)[None] if not hasattr(a, "iloc") else None
    shape = _image_shape(detector, image_shape, sample)
    ends = [_one_row(a), _one_row(b)]
    t = np.linspace(0.0, 1.0, steps)[:, None]
    if conditions is None and detector.network_.spec.n_conditions:
        if not all(isinstance(e, pd.DataFrame) for e in ends):
            raise ValueError("pass conditions, or a and b as DataFrame rows")
        c = np.vstack([np.asarray(_encoded_conditions(detector, e)) for e in ends])
        conditions = (1.0 - t) * c[0] + t * c[1]
    codes = np.vstack([np.asarray(detector.transform(e)) for e in ends])
    path = (1.0 - t) * codes[0] + t * codes[1]
    decoded = decode_latent(detector, path, conditions)
    inputs = np.vstack([_feature_array(detector, e) for e in ends])
    images = np.vstack([inputs[:1], decoded, inputs[1:]])
    titles = ["a", *(f"t={v:.2f}" for v in t[:, 0]), "b"]
    return plot_image_grid(
        [images],
        image_shape=shape,
        titles=titles,
        vmin=float(images.min()),
        vmax=float(images.max()),
        title=title,
    )
