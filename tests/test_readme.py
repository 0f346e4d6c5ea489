"""The README's code blocks run as written, and the README stays a front page.

Every fenced block of ``README.md`` is one of three kinds, and each kind is
checked; a block of any other kind fails :func:`test_every_block_is_checked`, so a
new example cannot go untested:

* ``python`` blocks are executed, each in a fresh temporary folder, by this
  checkout's interpreter in a subprocess (``PYTHONPATH`` = the checkout,
  ``OMP_NUM_THREADS=1``), and must exit 0;
* the ``bash`` block whose lines start with ``anomvae`` is run line by line, in
  order, in one temporary folder, each line as ``python -m anomvae ...`` of this
  checkout, and every line must exit 0;
* the ``bash`` block of ``make`` targets (the README's opening commands) is *not*
  run: ``make demo`` and ``make test`` create a virtual environment and download
  and install packages (minutes, and network access), and ``make test`` runs this
  very test suite, so running it here would recurse. ``make -n TARGET`` (print the
  recipe, run nothing) checks that each target exists in the ``Makefile``.
"""

from __future__ import annotations

import os
import re
import shlex
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
README = ROOT / "README.md"
FENCE = re.compile(r"^```(\w*)\n(.*?)^```", re.M | re.S)
MAX_LINES = 200


def _blocks() -> list[tuple[str, str]]:
    return [(m.group(1), m.group(2)) for m in FENCE.finditer(README.read_text())]


def _kind(lang: str, body: str) -> str:
    lines = [line for line in body.splitlines() if line.strip()]
    if lang == "python":
        return "python"
    if lang == "bash" and lines and all(line.startswith("make ") for line in lines):
        return "make"
    if lang == "bash" and lines and all(line.startswith("anomvae ") for line in lines):
        return "cli"
    return f"unchecked ({lang or 'no language'})"


def _env() -> dict[str, str]:
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(
        p for p in (str(ROOT), env.get("PYTHONPATH", "")) if p
    )
    env["OMP_NUM_THREADS"] = "1"
    env["MPLBACKEND"] = "Agg"
    env.pop("ANOMVAE_MODEL_KEY", None)
    return env


def _of_kind(kind: str) -> list[str]:
    return [body for lang, body in _blocks() if _kind(lang, body) == kind]


def test_readme_is_short_and_opens_with_the_two_setup_commands() -> None:
    lines = README.read_text().splitlines()
    assert len(lines) <= MAX_LINES, (
        f"README.md has {len(lines)} lines (max {MAX_LINES})"
    )
    _, body = _blocks()[0]
    commands = [line.split("#")[0].strip() for line in body.splitlines()]
    assert commands[:2] == ["make demo", "make test"], body


def test_every_block_is_checked() -> None:
    kinds = [_kind(lang, body) for lang, body in _blocks()]
    assert not [k for k in kinds if k.startswith("unchecked")], kinds
    assert {"python", "cli", "make"} <= set(kinds)


@pytest.mark.skipif(shutil.which("make") is None, reason="no make")
def test_make_targets_exist() -> None:
    for body in _of_kind("make"):
        for line in body.splitlines():
            target = line.split("#")[0].split()[1]
            proc = subprocess.run(
                ["make", "-n", target], cwd=ROOT, capture_output=True, text=True
            )
            assert proc.returncode == 0, f"make -n {target}: {proc.stderr}"


@pytest.mark.slow
@pytest.mark.parametrize("index", range(len(_of_kind("python"))))
def test_python_block_runs(index: int, tmp_path: Path) -> None:
    code = _of_kind("python")[index]
    proc = subprocess.run(
        [sys.executable, "-c", code],
        cwd=tmp_path,
        env=_env(),
        capture_output=True,
        text=True,
        timeout=900,
    )
    assert proc.returncode == 0, f"README python block {index}:\n{proc.stderr}"


@pytest.mark.slow
def test_cli_block_runs(tmp_path: Path) -> None:
    (block,) = _of_kind("cli")
    for line in block.splitlines():
        if not line.strip():
            continue
        args = shlex.split(line, comments=True)[1:]
        proc = subprocess.run(
            [sys.executable, "-m", "anomvae", *args],
            cwd=tmp_path,
            env=_env(),
            capture_output=True,
            text=True,
            timeout=900,
        )
        assert proc.returncode == 0, (
            f"`{line}` exited {proc.returncode}:\n{proc.stderr}"
        )


def test_relative_links_point_at_files() -> None:
    links = re.findall(r"\]\(([^)\s#]+)(?:#[^)]*)?\)", README.read_text())
    local = [link for link in links if "://" not in link]
    assert local
    missing = [link for link in local if not (ROOT / link).exists()]
    assert not missing, f"README links to missing files: {missing}"
