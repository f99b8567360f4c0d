"""Which llama.cpp build this machine should have, and the one pip command that makes it.

llama-cpp-python compiles llama.cpp when pip installs it, for the CPU unless told otherwise: CUDA
kernels only with CMAKE_ARGS="-DGGML_CUDA=on" and the CUDA toolkit's nvcc, Metal by default on
macOS. So a plain `pip install 'rightsize[llamacpp]'` on an NVIDIA machine builds for its CPU, and
a run measures the wrong device. `bench engines install llamacpp` builds for the device found here:

- CUDA where NVML sees an NVIDIA GPU and the CUDA toolkit is here (nvcc on PATH, under $CUDA_HOME
  or $CUDA_PATH, or in /usr/local/cuda). Both: a CUDA build without a driver does not load.
- Metal on macOS.
- else the CPU.

pip caches the wheel it built under the sdist's name, whatever CMAKE_ARGS were, and would serve
a CPU wheel to a CUDA install (and the other way round): the install runs with --no-cache-dir
(pip neither reads nor writes its wheel cache) and --no-binary (a prebuilt wheel would ignore
CMAKE_ARGS). `python -m engines.llamacpp.build` prints the installed build as JSON: what
the installer asks a fresh interpreter after pip, to check that the build it got is the one it
wanted.
"""

from __future__ import annotations

import importlib.metadata
import json
import os
import re
import shlex
import shutil
import subprocess
import sys
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path

from contract.errors import BackendError

DIST = "llama-cpp-python"
CUDA_ROOTS = (Path("/usr/local/cuda"),)
DEVICES = ("cuda", "metal", "cpu")
# "Cuda compilation tools, release 12.4, V12.4.131"
_NVCC_RELEASE = re.compile(r"Cuda compilation tools, release [\d.]+, V(\d+(?:\.\d+)+)")
# ggml backends that run on the host: a build with only these is a CPU build
_HOST_BACKENDS = {"CPU", "BLAS", "RPC"}


@dataclass(frozen=True)
class CudaToolkit:
    nvcc: Path
    version: str            # nvcc's own, e.g. "12.4.131"
    on_path: bool           # CMake finds an nvcc on PATH by itself; elsewhere it is told (CUDACXX)


def nvcc_version(nvcc: Path) -> str | None:
    """The version `nvcc --version` reports, or None where it does not run or says none."""
    try:
        out = subprocess.run([str(nvcc), "--version"], capture_output=True, text=True, timeout=60).stdout
    except (OSError, subprocess.SubprocessError):
        return None
    m = _NVCC_RELEASE.search(out)
    return m.group(1) if m else None


def find_cuda_toolkit(env: Mapping[str, str] | None = None,
                      roots: Sequence[Path] | None = None) -> CudaToolkit | None:
    """The first nvcc that runs: on PATH, then under $CUDA_HOME, $CUDA_PATH and `roots` (CUDA_ROOTS)."""
    env = os.environ if env is None else env
    roots = CUDA_ROOTS if roots is None else roots
    candidates: list[tuple[Path, bool]] = []
    found = shutil.which("nvcc", path=env.get("PATH", ""))
    if found:
        candidates.append((Path(found), True))
    candidates += [(Path(env[v]) / "bin" / "nvcc", False) for v in ("CUDA_HOME", "CUDA_PATH") if env.get(v)]
    candidates += [(r / "bin" / "nvcc", False) for r in roots]
    for nvcc, on_path in candidates:
        version = nvcc_version(nvcc)
        if version:
            return CudaToolkit(nvcc, version, on_path)
    return None


TOOLKIT_PLACES = "no nvcc on PATH, under $CUDA_HOME or in /usr/local/cuda"


@dataclass(frozen=True)
class Target:
    """The build this machine should have: its device, why, and what CMake is told."""
    device: str                                   # "cuda", "metal" or "cpu"
    why: str
    cmake_args: str = ""
    env: dict[str, str] = field(default_factory=dict)   # besides CMAKE_ARGS (CUDACXX)
    warning: str | None = None                    # a GPU here that this build will not use


def choose_target(gpus: Sequence[str], toolkit: CudaToolkit | None, platform: str = sys.platform,
                  requested: str = "auto") -> Target:
    """The build for a machine with these NVIDIA GPUs (NVML's names) and this CUDA toolkit."""
    if requested not in ("auto", *DEVICES):
        raise BackendError(f"unknown llama.cpp device {requested!r}", f"choose auto, {', '.join(DEVICES)}")
    gpu = f"{gpus[0]}" + (f" (and {len(gpus) - 1} more)" if len(gpus) > 1 else "") if gpus else None
    cuda_env = {} if toolkit is None or toolkit.on_path else {"CUDACXX": str(toolkit.nvcc)}
    if requested == "cuda" or (requested == "auto" and gpu and toolkit and platform != "darwin"):
        if toolkit is None:
            raise BackendError(f"--device cuda needs the CUDA toolkit: {TOOLKIT_PLACES}",
                               "install it (its nvcc), or set CUDA_HOME to where it is")
        why = f"{gpu or 'no NVIDIA GPU seen by NVML, but --device cuda'}; CUDA toolkit {toolkit.version} ({toolkit.nvcc})"
        return Target("cuda", why, "-DGGML_CUDA=on", cuda_env)
    if requested == "metal" or (requested == "auto" and platform == "darwin"):
        if platform != "darwin":
            raise BackendError("--device metal is for macOS", "choose --device cuda or cpu here, or auto")
        return Target("metal", "macOS: llama.cpp on Metal", "-DGGML_METAL=on")
    off = "-DGGML_METAL=off" if platform == "darwin" else ""
    if requested == "cpu":
        return Target("cpu", "--device cpu", off)
    if gpu:          # no toolkit
        return Target("cpu", f"{gpu} is here but the CUDA toolkit is not ({TOOLKIT_PLACES})", off,
                      warning=f"this build will not use {gpu}: install the CUDA toolkit (nvcc) and run this again, "
                              "or install vLLM (pip install -e '.[vllm]')")
    if toolkit:
        return Target("cpu", f"the CUDA toolkit is here ({toolkit.nvcc}) but NVML sees no NVIDIA GPU "
                             "(--device cuda builds for CUDA anyway)", off)
    return Target("cpu", "no NVIDIA GPU detected", off)


def pinned_version() -> str:
    """The llama-cpp-python version rightsize's `llamacpp` extra pins (pyproject.toml, as installed)."""
    pin = re.compile(rf"^{DIST}(\[[^\]]*\])?\s*==\s*([^\s;]+)\s*;.*extra\s*==\s*['\"]llamacpp['\"]")
    try:
        requires = importlib.metadata.requires("rightsize") or []
    except importlib.metadata.PackageNotFoundError:
        requires = []
    for r in requires:
        m = pin.match(r)
        if m:
            return m.group(2)
    raise BackendError("cannot tell which llama-cpp-python version rightsize pins (rightsize is not installed)",
                       "install rightsize first: pip install -e .")


@dataclass(frozen=True)
class InstalledBuild:
    version: str | None                  # None: llama-cpp-python is not installed
    backends: tuple[str, ...] = ()       # ggml's backends in this build: ("CPU",), ("CUDA", "CPU"), ...
    error: str | None = None             # installed, but its library does not load here

    @property
    def device(self) -> str | None:
        """"cuda", "metal", "cpu", another GPU backend's name in lower case, or None (not loadable)."""
        if self.version is None or self.error:
            return None
        names = [b.upper() for b in self.backends]
        if any(n.startswith("CUDA") for n in names):
            return "cuda"
        if any(n in ("METAL", "MTL") for n in names):
            return "metal"
        others = [n for n in names if n not in _HOST_BACKENDS]
        return others[0].lower() if others else "cpu"

    def to_dict(self) -> dict:
        return {**asdict(self), "device": self.device}


def installed_build() -> InstalledBuild:
    """What llama-cpp-python is installed in this interpreter and which backends its build has."""
    try:
        version = importlib.metadata.version(DIST)
    except importlib.metadata.PackageNotFoundError:
        return InstalledBuild(None)
    try:
        from engines.llamacpp.kernels import backend_names
        return InstalledBuild(version, tuple(backend_names()))
    except Exception as exc:        # a CUDA build without its driver raises OSError, a broken one anything
        return InstalledBuild(version, error=f"{type(exc).__name__}: {exc}")


def probe_fresh(python: str = sys.executable) -> InstalledBuild:
    """installed_build() in a new interpreter: after pip, this process still has the old library."""
    r = subprocess.run([python, "-m", "engines.llamacpp.build"], capture_output=True, text=True, timeout=300)
    try:
        d = json.loads(r.stdout.strip().splitlines()[-1])
    except (IndexError, ValueError):
        return InstalledBuild(None, error=f"the probe exited {r.returncode}: {r.stderr.strip()[-300:]}")
    return InstalledBuild(d["version"], tuple(d["backends"]), d["error"])


def install_command(version: str, target: Target, installed: bool, python: str = sys.executable,
                    env: Mapping[str, str] | None = None) -> tuple[list[str], dict[str, str]]:
    """(argv, environment variables to set) of the pip install that builds `target`. CMAKE_ARGS
    already in the environment are kept, after ours."""
    env = os.environ if env is None else env
    cmake_args = " ".join(a for a in (target.cmake_args, env.get("CMAKE_ARGS", "").strip()) if a)
    argv = [python, "-m", "pip", "install", "--no-cache-dir", "--no-binary", DIST]
    if installed:       # same version, other build: pip would keep it; its dependencies stay as they are
        argv += ["--force-reinstall", "--no-deps"]
    argv.append(f"{DIST}=={version}")
    return argv, {"CMAKE_ARGS": cmake_args, **target.env}


def shell_line(argv: Sequence[str], env: Mapping[str, str]) -> str:
    """The command as one line a person can paste into a POSIX shell."""
    return " ".join([*(f"{k}={shlex.quote(v)}" for k, v in env.items()), shlex.join(argv)])


def bench_program() -> str:
    """How this `bench` was called (".venv/bin/bench" as the README runs it), for the lines that
    say which command to run next; "bench" where it was not called by that name."""
    argv0 = sys.argv[0] if sys.argv else ""
    return argv0 if Path(argv0).name == "bench" else "bench"


def rebuild_hint() -> str:
    """What to run on an NVIDIA machine whose llama.cpp cannot offload, depending on its toolkit."""
    command = f"`{bench_program()} engines install llamacpp`"
    if find_cuda_toolkit() is not None:
        return f"rebuild it for CUDA with {command}"
    return (f"install the CUDA toolkit ({TOOLKIT_PLACES} now), then run {command}; "
            "or install vLLM (pip install -e '.[vllm]')")


if __name__ == "__main__":
    print(json.dumps(installed_build().to_dict()))
