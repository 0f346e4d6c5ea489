"""The README's first command: fit, score and evaluate on a bundled dataset with the
``anomvae`` command line, exactly as a scheduled job would, and print a summary.

Steps: export the bundled ``cardio`` data set, train on half of its normal rows,
score the other half plus every anomaly, then evaluate against the labels.
Everything goes to ``out/demo/``.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np

from anomvae.datasets import load

OUT = Path("out/demo")


def anomvae(*args: str) -> None:
    cmd = [sys.executable, "-m", "anomvae", *args]
    print("$ anomvae " + " ".join(args), flush=True)
    subprocess.run(cmd, check=True)


def main() -> None:
    OUT.mkdir(parents=True, exist_ok=True)
    X, y = load("cardio")
    frame = X.assign(label=y.to_numpy())
    frame.insert(0, "id", np.arange(len(frame)))
    rng = np.random.default_rng(0)
    normal = rng.permutation(np.flatnonzero(y.to_numpy() == 0))
    train = frame.iloc[normal[: len(normal) // 2]].drop(columns="label")
    new = frame.drop(index=frame.index[normal[: len(normal) // 2]])
    train.to_csv(OUT / "train.csv", index=False)
    new.to_csv(OUT / "new.csv", index=False)
    print(f"cardio: {len(train)} normal rows to train on, {len(new)} rows to score "
          f"({int(new['label'].sum())} labelled anomalies)\n", flush=True)

    model = str(OUT / "cardio.anomvae")
    anomvae("fit", str(OUT / "train.csv"), "-o", model, "--model", "vae",
            "--id-column", "id", "--calibrate", "fpr:0.05", "--random-state", "0")
    anomvae("info", model)
    anomvae("score", str(OUT / "new.csv"), "-m", model, "-o", str(OUT / "scores.csv"),
            "--id-column", "id", "--explain", "3",
            "--summary-json", str(OUT / "summary.json"))
    anomvae("evaluate", str(OUT / "new.csv"), "-m", model, "--label-column", "label")
    summary = json.loads((OUT / "summary.json").read_text())
    print(f"\nDemo done: {summary['rows_scored']} rows scored, {summary['anomalies']} "
          f"flagged; per-row scores and explanations in {OUT / 'scores.csv'}")


if __name__ == "__main__":
    main()
