"""The README's first command on a GPU machine: llama.cpp built for the device found, and a run
that says which device it measures.

The CUDA toolkit and the GPU are absent here: nvcc is a script printing a recorded `nvcc --version`
(tests/recorded/: CUDA 13.0.88 from a real toolkit, 12.4.131 as NVIDIA's nvcc prints it) and NVML
is tests/hardware/fake_nvml.py with an H100. pip is real where it only reads (the pin), and a
stand-in where it would compile: what it was asked to run is what these tests check. llama.cpp is
the real CPU build installed here, whose llama_supports_gpu_offload() is False: an NVIDIA machine
with that build is exactly the case where a run used to measure the CPU."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner

import hardware
from bench.commands.main import main
from contract.errors import BackendError
from engines import choose
from engines.llamacpp import build
from tests.hardware import fake_amdsmi, fake_nvml

RECORDED = Path(__file__).parent / "recorded"
H100 = fake_nvml.H100["name"]


def fake_nvcc(folder: Path, recording: str = "nvcc-version-13.0.88.txt") -> Path:
    """An nvcc that prints a recorded `nvcc --version` (and, like nvcc, the same for -V)."""
    folder.mkdir(parents=True, exist_ok=True)
    nvcc = folder / "nvcc"
    nvcc.write_text(f"#!/bin/sh\ncat '{RECORDED / recording}'\n")
    nvcc.chmod(0o755)
    return nvcc


def path_without_nvcc() -> str:
    """This PATH less any folder holding an nvcc (a build machine may have a real one)."""
    return os.pathsep.join(d for d in os.environ.get("PATH", "").split(os.pathsep)
                           if d and not (Path(d) / "nvcc").exists())


@pytest.fixture
def no_toolkit(monkeypatch):
    """No CUDA toolkit anywhere the installer looks."""
    monkeypatch.setenv("PATH", path_without_nvcc())
    for var in ("CUDA_HOME", "CUDA_PATH", "CMAKE_ARGS"):
        monkeypatch.delenv(var, raising=False)
    monkeypatch.setattr(build, "CUDA_ROOTS", ())


@pytest.fixture
def toolkit_on_path(no_toolkit, monkeypatch, tmp_path):
    nvcc = fake_nvcc(tmp_path / "cuda-bin")
    monkeypatch.setenv("PATH", f"{nvcc.parent}{os.pathsep}{os.environ['PATH']}")
    return nvcc


@pytest.fixture
def h100(monkeypatch):
    monkeypatch.setitem(sys.modules, "pynvml", fake_nvml.make([fake_nvml.H100]))


# -- the toolkit ----------------------------------------------------------------------------------

def test_nvcc_on_path_is_found_with_its_version(tmp_path):
    nvcc = fake_nvcc(tmp_path / "bin")
    found = build.find_cuda_toolkit({"PATH": str(nvcc.parent)}, roots=[])
    assert found == build.CudaToolkit(nvcc, "13.0.88", on_path=True)


@pytest.mark.parametrize("where", ["CUDA_HOME", "CUDA_PATH", "root"])
def test_nvcc_off_path_is_found_under_cuda_home_or_the_usual_root(tmp_path, where):
    nvcc = fake_nvcc(tmp_path / "cuda-12.4" / "bin", "nvcc-version-12.4.131.txt")
    env = {"PATH": str(tmp_path / "empty")}
    if where != "root":
        env[where] = str(tmp_path / "cuda-12.4")
    found = build.find_cuda_toolkit(env, roots=[tmp_path / "cuda-12.4"] if where == "root" else [])
    assert found == build.CudaToolkit(nvcc, "12.4.131", on_path=False)


def test_no_toolkit_and_an_nvcc_that_says_no_version_are_none(tmp_path):
    assert build.find_cuda_toolkit({"PATH": str(tmp_path)}, roots=[tmp_path / "cuda"]) is None
    broken = tmp_path / "bin" / "nvcc"
    broken.parent.mkdir()
    broken.write_text("#!/bin/sh\necho 'nvcc: error while loading shared libraries' >&2\nexit 127\n")
    broken.chmod(0o755)
    assert build.find_cuda_toolkit({"PATH": str(broken.parent)}, roots=[]) is None


# -- which build, and the pip command for it ----------------------------------------------------

ON_PATH = build.CudaToolkit(Path("/usr/bin/nvcc"), "13.0.88", on_path=True)
OFF_PATH = build.CudaToolkit(Path("/usr/local/cuda/bin/nvcc"), "12.4.131", on_path=False)


@pytest.mark.parametrize("gpus, toolkit, platform, device, cmake_args, env, warns", [
    ([H100], ON_PATH, "linux", "cuda", "-DGGML_CUDA=on", {}, False),
    ([H100], OFF_PATH, "linux", "cuda", "-DGGML_CUDA=on", {"CUDACXX": "/usr/local/cuda/bin/nvcc"}, False),
    ([H100], None, "linux", "cpu", "", {}, True),             # a GPU this build will not use: said
    ([], ON_PATH, "linux", "cpu", "", {}, False),             # a CUDA build without a GPU does not configure
    ([], None, "linux", "cpu", "", {}, False),
    ([], None, "darwin", "metal", "-DGGML_METAL=on", {}, False),
])
def test_the_build_follows_the_gpu_and_the_toolkit(gpus, toolkit, platform, device, cmake_args, env, warns):
    t = build.choose_target(gpus, toolkit, platform)
    assert (t.device, t.cmake_args, t.env, t.warning is not None) == (device, cmake_args, env, warns)
    if warns:
        assert t.warning is not None and H100 in t.warning and "CUDA toolkit" in t.warning and "vllm" in t.warning


def test_a_requested_device_is_built_or_refused_in_one_line():
    assert build.choose_target([], ON_PATH, "linux", requested="cuda").cmake_args == "-DGGML_CUDA=on"
    assert build.choose_target([H100], ON_PATH, "linux", requested="cpu").device == "cpu"
    assert build.choose_target([], None, "darwin", requested="cpu").cmake_args == "-DGGML_METAL=off"
    with pytest.raises(BackendError, match="needs the CUDA toolkit"):
        build.choose_target([H100], None, "linux", requested="cuda")
    with pytest.raises(BackendError, match="for macOS"):
        build.choose_target([], None, "linux", requested="metal")


def test_the_install_bypasses_the_wheel_cache_and_builds_from_source():
    cuda = build.choose_target([H100], OFF_PATH, "linux")
    argv, env = build.install_command("0.3.36", cuda, installed=True, python="/v/bin/python", env={})
    assert argv == ["/v/bin/python", "-m", "pip", "install", "--no-cache-dir", "--no-binary", "llama-cpp-python",
                    "--force-reinstall", "--no-deps", "llama-cpp-python==0.3.36"]
    assert env == {"CMAKE_ARGS": "-DGGML_CUDA=on", "CUDACXX": "/usr/local/cuda/bin/nvcc"}
    # a fresh venv: no reinstall, dependencies come with it; the user's own CMake flags come after ours
    argv, env = build.install_command("0.3.36", build.choose_target([], None, "linux"), installed=False,
                                      python="/v/bin/python", env={"CMAKE_ARGS": "-DGGML_NATIVE=off"})
    assert "--force-reinstall" not in argv and "--no-deps" not in argv and "--no-cache-dir" in argv
    assert env == {"CMAKE_ARGS": "-DGGML_NATIVE=off"}
    assert build.shell_line(["/v/bin/python", "-m", "pip"], {"CMAKE_ARGS": "-DA=on -DB=off"}) == \
        "CMAKE_ARGS='-DA=on -DB=off' /v/bin/python -m pip"


def test_the_pin_is_pyproject_s_llamacpp_extra():
    tomllib = pytest.importorskip("tomllib")
    project = tomllib.loads((Path(__file__).parent.parent / "pyproject.toml").read_text())["project"]
    assert project["optional-dependencies"]["llamacpp"] == [f"llama-cpp-python=={build.pinned_version()}"]


def test_the_installed_build_is_read_from_ggml_itself():
    here = build.installed_build()
    assert here.version == build.pinned_version() and "CPU" in here.backends
    assert here.device == "cpu"                 # this machine's build: no GPU backend
    assert build.probe_fresh() == here          # and a new interpreter reads the same
    assert build.InstalledBuild("0.3.36", ("CUDA", "CPU")).device == "cuda"
    assert build.InstalledBuild("0.3.36", ("Metal", "BLAS", "CPU")).device == "metal"
    assert build.InstalledBuild("0.3.36", error="OSError: libcuda.so.1").device is None


# -- bench engines install llamacpp --------------------------------------------------------------

def test_a_gpu_machine_with_the_toolkit_gets_the_cuda_build(h100, toolkit_on_path):
    r = CliRunner().invoke(main, ["engines", "install", "llamacpp", "--dry-run"])
    assert r.exit_code == 0, r.output
    lines = r.stdout.splitlines()
    assert lines[0] == f"llama.cpp for CUDA: {H100}; CUDA toolkit 13.0.88 ({toolkit_on_path})"
    assert lines[1].startswith("CMAKE_ARGS=-DGGML_CUDA=on ") and lines[1].endswith(
        f"--no-cache-dir --no-binary llama-cpp-python --force-reinstall --no-deps llama-cpp-python=={build.pinned_version()}")


def test_a_gpu_machine_without_the_toolkit_keeps_the_cpu_build_and_says_why(h100, no_toolkit):
    r = CliRunner().invoke(main, ["engines", "install", "llamacpp"])
    assert r.exit_code == 0, r.output
    assert r.stdout.startswith(f"llama.cpp for the CPU: {H100} is here but the CUDA toolkit is not")
    assert "already built for the CPU here: nothing to do" in r.stdout
    assert r.stderr.startswith(f"warning: this build will not use {H100}: install the CUDA toolkit")


def test_an_amd_gpu_is_no_reason_for_a_cuda_build(monkeypatch, toolkit_on_path):
    monkeypatch.setitem(sys.modules, "pynvml", None)
    monkeypatch.setitem(sys.modules, "amdsmi", fake_amdsmi.make([fake_amdsmi.MI300X]))
    r = CliRunner().invoke(main, ["engines", "install", "llamacpp", "--dry-run"])
    assert r.exit_code == 0, r.output
    assert r.stdout.startswith(f"llama.cpp for the CPU: the CUDA toolkit is here ({toolkit_on_path}) but NVML sees "
                               "no NVIDIA GPU")


def fake_pip(tmp_path: Path) -> tuple[dict, Path]:
    """A `python -m pip` that records what it was asked and how, in place of a 5-minute compile."""
    pkg = tmp_path / "fakepip" / "pip"
    pkg.mkdir(parents=True)
    (pkg / "__init__.py").write_text("")
    log = tmp_path / "pip.json"
    (pkg / "__main__.py").write_text(
        "import json, os, sys\n"
        f"json.dump({{'argv': sys.argv[1:], 'CMAKE_ARGS': os.environ.get('CMAKE_ARGS'),"
        f" 'CUDACXX': os.environ.get('CUDACXX')}}, open({str(log)!r}, 'w'))\n")
    env = {**os.environ, "PYTHONPATH": str(pkg.parent), "PATH": path_without_nvcc()}
    env.pop("CMAKE_ARGS", None)
    return env, log


def installer(env, *args):
    return subprocess.run([sys.executable, "-m", "bench", "engines", "install", "llamacpp", *args],
                          capture_output=True, text=True, env=env, timeout=300)


@pytest.mark.engine   # a bench process of its own
def test_the_installer_runs_the_line_it_prints_and_checks_what_pip_built(tmp_path):
    env, log = fake_pip(tmp_path)
    r = installer(env, "--device", "cpu", "--force")
    assert r.returncode == 0, r.stderr
    asked = json.loads(log.read_text())
    assert asked["argv"] == ["install", "--no-cache-dir", "--no-binary", "llama-cpp-python", "--force-reinstall",
                             "--no-deps", f"llama-cpp-python=={build.pinned_version()}"]
    assert asked["CMAKE_ARGS"] == "" and asked["CUDACXX"] is None
    printed = r.stdout.splitlines()
    assert printed[1] == f"CMAKE_ARGS='' {sys.executable} -m pip {' '.join(asked['argv'])}"
    assert printed[-1].startswith(f"llama-cpp-python {build.pinned_version()} built for the CPU")


@pytest.mark.engine   # a bench process of its own
def test_a_cuda_build_that_did_not_come_out_is_one_line(tmp_path):
    env, log = fake_pip(tmp_path)
    nvcc = fake_nvcc(tmp_path / "cuda" / "bin")
    r = installer({**env, "CUDA_HOME": str(nvcc.parent.parent)}, "--device", "cuda")
    asked = json.loads(log.read_text())
    assert asked["CMAKE_ARGS"] == "-DGGML_CUDA=on" and asked["CUDACXX"] == str(nvcc)
    # the stand-in built nothing: the CPU build is still there, and the installer says so
    assert r.returncode == 2 and "Traceback" not in r.stderr
    (line,) = [x for x in r.stderr.splitlines() if x.strip()]
    assert line.startswith("error: pip installed llama-cpp-python but not a CUDA build") and "backends CPU" in line


def test_a_requested_cuda_build_without_a_toolkit_is_one_line(no_toolkit):
    r = CliRunner().invoke(main, ["engines", "install", "llamacpp", "--device", "cuda"])
    assert r.exit_code == 2 and r.exception is not None and isinstance(r.exception, SystemExit)
    assert r.stderr == ("error: --device cuda needs the CUDA toolkit: no nvcc on PATH, under $CUDA_HOME or in "
                        "/usr/local/cuda (install it (its nvcc), or set CUDA_HOME to where it is)\n")


# -- the run's first line --------------------------------------------------------------------------

def plan_reason(monkeypatch) -> str:
    """The backend `bench run` would choose here and why, as the parent of a run parses it (and the
    run's child says it first); vLLM and torch not installed."""
    from bench.commands.run import parse_run, run

    real = choose._installed
    monkeypatch.setattr(choose, "_installed", lambda m: m not in ("vllm", "torch") and real(m))
    ctx = run.make_context("run", ["--model", "tiny"], obj={"debug": False})
    request = parse_run(ctx, **ctx.params).request
    assert request.backend == "llamacpp"
    return request.backend_reason


def test_a_gpu_machine_whose_llama_cpp_cannot_offload_says_so_and_how_to_rebuild(h100, toolkit_on_path, monkeypatch):
    assert choose._llamacpp_offloads() is False              # the real build here
    assert plan_reason(monkeypatch) == (
        f"measuring the CPU with llama.cpp (backend llamacpp) although {H100} is present: this llama.cpp build "
        "has no CUDA, and neither vLLM nor torch is installed; rebuild it for CUDA with `bench engines install llamacpp`")


def test_without_the_toolkit_the_hint_is_to_install_it_or_vllm(h100, no_toolkit, monkeypatch):
    reason = plan_reason(monkeypatch)
    assert reason.startswith(f"measuring the CPU with llama.cpp (backend llamacpp) although {H100} is present")
    assert reason.endswith("install the CUDA toolkit (no nvcc on PATH, under $CUDA_HOME or in /usr/local/cuda "
                           "now), then run `bench engines install llamacpp`; or install vLLM (pip install -e '.[vllm]')")


@pytest.mark.engine   # a real bench run
def test_the_run_s_first_line_is_the_device_even_before_a_build(tmp_path):
    # tiny is built by this run; wide lines, so that rich does not wrap a long one
    env = {**os.environ, "RIGHTSIZE_CACHE": str(tmp_path / "cache"), "COLUMNS": "400"}
    r = subprocess.run([sys.executable, "-m", "bench", "run", "--model", "tiny", "--scenario", "tg8",
                        "--repetitions", "1", "--min-duration", "0", "--idle-seconds", "0",
                        "--results-dir", str(tmp_path / "r")], capture_output=True, text=True, env=env, timeout=300)
    assert r.returncode in (0, 1), r.stderr          # 1: one repetition is too few samples to be valid
    lines = [x for x in r.stderr.splitlines() if x.strip()]
    expected = choose.default_backend(hardware.probe())[1]
    assert lines[0] == expected and expected.startswith("measuring ")
    assert any(x.startswith("built ") for x in lines[1:])
