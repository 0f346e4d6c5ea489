"""TableEncoder: mixed frames to arrays and back, per-cell likelihoods, reasons."""

from __future__ import annotations

import json
import math

import numpy as np
import pandas as pd
import pytest
import torch
from scipy import stats

from anomvae.exceptions import DataError, MissingColumnsError
from anomvae.explain import explain_cells, format_number, top_cells
from anomvae.preprocessing import Scaler
from anomvae.schema import TableSchema
from anomvae.tabular import (
    NUMERIC_CLIP,
    TableEncoder,
    cell_negative_log_likelihood,
)


@pytest.fixture
def train() -> pd.DataFrame:
    rng = np.random.default_rng(0)
    n = 300
    bytes_ = np.round(rng.lognormal(8, 2, size=n))
    bytes_[::10] = np.nan
    proto = rng.choice(["tcp", "udp", "icmp"], size=n, p=[0.6, 0.3, 0.1]).astype(object)
    proto[::7] = None
    return pd.DataFrame(
        {
            "bytes": bytes_,
            "temp": rng.normal(20, 3, size=n),
            "proto": proto,
            "rank": rng.integers(1, 5, size=n),
            "flag": rng.uniform(size=n) < 0.3,
            "f01": rng.integers(0, 2, size=n),
        }
    )


@pytest.fixture
def encoder(train) -> TableEncoder:
    return TableEncoder(TableSchema.infer(train, categorical_features=["rank"]))


def test_layout_of_a_mixed_table(encoder):
    lay = encoder.layout
    # bytes, temp | proto (3) | rank (4) | flag, f01 | blank: bytes, proto
    assert encoder.schema.column("bytes").transform == "log1p"
    assert lay.n_inputs == lay.n_outputs == 2 + 3 + 4 + 2 + 2
    assert lay.numeric == slice(0, 2)
    assert lay.categorical == (slice(2, 5), slice(5, 9))
    assert lay.binary == slice(9, 11)
    assert lay.blank == slice(11, 13)
    assert lay.numeric_columns == (0, 1)
    assert lay.categorical_columns == (2, 3)
    assert lay.binary_columns == (4, 5)
    assert lay.blank_columns == (0, 2)
    assert lay.column_of_input == (0, 1, 2, 2, 2, 3, 3, 3, 3, 4, 5, 0, 2)
    assert lay.input_groups == ((0, 11), (1,), (2, 3, 4, 12), (5, 6, 7, 8), (9,), (10,))
    assert lay.blank_input == (11, -1, 12, -1, -1, -1)


def test_all_numeric_blank_free_inputs_are_the_standardised_columns():
    rng = np.random.default_rng(1)
    X = rng.normal(size=(500, 4)) * [1, 10, 1e3, 1e-3] + [0, 5, -7, 1]
    frame = pd.DataFrame(X, columns=list("abcd"))
    schema = TableSchema.infer(frame, numeric_transform="none")
    enc = TableEncoder(schema)
    assert enc.layout.n_inputs == enc.layout.n_outputs == 4
    center = np.array([c.center for c in schema.columns])
    scale = np.array([c.scale for c in schema.columns])
    out = enc.encode(frame)
    np.testing.assert_array_equal(out.inputs, (X - center) / scale)
    np.testing.assert_array_equal(out.numeric, out.inputs)
    assert out.numeric_observed.all()
    # With the library's scaler plugged in, the inputs are its output, bit for bit.
    for kind in ("standard", "robust"):
        scaler = Scaler.fit(kind, X)
        same = TableEncoder(schema.with_numeric_scaling(scaler.center, scaler.scale))
        np.testing.assert_array_equal(same.encode(frame).inputs, scaler.transform(X))


def test_encode_by_hand(encoder, train):
    rows = pd.DataFrame(
        {
            "bytes": [0.0, np.nan, 5e9],
            "temp": [20.0, 23.0, np.nan],
            "proto": ["udp", None, "gre"],
            "rank": [4, 1, 9],
            "flag": [True, False, None],
            "f01": [1, 0, 2],
        }
    )
    out = encoder.encode(rows)
    sch = encoder.schema
    b, t = sch.column("bytes"), sch.column("temp")
    assert out.inputs[0, 0] == (np.log1p(0.0) - b.center) / b.scale
    assert out.inputs[2, 0] == pytest.approx((np.log1p(5e9) - b.center) / b.scale)
    assert out.inputs[1, 1] == (23.0 - t.center) / t.scale
    assert out.inputs[2, 1] == 0.0  # blank temp: the training mean
    np.testing.assert_array_equal(out.numeric_observed, [[1, 1], [0, 1], [1, 0]])
    np.testing.assert_array_equal(out.values[:, 0], [0.0, np.nan, 5e9])
    proto = sch.column("proto").categories
    assert proto == ("tcp", "udp", "icmp")
    rank_levels = sch.column("rank").categories
    r4, r1 = rank_levels.index("4"), rank_levels.index("1")
    np.testing.assert_array_equal(out.codes, [[1, r4], [-1, r1], [-2, -2]])
    np.testing.assert_array_equal(
        out.inputs[:, 2:9],
        [
            [0, 1, 0] + [float(v == "4") for v in rank_levels],
            [0, 0, 0] + [float(v == "1") for v in rank_levels],
            [0, 0, 0, 0, 0, 0, 0],
        ],
    )
    np.testing.assert_array_equal(out.binary, [[1, 1], [0, 0], [0, 0]])
    np.testing.assert_array_equal(out.binary_observed, [[1, 1], [1, 1], [0, 0]])
    np.testing.assert_array_equal(out.binary_unknown, [[0, 0], [0, 0], [0, 1]])
    np.testing.assert_array_equal(out.inputs[:, 9:11], out.binary)
    np.testing.assert_array_equal(out.inputs[:, 11:13], [[0, 0], [1, 1], [0, 0]])
    np.testing.assert_array_equal(
        out.blank,
        [[0, 0, 0, 0, 0, 0], [1, 0, 1, 0, 0, 0], [0, 1, 0, 0, 1, 0]],
    )
    np.testing.assert_array_equal(
        out.unknown,
        [[0, 0, 0, 0, 0, 0], [0, 0, 0, 0, 0, 0], [0, 0, 1, 1, 0, 1]],
    )


@pytest.mark.parametrize(
    "dtype", ["object", "str", "string[pyarrow]", "string[python]", "category"]
)
def test_text_dtypes_and_blank_spellings(dtype):
    train = pd.DataFrame({"c": pd.Series(["a", "b", "a", None], dtype=dtype)})
    enc = TableEncoder(TableSchema.infer(train))
    cells = ["b", None, "", "  ", "zz", "a"]
    if dtype == "object":
        cells += [pd.NA, np.nan, pd.NaT]
    rows = pd.DataFrame({"c": pd.Series(cells, dtype=dtype)})
    out = enc.encode(rows)
    expect = [1, -1, -1, -1, -2, 0] + [-1] * (len(cells) - 6)
    np.testing.assert_array_equal(out.codes[:, 0], expect)
    np.testing.assert_array_equal(out.blank[:, 0], np.asarray(expect) == -1)
    np.testing.assert_array_equal(out.unknown[:, 0], np.asarray(expect) == -2)
    np.testing.assert_array_equal(out.inputs[:, 2], np.asarray(expect) == -1)


def test_unseen_level_goes_to_the_infrequent_bucket_when_there_is_one():
    train = pd.DataFrame({"c": ["a"] * 5 + ["b"] * 5 + ["r1", "r2"]})
    enc = TableEncoder(TableSchema.infer(train, min_frequency=2))
    assert enc.schema.columns[0].categories == ("a", "b")
    out = enc.encode(pd.DataFrame({"c": ["r1", "never", "b"]}))
    np.testing.assert_array_equal(out.codes[:, 0], [2, 2, 1])
    np.testing.assert_array_equal(out.inputs, [[0, 0, 1], [0, 0, 1], [0, 1, 0]])
    assert not out.unknown.any()


def test_handle_unknown_error_names_column_row_and_value(encoder, train):
    rows = train.head(4).copy()
    rows.loc[2, "proto"] = "gre"
    with pytest.raises(DataError, match=r"column 'proto', row 3: 'gre' was never seen"):
        encoder.encode(rows, handle_unknown="error")
    rows = train.head(4).copy()
    rows["f01"] = [0, 1, 1, 7]
    with pytest.raises(DataError, match=r"column 'f01', row 4: 7 is neither"):
        encoder.encode(rows, handle_unknown="error")
    with pytest.raises(ValueError, match="handle_unknown must be one of"):
        encoder.encode(rows, handle_unknown="ignore")


def test_numbers_as_text_are_parsed_and_other_text_is_refused():
    enc = TableEncoder(TableSchema.infer(pd.DataFrame({"x": [1.0, 2.0, 4.0]})))
    rows = pd.DataFrame(
        {"x": pd.Series(["3.5", " 2 ", 7, "", None, "nan"], dtype=object)}
    )
    out = enc.encode(rows)
    np.testing.assert_array_equal(out.values[:, 0], [3.5, 2.0, 7.0] + [np.nan] * 3)
    np.testing.assert_array_equal(out.blank[:, 0], [0, 0, 0, 1, 1, 1])
    bad = pd.DataFrame({"x": pd.Series(["1", "2", "three"], dtype=object)})
    with pytest.raises(DataError, match=r"column 'x', row 3: 'three' is not a number"):
        enc.encode(bad)
    with pytest.raises(DataError, match=r"column 'x', row 2: infinite value -inf"):
        enc.encode(pd.DataFrame({"x": [1.0, -np.inf]}))


def test_binary_columns_read_every_spelling_of_their_values():
    train = pd.DataFrame({"b": [True, False, True], "i": [0, 1, 1]})
    enc = TableEncoder(TableSchema.infer(train))
    rows = pd.DataFrame(
        {
            "b": pd.Series([1, "False", "true", None, "maybe", 0.0], dtype=object),
            "i": pd.array([True, False, None, True, False, True], dtype="boolean"),
        }
    )
    out = enc.encode(rows)
    np.testing.assert_array_equal(
        out.binary, [[1, 1], [0, 0], [1, 0], [0, 1], [0, 0], [0, 1]]
    )
    np.testing.assert_array_equal(out.blank[:, 0], [0, 0, 0, 1, 0, 0])
    np.testing.assert_array_equal(out.blank[:, 1], [0, 0, 1, 0, 0, 0])
    np.testing.assert_array_equal(out.unknown[:, 0], [0, 0, 0, 0, 1, 0])


def test_extreme_numbers_stay_finite_everywhere():
    big = np.finfo(np.float64).max
    train = pd.DataFrame({"x": np.linspace(-1.0, 1.0, 50), "y": np.linspace(0, 5, 50)})
    enc = TableEncoder(TableSchema.infer(train, numeric_transform="none"))
    rows = pd.DataFrame({"x": [1e300, -big, big, 0.0], "y": [0.0, 1e308, 2.0, -1e300]})
    out = enc.encode(rows)
    assert np.isfinite(out.inputs).all()
    assert np.abs(out.numeric).max() == NUMERIC_CLIP
    np.testing.assert_array_equal(out.values, rows.to_numpy())
    for dtype in (torch.float32, torch.float64):
        t = out.targets(dtype=dtype)
        outputs = torch.zeros(4, enc.layout.n_outputs, dtype=dtype)
        nll = cell_negative_log_likelihood(
            enc, outputs, torch.full((2,), -7.0, dtype=dtype), t
        )
        assert torch.isfinite(nll).all()
    decoded = enc.decode_values(np.full((2, 2), 1e300))
    assert np.isfinite(decoded.to_numpy()).all()
    logged = TableEncoder(TableSchema.infer(train, numeric_transform="log1p"))
    assert np.isfinite(logged.decode_values(np.full((1, 2), 1e6)).to_numpy()).all()


def test_negative_values_in_a_log_column_stay_finite_and_far_out():
    train = pd.DataFrame({"bytes": [0.0, 10.0, 100.0, 1e3, 1e4, 1e9]})
    enc = TableEncoder(TableSchema.infer(train, numeric_transform="log1p"))
    assert enc.schema.columns[0].transform == "log1p"
    out = enc.encode(pd.DataFrame({"bytes": [-5.0, -1.0, 0.0]}))
    assert np.isfinite(out.inputs).all()
    assert out.inputs[0, 0] < out.inputs[1, 0] < out.inputs[2, 0]
    decoded = enc.decode_values(out.numeric)
    np.testing.assert_allclose(decoded["bytes"], [-5.0, -1.0, 0.0], atol=1e-9)


def test_decoded_integers_are_clipped_to_their_dtype():
    train = pd.DataFrame({"u": np.array([0, 100, 200, 250], dtype=np.uint8)})
    enc = TableEncoder(TableSchema.infer(train))
    decoded = enc.decode_values(np.array([[-1e3], [1e3], [0.0]]))
    assert decoded["u"].dtype == np.uint8
    assert decoded["u"].tolist() == [0, 255, round(enc.schema.columns[0].center)]


def test_columns_are_found_by_name_and_missing_ones_named(encoder, train):
    shuffled = train[list(reversed(train.columns))].assign(extra=1)
    np.testing.assert_array_equal(
        encoder.encode(shuffled).inputs, encoder.encode(train).inputs
    )
    with pytest.raises(MissingColumnsError, match=r"\['temp', 'flag'\]") as err:
        encoder.encode(train.drop(columns=["temp", "flag"]))
    assert err.value.missing == ["temp", "flag"]


def test_masking_columns_is_encoding_them_blank(encoder, train):
    rng = np.random.default_rng(2)
    rows = train.head(40)
    mask = rng.uniform(size=(40, 6)) < 0.3
    blanked = rows.astype(object).mask(mask, None)
    masked = encoder.layout.mask_columns(encoder.encode(rows).inputs, mask)
    np.testing.assert_array_equal(masked, encoder.encode(blanked).inputs)


def test_inputs_in_float32_are_the_float64_inputs_rounded(encoder, train):
    wide = encoder.encode(train).inputs
    narrow = encoder.encode(train, dtype=np.float32).inputs
    assert narrow.dtype == np.float32
    np.testing.assert_array_equal(narrow, wide.astype(np.float32))


def test_json_round_trip_encodes_identically(encoder, train):
    again = TableEncoder.from_dict(json.loads(json.dumps(encoder.to_dict())))
    assert again == encoder
    assert again.layout == encoder.layout
    np.testing.assert_array_equal(
        again.encode(train).inputs, encoder.encode(train).inputs
    )


# ---------------------------------------------------------------- decoding
def _pointing_outputs(enc: TableEncoder, encoded) -> np.ndarray:
    """Decoder outputs whose most likely values are the encoded ones."""
    lay = enc.layout
    out = np.zeros((encoded.n, lay.n_outputs))
    out[:, lay.numeric] = encoded.numeric
    for k, block in enumerate(lay.categorical):
        out[:, block] = -5.0
        hit = encoded.codes[:, k] >= 0
        out[np.flatnonzero(hit), block.start + encoded.codes[hit, k]] = 5.0
    out[:, lay.binary] = np.where(encoded.binary == 1, 5.0, -5.0)
    return out


def test_decode_values_inverts_encode_in_natural_units(encoder, train):
    encoded = encoder.encode(train)
    decoded = encoder.decode_values(_pointing_outputs(encoder, encoded))
    assert list(decoded.columns) == list(train.columns)
    ok = ~encoded.blank
    np.testing.assert_allclose(
        decoded["bytes"][ok[:, 0]], train["bytes"][ok[:, 0]], rtol=1e-12
    )
    np.testing.assert_allclose(decoded["temp"], train["temp"], rtol=1e-12)
    pd.testing.assert_series_equal(
        decoded["proto"][ok[:, 2]], train["proto"][ok[:, 2]], check_dtype=False
    )
    pd.testing.assert_series_equal(decoded["rank"], train["rank"])  # int64 again
    pd.testing.assert_series_equal(decoded["flag"], train["flag"])  # bool again
    pd.testing.assert_series_equal(decoded["f01"], train["f01"])  # int64 again
    assert decoded["bytes"].dtype == np.float64  # whole numbers, float column


def test_decode_never_returns_the_infrequent_bucket_and_keeps_dtypes():
    train = pd.DataFrame(
        {
            "c": ["a"] * 4 + ["b"] * 3 + ["r1", "r2"],
            "n": pd.array([1, 2, 3, 4, 5, 6, 7, 8, None], dtype="Int64"),
            "ok": pd.array([True, False] * 4 + [None], dtype="boolean"),
        }
    )
    enc = TableEncoder(TableSchema.infer(train, min_frequency=2))
    # logits: a=0, b=1, bucket=9 -> the best kept level is b
    outputs = np.array([[0.0, 0.0, 1.0, 9.0, -2.0, 0.0, 0.0]])
    decoded = enc.decode_values(outputs)
    assert decoded.loc[0, "c"] == "b"
    assert decoded["n"].dtype == "Int64"
    assert decoded.loc[0, "n"] == round(enc.schema.column("n").center)
    assert decoded["ok"].dtype == "boolean"
    assert not decoded.loc[0, "ok"]
    with pytest.raises(ValueError, match=r"outputs must have shape \(n, 7\)"):
        enc.decode_values(np.zeros((1, 6)))


# ---------------------------------------------------------------- likelihoods
def _log_softmax(a: np.ndarray) -> np.ndarray:
    a = a - a.max(1, keepdims=True)
    return a - np.log(np.exp(a).sum(1, keepdims=True))


def _log_sigmoid(a: np.ndarray) -> np.ndarray:
    return np.log(1.0 / (1.0 + np.exp(-a)))


def test_cell_nll_matches_an_independent_computation(encoder, train):
    rows = train.head(30).astype({"flag": object, "f01": object})
    rows.loc[3, "proto"] = "gre"  # unknown level
    rows.loc[4, "f01"] = 3  # unknown binary value
    rows.loc[5, "temp"] = np.nan  # blank in a column never blank in training
    rows.loc[6, "flag"] = None
    encoded = encoder.encode(rows)
    rng = np.random.default_rng(7)
    outputs = rng.normal(size=(30, encoder.layout.n_outputs)) * 2
    logvar = np.array([-0.5, 0.3])
    nll = cell_negative_log_likelihood(
        encoder, torch.tensor(outputs), torch.tensor(logvar), encoded.targets()
    ).numpy()
    sch = encoder.schema
    n_train = sch.columns[0].n_train
    ref = np.zeros((30, 6))
    for k, j in enumerate((0, 1)):
        obs = encoded.numeric_observed[:, k]
        ref[obs, j] = -stats.norm.logpdf(
            encoded.numeric[obs, k], outputs[obs, k], np.exp(0.5 * logvar[k])
        )
    for k, (j, block) in enumerate(
        zip((2, 3), encoder.layout.categorical, strict=True)
    ):
        lp = _log_softmax(outputs[:, block])
        for i in range(30):
            code = encoded.codes[i, k]
            if code >= 0:
                ref[i, j] = -lp[i, code]
            elif code == -2:
                ref[i, j] = max(-lp[i].min(), math.log(n_train + 1))
    for k, j in enumerate((4, 5)):
        logit = outputs[:, 9 + k]
        for i in range(30):
            if encoded.binary_unknown[i, k]:
                worst = -min(_log_sigmoid(logit[i]), _log_sigmoid(-logit[i]))
                ref[i, j] = max(worst, math.log(n_train + 1))
            elif encoded.binary_observed[i, k]:
                x = encoded.binary[i, k]
                ref[i, j] = -_log_sigmoid(logit[i] if x else -logit[i])
    for k, j in enumerate((0, 2)):  # the modelled blank heads
        logit = outputs[:, 11 + k]
        ref[:, j] -= np.where(
            encoded.blank[:, j], _log_sigmoid(logit), _log_sigmoid(-logit)
        )
    for j in (1, 3, 4, 5):  # blank where training never was
        ref[encoded.blank[:, j], j] += math.log(n_train + 1)
    assert encoded.blank[5, 1]
    assert encoded.blank[6, 4]
    assert encoded.unknown[3, 2]
    assert encoded.unknown[4, 5]
    np.testing.assert_allclose(nll, ref, rtol=1e-10)
    ignored = cell_negative_log_likelihood(
        encoder,
        torch.tensor(outputs),
        torch.tensor(logvar),
        encoded.targets(),
        unknown="ignore",
    ).numpy()
    # the unknown level keeps only its blank head's "not blank" term
    assert ignored[3, 2] == pytest.approx(-_log_sigmoid(-outputs[3, 12]))
    assert ignored[4, 5] == 0.0
    assert ignored[5, 1] == 0.0
    assert ignored[6, 4] == pytest.approx(ref[6, 4] - math.log(n_train + 1))
    np.testing.assert_array_equal(ignored[7:], nll[7:])


def test_cell_nll_ignores_blank_cells_values_and_trains(encoder, train):
    rows = train.head(20)
    encoded = encoder.encode(rows)
    targets = encoded.targets(dtype=torch.float32)
    garbage = targets._replace(
        numeric=torch.where(targets.numeric_observed, targets.numeric, torch.nan)
    )
    outputs = torch.zeros(20, encoder.layout.n_outputs, requires_grad=True)
    logvar = torch.zeros(2, requires_grad=True)
    a = cell_negative_log_likelihood(encoder, outputs, logvar, targets)
    b = cell_negative_log_likelihood(encoder, outputs, logvar, garbage)
    torch.testing.assert_close(a, b, rtol=0, atol=0)
    b.sum().backward()
    assert torch.isfinite(outputs.grad).all()
    assert torch.isfinite(logvar.grad).all()
    blank_bytes = torch.tensor(encoded.blank[:, 0])
    assert (outputs.grad[blank_bytes, 0] == 0).all()
    assert (outputs.grad[~blank_bytes, 0] != 0).all()


# ---------------------------------------------------------------- explanations
def test_format_number_two_significant_digits():
    cases = {
        5.1e9: "5.1e9",
        32_000.0: "3.2e4",
        0.0004: "0.0004",
        0.00043: "0.00043",
        0.003: "0.003",
        1234.0: "1200",
        9999.0: "1e4",
        12.5: "12",  # round half to even
        -0.51: "-0.51",
        2.0: "2",
        0.0: "0",
        3.14e-7: "3.1e-7",
        1e-5: "1e-5",
    }
    assert {v: format_number(v) for v in cases} == cases


def test_top_cells_orders_largest_first():
    nll = np.array([[0.0, 5.0, 1.0, 3.0], [2.0, 2.0, 9.0, -1.0]])
    np.testing.assert_array_equal(top_cells(nll, 3), [[1, 3, 2], [2, 0, 1]])
    np.testing.assert_array_equal(top_cells(nll, 9).shape, (2, 4))


def test_explanations_in_natural_units(encoder, train):
    rows = pd.DataFrame(
        {
            "bytes": [5.1e9, np.nan, 1234.0],
            "temp": [np.nan, 21.0, 20.0],
            "proto": ["icmp", "XX", None],
            "rank": [2, 3, 1],
            "flag": [True, "maybe", False],
            "f01": [1, 0, 0],
        }
    )
    encoded = encoder.encode(rows)
    lay = encoder.layout
    out = np.zeros((3, lay.n_outputs))
    b = encoder.schema.column("bytes")
    out[:, 0] = (np.log1p(3.2e4) - b.center) / b.scale  # expected about 3.2e4
    out[0, lay.categorical[0]] = [0.0, 0.0, math.log(0.0004 / (1 - 0.0004) * 2)]
    out[0, 9] = math.log(0.003 / 0.997)  # flag: p(true) = 0.003
    out[:, 11] = [-3.0, math.log(0.2 / 0.8), 2.0]  # bytes blank head
    out[2, 12] = math.log(0.97 / 0.03)  # proto usually blank for row 2
    cols = np.array([[0, 2, 4, 1], [0, 2, 4, -1], [2, 0, -1, -1]])
    reasons = explain_cells(encoder, rows, encoded, out, cols)
    assert reasons.tolist() == [
        [
            "bytes=5.1e9 (expected about 3.2e4)",
            "proto='icmp' (p=0.0004 given the rest of the row)",
            "flag=true (p=0.003 given the rest of the row)",
            "temp blank (blank in 0% of training rows)",
        ],
        [
            "bytes blank (p=0.2 given the rest of the row; blank in 10% of training rows)",
            "proto='XX' unseen in training",
            "flag='maybe' unseen in training",
            "",
        ],
        [
            "proto blank (p=0.97 given the rest of the row; blank in 14% of training rows)",
            "bytes=1234 (expected about 3.2e4; usually blank here: p(blank)=0.88)",
            "",
            "",
        ],
    ]


def test_explanations_of_rare_levels_quote_the_raw_value():
    train = pd.DataFrame({"c": ["a"] * 5 + ["b"] * 5 + ["r1", "r2"], "x": range(12)})
    enc = TableEncoder(TableSchema.infer(train, min_frequency=2))
    rows = pd.DataFrame({"c": ["r2"], "x": [3]})
    out = np.array([[0.0, 0.0, 0.0, math.log(0.01 / 0.99 * 2)]])
    reasons = explain_cells(enc, rows, enc.encode(rows), out, np.array([[0]]))
    assert reasons[0, 0] == (
        "c='r2' (a rare level; p=0.01 for rare levels given the rest of the row)"
    )


# ---------------------------------------------------------------- the pieces together
def _joint_table(rng: np.random.Generator, n: int) -> pd.DataFrame:
    z = rng.normal(size=n)
    proto = np.where(z > 0.5, "udp", np.where(z < -0.5, "icmp", "tcp")).astype(object)
    return pd.DataFrame(
        {
            "proto": proto,
            "bytes": np.round(np.exp(8 + 2 * z + 0.3 * rng.normal(size=n))),
            "flag": (z + 0.3 * rng.normal(size=n) > 0).astype(object),
            "tsh": np.where(
                proto == "icmp", np.nan, 2 * z + 5 + 0.2 * rng.normal(size=n)
            ),
        }
    )


def test_a_small_joint_vae_trained_on_cell_nll_flags_odd_cells():
    from anomvae.models import make_mlp

    rng = np.random.default_rng(0)
    enc = TableEncoder(TableSchema.infer(_joint_table(rng, 2000)))
    lay = enc.layout
    encoded = enc.encode(_joint_table(rng, 2000))
    x, targets = torch.tensor(encoded.inputs), encoded.targets()
    with torch.random.fork_rng():
        torch.manual_seed(0)
        encoder = make_mlp((lay.n_inputs, 16, 4), "relu", last_activation=False)
        decoder = make_mlp((2, 16, lay.n_outputs), "relu", last_activation=False)
        encoder, decoder = encoder.double(), decoder.double()
        logvar = torch.zeros(len(lay.numeric_columns), dtype=torch.float64)
        logvar.requires_grad_(True)
        params = [*encoder.parameters(), *decoder.parameters(), logvar]
        opt = torch.optim.Adam(params, lr=5e-3)
        for _ in range(150):
            idx = torch.randint(0, len(x), (128,))
            h = encoder(x[idx])
            mu, lv = h[:, :2], h[:, 2:].clamp(-8, 8)
            z = mu + torch.exp(0.5 * lv) * torch.randn_like(mu)
            batch = type(targets)(*(t[idx] for t in targets))
            nll = cell_negative_log_likelihood(enc, decoder(z), logvar, batch).sum(1)
            kl = 0.5 * (mu.square() + lv.exp() - lv - 1).sum(1)
            opt.zero_grad()
            (nll + kl).mean().backward()
            opt.step()
    test = _joint_table(rng, 140)
    test.loc[0:9, "proto"] = "gre"  # unseen level
    test.loc[10:19, "bytes"] = 5e9  # extreme number
    test.loc[20:29, "flag"] = None  # blank where training never was
    encoded = enc.encode(test)
    with torch.no_grad():
        out = decoder(encoder(torch.tensor(encoded.inputs))[:, :2])
        cells = cell_negative_log_likelihood(enc, out, logvar, encoded.targets())
    score = cells.sum(1).numpy()
    normal = np.percentile(score[30:], 95)
    assert (score[:30] > normal).all()
    worst = top_cells(cells.numpy(), 1)[:30, 0]
    np.testing.assert_array_equal(worst, [0] * 10 + [1] * 10 + [2] * 10)
    reasons = explain_cells(enc, test, encoded, out.numpy(), worst[:, None])
    assert reasons[0, 0] == "proto='gre' unseen in training"
    assert reasons[10, 0].startswith("bytes=5e9 (expected about ")
    assert reasons[20, 0] == "flag blank (blank in 0% of training rows)"
