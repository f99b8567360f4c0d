"""How many threads llama.cpp runs with when the user does not say: its own module, because the
backend and the health probe (which the backend calls) both need it."""

from __future__ import annotations

import os


def default_threads() -> int:
    """Physical cores, as llama-bench's default (hyperthreads share the core's FMA units)."""
    try:
        import psutil
        return psutil.cpu_count(logical=False) or os.cpu_count() or 1
    except ImportError:
        return os.cpu_count() or 1
