"""Drive a backend through a scenario and record raw samples as they are measured.

Samples go into the record the moment they exist, so an interrupt or a failure keeps what
was already measured. Summaries are computed at the end from the raw samples.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from contract.errors import ScenarioError
from contract.result import EnergyWindow, Roofline, StreamEntry
from contract.validity import COMPLETED, scenario_validity
from engines import clock
from engines.base import DepthEngine, LoadedModel, TokenEngine
from engines.clock import Generation, timed_generate
from engines.stats import summarize
from scenarios.definitions import Scenario
from scenarios.prompts import random_prompt

# Raw inter-token gaps are kept up to this many per scenario; beyond it only the summary is kept.
MAX_RAW_GAPS = 20_000
# The depth's tokens (pp/tg@d<D>) are one prompt of their own, the same for every pass.
DEPTH_SEED = 7919


@dataclass
class ScenarioRecord:
    scenario: Scenario
    samples: dict[str, list] = field(default_factory=dict)
    engine_reported: list[dict] = field(default_factory=list)
    status: str = "running"
    error: str | None = None
    output_tokens: int = 0           # measured (non-warmup) output tokens, for energy per token
    window_s: float | None = None    # measured window: first send -> last token
    energy: EnergyWindow | None = None
    roofline: Roofline | None = None     # the decode figure against the bandwidth ceiling (tg, single-stream)

    @property
    def name(self) -> str:
        return self.scenario.name

    @property
    def planned(self) -> int:
        return planned_passes(self.scenario)

    def add(self, key: str, value) -> None:
        self.samples.setdefault(key, []).append(value)

    def energy_tokens(self) -> tuple[str, int]:
        """pp generates one token per pass: its energy is per prompt token; the others' per output token."""
        if self.scenario.kind == "pp":
            return "prompt", self.scenario.input_tokens * len(self.samples.get("pp_tps", []))
        return "output", self.output_tokens

    def decode_rate(self) -> tuple[float, float] | None:
        return decode_rate(self.to_entry())

    def to_entry(self) -> StreamEntry:
        """The record as its result entry (the contract's)."""
        sc = self.scenario
        summary: dict[str, Any] = {k: summarize(v) for k, v in self.samples.items()
                                   if k in _SUMMARISED and v}
        if sc.kind == "single-stream" and self.window_s:
            summary["output_tps"] = self.output_tokens / self.window_s
        headline = _HEADLINE[sc.kind]
        head = summary.get(headline)
        n = head["n"] if head else 0
        return StreamEntry(
            name=sc.name,
            kind=sc.kind,
            params=sc.params(),
            status=self.status,
            error=self.error,
            samples={k: v for k, v in self.samples.items() if k != "inter_token_gap_s" or len(v) <= MAX_RAW_GAPS},
            summary=summary,
            measured_output_tokens=self.output_tokens,
            measured_window_s=self.window_s,
            engine_reported=self.engine_reported or None,
            engine_cross_check=self._cross_check(),
            energy=self.energy,
            validity=scenario_validity(self.status, n, head["cv"] if head else None),
            roofline=self.roofline,
        )

    def _cross_check(self) -> dict | None:
        """The same generations timed by the engine itself: how far our rate is from its own."""
        kind = self.scenario.kind
        if kind not in ("pp", "tg") or not self.engine_reported:
            return None
        tokens, ms = ("prompt_tokens", "prompt_ms") if kind == "pp" else ("decode_tokens", "decode_ms")
        engine = [c[tokens] / c[ms] * 1e3 for c in self.engine_reported if c.get(tokens) and c.get(ms)]
        ours = self.samples.get(f"{kind}_tps", [])
        if not engine or len(engine) != len(ours):
            return None
        engine_mean, ours_mean = sum(engine) / len(engine), sum(ours) / len(ours)
        return {"engine_tps_mean": engine_mean, "harness_tps_mean": ours_mean,
                "relative_difference": (ours_mean - engine_mean) / engine_mean}


_SUMMARISED = {"pp_tps", "tg_tps", "ttft_s", "tpot_s", "e2e_s", "decode_tps", "prefill_tps",
               "inter_token_gap_s"}
# The figure whose sample count and spread decide validity.
_HEADLINE = {"pp": "pp_tps", "tg": "tg_tps", "single-stream": "e2e_s"}


def decode_rate(entry: StreamEntry) -> tuple[float, float] | None:
    """(tokens/s, mean context) of an entry's decode figure (tg, single-stream), which the
    bandwidth roof bounds; None where it has none."""
    s = entry.summary
    if entry.kind == "tg" and s.tg_tps:
        tps = s.tg_tps.mean
    elif entry.kind == "single-stream" and s.decode_tps:
        tps = s.decode_tps.median
    else:
        return None
    # Each decode step reads the KV cache so far: the mean context over the generated tokens, on
    # top of the depth already in the cache (pp/tg@d<D>).
    return tps, entry.params.depth + entry.params.input_tokens + entry.params.output_tokens / 2


def prompt_for(scenario: Scenario, model: LoadedModel, n_tokens: int, seed: int) -> list[int]:
    if scenario.kind == "tg" and model.bos_token_id is not None:
        # llama-bench decodes tg from one start token: BOS when the model has one.
        return [model.bos_token_id]
    avoid = {model.bos_token_id} if model.bos_token_id is not None else set()
    return random_prompt(n_tokens, model.vocab_size, seed, avoid)


def depth_prompt(model: LoadedModel, depth: int) -> list[int]:
    """The context a pp/tg@d<D> pass runs on top of: as llama-bench's depth run, BOS (where the
    model has one) and then random tokens."""
    bos = [] if model.bos_token_id is None else [model.bos_token_id]
    return bos + random_prompt(depth - len(bos), model.vocab_size, DEPTH_SEED, set(bos))


def refuse_depth(scenario: Scenario, backend_name: str) -> ScenarioError:
    """The one line for an engine that cannot put a context in its cache before a generation."""
    return ScenarioError(f"scenario {scenario.name} runs on top of {scenario.depth} tokens already in the engine's "
                         f"cache (llama-bench's -d), which backend {backend_name} cannot set up",
                         f"run {scenario.name} with --backend llamacpp (in process; over HTTP the server's "
                         f"cache is its own), or drop its @d{scenario.depth}")


def run_scenario(backend: TokenEngine, model: LoadedModel, scenario: Scenario, record: ScenarioRecord,
                 progress: Callable[[int], None] = lambda n: None,
                 on_measuring: Callable[[], None] = lambda: None) -> ScenarioRecord:
    """Warm up, then measure. Writes into `record` as it goes; sets its status when done.

    `on_measuring` is called once, between the warmup and the first measured pass (where
    energy windows begin).
    """
    measure_start: int | None = None
    depth = depth_prompt(model, scenario.depth) if scenario.depth else None
    if depth is not None and not isinstance(backend, DepthEngine):
        raise refuse_depth(scenario, backend.name)

    def fill_depth() -> None:
        """llama-bench's depth run, untimed; a fill that evaluated the depth is kept in the samples."""
        assert depth is not None and isinstance(backend, DepthEngine)
        start = clock.now_ns()
        done = backend.fill_depth(depth)
        if done.get("depth_evaluated"):
            record.add("depth_fill", {**done, "seconds": (clock.now_ns() - start) / 1e9})

    def one(i: int, measured: bool) -> Generation:
        nonlocal measure_start
        n_in, n_out = ((scenario.input_tokens, scenario.output_tokens) if measured
                       else (scenario.warmup_input_tokens, scenario.warmup_output_tokens))
        prompt = prompt_for(scenario, model, n_in, seed=i)
        if measured and depth is not None:
            fill_depth()
        gen = timed_generate(backend, prompt, n_out)
        if gen.output_tokens != n_out:
            raise RuntimeError(f"backend returned {gen.output_tokens} tokens, asked for {n_out}")
        if measured:
            measure_start = gen.send_ns if measure_start is None else measure_start
            record.output_tokens += gen.output_tokens
            record.window_s = (gen.token_ns[-1] - measure_start) / 1e9
            counters = backend.engine_counters()
            if counters:
                record.engine_reported.append(counters)
        return gen

    # The warmup runs from an empty cache, as llama-bench's does; the depth is evaluated once
    # after it, before the energy window opens, and each measured pass keeps it (fill_depth).
    for w in range(scenario.warmup):
        one(-1 - w, measured=False)
        progress(1)
    if depth is not None:
        fill_depth()

    on_measuring()
    i = 0
    # Stop rule: at least `repetitions` passes AND `min_duration_s` of measuring; the duration
    # adds passes only up to `max_passes`.
    while i < scenario.repetitions or (i < scenario.max_passes and (record.window_s or 0.0) < scenario.min_duration_s):
        gen = one(i, measured=True)
        ttft, e2e = gen.ttft_s, gen.e2e_s
        assert ttft is not None and e2e is not None      # one() checked every asked token came
        if scenario.kind == "pp":
            # pp time = the prompt pass: send -> first token (one greedy pick, negligible).
            record.add("seconds", gen.ttft_s)
            record.add("pp_tps", scenario.input_tokens / ttft)
        elif scenario.kind == "tg":
            # n single-token decodes: the start token, then each generated token but the last.
            record.add("seconds", gen.e2e_s)
            record.add("tg_tps", scenario.output_tokens / e2e)
        else:
            record.add("input_tokens", gen.input_tokens)
            record.add("output_tokens", gen.output_tokens)
            record.add("ttft_s", gen.ttft_s)
            record.add("e2e_s", gen.e2e_s)
            record.add("tpot_s", gen.tpot_s)
            record.add("decode_tps", 1 / gen.tpot_s if gen.tpot_s else None)
            record.add("prefill_tps", gen.input_tokens / ttft)
            for gap in gen.inter_token_gaps_s:
                record.add("inter_token_gap_s", gap)
        i += 1
        progress(1)
    record.status = COMPLETED
    return record


def planned_passes(scenario: Scenario) -> int:
    """How many generate() calls the scenario makes (for progress bars)."""
    return scenario.warmup + scenario.repetitions
