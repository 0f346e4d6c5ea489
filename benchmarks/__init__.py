"""anomvae's benchmark harness: anomvae's detectors against PyOD and scikit-learn
baselines on the ODDS / ADBench tabular datasets, with one protocol for all.

Run ``python -m benchmarks --quick`` (or ``make bench-quick``) from the repository
root; ``python -m benchmarks --help`` lists the options. Modules:

* :mod:`benchmarks.data` - loading, deduplication and the train/test split
* :mod:`benchmarks.registry` - the detectors and the score-orientation adapter
* :mod:`benchmarks.runner` - the loop writing ``results.csv``
* :mod:`benchmarks.report` - ``summary.md``, ``auroc.png``, ``readme_section.md``
* :mod:`benchmarks.speed` - anomvae / PyOD fit and score time ratios
* :mod:`benchmarks.cli` - the command line
"""
