"""The llama.cpp health probe: does this engine build survive this machine with these settings?

Some llama.cpp configurations crash on some CPUs instead of failing: its AMX kernels on
Sapphire Rapids class Xeons in VMs die with SIGSEGV on the first multi-token batch of any
quantized model (upstream llama.cpp #20824). A crash in the measuring process loses the run; in
pytest it loses the whole test suite. So before a model is loaded for measuring, the configuration
the run will use is tried in a child process (llamacpp_probe) on the tiny synthetic model at the
run's quant type: a multi-token prompt, single-token decodes and one multi-sequence batch. A child
killed by a signal, or hung, marks that configuration broken. Verdicts are cached per engine build,
CPU and configuration, so a machine pays for each probe once (about a second).

Left to us (`amx=auto`, `repack=auto`, the default), a broken configuration falls back to the next
one that works: without AMX, then without any extra buffer type. The run says so in one line and
records the workaround with its evidence. A forced choice (`--engine-option amx=on|off`,
`repack=on|off`) is measured as asked, with a warning when the probe saw it crash.
"""

from __future__ import annotations

import hashlib
import json
import os
import platform
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Mapping
from dataclasses import asdict, dataclass
from pathlib import Path

from contract.build import utc_now
from contract.errors import BackendError
from engines.llamacpp.kernels import AMX, REPACK
from engines.llamacpp.options import LlamaCppOptions
from engines.llamacpp.threads import default_threads

PROBE_TIMEOUT_S = 120.0
CACHE_VERSION = 1
DEFAULT_PROBE_QUANT = "Q4_K_M"
UPSTREAM = {AMX: "llama.cpp #20824 (https://github.com/ggml-org/llama.cpp/issues/20824)"}
# --engine-option names of the kernel choices, and the buffer type each one governs
KNOBS = {"amx": AMX, "repack": REPACK}
OK, CRASHED, HUNG, FAILED = "ok", "crashed", "hung", "failed"


@dataclass(frozen=True)
class ProbeConfig:
    """Everything about a llama.cpp load that can decide whether it crashes."""
    extra_buffer_types: tuple[str, ...]     # kept, in llama.cpp's order
    quant: str
    n_threads: int
    n_gpu_layers: int
    flash_attn: bool | None                 # None: llama.cpp decides (auto)
    n_batch: int
    n_ubatch: int


def describe(kept) -> str:
    return f"llama.cpp with {' + '.join(kept) or 'no extra buffer types'}"


@dataclass
class Verdict:
    outcome: str                 # ok, crashed (killed by a signal), hung, failed (an error, not a crash)
    config: dict
    exit_code: int | None = None
    signal: str | None = None
    detail: str = ""             # the child's last stderr lines
    seconds: float = 0.0
    probed_at: str = ""
    report: dict | None = None   # what a passing probe ran: tokens decoded and batched, the kernels used
    cached: bool = False

    @property
    def ok(self) -> bool:
        return self.outcome == OK

    @property
    def broken(self) -> bool:
        return self.outcome in (CRASHED, HUNG)

    def why(self) -> str:
        if self.outcome == CRASHED:
            return f"probe died with {self.signal}"
        if self.outcome == HUNG:
            return f"probe hung for {PROBE_TIMEOUT_S:g} s"
        if self.outcome == FAILED:
            return f"probe failed (exit code {self.exit_code}): {self.detail}"
        return "probe passed"

    def to_dict(self) -> dict:
        return asdict(self)


@dataclass
class KernelChoice:
    """Which extra buffer types the run loads with, and the evidence for it."""
    available: list[str]
    kept: list[str]
    requested: dict[str, str]
    verdicts: list[Verdict]
    workaround: dict | None = None
    warning: str | None = None
    if_it_dies: str = ""         # what to say if the measuring process dies by a signal anyway

    def to_dict(self) -> dict:
        return {"available": self.available, "kept": self.kept, "requested": self.requested,
                "probes": [v.to_dict() for v in self.verdicts]}


# -- identity of what is probed -----------------------------------------------------------------

def engine_build() -> dict:
    """The llama.cpp build: llama-cpp-python's version and a hash of the libraries it loads."""
    import llama_cpp

    lib_dir = Path(llama_cpp.__file__).parent / "lib"
    h = hashlib.sha256()
    for f in sorted({p.resolve() for p in lib_dir.glob("*") if p.is_file()}):
        h.update(f.name.encode())
        h.update(f.read_bytes())
    return {"llama_cpp_python": llama_cpp.__version__, "libraries_sha256": h.hexdigest()[:16],
            "system_info": llama_cpp.llama_print_system_info().decode(errors="replace").strip()}


def cpu_identity() -> dict:
    """The CPU as llama.cpp's kernel choice sees it: model and every ISA flag."""
    model, flags = platform.processor() or platform.machine(), ""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            key, _, value = line.partition(":")
            key = key.strip()
            if key == "model name" and model in ("", platform.processor(), platform.machine()):
                model = value.strip()
            elif key in ("flags", "Features") and not flags:
                flags = " ".join(sorted(value.split()))
    except OSError:
        pass
    return {"model": model, "arch": platform.machine(), "flags_sha256": hashlib.sha256(flags.encode()).hexdigest()[:16],
            "amx": "amx_tile" in flags.split()}


def _cache_file() -> Path:
    root = Path(os.environ.get("RIGHTSIZE_CACHE") or Path.home() / ".cache" / "rightsize")
    return root / "engine-health.json"


def _key(build: dict, cpu: dict, config: ProbeConfig) -> str:
    text = json.dumps({"v": CACHE_VERSION, "build": build, "cpu": cpu, "config": asdict(config)}, sort_keys=True)
    return hashlib.sha256(text.encode()).hexdigest()[:24]


def _read_cache() -> dict:
    try:
        doc = json.loads(_cache_file().read_text())
        return doc.get("verdicts", {}) if doc.get("version") == CACHE_VERSION else {}
    except (OSError, ValueError, AttributeError):
        return {}


def _write_cache(key: str, verdict: Verdict) -> None:
    """Atomic; a cache that cannot be written only costs a probe next time."""
    path = _cache_file()
    verdicts = _read_cache()
    verdicts[key] = {k: v for k, v in verdict.to_dict().items() if k != "cached"}
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(prefix=".engine-health-", dir=path.parent)
        with os.fdopen(fd, "w") as fh:
            json.dump({"version": CACHE_VERSION, "verdicts": verdicts}, fh, indent=1)
        os.replace(tmp, path)
    except OSError:
        pass


# -- the probe ----------------------------------------------------------------------------------

def _no_core_dumps() -> None:
    """In the child: a crash is the expected verdict, not something to write a core file for."""
    import resource
    resource.setrlimit(resource.RLIMIT_CORE, (0, 0))


def run_probe(config: ProbeConfig, model_path: Path, command: list[str] | None = None,
              timeout_s: float = PROBE_TIMEOUT_S) -> Verdict:
    """Run the probe child once (no cache). `command` replaces `python -m engines.llamacpp.probe`."""
    cmd = (command or [sys.executable, "-m", "engines.llamacpp.probe"]) + [
        json.dumps({**asdict(config), "model_path": str(model_path)})]
    started = time.perf_counter()
    now = utc_now()
    try:
        proc = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout_s, stdin=subprocess.DEVNULL,
                              preexec_fn=_no_core_dumps if os.name == "posix" else None)
    except subprocess.TimeoutExpired:
        return Verdict(HUNG, asdict(config), seconds=timeout_s, probed_at=now)
    seconds = round(time.perf_counter() - started, 3)
    tail = " | ".join((proc.stderr or "").strip().splitlines()[-3:])
    if proc.returncode < 0:
        name = signal.Signals(-proc.returncode).name
        return Verdict(CRASHED, asdict(config), proc.returncode, name, tail, seconds, now)
    if proc.returncode != 0:
        return Verdict(FAILED, asdict(config), proc.returncode, None, tail, seconds, now)
    try:
        report = json.loads((proc.stdout or "").strip().splitlines()[-1])
    except (IndexError, ValueError):
        report = None
    return Verdict(OK, asdict(config), 0, None, "", seconds, now, report)


def probe(config: ProbeConfig, command: list[str] | None = None) -> Verdict:
    """The verdict for `config` on this machine and build: cached, else probed now."""
    build, cpu = engine_build(), cpu_identity()
    key = _key(build, cpu, config)
    hit = _read_cache().get(key)
    if hit is not None:
        return Verdict(**{**hit, "cached": True})
    from models.catalog import get_model
    from models.synthetic import materialize

    verdict = run_probe(config, materialize(get_model("tiny"), config.quant), command)
    if verdict.outcome != FAILED:       # an error is about this call, not about the machine
        _write_cache(key, verdict)
    return verdict


# -- the choice ---------------------------------------------------------------------------------

def requested_kernels(options: LlamaCppOptions) -> dict[str, str]:
    return {knob: getattr(options, knob) for knob in KNOBS}


def candidates(available: list[str], requested: dict[str, str]) -> list[list[str]]:
    """Kernel sets to try, best first: everything allowed, then without AMX, then only what was
    forced on. Raises when something forced on does not exist in this build."""
    for knob, buft in KNOBS.items():
        if requested[knob] == "on" and buft not in available:
            raise BackendError(f"--engine-option {knob}=on: this llama.cpp build has no {buft} kernels on this CPU "
                               f"(its extra buffer types here: {', '.join(available) or 'none'})",
                               f"drop --engine-option {knob}=on")
    off = {buft for knob, buft in KNOBS.items() if requested[knob] == "off"}
    forced = {buft for knob, buft in KNOBS.items() if requested[knob] == "on"}
    first = [b for b in available if b not in off]
    out = [first]
    if AMX in first and requested["amx"] == "auto":
        out.append([b for b in first if b != AMX])
    last = [b for b in first if b in forced]
    if last != out[-1]:
        out.append(last)
    return out


def _crash_phrase(dropped: list[str], verdicts: list[Verdict]) -> str:
    signals = sorted({v.signal or "a hang" for v in verdicts if v.broken})
    names = " and ".join(dropped)
    upstream = "; ".join(UPSTREAM[b] for b in dropped if b in UPSTREAM)
    evidence = f"probe{'s' if len(verdicts) > 1 else ''} died with {', '.join(signals)}"
    return f"llama.cpp's {names} kernels crash on this CPU ({evidence}" + (f"; upstream {upstream}" if upstream else "") + ")"


def choose_kernels(quant: str | None, options: LlamaCppOptions | Mapping,
                   command: list[str] | None = None) -> KernelChoice:
    """The extra buffer types the run loads with, probed on this machine."""
    from engines.llamacpp import kernels as llamacpp_kernels
    from models.quant import QUANTS

    o = LlamaCppOptions.of(options, "llamacpp")
    available = llamacpp_kernels.available()
    requested = requested_kernels(o)
    quant = quant if quant in QUANTS else DEFAULT_PROBE_QUANT

    def config(kept: list[str]) -> ProbeConfig:
        return ProbeConfig(tuple(kept), quant, o.n_threads or default_threads(), o.n_gpu_layers,
                           o.flash_attn, o.n_batch, o.n_ubatch)

    sets = candidates(available, requested)
    verdicts: list[Verdict] = []
    for kept in sets:
        verdict = probe(config(kept), command)
        verdicts.append(verdict)
        if not verdict.broken:
            break
    chosen = verdicts[-1]
    kept = list(chosen.config["extra_buffer_types"]) if not chosen.broken else sets[0]
    choice = KernelChoice(available, kept, requested, verdicts)
    what = describe(kept)
    forced_on = [f"--engine-option {k}=on" for k, v in requested.items() if v == "on"]
    if chosen.outcome == FAILED:
        # Not a crash: nothing is known about the kernels, so nothing to fall back from.
        choice.kept = sets[0]
        choice.warning = (f"the llama.cpp health probe could not run ({chosen.why()}); "
                          f"measuring with {describe(sets[0])} untested")
    elif chosen.broken and len(sets) == 1:
        choice.warning = (f"{what} crashed the health probe on this machine ({chosen.why()})"
                          + (f", and {' '.join(forced_on)} keeps it" if forced_on else "") + ": the run will likely die")
        choice.if_it_dies = (f"the health probe saw {what} crash here ({chosen.why()})"
                             + (f": drop {' '.join(forced_on)}" if forced_on else ""))
    elif chosen.broken:
        raise BackendError(f"llama.cpp crashes on this machine in every kernel configuration tried "
                           f"({'; '.join(f'{describe(s)}: {v.why()}' for s, v in zip(sets, verdicts, strict=True))})",
                           "rerun with --debug for llama.cpp's log, and report it upstream")
    elif len(verdicts) > 1:
        dropped = [b for b in sets[0] if b not in kept]
        problem = _crash_phrase(dropped, verdicts[:-1])
        action = f"measuring without them ({' + '.join(kept)} kept)" if kept else \
            "measuring without extra buffer types (as llama-bench --repack 0)"
        choice.workaround = {
            "engine": "llama.cpp", "problem": problem, "action": action,
            "line": f"{problem}: {action}",
            "caveat": f"these figures are not what a default llama.cpp build gives where its {' and '.join(dropped)} "
                      f"kernels work",
            "default_kernels": sets[0], "kernels_used": kept,
            "override": " ".join(f"--engine-option {k}=on" for k, b in KNOBS.items() if b in dropped),
            "evidence": [v.to_dict() for v in verdicts],
        }
        choice.if_it_dies = (f"it ran {what} because the probe saw {' + '.join(sets[0])} crash; "
                             f"if it keeps dying try --engine-option repack=off")
    else:
        others = [f"--engine-option {k}=off" for k, b in KNOBS.items() if b in kept]
        choice.if_it_dies = (f"the health probe passed {what} on a tiny model, so this is a new crash"
                             + (f"; try {' or '.join(others)}" if others else "") + ", and --debug for llama.cpp's log")
    return choice


def protect_this_process(options: dict | None = None) -> KernelChoice | None:
    """Probe llama.cpp's default configuration and keep this process to kernels that work: for
    code that loads llama.cpp models directly (the test suite). None when llama.cpp is absent."""
    try:
        import llama_cpp  # noqa: F401
    except ImportError:
        return None
    from engines.llamacpp import kernels as llamacpp_kernels
    opts = {"n_threads": default_threads(), **(options or {})}
    choice = choose_kernels(DEFAULT_PROBE_QUANT, opts)
    llamacpp_kernels.use_only(choice.kept)
    return choice


def health_report() -> dict:
    """For `bench hardware`: the verdict on llama.cpp's default configuration here, and why."""
    try:
        import llama_cpp  # noqa: F401
    except ImportError:
        return {"engine": "llama.cpp", "status": "not installed", "why": "bench engines install llamacpp"}
    try:
        choice = choose_kernels(DEFAULT_PROBE_QUANT, {"n_threads": default_threads()})
    except BackendError as exc:
        return {"engine": "llama.cpp", "status": "broken", "why": str(exc), "build": engine_build()}
    first = choice.verdicts[0]
    if choice.workaround:
        status, why = "workaround", choice.workaround["line"]
    elif choice.warning:
        status, why = ("broken" if first.broken else "unknown"), choice.warning
    else:
        status = "ok"
        why = f"{describe(choice.kept)}: {first.why()} ({'cached' if first.cached else 'just now'}, {first.probed_at})"
    return {"engine": "llama.cpp", "status": status, "why": why, "kernels": choice.to_dict(), "build": engine_build()}
