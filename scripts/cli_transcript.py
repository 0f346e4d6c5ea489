"""Run the command-line examples of the README and the user guide, and write what
they print: the transcripts the documentation shows are generated, never typed.

    python scripts/cli_transcript.py [--out docs/guide/_generated] [--only NAME]

Each session runs its commands with ``bash`` in a fresh temporary folder, in
order, with stderr merged into stdout (so messages appear where they would in a
terminal). ``anomvae`` in a command is this checkout's ``python -m anomvae``
(a shim on ``PATH``), with ``OMP_NUM_THREADS=1``; every ``fit`` passes
``--random-state 0`` and every ``score``
``--threads 1``, so the
output is the same on every run on the same platform (CPU type, torch build).
A command that exits with another code than the one listed fails the script.

The files written to ``--out`` (default ``docs/guide/_generated/``, committed):

* ``cli_transcript.txt``: the numeric example (bundled ``cardio``): export, fit
  with a calibrated threshold, score with explanations, evaluate;
* ``cli_verbose.txt``: the same model scoring with ``--verbose`` (logfmt lines),
  ``--summary-json`` and ``--report``; ``cli_summary.json``: that summary;
* ``cli_mixed_transcript.txt``: a mixed table (bundled ``thyroid0387``: text,
  true/false flags and blank cells): fit on every column, ``info``'s schema,
  score with reasons in natural units, evaluate.

Wall-clock times differ between runs: the ``in 1.2 s`` of ``fit`` and ``score``,
logfmt ``seconds=``, the summary's ``"seconds"`` and timestamps. :data:`MASKS`
lists them; ``tests/test_figures.py`` re-runs this script and compares its output
with the committed files with only those masked. After a change to the command
line's output, run the script and commit what it writes.
"""

from __future__ import annotations

import argparse
import os
import re
import shutil
import subprocess
import sys
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
OUT = ROOT / "docs" / "guide" / "_generated"

#: Wall-clock values in the output, as (pattern, replacement): the only parts of
#: a transcript that may differ between two runs on the same platform.
MASKS: list[tuple[str, str]] = [
    (r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(?:\.\d+)?(?:Z|[+-]\d\d:\d\d)?", "<time>"),
    (r"\bin \d[\d,]*(?:\.\d+)? s\b", "in <t> s"),
    (r"\bseconds=[\d.e+-]+", "seconds=<t>"),
    (r'"seconds": [\d.e+-]+', '"seconds": <t>'),
]


@dataclass
class Transcript:
    """Commands whose output goes to one file; ``(command, exit code)`` pairs or
    bare commands (exit code 0)."""

    name: str
    commands: list[str | tuple[str, int]]


@dataclass
class Session:
    """Transcripts run one after the other in one folder; ``files`` copies
    outputs of the commands to ``--out`` (folder name -> output name)."""

    name: str
    transcripts: list[Transcript]
    files: dict[str, str] = field(default_factory=dict)


SESSIONS = [
    Session(
        "cardio",
        [
            Transcript(
                "cli_transcript.txt",
                [
                    "anomvae datasets export cardio -o cardio.csv",
                    "anomvae fit cardio.csv -o model.anomvae --label-column label "
                    "--calibrate fpr:0.01 --random-state 0",
                    "anomvae score cardio.csv -m model.anomvae -o scores.csv "
                    "--row-numbers --explain 2 --threads 1",
                    "head -3 scores.csv",
                    "anomvae evaluate cardio.csv -m model.anomvae --label-column label",
                ],
            ),
            Transcript(
                "cli_verbose.txt",
                [
                    "anomvae score cardio.csv -m model.anomvae -o scores.parquet "
                    "--summary-json summary.json --report report.json --verbose "
                    "--threads 1",
                ],
            ),
        ],
        files={"summary.json": "cli_summary.json"},
    ),
    Session(
        "thyroid0387",
        [
            Transcript(
                "cli_mixed_transcript.txt",
                [
                    "anomvae datasets export thyroid0387 -o thyroid.csv",
                    "head -3 thyroid.csv | cut -c 1-100",
                    "anomvae fit thyroid.csv -o thyroid.anomvae --id-column id "
                    "--label-column label --calibrate fpr:0.01 --random-state 0",
                    "anomvae info thyroid.anomvae "
                    "| grep -v -e '(binary' -e bytes -e parameters -e created -e versions",
                    "anomvae score thyroid.csv -m thyroid.anomvae -o scores.csv "
                    "--explain 2 --threads 1",
                    "grep -m 3 -e '^id,' -e ',true,' scores.csv",
                    "anomvae evaluate thyroid.csv -m thyroid.anomvae "
                    "--label-column label",
                ],
            ),
        ],
    ),
]


def mask(text: str) -> str:
    """``text`` with its wall-clock values (:data:`MASKS`) replaced."""
    for pattern, replacement in MASKS:
        text = re.sub(pattern, replacement, text)
    return text


def _environment(folder: Path) -> dict[str, str]:
    bin_dir = folder / ".bin"
    bin_dir.mkdir()
    shim = bin_dir / "anomvae"
    shim.write_text(f'#!/bin/sh\nexec "{sys.executable}" -m anomvae "$@"\n')
    shim.chmod(0o755)
    env = dict(os.environ)
    env["PATH"] = f"{bin_dir}{os.pathsep}{env.get('PATH', '')}"
    env["PYTHONPATH"] = os.pathsep.join(
        p for p in (str(ROOT), env.get("PYTHONPATH", "")) if p
    )
    env["OMP_NUM_THREADS"] = "1"
    env["COLUMNS"] = "100"
    env.pop("ANOMVAE_MODEL_KEY", None)  # an unsigned model, as a reader's would be
    return env


def _run(command: str, expected: int, folder: Path, env: dict[str, str]) -> str:
    proc = subprocess.run(
        ["bash", "-o", "pipefail", "-c", command],
        cwd=folder,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        check=False,
    )
    if proc.returncode != expected:
        raise RuntimeError(
            f"`{command}` exited {proc.returncode}, expected {expected}:\n{proc.stdout}"
        )
    return proc.stdout.replace(str(folder) + os.sep, "")


def run_session(session: Session, out: Path) -> list[Path]:
    """Run ``session`` in a temporary folder; write its transcripts to ``out``."""
    written = []
    with tempfile.TemporaryDirectory(prefix=f"anomvae-{session.name}-") as tmp:
        folder = Path(tmp)
        env = _environment(folder)
        for transcript in session.transcripts:
            lines = []
            for item in transcript.commands:
                command, expected = (item, 0) if isinstance(item, str) else item
                lines.append(f"$ {command}\n")
                lines.append(_run(command, expected, folder, env))
            path = out / transcript.name
            path.write_text("".join(lines), encoding="utf-8")
            written.append(path)
        for source, name in session.files.items():
            shutil.copyfile(folder / source, out / name)
            written.append(out / name)
    return written


def main(argv: list[str] | None = None) -> None:
    """Command line: run every session (or ``--only`` one) and write its files."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=OUT)
    parser.add_argument("--only", choices=[s.name for s in SESSIONS])
    args = parser.parse_args(argv)
    args.out.mkdir(parents=True, exist_ok=True)
    for session in SESSIONS:
        if args.only in (None, session.name):
            for path in run_session(session, args.out):
                print(f"wrote {path}")


if __name__ == "__main__":
    main()
