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
    "Progress",
    "available_cores",
    "default_score_threads",
    "torch_threads",
]

#: Rows read, scored and written at once by the streaming paths (``anomvae score``,
#: ``evaluate``, the Dask partitions): bounds their memory.
DEFAULT_BATCH_ROWS = 65_536
#: Bytes of CSV text parsed at once (4 MiB).
DEFAULT_BLOCK_SIZE = 1 << 22


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
    """torch threads for streaming scoring: half the available cores, at least 1.

    Reading (pyarrow) and writing run in background threads beside scoring;
    torch's OpenMP threads spin-wait, so letting both claim every core makes
    each slower (on 2 shared cores, 2 torch threads scored slower than 1).
    """
    return max(1, available_cores() // 2)


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
