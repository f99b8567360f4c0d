"""What software produced a result: package and engine versions, suite git SHA, OS, Python."""

from __future__ import annotations

import contextlib
import os
import platform
import subprocess
import sys
from importlib import metadata
from pathlib import Path

_PACKAGES = ("rightsize", "llama-cpp-python", "numpy", "gguf", "torch", "transformers", "vllm",
             "mlx", "mlx-lm", "httpx", "aiohttp")


def _git_sha() -> str | None:
    root = Path(__file__).resolve().parent.parent
    try:
        out = subprocess.run(["git", "-C", str(root), "rev-parse", "HEAD"], capture_output=True,
                             text=True, timeout=5)
        sha = out.stdout.strip()
        if out.returncode != 0 or not sha:
            return None
        dirty = subprocess.run(["git", "-C", str(root), "status", "--porcelain", "--untracked-files=no"],
                               capture_output=True, text=True, timeout=5).stdout.strip()
        return sha + ("-dirty" if dirty else "")
    except (OSError, subprocess.SubprocessError):
        return None


def capture() -> dict:
    versions = {}
    for pkg in _PACKAGES:
        with contextlib.suppress(metadata.PackageNotFoundError):
            versions[pkg] = metadata.version(pkg)
    return {
        "packages": versions,
        "suite_git_sha": _git_sha(),
        "python": sys.version.split()[0],
        "os": platform.system(),
        "os_release": platform.release(),
        "platform": platform.platform(),
        "machine": platform.machine(),
        "hostname": platform.node(),
        # a measurement at a lower priority than the machine's other work is slower than the machine
        # (a Ray worker's children start at niceness 15, bench/fleet/remote.py)
        "niceness": os.getpriority(os.PRIO_PROCESS, 0) if hasattr(os, "getpriority") else None,
    }
