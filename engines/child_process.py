"""Helpers for the processes bench starts: runs in their own process, local servers."""

from __future__ import annotations

import signal
import socket
import sys
from collections.abc import Callable


def free_port(host: str = "127.0.0.1") -> int:
    with socket.socket() as s:
        s.bind((host, 0))
        return s.getsockname()[1]


def die_with_parent(sig: signal.Signals) -> Callable[[], None]:
    """A preexec_fn: the child is sent `sig` when the process that started it dies (Linux
    parent-death signal), so a bench killed without running its `finally` leaves nothing behind."""
    def arm() -> None:
        if sys.platform.startswith("linux"):
            import ctypes

            PR_SET_PDEATHSIG = 1
            ctypes.CDLL(None, use_errno=True).prctl(PR_SET_PDEATHSIG, sig)
    return arm
