"""Fakes for the run's own logic (bench/run.py): an engine whose passes take exactly the time it is
told on a clock only it moves, and a measurement with no probe, sampler or bandwidth test.

Only for what the run decides (stop rules, failures, Ctrl-C, validity, what is kept): how the real
engines and the real measurement behave has tests of their own.
"""

from __future__ import annotations

import json
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path

import engines.clock
from contract.device import Device
from contract.result import EnergyWindow, HardwareInfo, Memory
from engines.base import BatchSession, Capabilities, EngineDefaults, LoadedModel, Prepared
from engines.options import EngineOptions
from hardware.session import SessionReport

_EXAMPLE = Path(__file__).resolve().parents[1] / "examples" / "runs" / "2026-11-28T020636Z-vm-tiny-Q4_K_M-llamacpp.json"


class FakeClock:
    """engines.clock.now_ns, which stamps every token of the in-process runner; it moves only when
    the fake engine works, so a pass's time is what the test said it is, on any machine."""

    def __init__(self, start_ns: int = 10**12):
        self.ns = start_ns

    def now_ns(self) -> int:
        return self.ns

    def advance(self, seconds: float) -> None:
        self.ns += round(seconds * 1e9)

    def install(self, monkeypatch) -> FakeClock:
        monkeypatch.setattr(engines.clock, "now_ns", self.now_ns)
        return self


@dataclass(frozen=True)
class Pace:
    """How long one generate() takes: the first token after the prompt's pass, then one per decode."""
    prefill_s_per_token: float = 0.001
    decode_s: float = 0.010

    def seconds(self, prompt_tokens: int, output_tokens: int) -> float:
        return self.prefill_s_per_token * prompt_tokens + self.decode_s * (output_tokens - 1)


class FakeOptions(EngineOptions):
    """What the fake engine reads: the context the run sets, and --threads."""
    n_ctx: int | None = None
    n_threads: int | None = None


class FakeEngine(EngineDefaults):
    """A token-level engine (engines.base.TokenEngine) that loads any model file.

    `paces` are used in turn, one per generate() call (warmups included), so that passes can
    differ; `fail_on` raises the given exception on that generate() call (0-based, warmups
    included), before any of its tokens.
    """

    name = "fake"
    capabilities = Capabilities(devices=("cpu",), quant_formats=("gguf",))
    engine_options = FakeOptions
    model_format = "llamacpp"      # it loads GGUF files

    def __init__(self, clock: FakeClock, paces: tuple[Pace, ...] = (Pace(),),
                 fail_on: dict[int, BaseException] | None = None, vocab_size: int = 256):
        self.clock = clock
        self.paces = paces
        self.fail_on = fail_on or {}
        self.vocab_size = vocab_size
        self.calls: list[tuple[int, int]] = []      # (prompt tokens, max_tokens) of each generate()
        self.loaded_from: Path | str | None = None
        self.unloaded = False
        self._last: dict | None = None

    def check_installed(self, extra: str) -> None:
        pass

    def prepare(self, quant: str | None, options: EngineOptions | Mapping) -> Prepared:
        return Prepared(FakeOptions.of(options, self.name))

    def load(self, model_path: Path | str, options: EngineOptions | Mapping) -> LoadedModel:
        self.loaded_from = model_path
        return LoadedModel(path=Path(model_path), n_ctx=FakeOptions.of(options, self.name).context(), vocab_size=self.vocab_size,
                           bos_token_id=1, device=Device.CPU, engine_info={"n_threads": 1})

    def generate(self, prompt_token_ids: list[int], max_tokens: int, ignore_eos: bool = True) -> Iterator[int]:
        call = len(self.calls)
        self.calls.append((len(prompt_token_ids), max_tokens))
        if call in self.fail_on:
            raise self.fail_on[call]
        pace = self.paces[call % len(self.paces)]
        self.clock.advance(pace.prefill_s_per_token * len(prompt_token_ids))
        for i in range(max_tokens):
            if i:
                self.clock.advance(pace.decode_s)
            yield 2 + i % (self.vocab_size - 2)     # any id but 0 and BOS
        self._last = {"prompt_tokens": len(prompt_token_ids),
                      "prompt_ms": pace.prefill_s_per_token * len(prompt_token_ids) * 1e3,
                      "decode_tokens": max_tokens - 1, "decode_ms": pace.decode_s * (max_tokens - 1) * 1e3}

    def engine_counters(self) -> dict | None:
        return self._last

    def batch_session(self, n_seqs: int, seq_len: int) -> BatchSession:
        raise NotImplementedError("the fake engine runs no load levels")

    def unload(self) -> None:
        self.unloaded = True


class FakeDepthEngine(FakeEngine):
    """The fake engine that holds a context before a generation (engines.base.DepthEngine): a fill
    takes the prompt pace per token it evaluates, and none when it keeps the tokens of the last."""

    def __init__(self, clock: FakeClock, paces: tuple[Pace, ...] = (Pace(),), **kw):
        super().__init__(clock, paces, **kw)
        self.fills: list[tuple[int, int]] = []     # (depth, tokens evaluated) of each fill_depth()
        self._held: list[int] = []

    def fill_depth(self, token_ids: list[int]) -> dict:
        evaluated = 0 if token_ids == self._held else len(token_ids)
        self.clock.advance(self.paces[0].prefill_s_per_token * evaluated)
        self._held = list(token_ids)
        self.fills.append((len(token_ids), evaluated))
        return {"depth_evaluated": evaluated}


class FakeMeasurement:
    """What the run asks of RunMeasurement (bench/measurement.py's Measurement), measuring nothing:
    each energy window's seconds come from the fake clock, so a test sees which passes it covered.
    Pass `factory` as execute()'s measurement; `started_with` is the idle time it was asked for."""

    def __init__(self, clock: FakeClock, spec_gbps: float | None = None, measured_gbps: float | None = None):
        self.clock = clock
        self.roof = (spec_gbps, measured_gbps)
        self.started_with: float | None = None
        self.windows: list[float] = []       # seconds of each energy window the run closed
        self.finished = False
        self._begun: int | None = None

    def factory(self, ui, idle_seconds: float) -> FakeMeasurement:
        self.started_with = idle_seconds
        return self

    def hardware(self) -> HardwareInfo:
        # a real machine's account (a recorded example result's): the run's document checks it
        return HardwareInfo.model_validate(json.loads(_EXAMPLE.read_text())["hardware"])

    def bandwidth_doc(self) -> dict:
        return {}

    def start(self, ui) -> None:
        pass

    def begin_scenario(self) -> None:
        self._begun = self.clock.now_ns()

    def end_scenario(self, record) -> EnergyWindow | None:
        if self._begun is None:
            return None
        seconds, self._begun = (self.clock.now_ns() - self._begun) / 1e9, None
        self.windows.append(seconds)
        return EnergyWindow(seconds=seconds, joules=None, method=None)

    def bandwidths(self, device: Device, threads: int | None = None) -> tuple[float | None, float | None]:
        return self.roof

    def recheck_roof(self, ui, records, model: dict, device: Device, threads: int | None) -> bool:
        return False

    def sample_now(self) -> None:
        pass

    def finish(self) -> SessionReport:
        self.finished = True
        return SessionReport(memory=Memory(peak_rss_bytes=None, peak_rss_scope=None, self_max_rss_bytes=None,
                                           peak_device_memory=None),
                             interval_s=None, idle=None, energy_sources=[], unavailable={}, throttle={},
                             sampler=None, timeline=[])
