"""The mixed-table benchmark: real tables with numbers, string categories, flags
and blanks, and the baselines a native mixed-table model has to beat.

* :mod:`benchmarks.mixed.data`: ``load_mixed`` (dtypes from ``schema.json``),
  deduplication and the one-class split of the numeric suites;
* :mod:`benchmarks.mixed.views`: the ``onehot``, ``numeric`` and ``frame`` views
  of a split, preprocessing fitted on the training rows only;
* :mod:`benchmarks.mixed.registry`: the detectors and the view each takes;
* :mod:`benchmarks.mixed.runner`, :mod:`benchmarks.mixed.report`,
  :mod:`benchmarks.mixed.cli`: ``python -m benchmarks.mixed``.
"""
