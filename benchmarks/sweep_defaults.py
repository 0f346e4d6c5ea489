"""The sweep behind one set of defaults for all three suites: many candidate
anomaly scores from one fit, chosen on one suite and confirmed on the other two.

``cache`` fits anomvae's ``VAEDetector()`` and ``AutoencoderDetector()`` once per
low-contamination set and seed of each suite (:func:`benchmarks.data.quick_splits`:
the harness's rows, seeds and cut; the fits are the committed ``vae`` and ``ae``
rows, bit for bit) and stores, per split, every *score component* of the test
rows and of the training rows its scale is measured on, in
``benchmarks/results/tmp/defaults/<suite>/<dataset>__seed<k>.npz`` (git-ignored):

* per network: ``recon`` (reconstruction error), ``latent`` (latent 3-NN
  distance), ``masked`` (error on the masked cells under :data:`N_MASKS` fixed
  masks of :data:`MASK_LEVEL` of the columns, after masked-cell modelling, MCM),
  and for the VAE ``recon_prob``, ``elbo`` and ``kl``;
* ``support``: the hybrid score's out-of-support cells;
* ``input_k``: the distance to the k-th nearest training row in the detector's
  scaled input space, for k in :data:`INPUT_KS` (exact, the training rows the
  latent reference keeps).

The training rows of a scale are those the latent reference measures its own
scales on (:func:`anomvae.scoring.fit_latent_reference`): the training rows that
are not reference rows when there are at least 100 of them, else every row, its
own neighbour skipped.

``report`` (:mod:`benchmarks.defaults_report`) combines the cached components
on robust training scales (median, IQR;
:func:`anomvae.scoring.robust_standardize`) into every :data:`CANDIDATES` score,
computes AUROC and AP per split, ranks each candidate against the committed
per-set AUROCs of every detector of the suite's ``results.csv``, picks
per family the candidate with the best mean rank on the *choosing* suite
(``--chooser``, quick unless told) and reports it on the other two, which confirm
it or not. It writes ``OUT/defaults.md`` and ``OUT/defaults.csv``.

Run ``python -m benchmarks.sweep_defaults cache --threads 1`` (about 80 minutes on
2 busy cores for the three suites) then ``python -m benchmarks.sweep_defaults
report`` (about a minute).
"""

from __future__ import annotations

import argparse
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from benchmarks import sweeps
from benchmarks.data import SUITE_DATA_DIRS, Split, quick_splits
from benchmarks.registry import build, seed_everything

__all__ = [
    "CACHE_DIR",
    "CANDIDATES",
    "FAMILIES",
    "INPUT_KS",
    "MASK_LEVEL",
    "N_MASKS",
    "SUITE_ORDER",
    "Candidate",
    "cache_suite",
    "candidate_scores",
    "components",
    "evaluate_cache",
    "load_cache",
    "main",
]

SUITE_ORDER = ("quick", "heldout", "embeddings")
CACHE_DIR = Path("benchmarks/results/tmp/defaults")
#: The networks fitted per split (registry names: their defaults).
NETWORKS = ("vae", "ae")
#: k of the input-space k-NN term.
INPUT_KS = (1, 3, 5, 10)
#: Fixed column masks of the masked-reconstruction component.
N_MASKS = 8
MASK_LEVEL = 0.3


# ------------------------------------------------------------------ components


def _scale_rows(n: int, seed: int) -> tuple[np.ndarray, np.ndarray, bool]:
    """The reference rows and the scale rows of a detector fitted with
    ``random_state=seed`` on ``n`` rows, drawn as ``fit`` draws them, and whether
    the scale rows are held out (else they are the reference rows themselves)."""
    from sklearn.utils import check_random_state

    from anomvae import scoring

    rng = check_random_state(seed)
    rng.randint(np.iinfo(np.int32).max)  # the training seed
    rng.randint(np.iinfo(np.int32).max)  # score_seed_
    picks = np.sort(rng.permutation(n)[: scoring.MAX_REFERENCE_CODES])
    rest = np.setdiff1d(np.arange(n), picks)
    held_out = len(rest) >= scoring._MIN_HELD_OUT_ROWS
    return picks, rest if held_out else np.arange(n), held_out


def _column_masks(d: int) -> Any:
    """``(N_MASKS, d)`` booleans, True = masked; each mask hides at least one
    column. Fixed (seed 0) and shared by every row, so scores are per row."""
    import torch

    gen = torch.Generator().manual_seed(0)
    masks = torch.rand(N_MASKS, d, generator=gen) < MASK_LEVEL
    empty = ~masks.any(1)
    masks[empty, torch.randint(d, (int(empty.sum()),), generator=gen)] = True
    return masks


def components(
    det: Any, x: Any, held_out: bool, reference: Any
) -> dict[str, np.ndarray]:
    """Every score component of a fitted detector on the scaled rows ``x`` (a
    float64 tensor), higher = more anomalous. ``held_out`` False means ``x`` are
    the reference rows themselves (the training rows), so each skips itself in
    the k-NN terms; ``reference`` are the scaled reference rows of the input
    k-NN terms."""
    import torch

    from anomvae import scoring
    from anomvae.neighbors import latent_knn_distance

    net, ref = det.network_, det.latent_reference_
    out: dict[str, np.ndarray] = {}
    with torch.no_grad():
        net.train(False)
        mu, logvar = net.encode(x)
        out["recon"] = scoring.reconstruction_errors(net, x).mean(-1).numpy()
        out["latent"] = latent_knn_distance(
            mu, ref.codes, ref.k, exclude_self=not held_out
        ).numpy()
        off = scoring.out_of_support(x, ref)
        out["support"] = (
            np.zeros(len(x)) if off is None else off.sum(-1).double().numpy()
        )
        masks = _column_masks(x.shape[1])
        masked = torch.zeros(len(x), dtype=x.dtype)
        for m in masks:
            x_hat = scoring.decoded_mean(net, net.decode(net.encode(x * ~m)[0]))
            masked += (x - x_hat)[:, m].square().mean(-1)
        out["masked"] = (masked / len(masks)).numpy()
        if logvar is not None:
            eps = scoring.fixed_draws(
                det.score_seed_, det.n_score_samples, mu.shape[1], x
            )
            for kind in ("recon_prob", "elbo", "kl"):
                out[kind] = scoring.anomaly_scores(net, x, None, kind, eps).numpy()
        for k in INPUT_KS:
            out[f"input_{k}"] = latent_knn_distance(
                x, reference, k, exclude_self=not held_out
            ).numpy()
    return out


def _properties(X: np.ndarray) -> dict[str, float]:
    """What a rule may read off the training rows: rows, width, the share of
    columns with at most two values and of constant columns."""
    n, d = X.shape
    distinct = np.array([len(np.unique(X[:, j])) for j in range(d)])
    return {
        "n_train": float(n),
        "d": float(d),
        "binary_share": float(np.mean(distinct <= 2)),
        "constant_share": float(np.mean(distinct <= 1)),
    }


def _split_record(split: Split, seed: int) -> dict[str, np.ndarray]:
    """Fit each network of :data:`NETWORKS` once and return the arrays cached
    for the split."""
    import torch

    record: dict[str, Any] = {"y_test": split.y_test}
    record.update({k: np.float64(v) for k, v in _properties(split.X_train).items()})
    picks, rows, held_out = _scale_rows(len(split.X_train), seed)
    for name in NETWORKS:
        det = build(name, seed)
        seed_everything(seed)
        start = time.perf_counter()
        det.fit(split.X_train.copy())
        record[f"fit_s:{name}"] = np.float64(time.perf_counter() - start)
        # The training rows as the fit's latent reference saw them (rounded to
        # float32 for training), and the reference rows it drew.
        x_train = det._tensors(split.X_train)[0].float().double()
        reference = x_train[torch.as_tensor(picks)]
        with torch.no_grad():
            codes = det.network_.encode(reference)[0]
        # (equal up to the rounding of the batches the fit encoded them in)
        assert torch.allclose(codes, det.latent_reference_.codes, 1e-9, 1e-12), name
        start = time.perf_counter()
        x_test = det._tensors(split.X_test)[0]
        test = components(det, x_test, True, reference)
        train = components(det, x_train[rows], held_out, reference)
        record[f"score_s:{name}"] = np.float64(time.perf_counter() - start)
        for key in test:
            shared = key == "support" or key.startswith("input_")
            label = key if shared else f"{name}_{key}"
            record[f"test:{label}"] = test[key]
            record[f"train:{label}"] = train[key]
        # The default score, as the harness computes it (a check of the cache).
        record[f"test:{name}_default"] = -det.score_samples(split.X_test.copy())
    return record


def cache_path(cache: Path, suite: str, dataset: str, seed: int) -> Path:
    return cache / suite / f"{dataset}__seed{seed}.npz"


def cache_suite(suite: str, seeds: int, cache: Path, data_dir: Path | None) -> None:
    """Fit and cache every low-contamination split of ``suite`` not cached yet."""
    folder = data_dir if data_dir is not None else SUITE_DATA_DIRS[suite]
    for dataset, seed, split in quick_splits(folder, seeds, suite):
        path = cache_path(cache, suite, dataset.name, seed)
        if path.exists():
            continue
        start = time.perf_counter()
        record = _split_record(split, seed)
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_suffix(".tmp.npz")
        np.savez_compressed(tmp, **record)
        tmp.replace(path)
        print(
            f"{suite} {dataset.name} seed {seed}: {time.perf_counter() - start:.1f} s",
            flush=True,
        )


def load_cache(cache: Path, suite: str) -> Iterator[tuple[str, int, dict[str, Any]]]:
    """``(dataset, seed, arrays)`` of every cached split of ``suite``."""
    for path in sorted((cache / suite).glob("*__seed*.npz")):
        dataset, seed = path.stem.rsplit("__seed", 1)
        with np.load(path) as data:
            yield dataset, int(seed), {k: data[k] for k in data.files}


# ------------------------------------------------------------------ candidates

Weights = dict[str, float]
Rule = Callable[[Mapping[str, float]], Weights]

#: What every candidate but the single components adds per out-of-support cell
#: (:data:`anomvae.scoring.HYBRID_SUPPORT_WEIGHT`).
SUPPORT_WEIGHT = 3.0


@dataclass(frozen=True)
class Candidate:
    """A score: the weighted sum of robustly standardised components (``rule``
    maps the training rows' properties to the weights; a component named
    ``support`` is added raw, per cell), and the networks it needs fitted."""

    name: str
    family: str
    rule: Rule
    networks: tuple[str, ...]
    components: tuple[str, ...] = field(default=())

    def weights(self, properties: Mapping[str, float]) -> Weights:
        return self.rule(properties)


def _fixed(weights: Weights) -> Rule:
    return lambda _: dict(weights)


def _label(net: str, weights: Weights, support: bool = True) -> str:
    terms = [f"{'' if w == 1 else f'{w:g}·'}{c}" for c, w in weights.items() if w]
    return f"{net}: " + " + ".join(terms) + ("" if support else " (no support)")


def _term(net: str, component: str) -> str:
    shared = component == "support" or component.startswith("input_")
    return component if shared else f"{net}_{component}"


def _hybrid(
    net: str,
    family: str,
    weights: Weights,
    support: bool = True,
    name: str | None = None,
) -> Candidate:
    full = {_term(net, c): w for c, w in weights.items() if w}
    if support:
        full["support"] = SUPPORT_WEIGHT
    return Candidate(
        name or _label(net, weights, support),
        family,
        _fixed(full),
        (net,) if net else (),
        tuple(full),
    )


def _ratio_rule(net: str, small: Weights, large: Weights, ratio: float) -> Rule:
    """``small`` where the training rows are fewer than ``ratio`` times the
    features, ``large`` elsewhere (plus the support term)."""

    def rule(p: Mapping[str, float]) -> Weights:
        chosen = small if p["n_train"] < ratio * p["d"] else large
        return {
            **{_term(net, c): w for c, w in chosen.items() if w},
            "support": SUPPORT_WEIGHT,
        }

    return rule


def _dense_rule(net: str, base: Weights, extra: Weights, share: float) -> Rule:
    """``base``, plus ``extra`` where fewer than ``share`` of the columns take at
    most two values on the training rows (dense data)."""

    def rule(p: Mapping[str, float]) -> Weights:
        chosen = {**base, **extra} if p["binary_share"] < share else base
        return {
            **{_term(net, c): w for c, w in chosen.items() if w},
            "support": SUPPORT_WEIGHT,
        }

    return rule


def _candidates() -> list[Candidate]:
    """The pre-declared candidates, by family:

    * ``a``: the VAE's hybrid score, its current default (recon + 2 latent) and
      other bases (``recon_prob``, ``masked``) and latent weights;
    * ``b``: the same on the AutoencoderDetector (its default is recon + 2
      latent, the committed ``ae``);
    * ``c``: reconstruction + input k-NN;
    * ``d``: reconstruction + latent + input k-NN;
    * ``e``: rules read off the training rows (n_train / d, binary columns);
    * ``ref``: single components (no support term): what each adds alone;
    * ``2net``: both networks (their fit costs twice the budget; reported for
      reference, never chosen).
    """
    out: list[Candidate] = []
    bases = {"vae": ("recon", "recon_prob", "masked"), "ae": ("recon", "masked")}
    for net, family in (("vae", "a"), ("ae", "b")):
        for base in bases[net]:
            for wl in (0.0, 0.5, 1.0, 2.0, 3.0):
                out.append(_hybrid(net, family, {base: 1.0, "latent": wl}))
    for net in ("vae", "ae"):
        for base in bases[net]:
            for k in INPUT_KS:
                for wi in (0.5, 1.0, 2.0):
                    out.append(_hybrid(net, "c", {base: 1.0, f"input_{k}": wi}))
        for base in ("recon", "recon_prob") if net == "vae" else ("recon",):
            for wl in (0.5, 1.0, 2.0):
                for k in INPUT_KS:
                    for wi in (0.5, 1.0, 2.0):
                        weights = {base: 1.0, "latent": wl, f"input_{k}": wi}
                        out.append(_hybrid(net, "d", weights))
        for ratio in (0.5, 1.0, 2.0, 5.0):
            large = {"recon": 1.0, "latent": 2.0}
            out.append(
                Candidate(
                    f"{net}: recon + 2·latent; no latent if n < {ratio:g}·d",
                    "e",
                    _ratio_rule(net, {"recon": 1.0}, large, ratio),
                    (net,),
                )
            )
            for k in (1, 3, 5):
                for wi in (1.0, 2.0):
                    small = {"recon": 1.0, f"input_{k}": wi}
                    out.append(
                        Candidate(
                            f"{net}: recon + 2·latent; recon + {wi:g}·input_{k} if "
                            f"n < {ratio:g}·d",
                            "e",
                            _ratio_rule(net, small, large, ratio),
                            (net,),
                        )
                    )
        for k in (3, 5):
            for wi in (0.5, 1.0, 2.0):
                out.append(
                    Candidate(
                        f"{net}: recon + 2·latent + {wi:g}·input_{k} if under half "
                        "the columns binary",
                        "e",
                        _dense_rule(
                            net, {"recon": 1.0, "latent": 2.0}, {f"input_{k}": wi}, 0.5
                        ),
                        (net,),
                    )
                )
    for net, comps in (
        ("vae", ("recon", "recon_prob", "elbo", "kl", "masked", "latent")),
        ("ae", ("recon", "masked", "latent")),
    ):
        for c in comps:
            out.append(_hybrid(net, "ref", {c: 1.0}, support=False))
    for k in INPUT_KS:
        out.append(
            _hybrid(
                "", "ref", {f"input_{k}": 1.0}, support=False, name=f"input_{k} alone"
            )
        )
    both = (
        {"ae_recon": 1.0, "vae_latent": 2.0},
        {"ae_recon": 1.0, "vae_recon": 1.0},
        {"ae_recon": 1.0, "vae_recon": 1.0, "input_5": 1.0},
        {"ae_recon": 1.0, "vae_recon": 1.0, "vae_latent": 1.0, "ae_latent": 1.0},
    )
    for weights in both:
        full = {**weights, "support": SUPPORT_WEIGHT}
        out.append(
            Candidate(_label("vae+ae", weights), "2net", _fixed(full), ("vae", "ae"))
        )
    names = [c.name for c in out]
    assert len(set(names)) == len(names), "candidate names are unique"
    return out


CANDIDATES: tuple[Candidate, ...] = tuple(_candidates())
#: Families, in the report's order, and what each is.
FAMILIES = {
    "a": "VAE hybrid (the current default and its variants)",
    "b": "AutoencoderDetector hybrid",
    "c": "reconstruction + input k-NN",
    "d": "reconstruction + latent + input k-NN",
    "e": "a rule read off the training rows",
}


def candidate_scores(
    arrays: Mapping[str, Any], candidates: Sequence[Candidate] = CANDIDATES
) -> dict[str, np.ndarray]:
    """Test scores of each candidate on one cached split."""
    from anomvae.scoring import _median_iqr, robust_standardize

    props = {k: float(arrays[k]) for k in ("n_train", "d", "binary_share")}
    z: dict[str, np.ndarray] = {}

    def standardised(c: str) -> np.ndarray:
        if c not in z:
            test = arrays[f"test:{c}"]
            z[c] = (
                test
                if c == "support"
                else np.asarray(
                    robust_standardize(test, *_median_iqr(arrays[f"train:{c}"]))
                )
            )
        return z[c]

    out = {}
    for cand in candidates:
        weights = cand.weights(props)
        out[cand.name] = sum(w * standardised(c) for c, w in weights.items())
    return out


def evaluate_cache(
    cache: Path, suites: Sequence[str], candidates: Sequence[Candidate] = CANDIDATES
) -> pd.DataFrame:
    """One row per suite, dataset, seed and candidate: AUROC and AP (rounded as
    the harness rounds them) and the fit seconds of the networks it needs."""
    from benchmarks.runner import auroc_ap

    rows = []
    for suite in suites:
        for dataset, seed, arrays in load_cache(cache, suite):
            y = arrays["y_test"]
            scores = candidate_scores(arrays, candidates)
            for cand in candidates:
                auroc, ap = auroc_ap(y, scores[cand.name])
                rows.append(
                    {
                        "suite": suite,
                        "dataset": dataset,
                        "seed": seed,
                        "candidate": cand.name,
                        "family": cand.family,
                        "auroc": round(auroc, 6),
                        "ap": round(ap, 6),
                        "fit_s": sum(
                            float(arrays[f"fit_s:{n}"]) for n in cand.networks
                        ),
                        "n_train": int(arrays["n_train"]),
                        "d": int(arrays["d"]),
                    }
                )
    return pd.DataFrame(rows)


def _ensemble(class_name: str) -> Callable[[], Any]:
    def factory() -> Any:
        import anomvae

        return getattr(anomvae, class_name)(score_type="ensemble")

    return factory


def speed(data_dir: Path, out: Path, repeats: int) -> None:
    """``python -m benchmarks speed`` with anomvae's detectors scoring
    ``"ensemble"`` (their fit is the same for every score), written to ``out``,
    plus the model file's size with and without the input k-NN rows."""
    import tempfile

    import anomvae
    from benchmarks.registry import REGISTRY
    from benchmarks.speed import SPEED_CASES, _rows, run_speed

    registry = {
        **REGISTRY,
        "vae": _ensemble("VAEDetector"),
        "ae": _ensemble("AutoencoderDetector"),
    }
    command = "python -m benchmarks.sweep_defaults speed --threads 1"
    run_speed(
        data_dir, out, SPEED_CASES, repeats=repeats, registry=registry, command=command
    )
    lines = [
        "",
        "| case | rows × features | model file MiB | of which input rows |",
        "|---|---:|---:|---:|",
    ]
    for case in SPEED_CASES:
        X = _rows(data_dir, case)
        det = build("vae", 0, registry).fit(X)
        with tempfile.TemporaryDirectory() as tmp:
            path = Path(tmp) / "m.anomvae"
            anomvae.save(det, path)
            size = path.stat().st_size / 2**20
        rows = det.latent_reference_.input_rows
        lines.append(
            f"| {case.name} | {X.shape[0]} × {X.shape[1]} | {size:.2f} | "
            f"{rows.numel() * 4 / 2**20:.2f} |"
        )
    with (out / "speed.md").open("a") as handle:
        handle.write("\n".join(lines) + "\n")


def main(argv: list[str] | None = None) -> None:
    """Command line of the sweep."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("action", choices=("cache", "report", "speed"))
    parser.add_argument("--repeats", type=int, default=1)
    parser.add_argument("--suites", default=",".join(SUITE_ORDER))
    parser.add_argument("--cache", type=Path, default=CACHE_DIR)
    parser.add_argument("--chooser", choices=SUITE_ORDER, default="quick")
    args = sweeps.parse_args(parser, argv, suite=False)
    suites = [s for s in args.suites.split(",") if s]
    if args.action == "cache":
        for suite in suites:
            # --data names the folder of the numeric suites (quick, held-out).
            data = None if suite == "embeddings" else args.data
            cache_suite(suite, args.seeds, args.cache, data)
    elif args.action == "speed":
        speed(args.data, args.out / "defaults_speed", args.repeats)
    else:
        from benchmarks.defaults_report import report

        report(args.cache, args.out, args.chooser, suites)


if __name__ == "__main__":
    main()
