"""How work runs in this process: the cores it may use, torch's thread count for a
block of work, and the one progress bar (training, scoring and the command line
all draw theirs with :class:`Progress`).

Nothing here imports torch or rich at module level, so the command line's
``--help`` stays fast.
"""

from __future__ import annotations

import contextlib
import os
import sys
from collections.abc import Iterator
from typing import Any

__all__ = [
    "DEFAULT_BATCH_ROWS",
    "DEFAULT_BLOCK_SIZE",
    "DEFAULT_THREADS",
    "Progress",
    "available_cores",
    "default_score_threads",
    "resolve_n_jobs",
    "torch_threads",
]

#: Rows read, scored and written at once by the streaming paths (``anomvae score``,
#: ``evaluate``, the Dask partitions): bounds their memory.
DEFAULT_BATCH_ROWS = 65_536
#: Bytes of CSV text parsed at once (4 MiB).
DEFAULT_BLOCK_SIZE = 1 << 22
#: torch threads of a detector's fit and scoring when ``n_jobs=None``. One: the
#: networks are small (a 128-row batch through 256-unit layers), so a second
#: thread saved little even on an idle machine, while beside one busy process
#: torch's spinning OpenMP threads made fits many times slower
#: (``benchmarks/results/threads.md``).
DEFAULT_THREADS = 1


def available_cores() -> int:
    """CPU cores this process may run on (its affinity mask on Linux).

    Examples
    --------
    >>> available_cores() >= 1
    True
    """
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not on Linux
        return os.cpu_count() or 1


def default_score_threads() -> int:
    """Scoring threads of ``anomvae score``: every available core.

    Each scoring thread scores its own batch with one torch thread, while pyarrow
    parses the next batches and writes the previous ones in background threads;
    torch and pyarrow release the GIL, so the operating system shares the cores
    among them. One torch thread per batch, never an OpenMP team: its spinning
    threads competed with the reader (on 2 shared cores, 2 torch threads on one
    batch scored 2-5x slower than 1), whereas 2 batches at once on 2 cores scored
    faster than 1 (``benchmarks/results/bench_cli.md``).
    """
    return available_cores()


def resolve_n_jobs(n_jobs: int | None) -> int:
    """torch threads for a detector's ``n_jobs``, as scikit-learn reads it: None
    is :data:`DEFAULT_THREADS`, -1 every available core, -2 all but one, ...

    Examples
    --------
    >>> resolve_n_jobs(None), resolve_n_jobs(2)
    (1, 2)
    >>> resolve_n_jobs(-1) == available_cores()
    True
    """
    if n_jobs is None:
        return DEFAULT_THREADS
    if n_jobs == 0:
        raise ValueError("n_jobs == 0 has no meaning; use None, -1 or a count")
    if n_jobs < 0:
        return max(1, available_cores() + 1 + n_jobs)
    return int(n_jobs)


@contextlib.contextmanager
def torch_threads(threads: int | None) -> Iterator[int]:
    """Run the block with ``threads`` torch threads, then restore the previous
    setting. ``None`` leaves the process setting as it is. Yields the number of
    threads in effect.

    Examples
    --------
    >>> import torch
    >>> before = torch.get_num_threads()
    >>> with torch_threads(1) as n:
    ...     n, torch.get_num_threads()
    (1, 1)
    >>> torch.get_num_threads() == before
    True
    """
    import torch

    previous = torch.get_num_threads()
    if threads is None or threads == previous:
        yield previous
        return
    torch.set_num_threads(threads)
    try:
        yield threads
    finally:
        torch.set_num_threads(previous)


class Progress:
    """A rich progress bar on stderr, or an object whose methods do nothing.

    Parameters
    ----------
    total : float or None
        Units of work in all (``None``: unknown, the bar only counts).
    description : str
        Text before the bar; :meth:`update` can change it.
    enabled : bool
        Draw the bar at all. Callers decide (a terminal, ``verbose``...).
    rows : bool, default=False
        Show a ``rows`` counter beside the bar (scoring).
    transient : bool, default=True
        Remove the bar when it closes.

    Examples
    --------
    >>> with Progress(10, description="training", enabled=False) as bar:
    ...     bar.update(5)
    """

    def __init__(
        self,
        total: float | None,
        *,
        description: str,
        enabled: bool,
        rows: bool = False,
        transient: bool = True,
    ) -> None:
        self._bar: Any = None
        self._task: Any = None
        if not enabled:
            return
        from rich.console import Console
        from rich.progress import (
            BarColumn,
            TextColumn,
            TimeElapsedColumn,
            TimeRemainingColumn,
        )
        from rich.progress import Progress as RichProgress

        columns: list[Any] = [
            TextColumn("[progress.description]{task.description}"),
            BarColumn(),
        ]
        if rows:
            columns.append(TextColumn("{task.fields[rows]:>14,} rows"))
        columns += [TimeElapsedColumn(), TimeRemainingColumn()]
        self._bar = RichProgress(
            *columns, console=Console(stderr=True), transient=transient
        )
        self._bar.start()
        self._task = self._bar.add_task(description, total=total, rows=0)

    @staticmethod
    def terminal() -> bool:
        """Whether stderr is a terminal (where a bar can be drawn)."""
        return sys.stderr.isatty()

    def update(
        self, completed: float, *, description: str | None = None, rows: int = 0
    ) -> None:
        """Move the bar to ``completed`` units (and set its text or row count)."""
        if self._bar is None:
            return
        fields: dict[str, Any] = {"completed": completed, "rows": rows}
        if description is not None:
            fields["description"] = description
        self._bar.update(self._task, **fields)

    def close(self) -> None:
        """Stop drawing (idempotent)."""
        if self._bar is not None:
            self._bar.stop()
            self._bar = None

    def __enter__(self) -> Progress:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
