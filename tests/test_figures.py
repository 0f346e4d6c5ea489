"""Every figure in the hand-written documentation comes from a committed output.

**The rule.** The pages checked are ``README.md``, ``benchmarks/README.md``,
``docs/index.md``, ``docs/README.md``, ``docs/developer/index.md``,
``docs/ARCHITECTURE.md`` and ``docs/guide/*.md`` (their code blocks included: a
retyped transcript is a figure too). In them, a *figure* is

* a decimal number with three or more significant digits (``0.861``, ``10.9204``,
  ``1.00``, ``1,324.5``; leading zeros do not count, trailing ones do), or
* a number in scientific notation with a decimal point (``2.7e-7``), or
* a rate in thousands with three or more digits (``150k rows/s``).

Each figure must occur in an output committed under ``benchmarks/results/`` or
``docs/guide/_generated/``: in a report or transcript (``.md``, ``.json``,
``.txt``) *up to rounding*, that is some number there, in any notation, lies
within half a unit of the figure's last digit (``0.861`` is traced by ``0.8614``;
``1.11 %`` by ``0.011125``, a figure followed by ``%`` also being compared as a
fraction); in a ``.csv`` file exactly as written (its full-precision numbers
would trace almost any rounded figure by chance). A rate must occur verbatim.
Other integers (row counts, sizes, steps, parameter values) and decimals with
fewer than three significant digits (``0.45``, parameter values such as ``0.01``
or ``1.5``) are not checked: too many of them are settings rather than
measurements, and a two-digit decimal would be traced by chance by almost any
results file. Numbers that are part of a longer
dotted token (``127.0.0.1``, ``3.11.7``) are not figures.

:data:`ALLOWED` lists the few three-digit decimals that are not measurements, each
with its reason. Keep it short: a figure no script prints is measured by a script
whose output is committed (``benchmarks/``), or removed.

**What this cannot see.** The match is against every committed output, not the one
a sentence cites, so a figure can be traced by a coincidence, and a difference or
mean computed by hand from committed figures is not checked (nor are two-digit
ones). It does catch the usual decay: a figure retyped from a run whose output was
never committed or has since been replaced.

The second test re-runs ``scripts/cli_transcript.py`` and compares its output
with the committed transcripts in ``docs/guide/_generated/``, masking only
wall-clock times (``scripts/cli_transcript.py``'s ``MASKS``). It trains two small
models in subprocesses (about a minute on two busy cores). The transcripts are
deterministic for one platform (CPU type, torch build, one thread); after a change
to what the command line prints, run the script and commit its output.
"""

from __future__ import annotations

import bisect
import importlib.util
import re
import sys
from decimal import Decimal, InvalidOperation
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
PAGES = [
    ROOT / "README.md",
    ROOT / "benchmarks" / "README.md",
    ROOT / "docs" / "index.md",
    ROOT / "docs" / "README.md",
    ROOT / "docs" / "developer" / "index.md",
    ROOT / "docs" / "ARCHITECTURE.md",
    *sorted((ROOT / "docs" / "guide").glob("*.md")),
]
SOURCES = [ROOT / "benchmarks" / "results", ROOT / "docs" / "guide" / "_generated"]
SUFFIXES = {".md", ".csv", ".json", ".txt"}

#: Three-digit decimals in the pages that are not measurements: (page, figure,
#: why). A figure is allowed only on the page listed.
ALLOWED: list[tuple[str, str, str]] = [
    ("README.md", "3.10", "the oldest supported Python version"),
    ("docs/index.md", "3.10", "the oldest supported Python version"),
    ("docs/guide/images.md", "16.0", "the digits' pixel range (0 to 16), a constant"),
    ("docs/ARCHITECTURE.md", "5.1e9", "the format of a reason (explain's docstring)"),
    ("docs/ARCHITECTURE.md", "3.2e4", "the format of a reason (explain's docstring)"),
    ("docs/guide/mixed-tables.md", "5.1e9", "the format of a large number"),
]

# A decimal or scientific number, not part of a longer dotted token or a word.
_NUMBER = re.compile(
    r"(?<![\w.])(\d[\d,]*\.\d+(?:[eE][-+]?\d+)?|\d+[eE][-+]?\d+)(?![\w]|\.\d)"
)
_K_COUNT = re.compile(r"(?<![\w.])(\d+(?:\.\d+)?k)(?= rows/s)")
_PERCENT = re.compile(r"\s?%")
_ANY_NUMBER = re.compile(r"\d[\d,]*(?:\.\d+)?(?:[eE][-+]?\d+)?")


def _decimal(token: str) -> Decimal | None:
    try:
        return Decimal(token.replace(",", ""))
    except InvalidOperation:
        return None


def _significant(token: str) -> int:
    mantissa = re.split("[eE]", token.replace(",", ""))[0]
    return len(mantissa.replace(".", "").lstrip("0"))


def _figures(text: str) -> list[tuple[str, bool]]:
    """(figure, followed by %) for each figure in ``text`` (the rule above)."""
    found = []
    for m in _NUMBER.finditer(text):
        token = m.group(1)
        scientific = "e" in token.lower()
        if ("." in token and scientific) or ("." in token and _significant(token) >= 3):
            percent = bool(_PERCENT.match(text, m.end()))
            found.append((token, percent))
    for m in _K_COUNT.finditer(text):
        if _significant(m.group(1)[:-1]) >= 3:
            found.append((m.group(1), False))
    return found


def _source_files() -> list[Path]:
    return sorted(
        p
        for folder in SOURCES
        for p in folder.rglob("*")
        if p.is_file() and p.suffix in SUFFIXES
    )


class _Corpus:
    """The numbers of the committed outputs: those of the reports and transcripts
    (sorted values, for matching up to rounding) and of the CSV files (as
    written, for matching exactly), and all their text (for rates)."""

    def __init__(self) -> None:
        texts = {
            p: p.read_text(encoding="utf-8", errors="replace") for p in _source_files()
        }
        self.text = "\n".join(texts.values())
        values: set[Decimal | None] = set()
        self.exact: set[str] = set()
        for path, text in texts.items():
            numbers = _ANY_NUMBER.findall(text)
            if path.suffix == ".csv":
                self.exact.update(n.replace(",", "") for n in numbers)
            else:
                values.update(_decimal(n) for n in numbers)
        self.values = sorted(v for v in values if v is not None)

    def traces(self, figure: str, percent: bool) -> bool:
        if figure.endswith("k"):
            return re.search(rf"(?<![\w.]){re.escape(figure)}\b", self.text) is not None
        if figure.replace(",", "") in self.exact:
            return True
        value = _decimal(figure)
        assert value is not None
        candidates = [value]
        if percent:
            candidates.append(value.scaleb(-2))
        for target in candidates:
            exponent = int(target.as_tuple().exponent)
            half = Decimal(1).scaleb(exponent) / 2
            i = bisect.bisect_left(self.values, target - half)
            if i < len(self.values) and self.values[i] <= target + half:
                return True
        return False


@pytest.fixture(scope="module")
def corpus() -> _Corpus:
    return _Corpus()


def test_the_rule_reads_figures_as_documented() -> None:
    text = (
        "AUROC 0.861 (0.8614), 1.11 % of rows, error 2.7e-7, 150k rows/s, "
        "0.45 and 0.01 and 1,324 rows, Python 3.11.7 on 127.0.0.1, 1e-14"
    )
    assert _figures(text) == [
        ("0.861", False),
        ("0.8614", False),
        ("1.11", True),
        ("2.7e-7", False),
        ("150k", False),
    ]


@pytest.mark.parametrize("page", PAGES, ids=lambda p: p.relative_to(ROOT).as_posix())
def test_every_figure_comes_from_a_committed_output(
    page: Path, corpus: _Corpus
) -> None:
    name = page.relative_to(ROOT).as_posix()
    allowed = {figure for where, figure, _ in ALLOWED if where == name}
    missing = []
    for number, line in enumerate(page.read_text(encoding="utf-8").splitlines(), 1):
        for figure, percent in _figures(line):
            if figure not in allowed and not corpus.traces(figure, percent):
                missing.append(f"{name}:{number}: {figure}{' %' if percent else ''}")
    assert not missing, (
        "figures that no committed output under benchmarks/results/ or "
        "docs/guide/_generated/ holds (measure them with a script and commit its "
        "output, or remove them):\n  " + "\n  ".join(missing)
    )


def test_allow_list_is_still_needed() -> None:
    stale = []
    for where, figure, _ in ALLOWED:
        if figure not in [f for f, _ in _figures((ROOT / where).read_text())]:
            stale.append(f"{where}: {figure}")
    assert not stale, f"ALLOWED entries whose figure is gone: {stale}"


def _transcript_module():
    spec = importlib.util.spec_from_file_location(
        "cli_transcript", ROOT / "scripts" / "cli_transcript.py"
    )
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # its dataclasses look their module up
    spec.loader.exec_module(module)
    return module


@pytest.mark.slow
def test_cli_transcripts_are_current(tmp_path: Path) -> None:
    script = _transcript_module()
    committed = script.OUT
    script.main(["--out", str(tmp_path)])
    written = sorted(p.name for p in tmp_path.iterdir())
    assert written == sorted(p.name for p in committed.iterdir()), (
        "docs/guide/_generated/ holds other files than scripts/cli_transcript.py writes"
    )
    for name in written:
        fresh = script.mask((tmp_path / name).read_text(encoding="utf-8"))
        old = script.mask((committed / name).read_text(encoding="utf-8"))
        assert fresh == old, (
            f"docs/guide/_generated/{name} is stale: run `python "
            f"scripts/cli_transcript.py` and commit its output"
        )
