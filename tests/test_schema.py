"""TableSchema: column kinds, levels, transforms, blank rates and their JSON form."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest
from sklearn.preprocessing import OneHotEncoder

from anomvae.exceptions import DataError, ModelFileError
from anomvae.schema import (
    MAX_LEVELS,
    ColumnSchema,
    TableSchema,
    level_string,
)


def _kinds(schema: TableSchema) -> dict[str, str]:
    return {c.name: c.kind for c in schema.columns}


@pytest.fixture
def mixed() -> pd.DataFrame:
    rng = np.random.default_rng(0)
    n = 200
    return pd.DataFrame(
        {
            "num": rng.normal(size=n),
            "count": rng.integers(2, 50, size=n),
            "flag01": rng.integers(0, 2, size=n),
            "flag_float": np.where(
                rng.uniform(size=n) < 0.1, np.nan, 1.0 * (rng.uniform(size=n) < 0.5)
            ),
            "ok": rng.uniform(size=n) < 0.5,
            "ok_nullable": pd.array([True, False, None, True] * 50, dtype="boolean"),
            "proto": rng.choice(["tcp", "udp", "icmp"], size=n),
            "proto_obj": pd.Series(rng.choice(["a", "b"], size=n), dtype=object),
            "proto_cat": pd.Series(
                rng.choice(["x", "y", "z"], size=n), dtype="category"
            ),
            "proto_str": pd.Series(
                rng.choice(["p", "q"], size=n), dtype="string[pyarrow]"
            ),
            "obj_numbers": pd.Series([1.5, None, 2, 7.25] * 50, dtype=object),
            "obj_mixed": pd.Series([1, "a", 2.5, "b"] * 50, dtype=object),
            "obj_bools": pd.Series([True, False, None, True] * 50, dtype=object),
        }
    )


def test_kinds_follow_dtypes(mixed):
    schema = TableSchema.infer(mixed)
    assert _kinds(schema) == {
        "num": "numeric",
        "count": "numeric",
        "flag01": "binary",
        "flag_float": "binary",
        "ok": "binary",
        "ok_nullable": "binary",
        "proto": "categorical",
        "proto_obj": "categorical",
        "proto_cat": "categorical",
        "proto_str": "categorical",
        "obj_numbers": "numeric",
        "obj_mixed": "categorical",
        "obj_bools": "binary",
    }
    assert schema.column("flag01").categories == ("0", "1")
    assert schema.column("ok").categories == ("false", "true")
    assert schema.column("obj_bools").dtype == "bool"
    assert schema.column("obj_mixed").categories == ("1", "2.5", "a", "b")
    num = schema.column("obj_numbers")
    assert (num.minimum, num.maximum, num.blank_rate) == (1.5, 7.25, 0.25)
    assert num.dtype == "float64"
    assert schema.names == tuple(mixed.columns)


def test_str_dtype_and_digit_text_stay_categorical():
    frame = pd.DataFrame({"zip": ["007", "012", "007", "999"]})
    assert str(frame["zip"].dtype) in ("str", "object")
    col = TableSchema.infer(frame).columns[0]
    assert col.kind == "categorical"
    assert col.categories == ("007", "012", "999")


def test_levels_ordered_by_frequency_then_value():
    frame = pd.DataFrame({"c": ["b", "a", "c", "c", "b", "d", "a", "c"]})
    col = TableSchema.infer(frame).columns[0]
    assert col.categories == ("c", "a", "b", "d")
    assert col.counts == (3, 2, 2, 1)
    assert not col.infrequent
    assert col.n_codes == 4


@pytest.mark.parametrize(
    "spec",
    [["rank", "hospital"], [True, True, False], [0, 1], np.array([0, 1])],
    ids=["names", "mask", "indices", "array"],
)
def test_categorical_features_like_hist_gradient_boosting(spec):
    frame = pd.DataFrame(
        {
            "rank": [1, 2, 3, 4, 5, 6, 7, 8, 1, 1],
            "hospital": [
                101.0,
                102.0,
                101.0,
                101.0,
                103.0,
                102.0,
                101.0,
                101.0,
                102.0,
                104.0,
            ],
            "age": [30, 41, 52, 63, 24, 35, 46, 57, 68, 29],
        }
    )
    schema = TableSchema.infer(frame, categorical_features=spec)
    assert _kinds(schema) == {
        "rank": "categorical",
        "hospital": "categorical",
        "age": "numeric",
    }
    assert schema.column("rank").categories == tuple("12345678")
    assert schema.column("hospital").categories == ("101", "102", "103", "104")
    assert schema.column("hospital").dtype == "float64"
    # from_dtype: the same columns are numeric
    assert _kinds(TableSchema.infer(frame))["rank"] == "numeric"


def test_categorical_features_errors_name_the_problem():
    frame = pd.DataFrame({"a": [1, 2], "b": ["x", "y"]})
    with pytest.raises(ValueError, match=r"unknown columns: \['zz', 'yy'\]"):
        TableSchema.infer(frame, categorical_features=["a", "zz", "yy"])
    with pytest.raises(ValueError, match="mask has 3 entries for 2 columns"):
        TableSchema.infer(frame, categorical_features=[True, False, True])
    with pytest.raises(ValueError, match=r"indices \[5\] are outside"):
        TableSchema.infer(frame, categorical_features=[5])
    with pytest.raises(ValueError, match="must be 'from_dtype'"):
        TableSchema.infer(frame, categorical_features="all")


def test_level_strings_of_integral_floats_and_bools():
    assert level_string(1.0) == "1"
    assert level_string(np.float32(0.1)) == "0.1"
    assert level_string(np.float64(-2.5)) == "-2.5"
    assert level_string(np.bool_(False)) == "false"
    assert level_string(np.uint8(200)) == "200"
    frame = pd.DataFrame({"r": pd.Series([1.0, 2.0, None, 1.0, 2.0], dtype="Float64")})
    col = TableSchema.infer(frame, categorical_features=["r"]).columns[0]
    assert col.categories == ("1", "2")
    assert col.blank_rate == 0.2


def test_blank_cells_of_every_kind_count_as_blank():
    frame = pd.DataFrame(
        {"c": pd.Series(["a", None, pd.NA, np.nan, "", "  ", "b", "a"], dtype=object)}
    )
    col = TableSchema.infer(frame).columns[0]
    assert col.blank_rate == 5 / 8
    assert col.categories == ("a", "b")
    assert col.modelled_blank


@pytest.mark.parametrize("seed", range(6))
def test_infrequent_levels_match_one_hot_encoder(seed):
    rng = np.random.default_rng(seed)
    levels = [f"L{i:02d}" for i in range(25)]
    weights = rng.dirichlet(np.full(25, 0.4))
    values = rng.choice(levels, size=400, p=weights)
    options = [
        {"min_frequency": 5},
        {"min_frequency": 0.03},
        {"max_categories": 6},
        {"min_frequency": 3, "max_categories": 8},
        {"max_categories": 2},
    ][seed % 5]
    col = TableSchema.infer(pd.DataFrame({"c": values}), **options).columns[0]
    ohe = OneHotEncoder(handle_unknown="infrequent_if_exist", **options)
    ohe.fit(values.reshape(-1, 1))
    skl_infrequent = ohe.infrequent_categories_[0]
    skl_infrequent = set() if skl_infrequent is None else set(skl_infrequent)
    kept = set(np.unique(values)) - skl_infrequent
    assert set(col.categories) == kept
    assert col.infrequent == bool(skl_infrequent)
    assert col.n_codes == len(ohe.get_feature_names_out())
    counts = pd.Series(values).value_counts()
    assert col.counts[: len(col.categories)] == tuple(counts[list(col.categories)])
    if col.infrequent:
        assert col.counts[-1] == counts[sorted(skl_infrequent)].sum()


def test_hundred_thousand_distinct_strings_keep_a_bounded_schema():
    n = 100_000
    values = np.array([f"id-{i:06d}" for i in range(n)], dtype=object)
    values[:5000] = "common"  # one frequent level among the ids
    schema = TableSchema.infer(pd.DataFrame({"session": values, "x": np.arange(n)}))
    col = schema.column("session")
    assert col.kind == "categorical"
    assert len(col.categories) == MAX_LEVELS
    assert col.categories[0] == "common"
    assert col.infrequent
    assert col.n_levels == n - 5000 + 1
    assert sum(col.counts) == n
    text = json.dumps(schema.to_dict())
    assert len(text) < 30_000
    assert TableSchema.from_dict(json.loads(text)) == schema


def test_max_categories_never_exceeds_the_safety_cap():
    values = [f"v{i}" for i in range(3 * MAX_LEVELS)] * 2
    col = TableSchema.infer(pd.DataFrame({"c": values}), max_categories=10**6).columns[
        0
    ]
    assert col.n_codes == MAX_LEVELS + 1


@pytest.mark.parametrize(
    "column",
    [
        pd.Series([np.nan] * 4),
        pd.Series([None, "", "  ", pd.NA], dtype=object),
        pd.Series([None] * 4, dtype="string"),
        pd.Series([pd.NA] * 4, dtype="Int64"),
    ],
    ids=["float", "object", "string", "Int64"],
)
def test_all_blank_column_is_refused_by_name(column):
    frame = pd.DataFrame({"ok": [1.0, 2.0, 3.0, 4.0], "TSH": column})
    with pytest.raises(DataError, match="column 'TSH' is blank on every training row"):
        TableSchema.infer(frame)


def test_one_level_categorical_is_refused_with_advice():
    frame = pd.DataFrame({"x": [1.0, 2.0, 3.0], "site": ["A", "A", None]})
    with pytest.raises(
        DataError, match=r"column 'site' has one level \('A'\).*drop the column"
    ):
        TableSchema.infer(frame)
    digits = pd.DataFrame({"x": [1.0, 2.0, 3.0], "code": [7, 7, 7]})
    with pytest.raises(DataError, match="'code' has one level"):
        TableSchema.infer(digits, categorical_features=["code"])
    ids = pd.DataFrame({"x": [1.0, 2.0, 3.0], "id": ["a", "b", "c"]})
    with pytest.raises(DataError, match="'id' has all its levels in the infrequent"):
        TableSchema.infer(ids, min_frequency=2)


def test_constant_binary_columns_are_kept():
    # A flag that never fired in training is still a flag: firing is news.
    frame = pd.DataFrame({"x": [1.0, 2.0, 3.0], "f": [False] * 3, "g": [1, 1, 1]})
    schema = TableSchema.infer(frame)
    assert schema.column("f").counts == (3, 0)
    assert schema.column("g").categories == ("0", "1")
    assert schema.column("g").n_levels == 1


def test_json_round_trip_is_exact(mixed):
    schema = TableSchema.infer(mixed, min_frequency=2, numeric_transform="log1p")
    text = json.dumps(schema.to_dict(), allow_nan=False)
    again = TableSchema.from_dict(json.loads(text))
    assert again == schema
    assert isinstance(again.columns[0].categories, tuple)


def test_from_dict_refuses_newer_versions_and_other_files(mixed):
    data = TableSchema.infer(mixed).to_dict()
    with pytest.raises(ModelFileError, match="newer"):
        TableSchema.from_dict({**data, "version": 99})
    with pytest.raises(ModelFileError, match="not a table schema"):
        TableSchema.from_dict({"columns": []})


# ---------------------------------------------------------------- numeric columns
def test_standardisation_of_numeric_columns(mixed):
    col = TableSchema.infer(mixed, numeric_transform="none").column("num")
    x = mixed["num"].to_numpy()
    assert col.transform == "none"
    assert col.center == pytest.approx(x.mean(), rel=1e-12)
    assert col.scale == pytest.approx(x.std(), rel=1e-12)
    assert not col.integer
    assert TableSchema.infer(mixed).column("count").integer


def test_constant_numeric_column_gets_unit_scale():
    col = TableSchema.infer(pd.DataFrame({"c": [1e6] * 5})).columns[0]
    assert (col.center, col.scale) == (1e6, 1.0)


def test_auto_transform_rule():
    rng = np.random.default_rng(1)
    n = 20_000
    frame = pd.DataFrame(
        {
            "gauss": rng.normal(100, 5, size=n),
            "uniform": rng.uniform(-3, 3, size=n),
            "bytes": np.round(rng.lognormal(8, 2.5, size=n)),
            "mostly_zero": np.where(rng.uniform(size=n) < 0.999, 0.0, 5e9),
            "balance": rng.standard_t(1, size=n) * 1e3,
        }
    )
    schema = TableSchema.infer(frame)
    assert {c.name: c.transform for c in schema.columns} == {
        "gauss": "none",
        "uniform": "none",
        "bytes": "log1p",
        "mostly_zero": "log1p",
        "balance": "signed_log1p",
    }
    log = schema.column("bytes")
    t = np.log1p(frame["bytes"].to_numpy())
    assert log.center == pytest.approx(t.mean(), rel=1e-12)
    assert log.scale == pytest.approx(t.std(), rel=1e-12)
    assert log.maximum == frame["bytes"].max()


def test_explicit_transform_options():
    frame = pd.DataFrame({"pos": [0.0, 1.0, 2.0, 3.0], "neg": [-1.0, 0.0, 1.0, 2.0]})
    always = TableSchema.infer(frame, numeric_transform="log1p")
    assert [c.transform for c in always.columns] == ["log1p", "none"]
    signed = TableSchema.infer(frame, numeric_transform="signed_log1p")
    assert [c.transform for c in signed.columns] == ["signed_log1p"] * 2
    per_column = TableSchema.infer(frame, numeric_transform={"neg": "signed_log1p"})
    assert [c.transform for c in per_column.columns] == ["none", "signed_log1p"]
    with pytest.raises(ValueError, match="numeric_transform must be one of"):
        TableSchema.infer(frame, numeric_transform="sqrt")
    with pytest.raises(ValueError, match=r"unknown columns: \['zz'\]"):
        TableSchema.infer(frame, numeric_transform={"zz": "none"})


@pytest.mark.parametrize("transform", ["auto", "none"])
def test_extreme_finite_values_give_finite_statistics(transform):
    big = np.finfo(np.float64).max
    frame = pd.DataFrame({"x": [1.0, 2.0, 1e300, -big, big, 3.0]})
    col = TableSchema.infer(frame, numeric_transform=transform).columns[0]
    assert np.isfinite([col.center, col.scale]).all()
    assert (col.minimum, col.maximum) == (-big, big)
    assert col.transform == ("signed_log1p" if transform == "auto" else "none")
    json.dumps(TableSchema((col,)).to_dict(), allow_nan=False)


def test_infinite_numbers_are_refused_with_row():
    frame = pd.DataFrame({"x": [1.0, 2.0, np.inf]})
    with pytest.raises(DataError, match=r"column 'x', row 3: infinite value inf"):
        TableSchema.infer(frame)


def test_unsupported_dtypes_and_empty_tables():
    when = pd.DataFrame({"t": pd.date_range("2024-01-01", periods=3)})
    with pytest.raises(DataError, match="column 't' has dtype datetime64"):
        TableSchema.infer(when)
    with pytest.raises(DataError, match="no rows"):
        TableSchema.infer(pd.DataFrame({"a": []}))
    with pytest.raises(DataError, match="no columns"):
        TableSchema.infer(pd.DataFrame(index=[0, 1]))


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({"min_frequency": 0}, "at least 1"),
        ({"min_frequency": 1.5}, r"in \(0, 1\)"),
        ({"min_frequency": "5"}, "must be a number"),
        ({"max_categories": 1}, "integer >= 2"),
        ({"max_categories": 2.5}, "integer >= 2"),
    ],
)
def test_level_options_are_validated(options, message):
    with pytest.raises(ValueError, match=message):
        TableSchema.infer(pd.DataFrame({"c": list("abc")}), **options)


def test_arrays_get_default_names():
    schema = TableSchema.infer(np.array([[1.0, 0.0], [2.0, 1.0], [3.0, 1.0]]))
    assert schema.names == ("x0", "x1")
    assert _kinds(schema) == {"x0": "numeric", "x1": "binary"}


def test_describe_lists_every_column(mixed):
    info = TableSchema.infer(mixed).describe()
    assert [d["name"] for d in info] == list(mixed.columns)
    proto = info[list(mixed.columns).index("proto")]
    assert proto == {
        "name": "proto",
        "kind": "categorical",
        "levels": 3,
        "infrequent": False,
        "blank_rate": 0.0,
        "transform": None,
    }
    json.dumps(info)


def test_column_schema_validates_itself():
    with pytest.raises(ValueError, match="unknown kind"):
        ColumnSchema("a", "text", "object", n_train=1)
    with pytest.raises(ValueError, match="needs two categories"):
        ColumnSchema("a", "binary", "bool", n_train=1, categories=("x",))
    with pytest.raises(ValueError, match="needs two codes"):
        ColumnSchema("a", "categorical", "object", n_train=1, categories=("x",))
    with pytest.raises(DataError, match="duplicate column names"):
        TableSchema((ColumnSchema("a", "numeric", "float64", 1),) * 2)
