"""One entry of the model cache (a GGUF file or a model directory), built so that no reader ever
sees half of it: written under a temporary name beside its final one, then renamed into place.
Concurrent builds of the same entry are harmless: the first rename wins, the others drop theirs.
"""

from __future__ import annotations

import os
import shutil
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

from contract.errors import ModelError


def _remove(path: Path) -> None:
    if path.is_dir():
        shutil.rmtree(path, ignore_errors=True)
    else:
        path.unlink(missing_ok=True)


def prepare(final: Path, stale_after_s: float, need_bytes: int | None = None, what: str = "") -> None:
    """Make the cache directory, clear temporaries left by builds that died (older than
    stale_after_s: a younger one may belong to a build still running) and check the disk."""
    try:
        final.parent.mkdir(parents=True, exist_ok=True)
    except OSError as e:
        raise ModelError(f"cannot create model cache {final.parent}: {e.strerror}", "set RIGHTSIZE_CACHE") from e
    for tmp in final.parent.glob(f".{final.name}.*.tmp"):
        try:
            if time.time() - tmp.stat().st_mtime > stale_after_s:
                _remove(tmp)
        except FileNotFoundError:
            pass    # another build finished or cleaned it meanwhile
    if need_bytes is not None:
        free = shutil.disk_usage(final.parent).free
        if free < need_bytes * 1.02:
            raise ModelError(f"not enough disk for {what}: needs {need_bytes / 2**30:.1f} GiB, "
                             f"{final.parent} has {free / 2**30:.1f} GiB free",
                             "free space or set RIGHTSIZE_CACHE to a bigger disk")


@contextmanager
def building(final: Path, cached: Callable[[Path], bool]) -> Iterator[Path]:
    """Yields the temporary path to build at (nothing is created there yet); renames it to
    `final` when the block ends, removes it when the block fails or is interrupted."""
    tmp = final.parent / f".{final.name}.{os.getpid()}.{os.urandom(4).hex()}.tmp"
    try:
        yield tmp
        try:
            os.rename(tmp, final)     # atomic; replaces a file, fails on a directory already there
        except OSError:
            if not cached(final):     # not a concurrent build that won the race
                raise
            _remove(tmp)
    except BaseException:
        _remove(tmp)
        raise
