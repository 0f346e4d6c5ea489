"""Score many files, or a Dask DataFrame, partition by partition on a cluster.

Three layers, each usable on its own:

=========================  ======================================================
function                   what it does
=========================  ======================================================
:func:`score_partition`    pandas -> pandas: checks the feature cells and returns
                           the output columns of ``anomvae score``. Plugs into
                           Dask's ``map_partitions`` and Spark's ``mapInPandas``.
:func:`score_file`         one CSV/Parquet file -> pandas, read with
                           :func:`anomvae.io.read_batches` (row/column-exact
                           errors) and scored batch by batch exactly as the local
                           engine does.
:func:`score_dask`         a glob, a directory or a Dask DataFrame -> a directory
                           of Parquet files, written atomically.
=========================  ======================================================

========================  ======================================================
module                    what it holds
========================  ======================================================
:mod:`.cache`             :func:`load_cached`: one model load per worker process
:mod:`.partitions`        :func:`score_partition`, :func:`score_file`
:mod:`.files`             :func:`input_files`: what a file/directory/glob names
:mod:`.engine`            :func:`score_dask` and the ``dask`` engine of
                          ``anomvae score`` (imports dask)
========================  ======================================================

Every function receives the model's *path*, not the model: each worker process
loads it once (:func:`load_cached`, keyed by path, modification time and size)
and reuses it for every partition it scores, so nothing large is shipped with the
tasks. The path must therefore be readable by every worker.

Files are read one partition per file, by anomvae's own reader rather than
``dask.dataframe.read_csv``: the cells are parsed exactly as ``anomvae score``
parses them (pyarrow's correctly rounded float parser; pandas' CSV parser can
differ in the last bit), an invalid cell is reported with its file, row and
column, and the scores are identical to a single-process run. The price is that
a single file is never split: parallelism is across files.

dask and dask.distributed are an optional extra (``pip install anomvae[dask]``),
imported only by the functions that need them.
"""

from __future__ import annotations

from anomvae.distributed.cache import load_cached, model_loads
from anomvae.distributed.engine import score_dask, score_job
from anomvae.distributed.files import input_files
from anomvae.distributed.partitions import score_file, score_partition

__all__ = [
    "input_files",
    "load_cached",
    "model_loads",
    "score_dask",
    "score_file",
    "score_job",
    "score_partition",
]
