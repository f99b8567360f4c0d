"""Output that may be gone: a closed pipe or terminal costs what is drawn, never the run.

A run's progress bars and tables go to a terminal or a pipe that can close under it (an SSH drop,
a closed tmux pane, a parent that died): the next write raises EPIPE or EIO. Through these
wrappers such a write is dropped, the stream's descriptor is pointed at /dev/null (so that
Python's own flush at exit, a C library's log line and every later write succeed too), and the
run goes on to write its result.
"""

from __future__ import annotations

import contextlib
import io
import os
import sys
from collections.abc import Iterator
from typing import TextIO


class Tolerant(io.TextIOBase):
    """A text stream that stops writing, silently, once its reader is gone."""

    def __init__(self, stream: TextIO):
        self._stream = stream
        self.broken = False

    def write(self, s: str) -> int:
        if not self.broken:
            try:
                self._stream.write(s)
            except (OSError, ValueError):      # EPIPE, EIO; ValueError: the file was closed
                self._give_up()
        return len(s)

    def flush(self) -> None:
        if not self.broken:
            try:
                self._stream.flush()
            except (OSError, ValueError):
                self._give_up()

    def _give_up(self) -> None:
        self.broken = True
        with contextlib.suppress(OSError, ValueError, io.UnsupportedOperation):
            fd = self._stream.fileno()
            null = os.open(os.devnull, os.O_WRONLY)
            os.dup2(null, fd)
            os.close(null)
            self._stream.flush()               # what was buffered goes to /dev/null now

    # what rich and click ask of a stream
    def isatty(self) -> bool:
        try:
            return not self.broken and self._stream.isatty()
        except (OSError, ValueError):
            return False

    def fileno(self) -> int:
        return self._stream.fileno()

    def writable(self) -> bool:
        return True

    @property
    def encoding(self) -> str:                 # type: ignore[override]
        return getattr(self._stream, "encoding", None) or "utf-8"

    @property
    def errors(self) -> str | None:            # type: ignore[override]
        return getattr(self._stream, "errors", None)


@contextlib.contextmanager
def tolerant_stdio() -> Iterator[None]:
    """Within: sys.stdout and sys.stderr survive their readers (click.echo, rich, print all use
    them); on the way out both are flushed through the wrappers, so a gone reader cannot turn
    the exit code into Python's 120 either."""
    saved = sys.stdout, sys.stderr
    out, err = Tolerant(sys.stdout), Tolerant(sys.stderr)
    sys.stdout, sys.stderr = out, err          # type: ignore[assignment]
    try:
        yield
    finally:
        out.flush()
        err.flush()
        sys.stdout, sys.stderr = saved
