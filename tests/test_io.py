"""Tests of anomvae.io: chunked reading, invalid cells, atomic streaming writes."""

from __future__ import annotations

import gzip
import io
import os
import signal
import subprocess
import sys
import textwrap
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.csv as pcsv
import pyarrow.parquet as pq
import pytest

from anomvae.exceptions import AnomvaeError, DataError
from anomvae.io import (
    REJECTS_SCHEMA,
    TEMP_SUFFIX,
    OutputError,
    TableWriter,
    atomic_open,
    atomic_output,
    check_columns,
    describe_input,
    input_format,
    output_format,
    parse_sep,
    read_batches,
)

REPO = Path(__file__).resolve().parents[1]


def write(path: Path, text: str | bytes) -> Path:
    path.write_bytes(text.encode() if isinstance(text, str) else text)
    return path


def read_all(path: Any, **kwargs: Any) -> dict[str, Any]:
    """Read every batch and glue the pieces together."""
    with read_batches(path, **kwargs) as reader:
        batches = list(reader)
        counts = reader.rows_read, reader.rows_rejected
    return {
        "batches": batches,
        "features": np.concatenate([b.features for b in batches]),
        "rows": np.concatenate([b.rows for b in batches]).tolist(),
        "passthrough": pa.concat_tables([b.passthrough for b in batches]),
        "rejects": pa.concat_tables([b.rejects for b in batches]).to_pylist(),
        "counts": counts,
    }


def error_of(path: Any, **kwargs: Any) -> str:
    with pytest.raises(DataError) as info:
        read_all(path, **kwargs)
    return str(info.value)


def numbers_csv(n_rows: int, *, sep: str = ",") -> str:
    lines = [sep.join(["id", "x", "y"])]
    lines += [sep.join([f"r{i:04d}", f"{i}.5", f"{-i}"]) for i in range(1, n_rows + 1)]
    return "\n".join(lines) + "\n"


class FakeStdin:
    def __init__(self, data: bytes) -> None:
        self.buffer = io.BufferedReader(io.BytesIO(data))


# ----------------------------------------------------------------------- reading


def test_columns_are_matched_by_name_in_the_requested_order(tmp_path: Path) -> None:
    path = write(tmp_path / "d.csv", "c,extra,b,a\n3,x,2,1\n6,y,5,4\n")
    got = read_all(path, columns=["a", "b", "c"])
    assert got["features"].dtype == np.float64
    assert got["features"].tolist() == [[1, 2, 3], [4, 5, 6]]
    assert got["rows"] == [1, 2]
    assert got["passthrough"].num_columns == 0


def test_passthrough_columns_are_kept_verbatim(tmp_path: Path) -> None:
    path = write(tmp_path / "d.csv", 'a,id,note\n1,007,"x, y"\n2,010,\n')
    got = read_all(path, columns=["a"], passthrough=["note", "id"])
    assert got["passthrough"].column_names == ["note", "id"]
    assert got["passthrough"].to_pydict() == {
        "note": ["x, y", ""],
        "id": ["007", "010"],
    }


def test_passthrough_true_and_columns_none(tmp_path: Path) -> None:
    path = write(tmp_path / "d.csv", "id,a,b\nq,1,2\n")
    with read_batches(path, passthrough=["id"]) as reader:
        assert reader.columns == ("a", "b")
        assert reader.header == ("id", "a", "b")
    got = read_all(path, columns=["b"], passthrough=True)
    assert got["passthrough"].column_names == ["id", "a", "b"]
    assert got["passthrough"]["b"].to_pylist() == [2.0]


@pytest.mark.parametrize("name", ["d.csv.gz", "d.csv"])
def test_gzip_input_is_recognised_by_content(tmp_path: Path, name: str) -> None:
    path = write(tmp_path / name, gzip.compress(numbers_csv(50).encode()))
    got = read_all(path, columns=["y", "x"], passthrough=["id"], block_size=64)
    assert got["features"][-1].tolist() == [-50, 50.5]
    assert got["rows"] == list(range(1, 51))
    assert describe_input(path).compression == "gzip"


def test_parquet_input(tmp_path: Path) -> None:
    path = tmp_path / "d.parquet"
    table = pa.table({"id": [10, 11, 12], "x": [1, 2, 3], "y": [0.5, 1.5, 2.5]})
    pq.write_table(table, path)
    got = read_all(path, columns=["y", "x"], passthrough=["id"], batch_rows=2)
    assert [len(b) for b in got["batches"]] == [2, 1]
    assert got["features"].tolist() == [[0.5, 1], [1.5, 2], [2.5, 3]]
    assert got["passthrough"]["id"].type == pa.int64()
    assert got["rows"] == [1, 2, 3]
    assert input_format(path) == "parquet"


def test_parquet_invalid_values_name_row_and_column(tmp_path: Path) -> None:
    path = tmp_path / "d.parquet"
    pq.write_table(pa.table({"x": [1.0, 2.0, None, 4.0, float("inf")]}), path)
    message = error_of(path, columns=["x"], batch_rows=2)
    assert message == f"{path}: row 3, column 'x': missing value (null)"
    got = read_all(path, columns=["x"], batch_rows=2, on_invalid="skip")
    assert got["rows"] == [1, 2, 4]
    assert [r["row"] for r in got["rejects"]] == [3, 5]


def test_parquet_text_column_is_parsed(tmp_path: Path) -> None:
    path = tmp_path / "d.parquet"
    pq.write_table(pa.table({"x": ["1.5", " 2", "abc"]}), path)
    assert error_of(path, columns=["x"]).endswith(
        "row 3, column 'x': 'abc' is not a number"
    )


@pytest.mark.parametrize(
    ("name", "sep", "text_sep"),
    [
        ("d.csv", ";", ";"),
        ("d.csv", "tab", "\t"),
        ("d.tsv", None, "\t"),
        ("d.csv", "|", "|"),
    ],
)
def test_delimiters(tmp_path: Path, name: str, sep: str | None, text_sep: str) -> None:
    path = write(tmp_path / name, numbers_csv(3, sep=text_sep))
    got = read_all(path, columns=["x"], passthrough=["id"], sep=sep)
    assert got["features"].ravel().tolist() == [1.5, 2.5, 3.5]


@pytest.mark.parametrize("compress", [False, True])
def test_stdin(monkeypatch: pytest.MonkeyPatch, compress: bool) -> None:
    data = numbers_csv(20).encode()
    monkeypatch.setattr(
        sys, "stdin", FakeStdin(gzip.compress(data) if compress else data)
    )
    got = read_all("-", columns=["x"], block_size=50)
    assert got["features"].ravel().tolist() == [i + 0.5 for i in range(1, 21)]


def test_stdin_errors_name_stdin(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(sys, "stdin", FakeStdin(b"x\n1\nfoo\n"))
    assert (
        error_of("-", columns=["x"])
        == "<stdin>: row 2, column 'x': 'foo' is not a number"
    )
    monkeypatch.setattr(sys, "stdin", FakeStdin(b""))
    assert "<stdin>: the file is empty" in error_of("-", columns=["x"])
    assert "cannot be read from stdin" in error_of("-", columns=["x"], fmt="parquet")


def test_crlf_bom_quotes_and_number_syntax(tmp_path: Path) -> None:
    text = '\ufeffa,b\r\n" 1.5 ",+2\r\n1e3,.5\r\n\r\n-0,1.\r\n'
    path = write(tmp_path / "d.csv", text)
    got = read_all(path, columns=["a", "b"])
    assert got["features"].tolist() == [[1.5, 2], [1000, 0.5], [0, 1]]
    assert got["rows"] == [1, 2, 3]  # the blank line is not a row


@pytest.mark.parametrize("block_size", [1, 1 << 20])
def test_old_mac_line_endings(tmp_path: Path, block_size: int) -> None:
    path = write(tmp_path / "d.csv", "a,b\r1,2\r3,4\r")
    got = read_all(path, columns=["b", "a"], block_size=block_size)
    assert got["features"].tolist() == [[2, 1], [4, 3]]


@pytest.mark.parametrize("block_size", [1, 40, 333, 1 << 20])
@pytest.mark.parametrize("batch_rows", [1, 7, 4096])
def test_bad_cell_in_a_later_block_has_its_absolute_row(
    tmp_path: Path, block_size: int, batch_rows: int
) -> None:
    lines = numbers_csv(300).splitlines()
    lines[250] = lines[250].replace("-250", "oops")  # data row 250
    path = write(tmp_path / "d.csv", "\n".join(lines) + "\n")
    message = error_of(
        path, columns=["x", "y"], block_size=block_size, batch_rows=batch_rows
    )
    assert message == f"{path}: row 250, column 'y': 'oops' is not a number"


@pytest.mark.parametrize("block_size", [1, 57, 1 << 20])
def test_batches_cover_every_row_once(tmp_path: Path, block_size: int) -> None:
    path = write(tmp_path / "d.csv", numbers_csv(500))
    got = read_all(
        path,
        columns=["x", "y"],
        passthrough=["id"],
        block_size=block_size,
        batch_rows=64,
    )
    expected = np.array([[i + 0.5, -i] for i in range(1, 501)])
    np.testing.assert_array_equal(got["features"], expected)
    assert got["rows"] == list(range(1, 501))
    assert got["passthrough"]["id"].to_pylist()[-1] == "r0500"
    next_row = 1
    for batch in got["batches"]:
        assert batch.first_row == next_row
        assert 0 < batch.n_rows <= 64
        next_row += batch.n_rows
    assert next_row == 501
    assert got["counts"] == (500, 0)


# ---------------------------------------------------------------- invalid cells

CELL_ERRORS = [
    ("a,b\n1,2\n3,abc\n", "row 2, column 'b': 'abc' is not a number"),
    ("a,b\n1,2\nNaN,1\n", "row 2, column 'a': NaN is not allowed"),
    (
        "a,b\n1,2\n3,4\n5,inf\n",
        "row 3, column 'b': infinite value (inf) is not allowed",
    ),
    ("a,b\n1,-Infinity\n", "row 1, column 'b': infinite value (-inf) is not allowed"),
    ("a,b\n1,2\n,4\n", "row 2, column 'a': missing value (empty cell)"),
    ("a,b\n1,2\n3,  \n", "row 2, column 'b': missing value (empty cell)"),
    (
        "a,b\n1,1,5\n",
        "row 1: expected 2 fields, found 3 (check --sep and quoting): '1,1,5'",
    ),
    (
        "a,b\n1,2\n3\n",
        "row 2: expected 2 fields, found 1 (check --sep and quoting): '3'",
    ),
    ("a,b\n1,x\ny,2\n", "row 1, column 'b': 'x' is not a number"),  # first row wins
    ("a,b\nx,y\n", "row 1, column 'a': 'x' is not a number"),  # then model order
]


@pytest.mark.parametrize(("text", "expected"), CELL_ERRORS)
@pytest.mark.parametrize("block_size", [3, 1 << 20])
def test_invalid_cells_are_reported_with_row_and_column(
    tmp_path: Path, text: str, expected: str, block_size: int
) -> None:
    path = write(tmp_path / "data.csv", text)
    assert error_of(path, columns=["a", "b"], block_size=block_size) == (
        f"{path}: {expected}"
    )


def test_invalid_utf8_names_row_and_column(tmp_path: Path) -> None:
    path = write(tmp_path / "d.csv", b"a,id\n1,x\n2,\xff\xfe\n")
    message = error_of(path, columns=["a"], passthrough=["id"])
    assert message.startswith(f"{path}: row 2, column 'id': ")
    assert "UTF-8" in message


def test_skip_returns_valid_rows_and_rejects(tmp_path: Path) -> None:
    text = "id,a,b\nr1,1,2\nr2,x,2\nr3,3\nr4,4,nan\nr5,5,6\nr6,,-inf\n"
    path = write(tmp_path / "d.csv", text)
    for block_size in (5, 1 << 20):
        got = read_all(
            path,
            columns=["a", "b"],
            passthrough=["id"],
            on_invalid="skip",
            block_size=block_size,
            batch_rows=2,
        )
        assert got["features"].tolist() == [[1, 2], [5, 6]]
        assert got["rows"] == [1, 5]
        assert got["passthrough"]["id"].to_pylist() == ["r1", "r5"]
        assert got["rejects"] == [
            {"row": 2, "column": "a", "value": "x", "reason": "not a number"},
            {
                "row": 3,
                "column": "",
                "value": "r3,3",
                "reason": "expected 3 fields, found 2",
            },
            {"row": 4, "column": "b", "value": "nan", "reason": "NaN"},
            {"row": 6, "column": "a", "value": "", "reason": "missing value"},
        ]
        assert got["counts"] == (6, 4)
    assert got["batches"][0].rejects.schema == REJECTS_SCHEMA
    assert any(len(b) == 0 and b.rejects.num_rows for b in got["batches"])


def test_skip_with_a_whole_text_column(tmp_path: Path) -> None:
    path = write(tmp_path / "d.csv", "a,b\n" + "1,word\n" * 300)
    got = read_all(path, columns=["a", "b"], on_invalid="skip")
    assert got["features"].shape == (0, 2)
    assert len(got["rejects"]) == 300
    assert got["rejects"][-1]["row"] == 300


# ------------------------------------------------------------ file-level errors


def test_missing_file_directory_and_empty_inputs(tmp_path: Path) -> None:
    cols = {"columns": ["a"]}
    assert (
        error_of(tmp_path / "nope.csv", **cols)
        == f"{tmp_path / 'nope.csv'}: no such file"
    )
    assert error_of(tmp_path, **cols) == f"{tmp_path}: is a directory, not a data file"
    empty = write(tmp_path / "empty.csv", "")
    assert error_of(empty, **cols) == (
        f"{empty}: the file is empty (0 bytes); "
        "expected a header line with column names"
    )
    empty_gz = write(tmp_path / "empty.csv.gz", gzip.compress(b""))
    assert "the decompressed input is empty" in error_of(empty_gz, **cols)
    blank = write(tmp_path / "blank.csv", "\n\na\n1\n")
    assert "the first line (the header with column names) is empty" in error_of(
        blank, **cols
    )
    empty_pq = write(tmp_path / "e.parquet", "")
    assert error_of(empty_pq, **cols) == f"{empty_pq}: the file is empty (0 bytes)"
    bad_pq = write(tmp_path / "bad.parquet", "a\n1\n")
    assert error_of(bad_pq, **cols).startswith(f"{bad_pq}: not a valid Parquet file")
    zipped = write(tmp_path / "d.xlsx", b"PK\x03\x04rest")
    assert "zip/Excel files are not supported" in error_of(zipped, **cols)


def test_header_only(tmp_path: Path) -> None:
    path = write(tmp_path / "h.csv", "a,b\n")
    assert error_of(path, columns=["a"]) == f"{path}: no data rows (only a header)"
    assert read_batches(path, columns=["a"], allow_empty=True).__next__ is not None
    with read_batches(path, columns=["a"], allow_empty=True) as reader:
        assert list(reader) == []


def test_truncated_gzip(tmp_path: Path) -> None:
    data = gzip.compress(numbers_csv(2000).encode())
    path = write(tmp_path / "t.csv.gz", data[: len(data) // 2])
    message = error_of(path, columns=["x"], block_size=1000)
    assert message.startswith(f"{path}: cannot read after row ")
    assert "truncated or corrupt" in message


# ------------------------------------------------------------------------ columns


def test_missing_columns_error_lists_them(tmp_path: Path) -> None:
    path = write(tmp_path / "d.csv", "a,z,id\n1,2,3\n")
    with pytest.raises(DataError) as info:
        read_batches(path, columns=["a", "b", "c"])  # raised before iterating
    assert str(info.value) == (
        f"{path}: missing columns 'b', 'c' (the model needs: 'a', 'b', 'c'; "
        "the file has: 'a', 'z', 'id')"
    )
    with pytest.raises(
        DataError, match=r"missing column 'key' \(to pass through: 'key';"
    ):
        read_batches(path, columns=["a"], passthrough=["key"])


@pytest.mark.parametrize(
    ("text", "sep", "hint"),
    [
        ("a;b;c\n1;2;3\n", None, "The file looks ';'-separated: try --sep ';'"),
        ("a\tb\tc\n1\t2\t3\n", None, "try --sep '\\t'"),
        ("a,b,c\n1,2,3\n", ";", "The file looks ','-separated: try --sep ','"),
        ("a|b|c\n1|2|3\n", ",", "try --sep '|'"),
    ],
)
def test_wrong_delimiter_suggests_sep(
    tmp_path: Path, text: str, sep: str | None, hint: str
) -> None:
    path = write(tmp_path / "d.csv", text)
    message = error_of(path, columns=["a", "b"], sep=sep)
    assert "missing columns 'a', 'b'" in message
    assert message.endswith(hint)


def test_column_hints_and_duplicates() -> None:
    with pytest.raises(DataError, match=r"the file has ' Temp' for 'temp'"):
        check_columns(["id", " Temp"], ["temp"], source="f.csv")
    with pytest.raises(DataError, match="column 'a' appears 2 times in the header"):
        check_columns(["a", "b", "a"], ["a"], source="f.csv")
    check_columns(["a", "b", "b"], ["a"])  # duplicates elsewhere do not matter


# ------------------------------------------------------------------------ helpers


def test_formats_and_separators(tmp_path: Path) -> None:
    assert output_format("s.csv") == ("csv", None)
    assert output_format("s.csv.gz") == ("csv", "gzip")
    assert output_format("S.PARQUET") == ("parquet", None)
    assert output_format("-") == ("csv", None)
    assert input_format("-") == "csv"
    pq.write_table(pa.table({"a": [1]}), tmp_path / "p.data")
    assert input_format(tmp_path / "p.data") == "parquet"
    assert parse_sep("\\t") == "\t"
    assert parse_sep("tab") == "\t"
    assert parse_sep(";") == ";"
    with pytest.raises(ValueError, match="single character"):
        parse_sep(";;")


def test_describe_input(tmp_path: Path) -> None:
    csv_path = write(tmp_path / "d.csv", "a;b\n1;2\n")
    info = describe_input(csv_path, sep=";")
    assert (info.format, info.columns, info.sep, info.num_rows) == (
        "csv",
        ("a", "b"),
        ";",
        None,
    )
    pq.write_table(pa.table({"a": [1, 2]}), tmp_path / "d.parquet")
    info = describe_input(tmp_path / "d.parquet")
    assert (info.format, info.columns, info.num_rows) == ("parquet", ("a",), 2)


# Loads anomvae.io without running anomvae/__init__.py (which imports the models),
# as a light process like the CLI's reading path would.
IO_ONLY = textwrap.dedent(
    f"""
    import sys, types
    package = types.ModuleType("anomvae")
    package.__path__ = [{str(REPO / "anomvae")!r}]
    sys.modules["anomvae"] = package
    """
)


def test_module_does_not_import_torch() -> None:
    code = IO_ONLY + "import anomvae.io\nprint(sorted(sys.modules))"
    done = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True
    )
    assert "'anomvae.io'" in done.stdout
    assert "'torch'" not in done.stdout


# ------------------------------------------------------------------------ writing


def test_csv_writer_quotes_only_when_needed(tmp_path: Path) -> None:
    path = tmp_path / "out.csv"
    with TableWriter(path) as writer:
        writer.write(pa.table({"id": ["a", "b"], "score": [0.25, 3.0]}))
        writer.write(pa.table({"id": ['c,"d"'], "score": [float("nan")]}))
    assert path.read_text() == 'id,score\na,0.25\nb,3\n"c,""d""",nan\n'
    assert writer.rows_written == 3
    back = pcsv.read_csv(path)
    assert back["id"].to_pylist() == ["a", "b", 'c,"d"']


def test_writer_gzip_parquet_and_sep(tmp_path: Path) -> None:
    table = pa.table({"id": ["x", "y"], "score": [1.5, 2.5]})
    for name in ("o.csv.gz", "o.parquet"):
        with TableWriter(tmp_path / name) as writer:
            writer.write(table)
            writer.write(table.to_batches()[0])
    assert gzip.decompress((tmp_path / "o.csv.gz").read_bytes()).startswith(b"id,score")
    assert pq.read_table(tmp_path / "o.parquet").num_rows == 4
    with TableWriter(tmp_path / "o.tsv", sep="tab") as writer:
        writer.write(table.to_pandas())
    assert (tmp_path / "o.tsv").read_text() == "id\tscore\nx\t1.5\ny\t2.5\n"


def test_writer_header_without_rows(tmp_path: Path) -> None:
    schema = pa.schema([("id", pa.string()), ("score", pa.float64())])
    with TableWriter(tmp_path / "o.csv", schema=schema):
        pass
    assert (tmp_path / "o.csv").read_text() == "id,score\n"
    with TableWriter(tmp_path / "o.parquet", schema=schema):
        pass
    assert pq.read_table(tmp_path / "o.parquet").schema == schema


def test_writer_to_stdout(capsysbinary: pytest.CaptureFixture[bytes]) -> None:
    with TableWriter("-") as writer:
        writer.write(pa.table({"score": [1.0, 0.5]}))
    assert capsysbinary.readouterr().out == b"score\n1\n0.5\n"
    with atomic_open("-") as out:
        out.write(b"raw\n")
    assert capsysbinary.readouterr().out == b"raw\n"


def leftovers(directory: Path) -> list[str]:
    return sorted(p.name for p in directory.iterdir())


@pytest.mark.parametrize("error", [RuntimeError, KeyboardInterrupt])
def test_atomic_output_keeps_the_old_file_on_failure(
    tmp_path: Path, error: type[BaseException]
) -> None:
    target = write(tmp_path / "model.anomvae", "old")

    def write_then_fail() -> None:
        with atomic_output(target) as tmp:
            assert tmp.parent == tmp_path
            assert tmp.name.endswith(TEMP_SUFFIX)
            tmp.write_bytes(b"half")
            raise error

    def stream_then_fail() -> None:
        with TableWriter(target) as writer:
            writer.write(pa.table({"a": [1]}))
            raise error

    with pytest.raises(error):
        write_then_fail()
    assert target.read_text() == "old"
    assert leftovers(tmp_path) == ["model.anomvae"]
    with pytest.raises(error):
        stream_then_fail()
    assert target.read_text() == "old"
    assert leftovers(tmp_path) == ["model.anomvae"]


def test_atomic_output_replaces_and_keeps_permissions(tmp_path: Path) -> None:
    target = write(tmp_path / "out.csv", "old")
    target.chmod(0o640)
    with atomic_open(target) as f:
        f.write(b"new")
    assert target.read_text() == "new"
    assert target.stat().st_mode & 0o777 == 0o640
    fresh = tmp_path / "fresh.csv"
    with atomic_output(fresh) as tmp:
        tmp.write_text("x")
    umask = os.umask(0)
    os.umask(umask)
    assert fresh.stat().st_mode & 0o777 == 0o666 & ~umask
    assert leftovers(tmp_path) == ["fresh.csv", "out.csv"]


def test_unwritable_outputs_fail_before_writing(tmp_path: Path) -> None:
    write(tmp_path / "file", "")
    cases = {
        tmp_path / "no" / "out.csv": "directory '{}' does not exist",
        tmp_path / "file" / "out.csv": "directory '{}' is not a directory",
        tmp_path: "cannot write {}: it is a directory",
    }
    for target, expected in cases.items():
        shown = target.parent if "directory '" in expected else target
        with pytest.raises(OutputError) as info:
            TableWriter(target)
        assert expected.format(shown) in str(info.value)
        assert isinstance(info.value, AnomvaeError)
        assert isinstance(info.value, OSError)
        with pytest.raises(OutputError), atomic_output(target):
            pytest.fail("the block must not run")
    assert leftovers(tmp_path) == ["file"]


@pytest.mark.skipif(os.geteuid() == 0, reason="root can write anywhere")
def test_read_only_directory(tmp_path: Path) -> None:
    locked = tmp_path / "locked"
    locked.mkdir(mode=0o500)
    with pytest.raises(OutputError, match="permission denied"):
        TableWriter(locked / "out.csv")


def test_data_error_mid_stream_leaves_no_output(tmp_path: Path) -> None:
    lines = numbers_csv(400).splitlines()
    lines[300] = lines[300].replace(".5", "x")
    source = write(tmp_path / "in.csv", "\n".join(lines) + "\n")
    target = tmp_path / "scores.csv"
    written = []

    def score() -> None:  # what the CLI does
        reader = read_batches(
            source,
            columns=["x", "y"],
            passthrough=["id"],
            block_size=500,
            batch_rows=50,
        )
        with TableWriter(target) as writer, reader:
            for batch in reader:
                writer.write(batch.passthrough.append_column("s", pa.array(batch.rows)))
                written.append(writer.rows_written)

    with pytest.raises(DataError, match="row 300, column 'x'"):
        score()
    assert written  # some batches were written before the error
    assert leftovers(tmp_path) == ["in.csv"]


KILLED_WRITER = IO_ONLY + textwrap.dedent(
    """
    import time
    import pyarrow as pa
    from anomvae.io import TableWriter

    writer = TableWriter(sys.argv[1])
    table = pa.table({"id": [f"row{i}" for i in range(1000)], "score": [0.5] * 1000})
    writer.write(table)
    print("writing", flush=True)
    while True:
        writer.write(table)
        time.sleep(0.01)
    """
)


@pytest.mark.parametrize("previous", [True, False])
def test_sigkilled_writer_leaves_the_previous_target(
    tmp_path: Path, previous: bool
) -> None:
    target = tmp_path / "scores.csv"
    if previous:
        write(target, "old output\n")
    proc = subprocess.Popen(
        [sys.executable, "-c", KILLED_WRITER, str(target)],
        stdout=subprocess.PIPE,
        cwd=tmp_path,
    )
    try:
        assert proc.stdout is not None
        assert proc.stdout.readline() == b"writing\n"
        temps = [p for p in tmp_path.iterdir() if p.name.endswith(TEMP_SUFFIX)]
        assert len(temps) == 1
        assert temps[0].name.startswith(".scores.csv.")
    finally:
        proc.send_signal(signal.SIGKILL)
        proc.wait(timeout=60)
    assert proc.returncode == -signal.SIGKILL
    if previous:
        assert target.read_text() == "old output\n"
    else:
        assert not target.exists()
    # Only the recognisable temporary file is left behind, and it can go.
    assert [p.name for p in tmp_path.iterdir() if p != target] == [temps[0].name]
