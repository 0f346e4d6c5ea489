"""Background threads that overlap reading, scoring and writing.

:class:`Prefetch` reads the next batches while the current one is scored;
:class:`WriteBehind` writes the previous one. pyarrow's CSV/Parquet code and torch
both release the GIL, so on multi-core machines the three stages overlap; bounded
queues keep memory flat. Neither imports torch.
"""

from __future__ import annotations

import queue
import threading
import time
from collections.abc import Iterator
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import pyarrow as pa

    from anomvae.io.reading import Batch, BatchReader
    from anomvae.io.writing import TableWriter

__all__ = ["Prefetch", "WriteBehind", "input_thread_stuck"]


class Prefetch:
    """Read the next batches in a background thread while this one is scored.

    pyarrow's CSV parsing and torch both release the GIL, so reading overlaps
    scoring and writing. At most ``depth`` batches wait in the queue, so memory
    stays bounded. Errors raised while reading are re-raised by the iterator.
    :meth:`close` stops the thread (at the end of the batch it is reading).
    """

    _DONE = object()

    def __init__(self, reader: BatchReader, depth: int = 2) -> None:
        self.reader = reader
        self._queue: queue.Queue[Any] = queue.Queue(maxsize=depth)
        self._stop = threading.Event()
        self._thread = threading.Thread(
            target=self._produce, name="anomvae-reader", daemon=True
        )
        self._thread.start()

    def _put(self, item: Any) -> bool:
        while not self._stop.is_set():
            try:
                self._queue.put(item, timeout=0.1)
                return True
            except queue.Full:
                continue
        return False

    def _produce(self) -> None:
        try:
            for batch in self.reader:
                if not self._put(batch):
                    return
        except BaseException as exc:  # re-raised in the consuming thread
            self._put(exc)
            return
        self._put(self._DONE)

    def __iter__(self) -> Iterator[Batch]:
        while True:
            try:  # a timeout, so that signal handlers run in this thread
                item = self._queue.get(timeout=0.2)
            except queue.Empty:
                continue
            if item is self._DONE:
                return
            if isinstance(item, BaseException):
                raise item
            yield item

    def close(self) -> None:
        self._stop.set()
        deadline = time.monotonic() + 2  # a block is read in well under that
        while self._thread.is_alive() and time.monotonic() < deadline:
            try:  # unblock a producer waiting on a full queue
                self._queue.get_nowait()
            except queue.Empty:
                self._thread.join(0.05)
        if self._thread.is_alive():
            # Stuck in a read (stdin whose writer stalled): a daemon thread that
            # dies with the process. Closing its file under it would block.
            _STUCK.append(self._thread)
        else:
            self.reader.close()


class WriteBehind:
    """Write tables in a background thread while the next batch is scored.

    The counterpart of :class:`Prefetch`: pyarrow's CSV and Parquet writers and
    torch both release the GIL, so on two or more cores writing batch *i*
    overlaps scoring batch *i + 1* instead of following it. Tables are written
    in the order given; at most ``depth`` wait in the queue (plus the one being
    written), so memory stays bounded.

    The thread only calls :meth:`TableWriter.write`. Its first exception (disk
    full, broken pipe, a pyarrow error...) stops the writing and is raised again
    here, on the calling thread, by the next :meth:`write`, :meth:`flush` or
    :meth:`close`, so it reaches the user exactly as if the write had failed
    here. Committing (the rename onto the target) only ever happens in
    :meth:`close`, on the calling thread, once every write succeeded; on an
    exception the ``with`` block waits for the write in progress (a file write
    takes well under a second), then discards the output. Waits use timeouts so
    that signal handlers (Ctrl-C, SIGTERM) keep running in the main thread.
    """

    _DONE = object()

    def __init__(self, writer: TableWriter, depth: int = 1) -> None:
        self.writer = writer
        self._queue: queue.Queue[Any] = queue.Queue(maxsize=depth)
        self._error: BaseException | None = None
        self._aborted = False
        self._thread = threading.Thread(
            target=self._consume, name="anomvae-writer", daemon=True
        )
        try:
            self._thread.start()
        except BaseException:
            writer.abort()
            raise

    def _consume(self) -> None:
        while (item := self._queue.get()) is not self._DONE:
            if isinstance(item, threading.Event):  # flush(): all before it written
                item.set()
            elif self._error is None and not self._aborted:
                try:
                    self.writer.write(item)
                except BaseException as exc:  # re-raised in the calling thread
                    self._error = exc

    def _put(self, item: Any) -> None:
        while True:  # the thread always drains the queue, so this ends
            try:
                self._queue.put(item, timeout=0.2)
                return
            except queue.Full:
                continue

    def _raise(self) -> None:
        if self._error is not None:
            raise self._error

    def _stop(self) -> None:
        if self._thread.is_alive():
            self._put(self._DONE)
            while self._thread.is_alive():
                self._thread.join(0.2)

    def write(self, table: pa.Table) -> None:
        """Queue ``table``; raise the error of an earlier write, if any."""
        self._raise()
        self._put(table)

    def flush(self) -> None:
        """Wait until every queued table is written; raise a write error."""
        done = threading.Event()
        self._put(done)
        while not done.wait(0.2):
            continue
        self._raise()

    def close(self) -> None:
        """Write what is queued, then commit the output (or raise, discarding it)."""
        try:
            self._stop()
            self._raise()
        except BaseException:
            self.abort()
            raise
        self.writer.close()

    def abort(self) -> None:
        """Drop what is queued, wait for the write in progress, discard the output."""
        self._aborted = True
        self._stop()
        self.writer.abort()

    def __enter__(self) -> WriteBehind:
        return self

    def __exit__(self, exc_type: object, *exc: object) -> None:
        if exc_type is None:
            self.close()
        else:
            self.abort()


#: Reader threads abandoned while blocked on input; see input_thread_stuck().
_STUCK: list[threading.Thread] = []


def input_thread_stuck() -> bool:
    """Whether a reader thread was abandoned while blocked reading stdin.

    The interpreter cannot shut down normally then (stdin's buffer is locked
    by that thread), so :func:`anomvae.cli.main` ends the process with
    ``os._exit`` once every output has been cleaned up.
    """
    return any(t.is_alive() for t in _STUCK)
