"""anomvae.plotting, headless (Agg): returned types, labels, and the number of
lines, bars and images drawn, not pixels. The latent helpers are checked against
the detectors' own encoders and scores."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Iterator

import numpy as np
import pandas as pd
import pytest
from sklearn.datasets import load_digits
from sklearn.metrics import average_precision_score, roc_auc_score

matplotlib = pytest.importorskip("matplotlib")
matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
from matplotlib.axes import Axes  # noqa: E402
from matplotlib.figure import Figure  # noqa: E402

from anomvae import (  # noqa: E402
    AutoencoderDetector,
    ConditionalVAEDetector,
    VAEDetector,
    plotting,
)

FAST = {"max_steps": 12, "batch_size": 64, "random_state": 0}


@pytest.fixture(autouse=True)
def _close_figures() -> Iterator[None]:
    yield
    plt.close("all")


@pytest.fixture(scope="module")
def digits() -> tuple[np.ndarray, np.ndarray]:
    data = load_digits()
    return data.images[:240] / 16.0, data.target[:240]


@pytest.fixture(scope="module")
def table() -> pd.DataFrame:
    rng = np.random.default_rng(0)
    return pd.DataFrame(rng.normal(size=(200, 6)), columns=[f"f{i}" for i in range(6)])


@pytest.fixture(scope="module")
def ae(table: pd.DataFrame) -> AutoencoderDetector:
    return AutoencoderDetector(latent_dim=3, hidden_layer_sizes=(16,), **FAST).fit(
        table
    )


@pytest.fixture(scope="module")
def conv_vae(digits: tuple[np.ndarray, np.ndarray]) -> VAEDetector:
    images, _ = digits
    return VAEDetector(
        architecture="conv",
        image_shape=(8, 8),
        likelihood="bernoulli",
        latent_dim=3,
        hidden_layer_sizes=(16,),
        kl_warmup_epochs=2,
        **FAST,
    ).fit(images)


@pytest.fixture(scope="module")
def digit_frame(digits: tuple[np.ndarray, np.ndarray]) -> pd.DataFrame:
    images, labels = digits
    frame = pd.DataFrame(images.reshape(len(images), -1)).add_prefix("px")
    frame["label"] = labels.astype(str)
    return frame


@pytest.fixture(scope="module")
def cvae(digit_frame: pd.DataFrame) -> ConditionalVAEDetector:
    return ConditionalVAEDetector(
        condition_columns=("label",),
        architecture="conv",
        image_shape=(8, 8),
        likelihood="bernoulli",
        latent_dim=2,
        hidden_layer_sizes=(16,),
        **FAST,
    ).fit(digit_frame)


def _legend(ax: Axes) -> list[str]:
    legend = ax.get_legend()
    assert legend is not None
    return [t.get_text() for t in legend.get_texts()]


# ------------------------------------------------------------------- import
def test_importing_plotting_loads_neither_matplotlib_nor_torch() -> None:
    code = (
        "import sys, anomvae.plotting; "
        "print(any(m.split('.')[0] in ('matplotlib', 'torch') for m in sys.modules))"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True
    )
    assert out.stdout.strip() == "False"


# ------------------------------------------------------------------- scores
@pytest.mark.parametrize("convention", ["0/1", "-1/+1"])
def test_score_histogram_draws_normal_and_anomalous_rows(convention: str) -> None:
    scores = np.r_[np.linspace(0, 1, 90), np.linspace(2, 3, 10)]
    y = np.r_[np.zeros(90), np.ones(10)].astype(int)
    if convention == "-1/+1":
        y = 1 - 2 * y
    ax = plotting.plot_score_histogram(scores, y, threshold=1.5, bins=20)
    assert isinstance(ax, Axes)
    assert len(ax.patches) == 2 * 20
    assert _legend(ax) == ["normal (n=90)", "anomaly (n=10)", "threshold 1.5"]
    assert ax.get_xlabel() == "anomaly score (higher = more anomalous)"
    assert ax.get_ylabel() == "density"
    (line,) = ax.get_lines()
    np.testing.assert_allclose(line.get_xdata(), [1.5, 1.5])


def test_score_histogram_without_labels_draws_one_histogram_on_given_axes() -> None:
    _, ax = plt.subplots()
    assert plotting.plot_score_histogram(np.arange(10.0), bins=5, ax=ax) is ax
    assert len(ax.patches) == 5
    assert _legend(ax) == ["all rows (n=10)"]
    assert not ax.get_lines()


def test_score_histogram_on_a_log_axis_uses_geometric_bins() -> None:
    scores = np.geomspace(1.0, 1000.0, 50)
    ax = plotting.plot_score_histogram(scores, bins=3, log=True)
    assert ax.get_xscale() == "log"
    lefts = [p.get_x() for p in ax.patches]
    np.testing.assert_allclose(lefts, [1.0, 10.0, 100.0])
    assert sum(p.get_height() for p in ax.patches) == pytest.approx(1.0)
    assert ax.get_ylabel() == "share of rows per bin"
    # scores of either sign: an asinh axis, symmetric bins around 0
    ax = plotting.plot_score_histogram(np.array([-100.0, 1.0, 100.0]), bins=2, log=True)
    assert ax.get_xscale() == "asinh"
    np.testing.assert_allclose([p.get_x() for p in ax.patches], [-100.0, 0.0])


def test_score_distribution_keeps_its_defaults_and_takes_a_log_axis() -> None:
    cal, new = np.geomspace(1.0, 10.0, 40), np.geomspace(2.0, 100.0, 10)
    ax = plotting.plot_score_distribution(cal, new, threshold=5.0, bins=10)
    assert ax.get_xscale() == "linear"
    assert len(ax.patches) == 20
    assert _legend(ax) == ["calibration", "new", "threshold 5"]
    ax = plotting.plot_score_distribution(cal, new, bins=10, log=True)
    assert ax.get_xscale() == "log"
    assert ax.get_ylabel() == "share of rows per bin"


def test_score_histogram_rejects_labels_of_another_length() -> None:
    with pytest.raises(ValueError, match="10 scores but 3 labels"):
        plotting.plot_score_histogram(np.arange(10.0), [0, 1, 0])


def test_roc_draws_one_curve_per_score_and_states_each_auroc() -> None:
    rng = np.random.default_rng(0)
    y = np.r_[np.zeros(80), np.ones(20)]
    good, weak = y + rng.normal(0, 0.5, 100), y + rng.normal(0, 2.0, 100)
    ax = plotting.plot_roc(y, {"good": good, "weak": weak})
    assert len(ax.get_lines()) == 3  # two curves and the chance diagonal
    assert _legend(ax) == [
        f"good (AUROC {roc_auc_score(y, good):.3f})",
        f"weak (AUROC {roc_auc_score(y, weak):.3f})",
        "chance",
    ]
    assert ax.get_xlabel() == "false-positive rate"
    assert ax.get_ylabel() == "true-positive rate (recall)"
    single = plotting.plot_roc(y, good)
    assert _legend(single)[0] == f"AUROC {roc_auc_score(y, good):.3f}"


def test_precision_recall_states_average_precision_and_the_chance_level() -> None:
    rng = np.random.default_rng(1)
    y = np.r_[np.zeros(90), np.ones(10)]
    s = y + rng.normal(0, 0.7, 100)
    ax = plotting.plot_precision_recall(y, {"score": s})
    assert len(ax.get_lines()) == 2
    assert _legend(ax) == [
        f"score (AP {average_precision_score(y, s):.3f})",
        "chance (0.100)",
    ]
    np.testing.assert_allclose(ax.get_lines()[1].get_ydata(), [0.1, 0.1])
    assert (ax.get_xlabel(), ax.get_ylabel()) == ("recall", "precision")


# ----------------------------------------------------------------- training
def test_training_history_of_a_vae_shows_warmup_and_best_epoch(
    conv_vae: VAEDetector,
) -> None:
    ax = plotting.plot_training_history(conv_vae)
    train, val, *rest = ax.get_lines()
    assert len(train.get_xdata()) == conv_vae.n_iter_
    np.testing.assert_allclose(train.get_ydata(), conv_vae.history_["train_loss"])
    np.testing.assert_allclose(val.get_ydata(), conv_vae.history_["val_loss"])
    assert len(ax.patches) == 1  # the shaded warm-up epochs
    labels = _legend(ax)
    assert labels[:3] == ["training", "validation", "KL warm-up"]
    assert labels[3] == f"best epoch ({conv_vae.best_epoch_})"
    assert len(rest) == 1
    assert (ax.get_xlabel(), ax.get_ylabel()) == ("epoch", "loss (per feature)")


def test_training_history_from_a_plain_dict() -> None:
    history = {"train_loss": [3.0, 2.0, 1.5], "val_loss": [], "beta_factor": [1.0] * 3}
    ax = plotting.plot_training_history(history)
    assert len(ax.get_lines()) == 1
    assert not ax.patches


# ------------------------------------------------------------------- latent
def test_latent_map_of_two_dims_colours_each_class() -> None:
    codes = np.random.default_rng(0).normal(size=(30, 2))
    y = np.repeat(["c", "a", "b"], [3, 20, 7])
    ax = plotting.plot_latent_map(codes, y=y)
    assert len(ax.collections) == 3
    assert _legend(ax) == ["a", "b", "c"]
    # drawn largest class first, so that the rare ones lie on top
    sizes = [len(c.get_offsets()) for c in ax.collections]
    assert sizes == [20, 7, 3]
    tab10 = matplotlib.colormaps["tab10"]  # colours follow the sorted classes
    colours = [tuple(c.get_facecolor()[0][:3]) for c in ax.collections]
    assert colours == [tab10(i)[:3] for i in (0, 1, 2)]
    assert ax.get_xlabel() == "z[0]"
    assert ax.get_ylabel() == "z[1]"


def test_latent_map_projects_larger_latents_onto_principal_components(
    ae: AutoencoderDetector, table: pd.DataFrame
) -> None:
    ax = plotting.plot_latent_map(ae, table, y=np.arange(len(table)))
    assert ax.get_xlabel().startswith("PC1 of the 3-D latent (")
    assert ax.get_ylabel().startswith("PC2 of the 3-D latent (")
    (points,) = ax.collections  # 200 distinct values: one continuous scatter
    assert points.get_offsets().shape == (len(table), 2)
    assert len(ax.figure.axes) == 2  # and its colour bar
    with pytest.raises(ValueError, match="pass the rows X"):
        plotting.plot_latent_map(ae)


def test_latent_map_takes_codes_as_a_dataframe() -> None:
    codes = pd.DataFrame(np.random.default_rng(0).normal(size=(10, 2)))
    ax = plotting.plot_latent_map(codes)
    np.testing.assert_allclose(ax.collections[0].get_offsets(), codes.to_numpy())


def test_latent_map_of_one_dimension_and_bad_shapes() -> None:
    ax = plotting.plot_latent_map(np.arange(10.0)[:, None])
    assert ax.get_ylabel() == "(jitter)"
    with pytest.raises(ValueError, match="2-D"):
        plotting.plot_latent_map(np.arange(10.0))
    with pytest.raises(ValueError, match="10 codes but 3 labels"):
        plotting.plot_latent_map(np.zeros((10, 2)), y=[0, 1, 0])


def test_latent_kl_per_dimension_sums_to_the_kl_score(
    conv_vae: VAEDetector, digits: tuple[np.ndarray, np.ndarray]
) -> None:
    images, _ = digits
    kl = plotting.latent_kl_per_dimension(conv_vae, images)
    assert kl.shape == (3,)
    assert (kl >= 0).all()
    kl_score = conv_vae.set_params(score_type="kl").anomaly_score(images)
    conv_vae.set_params(score_type="elbo")
    np.testing.assert_allclose(kl.sum(), kl_score.mean(), rtol=1e-10)
    ax = plotting.plot_latent_kl(conv_vae, images)
    assert [p.get_x() + p.get_width() / 2 for p in ax.patches] == [0, 1, 2]
    n_active = int((kl > 0.01).sum())
    assert ax.get_title() == f"{n_active} of 3 units active (KL > 0.01)"


def test_latent_kl_needs_a_variational_detector(
    ae: AutoencoderDetector, table: pd.DataFrame
) -> None:
    with pytest.raises(ValueError, match="variational"):
        plotting.latent_kl_per_dimension(ae, table)


# ----------------------------------------------------------- contributions
def test_feature_contributions_bars_the_top_shares_of_one_row(
    ae: AutoencoderDetector, table: pd.DataFrame
) -> None:
    row = table.iloc[[5]]
    shares = ae.feature_contributions(row)[0]
    ax = plotting.plot_feature_contributions(ae, row, top=3)
    widths = [p.get_width() for p in ax.patches]
    np.testing.assert_allclose(widths, np.sort(shares)[-3:])  # largest drawn on top
    top_name = table.columns[int(np.argmax(shares))]
    ticks = [t.get_text() for t in ax.get_yticklabels()]
    assert ticks[-1].startswith(f"{top_name} = ")
    assert ax.get_xlabel() == "share of the row's reconstruction error"
    # a Series row and an unnamed 1-D array give the same bars
    from_series = plotting.plot_feature_contributions(ae, table.iloc[5], top=3)
    np.testing.assert_allclose([p.get_width() for p in from_series.patches], widths)
    with pytest.raises(ValueError, match="one row"):
        plotting.plot_feature_contributions(ae, table.iloc[:2])


def test_contribution_heatmap_has_one_cell_per_row_and_feature(
    ae: AutoencoderDetector, table: pd.DataFrame
) -> None:
    rows = table.iloc[10:15]
    ax = plotting.plot_contribution_heatmap(ae, rows, top_features=4)
    (image,) = ax.get_images()
    assert image.get_array().shape == (5, 4)
    assert [t.get_text() for t in ax.get_yticklabels()] == [str(i) for i in rows.index]
    names = [t.get_text() for t in ax.get_xticklabels()]
    mean_share = ae.feature_contributions(rows).mean(0)
    assert names[0] == table.columns[int(np.argmax(mean_share))]
    full = plotting.plot_contribution_heatmap(ae, rows, feature_names=list("abcdef"))
    assert full.get_images()[0].get_array().shape == (5, 6)
    assert [t.get_text() for t in full.get_xticklabels()] == list("abcdef")


# ------------------------------------------------------------------- images
def test_image_grid_lays_out_rows_labels_and_titles() -> None:
    images = np.random.default_rng(0).random((4, 8, 8))
    fig = plotting.plot_image_grid(
        [images, images[:2].reshape(2, 64)],
        image_shape=(8, 8),
        row_labels=["all", "two"],
        titles=list("abcd"),
        title="a grid",
    )
    assert isinstance(fig, Figure)
    assert fig.get_suptitle() == "a grid"
    axes = np.reshape(fig.axes, (2, 4))
    assert sum(len(a.get_images()) for a in fig.axes) == 6
    assert [a.get_ylabel() for a in axes[:, 0]] == ["all", "two"]
    assert [a.get_title() for a in axes[0]] == list("abcd")
    assert not axes[1, 3].axison  # the short row's empty cells are hidden
    with pytest.raises(ValueError, match="image_shape"):
        plotting.plot_image_grid([images.reshape(4, 64)])


def test_reconstructions_show_inputs_reconstructions_and_errors(
    conv_vae: VAEDetector, digits: tuple[np.ndarray, np.ndarray]
) -> None:
    images, _ = digits
    fig = plotting.plot_reconstructions(conv_vae, images, n=5, title="VAE")
    assert fig.get_suptitle() == "VAE"
    axes = np.reshape(fig.axes, (3, 5))
    assert [a.get_ylabel() for a in axes[:, 0]] == [
        "input",
        "reconstruction",
        "|error|",
    ]
    np.testing.assert_allclose(axes[0, 2].get_images()[0].get_array(), images[2])
    recon = conv_vae.reconstruct(images[:5]).reshape(5, 8, 8)
    np.testing.assert_allclose(axes[1, 2].get_images()[0].get_array(), recon[2])
    error = axes[2, 2].get_images()[0].get_array()
    np.testing.assert_allclose(error, np.abs(images[2] - recon[2]))


def test_reconstructions_of_image_arrays_by_a_fully_connected_detector(
    digits: tuple[np.ndarray, np.ndarray],
) -> None:
    images, _ = digits
    mlp = AutoencoderDetector(latent_dim=2, hidden_layer_sizes=(8,), **FAST).fit(
        images.reshape(len(images), -1)
    )
    fig = plotting.plot_reconstructions(mlp, images, n=3, image_shape=(8, 8))
    assert len(fig.axes) == 9
    with pytest.raises(ValueError, match="image_shape"):
        plotting.plot_reconstructions(mlp, images.reshape(len(images), -1))


def test_decode_latent_inverts_transform_like_reconstruct(
    conv_vae: VAEDetector, ae: AutoencoderDetector, table: pd.DataFrame
) -> None:
    images = load_digits().images[:10] / 16.0
    decoded = plotting.decode_latent(conv_vae, conv_vae.transform(images))
    np.testing.assert_allclose(decoded, conv_vae.reconstruct(images), atol=1e-12)
    # a standard-scaled detector decodes into the input's units
    decoded = plotting.decode_latent(ae, ae.transform(table))
    np.testing.assert_allclose(decoded, ae.reconstruct(table), atol=1e-10)
    assert plotting.decode_latent(ae, np.zeros(3)).shape == (1, 6)


def test_decode_latent_of_a_conditional_vae_uses_the_condition(
    cvae: ConditionalVAEDetector, digit_frame: pd.DataFrame
) -> None:
    rows = digit_frame.iloc[:6]
    z = cvae.transform(rows)
    decoded = plotting.decode_latent(cvae, z, rows[["label"]])
    np.testing.assert_allclose(decoded, cvae.reconstruct(rows), atol=1e-12)
    one_label = plotting.decode_latent(cvae, z, pd.DataFrame({"label": ["3"]}))
    assert one_label.shape == (6, 64)
    assert not np.allclose(one_label, decoded)
    with pytest.raises(ValueError, match="needs conditions"):
        plotting.decode_latent(cvae, z)
    with pytest.raises(ValueError, match="2 condition rows for 6 codes"):
        plotting.decode_latent(cvae, z, rows[["label"]].iloc[:2])


def test_latent_traversal_has_a_row_per_dimension_and_a_column_per_value(
    conv_vae: VAEDetector, digits: tuple[np.ndarray, np.ndarray]
) -> None:
    fig = plotting.plot_latent_traversal(conv_vae, dims=[0, 2], values=[-1, 0, 1])
    axes = np.reshape(fig.axes, (2, 3))
    assert [a.get_ylabel() for a in axes[:, 0]] == ["z[0]", "z[2]"]
    assert [a.get_title() for a in axes[0]] == ["-1", "+0", "+1"]
    images, _ = digits
    fig = plotting.plot_latent_traversal(conv_vae, base=images[0], values=[0.0])
    assert len(fig.axes) == 1


def test_interpolation_runs_from_one_input_to_the_other(
    conv_vae: VAEDetector, digits: tuple[np.ndarray, np.ndarray]
) -> None:
    images, _ = digits
    fig = plotting.plot_interpolation(conv_vae, images[0], images[1], steps=4)
    assert len(fig.axes) == 6
    assert [a.get_title() for a in fig.axes] == [
        "a",
        "t=0.00",
        "t=0.33",
        "t=0.67",
        "t=1.00",
        "b",
    ]
    np.testing.assert_allclose(fig.axes[0].get_images()[0].get_array(), images[0])
    first = fig.axes[1].get_images()[0].get_array()
    np.testing.assert_allclose(first.ravel(), conv_vae.reconstruct(images[:1])[0])


def test_interpolation_of_a_conditional_vae_interpolates_the_condition(
    cvae: ConditionalVAEDetector, digit_frame: pd.DataFrame
) -> None:
    a, b = digit_frame.iloc[[0]], digit_frame.iloc[[1]]
    fig = plotting.plot_interpolation(cvae, a, b, steps=3)
    last = fig.axes[3].get_images()[0].get_array()
    np.testing.assert_allclose(last.ravel(), cvae.reconstruct(b)[0], atol=1e-12)
    fixed = plotting.plot_interpolation(
        cvae, a, b, steps=3, conditions=pd.DataFrame({"label": ["0"]})
    )
    assert len(fixed.axes) == 5
    with pytest.raises(ValueError, match="pass conditions"):
        plotting.plot_interpolation(cvae, a.to_numpy()[0], b.to_numpy()[0])
