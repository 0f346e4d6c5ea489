"""Model files: bit-identical round trips, and clear errors (never code execution)
for corrupt, truncated, tampered, too-new and malicious files."""

from __future__ import annotations

import json
import os
import pickle
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch
from safetensors import safe_open
from safetensors.numpy import save_file

import anomvae
from anomvae import (
    AutoencoderDetector,
    ConditionalVAEDetector,
    DenoisingAutoencoderDetector,
    ModelFileError,
    VAEDetector,
)
from anomvae.persistence import _digest, load_with_metadata, read_config

FAST = {"max_epochs": 5, "random_state": 0}


def _frame(n: int = 120, seed: int = 0) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    return pd.DataFrame(
        {
            "site": rng.choice(["north", "south"], size=n),
            "temp": rng.normal(20, 5, size=n),
            "load": rng.normal(size=n),
            "flow": rng.normal(size=n) * 100,
        }
    )


@pytest.mark.parametrize(
    "det",
    [
        AutoencoderDetector(**FAST),
        DenoisingAutoencoderDetector(noise="masking", **FAST),
        VAEDetector(score_type="iw_nll", contamination=0.05, **FAST),
        VAEDetector(score_type="recon_prob", scaler="robust", **FAST),
        ConditionalVAEDetector(condition_columns=("site",), **FAST),
    ],
    ids=lambda d: type(d).__name__,
)
def test_round_trip_gives_bit_identical_scores(tmp_path, det):
    frame = _frame()
    data = (
        frame if isinstance(det, ConditionalVAEDetector) else frame.drop(columns="site")
    )
    det.fit(data)
    path = tmp_path / "model.anomvae"
    anomvae.save(det, path)
    loaded = anomvae.load(path)
    assert type(loaded) is type(det)
    assert loaded.get_params() == det.get_params()
    np.testing.assert_array_equal(loaded.score_samples(data), det.score_samples(data))
    np.testing.assert_array_equal(loaded.predict(data), det.predict(data))
    np.testing.assert_array_equal(
        loaded.feature_contributions(data), det.feature_contributions(data)
    )
    assert list(loaded.feature_names_in_) == list(det.feature_names_in_)
    assert loaded.offset_ == det.offset_
    assert loaded.history_ == det.history_


def test_model_file_is_safetensors_with_json_config_and_no_pickle(tmp_path):
    det = AutoencoderDetector(**FAST).fit(_frame().drop(columns="site"))
    path = tmp_path / "m.anomvae"
    anomvae.save(det, path)
    raw = path.read_bytes()
    assert b"\x80\x04" not in raw[:2]
    assert b"pickle" not in raw
    with safe_open(str(path), framework="numpy") as f:
        keys = set(f.keys())
        meta = f.metadata()
    assert "scaler/center" in keys
    assert any(k.startswith("network/") for k in keys)
    config = json.loads(meta["config"])
    assert config["estimator"] == "AutoencoderDetector"
    assert config["fitted"]["feature_names_in_"] == ["temp", "load", "flow"]
    assert set(config["versions"]) >= {"anomvae", "torch", "scikit-learn"}
    assert read_config(path)["fitted"]["n_train_samples_"] == 120


class _Exploit:
    def __reduce__(self):
        return (os.system, ("touch EXPLOITED_BY_PICKLE",))


def test_malicious_pickle_is_rejected_and_never_executed(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    for name, payload in [
        ("evil.anomvae", pickle.dumps(_Exploit())),
        ("evil_torch.anomvae", None),
    ]:
        path = tmp_path / name
        if payload is None:
            torch.save({"x": _Exploit()}, path)  # a torch zip file with a pickle inside
        else:
            path.write_bytes(payload)
        with pytest.raises(ModelFileError, match="not a readable anomvae model"):
            anomvae.load(path)
    assert not (tmp_path / "EXPLOITED_BY_PICKLE").exists()


@pytest.fixture
def saved(tmp_path) -> Path:
    det = VAEDetector(**FAST).fit(_frame().drop(columns="site"))
    path = tmp_path / "m.anomvae"
    anomvae.save(det, path)
    return path


def test_truncated_file(saved):
    data = saved.read_bytes()
    saved.write_bytes(data[: len(data) // 2])
    with pytest.raises(ModelFileError, match="corrupt, truncated"):
        anomvae.load(saved)


def test_tampered_weights_are_detected(saved):
    data = bytearray(saved.read_bytes())
    data[-5] ^= 0xFF  # flip bits in the last tensor's bytes
    saved.write_bytes(bytes(data))
    with pytest.raises(ModelFileError, match="checksum mismatch"):
        anomvae.load(saved)


def _rewrite(path: Path, edit) -> None:
    with safe_open(str(path), framework="numpy") as f:
        meta = dict(f.metadata())
        arrays = {k: f.get_tensor(k) for k in f.keys()}  # noqa: SIM118
    config = json.loads(meta["config"])
    edit(config, meta, arrays)
    meta["config"] = json.dumps(config, sort_keys=True)
    meta["sha256"] = _digest(meta["config"], arrays)
    save_file(arrays, str(path), metadata=meta)


def test_tampered_config_is_detected(saved):
    with safe_open(str(saved), framework="numpy") as f:
        meta = dict(f.metadata())
        arrays = {k: f.get_tensor(k) for k in f.keys()}  # noqa: SIM118
    meta["config"] = meta["config"].replace('"offset_": ', '"offset_": 1')
    save_file(arrays, str(saved), metadata=meta)
    with pytest.raises(ModelFileError, match="checksum mismatch"):
        anomvae.load(saved)


def test_newer_format_version_asks_for_an_upgrade(saved):
    def edit(config, meta, arrays):
        meta["format_version"] = "99"

    _rewrite(saved, edit)
    with pytest.raises(ModelFileError, match="newer than this anomvae reads"):
        anomvae.load(saved)


def test_unknown_estimator_class_is_never_imported(saved):
    def edit(config, meta, arrays):
        config["estimator"] = "os.system"

    _rewrite(saved, edit)
    with pytest.raises(ModelFileError, match=r"unknown estimator 'os\.system'"):
        anomvae.load(saved)


def test_precision_round_trips_and_older_files_without_it_load(saved, tmp_path):
    det = AutoencoderDetector(precision="bfloat16", **FAST).fit(
        _frame().drop(columns="site")
    )
    anomvae.save(det, tmp_path / "bf16.anomvae")
    loaded = anomvae.load(tmp_path / "bf16.anomvae")
    assert loaded.precision == "bfloat16"
    assert loaded.training_precision_ == "bfloat16"

    # A file written before the precision parameter existed.
    scores = anomvae.load(saved).score_samples(_frame().drop(columns="site"))

    def edit(config, meta, arrays):
        del config["params"]["precision"]
        del config["fitted"]["training_precision_"]
        assert config["fitted"]["latent_reference"]["latent_weight"] == 2.0

    _rewrite(saved, edit)
    assert "precision" not in read_config(saved)["params"]
    old = anomvae.load(saved)
    assert old.precision == "auto"
    assert old.training_precision_ == "float32"
    np.testing.assert_array_equal(
        old.score_samples(_frame().drop(columns="site")), scores
    )


def test_files_without_a_latent_weight_keep_the_equal_weight_hybrid(saved):
    # Files written before HYBRID_LATENT_WEIGHT added the two standardised parts
    # with equal weights; they must score as they did, against their threshold.
    def edit(config, meta, arrays):
        del config["fitted"]["latent_reference"]["latent_weight"]

    _rewrite(saved, edit)
    old = anomvae.load(saved)
    ref = old.latent_reference_
    assert ref.latent_weight == 1.0
    X = _frame().drop(columns="site")
    hybrid = old.anomaly_score(X)
    recon = old.set_params(score_type="reconstruction").anomaly_score(X)
    knn = old.set_params(score_type="latent_knn").anomaly_score(X)
    expected = (recon - ref.recon_center) / ref.recon_scale + (
        knn - ref.knn_center
    ) / ref.knn_scale
    np.testing.assert_allclose(hybrid, expected, rtol=1e-9, atol=1e-12)


def test_files_without_the_support_term_keep_scoring_as_before(
    tmp_path, constant_columns
):
    # Files written before HYBRID_SUPPORT_WEIGHT have no support arrays: their
    # hybrid is the two standardised parts alone, even for a row off the support.
    X, test = constant_columns
    det = VAEDetector(**FAST).fit(X)
    path = tmp_path / "m.anomvae"
    anomvae.save(det, path)
    loaded = anomvae.load(path)
    np.testing.assert_array_equal(loaded.anomaly_score(test), det.anomaly_score(test))
    assert loaded.latent_reference_.support_columns.tolist() == [2, 4, 5]

    def edit(config, meta, arrays):
        del config["fitted"]["latent_reference"]["support_weight"]
        del arrays["latent/support_columns"], arrays["latent/support_values"]

    _rewrite(path, edit)
    old = anomvae.load(path)
    assert old.latent_reference_.support_weight == 0.0
    ref = old.latent_reference_
    recon = old.set_params(score_type="reconstruction").anomaly_score(test)
    knn = old.set_params(score_type="latent_knn").anomaly_score(test)
    expected = (recon - ref.recon_center) / ref.recon_scale + 2.0 * (
        knn - ref.knn_center
    ) / ref.knn_scale
    got = old.set_params(score_type="hybrid").anomaly_score(test)
    np.testing.assert_allclose(got, expected, rtol=1e-9, atol=1e-9)
    assert (det.anomaly_score(test) - got).max() > 8.0  # the new file's 3 cells


def test_metadata_round_trips_and_older_files_have_none(saved, tmp_path):
    det = anomvae.load(saved)
    assert load_with_metadata(saved)[1] == {}  # saved without metadata
    path = tmp_path / "with.anomvae"
    anomvae.save(det, path, metadata={"id_columns": ["id"], "job": {"owner": "ops"}})
    loaded, metadata = load_with_metadata(path)
    assert metadata == {"id_columns": ["id"], "job": {"owner": "ops"}}
    np.testing.assert_array_equal(
        loaded.score_samples(_frame().drop(columns="site")),
        det.score_samples(_frame().drop(columns="site")),
    )
    cal = anomvae.ThresholdCalibrator(VAEDetector(**FAST), method="contamination")
    cal.fit(_frame(n=200, seed=1).drop(columns="site"))
    anomvae.save(cal, path, metadata={"id_columns": ["a", "b"]})
    assert load_with_metadata(path)[1] == {"id_columns": ["a", "b"]}

    def edit(config, meta, arrays):  # a file from before metadata was stored
        del config["metadata"]

    _rewrite(path, edit)
    assert load_with_metadata(path)[1] == {}
    with pytest.raises(TypeError, match="plain JSON"):
        anomvae.save(det, tmp_path / "bad.anomvae", metadata={"when": object()})
    with pytest.raises(TypeError, match="plain JSON"):
        anomvae.save(det, tmp_path / "bad.anomvae", metadata={"x": float("nan")})
    assert not (tmp_path / "bad.anomvae").exists()

    def tamper(config, meta, arrays):
        config["metadata"] = ["not", "a", "map"]

    _rewrite(path, tamper)
    with pytest.raises(ModelFileError, match="metadata is not a map"):
        load_with_metadata(path)


def test_training_profile_round_trips_and_older_files_have_none(saved, tmp_path):
    X = _frame().drop(columns="site")
    det = anomvae.load(saved)
    profile = det.training_profile_
    assert profile.names == ("temp", "load", "flow")
    assert profile.n_rows == len(X)  # the rows given to fit, before scaling
    assert profile["temp"].median == pytest.approx(float(np.median(X["temp"])))
    fresh = VAEDetector(**FAST).fit(X).training_profile_
    assert profile.to_dict() == fresh.to_dict()
    for name in profile.names:  # float64 samples, bit for bit
        np.testing.assert_array_equal(profile[name].sample, fresh[name].sample)
    with safe_open(str(saved), framework="numpy") as f:
        keys = set(f.keys())
    assert {f"monitoring/profile/sample/{i}" for i in range(3)} <= keys
    assert read_config(saved)["fitted"]["training_profile"]["n_rows"] == len(X)

    # A conditional VAE's context column is not a scored feature: not profiled.
    cvae = ConditionalVAEDetector(condition_columns=("site",), **FAST).fit(_frame())
    anomvae.save(cvae, tmp_path / "cvae.anomvae")
    assert anomvae.load(tmp_path / "cvae.anomvae").training_profile_.names == (
        "temp",
        "load",
        "flow",
    )
    # Fitted on an array: x0, x1, ...
    assert AutoencoderDetector(**FAST).fit(X.to_numpy()).training_profile_.names == (
        "x0",
        "x1",
        "x2",
    )

    scores = det.score_samples(X)

    def newer(config, meta, arrays):
        config["fitted"]["training_profile"]["version"] = 99

    newer_path = tmp_path / "newer.anomvae"
    newer_path.write_bytes(saved.read_bytes())
    _rewrite(newer_path, newer)
    with pytest.raises(ModelFileError, match=r"training profile version 99.*upgrade"):
        anomvae.load(newer_path)

    def older(config, meta, arrays):  # a file from before profiles were saved
        del config["fitted"]["training_profile"]
        for key in [k for k in arrays if k.startswith("monitoring/")]:
            del arrays[key]

    _rewrite(saved, older)
    old = anomvae.load(saved)
    assert old.training_profile_ is None
    np.testing.assert_array_equal(old.score_samples(X), scores)


def test_missing_columns_error_names_them_and_pickles():
    from anomvae.exceptions import DataError, MissingColumnsError
    from anomvae.io import check_columns

    with pytest.raises(MissingColumnsError, match="missing columns 'b', 'c'") as info:
        check_columns(["a"], ["a", "b", "c"], source="f.csv")
    assert isinstance(info.value, DataError)
    assert info.value.missing == ["b", "c"]
    copy = pickle.loads(pickle.dumps(info.value))  # as dask re-raises it
    assert (type(copy), str(copy), copy.missing) == (
        MissingColumnsError,
        str(info.value),
        ["b", "c"],
    )


def test_missing_and_non_model_files(tmp_path):
    with pytest.raises(ModelFileError, match="not found"):
        anomvae.load(tmp_path / "nope.anomvae")
    save_file({"w": np.zeros(3)}, str(tmp_path / "other.safetensors"))
    with pytest.raises(ModelFileError, match="not an anomvae model"):
        anomvae.load(tmp_path / "other.safetensors")


def test_failed_save_leaves_previous_model_intact(saved, monkeypatch):
    before = saved.read_bytes()
    det = anomvae.load(saved)
    write_bytes = Path.write_bytes

    def half_then_boom(self, data):
        write_bytes(self, data[: len(data) // 2])  # the temporary file, half written
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(Path, "write_bytes", half_then_boom)
    with pytest.raises(OSError, match="No space left"):
        anomvae.save(det, saved)
    assert saved.read_bytes() == before
    assert [p.name for p in saved.parent.iterdir()] == [saved.name]


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")
def test_model_saved_on_gpu_loads_on_cpu(tmp_path):
    det = VAEDetector(device="cuda", **FAST).fit(_frame().drop(columns="site"))
    anomvae.save(det, tmp_path / "gpu.anomvae")
    loaded = anomvae.load(tmp_path / "gpu.anomvae")
    assert next(loaded.network_.parameters()).device.type == "cpu"
    np.testing.assert_allclose(
        loaded.score_samples(_frame().drop(columns="site")),
        det.score_samples(_frame().drop(columns="site")),
        rtol=1e-5,
    )


# ------------------------------------------------------------ signatures
def _tamper(path, monkeypatch):
    """Change the threshold in the file and recompute its sha256, as anyone who
    can edit the file can: the checksum alone does not notice."""
    from safetensors import safe_open
    from safetensors.numpy import save as st_save

    with safe_open(str(path), framework="numpy") as f:
        metadata = dict(f.metadata())
        arrays = {k: f.get_tensor(k) for k in f.keys()}  # noqa: SIM118
    config = json.loads(metadata["config"])
    config["fitted"]["offset_"] = 1e9  # nothing would ever be flagged
    metadata["config"] = json.dumps(config, sort_keys=True)
    metadata["sha256"] = _digest(metadata["config"], arrays)
    path.write_bytes(st_save(arrays, metadata=metadata))


def test_an_unsigned_file_takes_an_edit_with_a_recomputed_checksum(
    tmp_path, monkeypatch
):
    monkeypatch.delenv("ANOMVAE_MODEL_KEY", raising=False)
    det = AutoencoderDetector(**FAST).fit(_frame().drop(columns="site"))
    path = tmp_path / "m.anomvae"
    anomvae.save(det, path)
    _tamper(path, monkeypatch)
    assert anomvae.load(path).offset_ == 1e9  # unsigned: the edit goes through


def test_signed_file_refuses_tampering_and_wrong_keys(tmp_path, monkeypatch):
    monkeypatch.delenv("ANOMVAE_MODEL_KEY", raising=False)
    data = _frame().drop(columns="site")
    det = AutoencoderDetector(**FAST).fit(data)
    path = tmp_path / "m.anomvae"
    anomvae.save(det, path, key="s3cret")
    assert read_config(path)["signed"]
    np.testing.assert_array_equal(
        anomvae.load(path, key=b"s3cret").score_samples(data), det.score_samples(data)
    )
    anomvae.load(path)  # without a key the checksum is still verified
    with pytest.raises(ModelFileError, match="signed with another key"):
        anomvae.load(path, key="other")
    _tamper(path, monkeypatch)
    with pytest.raises(ModelFileError, match="modified after it was signed"):
        anomvae.load(path, key="s3cret")


def test_key_from_the_environment_signs_and_verifies(tmp_path, monkeypatch):
    data = _frame().drop(columns="site")
    det = AutoencoderDetector(**FAST).fit(data)
    unsigned = tmp_path / "unsigned.anomvae"
    monkeypatch.delenv("ANOMVAE_MODEL_KEY", raising=False)
    anomvae.save(det, unsigned)
    assert not read_config(unsigned)["signed"]
    monkeypatch.setenv("ANOMVAE_MODEL_KEY", "from-env")
    with pytest.raises(ModelFileError, match="not signed, but a key was given"):
        anomvae.load(unsigned)
    signed = tmp_path / "signed.anomvae"
    anomvae.save(det, signed)
    assert read_config(signed)["signed"]
    anomvae.load(signed)
    monkeypatch.setenv("ANOMVAE_MODEL_KEY", "another")
    with pytest.raises(ModelFileError, match="signature mismatch"):
        anomvae.load(signed)
    with pytest.raises(ValueError, match="empty key"):
        anomvae.save(det, signed, key=b"")
