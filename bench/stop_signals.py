"""SIGTERM and SIGHUP stop a run as Ctrl-C does: what was measured is written, then it exits.

Within `stop_on_signals()` the first SIGINT, SIGTERM or SIGHUP raises `Stopped` (a
KeyboardInterrupt, so every `except KeyboardInterrupt` that saves a result handles all three) in
the main thread; the ones after it are noted and ignored, so that the saving is not itself cut
short. The handlers are set explicitly: a process started in the background by a shell inherits
SIGINT ignored, and the parent-death signal of a run's child must still reach it.
"""

from __future__ import annotations

import contextlib
import signal
import threading
from collections.abc import Iterator

STOP_SIGNALS = (signal.SIGINT, signal.SIGTERM, signal.SIGHUP)


class Stopped(KeyboardInterrupt):
    def __init__(self, signum: int = signal.SIGINT):
        super().__init__()
        self.signum = signum


def signal_of(stop: KeyboardInterrupt) -> int:
    """The signal behind a KeyboardInterrupt: SIGINT unless it is a Stopped that says otherwise."""
    return getattr(stop, "signum", signal.SIGINT)


def exit_code_of(signum: int) -> int:
    """The shell's convention for a process a signal ended: 130 Ctrl-C, 143 SIGTERM, 129 SIGHUP."""
    return 128 + int(signum)


def name_of(signum: int) -> str:
    """'Ctrl-C', 'SIGTERM', 'SIGHUP': what the user's one line calls it."""
    return "Ctrl-C" if signum == signal.SIGINT else signal.Signals(signum).name


@contextlib.contextmanager
def _handling(signals: tuple[int, ...], handler) -> Iterator[None]:
    """`handler` for `signals` within; the previous handlers come back on exit. Only the main thread
    may set handlers: elsewhere nothing changes."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    saved = {s: signal.getsignal(s) for s in signals}
    for s in signals:
        signal.signal(s, handler)
    try:
        yield
    finally:
        for s, old in saved.items():
            signal.signal(s, old)


@contextlib.contextmanager
def stop_on_signals() -> Iterator[list[int]]:
    """Yields the list of signals received, in order; the previous handlers come back on exit."""
    received: list[int] = []

    def handler(signum, frame) -> None:
        received.append(signum)
        if len(received) == 1:
            raise Stopped(signum)

    with _handling(STOP_SIGNALS, handler):
        yield received


class NotedStops:
    """Stop signals noted by their handler and raised later by `check()`, from our own code.

    For a main thread that waits inside Ray: ray.wait checks for signals in C++, catches the
    KeyboardInterrupt a handler raises there and turns it into a status of its own (_raylet.pyx,
    check_signals), which did not always come back to us as one: `bench fleet run` missed 2
    Ctrl-Cs in 5. A handler that raises nothing gives Ray nothing to catch; the driver's loop asks
    `check()` between its waits."""

    def __init__(self) -> None:
        self.received: list[int] = []
        self._raised = 0

    def check(self) -> None:
        """Raise Stopped for a signal noted since the last check."""
        if len(self.received) > self._raised:
            self._raised = len(self.received)
            raise Stopped(self.received[-1])


@contextlib.contextmanager
def noted_stop_signals(signals: tuple[int, ...] = STOP_SIGNALS) -> Iterator[NotedStops]:
    """Within it, `signals` are noted, not raised (see NotedStops); the previous handlers come back on exit."""
    stops = NotedStops()
    with _handling(signals, lambda signum, frame: stops.received.append(signum)):
        yield stops
