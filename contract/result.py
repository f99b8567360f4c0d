"""The result document as typed classes (docs/architecture.md, "The result contract"): what `bench run`
writes, one JSON per run.

Every section a reader computes from is typed, the hardware included (HardwareInfo);
sections that only record what an engine or the environment said (environment, engine-specific
backend fields, summaries) stay open mappings. Classes allow extra fields, so a field one engine
adds survives a round trip instead of being dropped: the contract says what must be there and
what it means, not all that may be.

`schema_version` 2 was the first version with this contract and its published JSON Schema
(contract/result.schema.json); 3 types the hardware section, with the GPUs of every vendor in one
list. bench/outcomes.py's quality and eval documents share the number; contract/documents.py
upgrades older documents as it reads them.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable, Sequence
from typing import TYPE_CHECKING, Annotated, Any, Literal, TypeAlias

from pydantic import BaseModel, ConfigDict, Field

from contract.device import Device
from contract.enums import LEVEL_KINDS, STREAM_KINDS, ScenarioKind, Status, Verdict

SCHEMA_VERSION = 3

# Each entry's `kind` is one of its shape's kinds (contract/enums.py lists them), so a new kind of an
# existing shape is a line there and nothing here. mypy cannot read a Literal built from a tuple.
if TYPE_CHECKING:
    StreamKind: TypeAlias = ScenarioKind
    LevelKind: TypeAlias = ScenarioKind
else:
    StreamKind, LevelKind = Literal[STREAM_KINDS], Literal[LEVEL_KINDS]

# JSON numbers: an integer stays an integer on a round trip (pydantic would write 3 as 3.0).
Number = int | float


class Section(BaseModel):
    """One part of the document. Extra fields are kept: the contract names what readers rely on."""
    model_config = ConfigDict(extra="allow")


class Validity(Section):
    verdict: Verdict
    reasons: list[str] = []


class DeviceEnergy(Section):
    """Joules of one device (a CPU package, DRAM, one GPU) over a window, and how they were got."""
    device: str
    joules: Number | None
    seconds: Number
    method: str | None               # "measured", "estimated", ... (hardware/energy.py METHOD_RANK)
    reason: str | None = None        # why joules is None, or what an estimate assumed
    average_watts: Number | None = None


class EnergyWindow(Section):
    """Energy over one measured window (a scenario's measured passes, or the idle baseline)."""
    seconds: Number
    joules: Number | None
    method: str | None
    covers: list[str] = []           # devices whose joules are known
    missing: dict[str, str | None] = {}   # device -> why its joules are not
    devices: list[DeviceEnergy] = []
    average_watts: Number | None = None
    joules_per_prompt_token: Number | None = None    # pp entries
    joules_per_output_token: Number | None = None    # every other entry
    tokens_per_joule: Number | None = None

    def device(self, name: str) -> DeviceEnergy | None:
        """The reading of the device `name`, where the window has one."""
        return next((d for d in self.devices if d.device == name), None)


class IdleEnergy(EnergyWindow):
    watts: dict[str, Number | None] = {}


class Roofline(Section):
    """A decode figure against the memory-bandwidth ceiling (hardware/roofline.py)."""
    bytes_per_token: Number
    measured_tps: Number | None
    spec_bandwidth_gbps: Number | None
    measured_bandwidth_gbps: Number | None
    ceiling_tps_spec: Number | None
    ceiling_tps_measured: Number | None
    efficiency_spec: Number | None
    efficiency_measured: Number | None
    mean_context_tokens: Number | None = None
    # of bytes_per_token, the KV cache's: its bytes per context token x the mean context (depth included)
    kv_bytes_read_per_token: Number | None = None


class Stats(Section):
    """A distribution's summary (engines/stats.py); a figure with no samples has none, never zeros."""
    n: int
    mean: Number
    median: Number
    p90: Number
    p99: Number
    min: Number
    max: Number
    stddev: Number | None = None     # one sample: no spread
    cv: Number | None = None
    ci95: list[Number] | None = None


class SLO(Section):
    """A service-level objective (scenarios/slo.py): bounds on a percentile of ttft and of tpot.
    Frozen: a load scenario holds one, and is hashed."""
    model_config = ConfigDict(extra="allow", frozen=True)

    name: str
    ttft_s: Number
    tpot_s: Number
    percentile: Number = 99.0


class ErrorCounts(Section):
    count: int
    measured: int                    # of them, measured requests (the rest were warm-up)
    by_kind: dict[str, int] = {}


class SloVerdict(Section):
    """One level judged against its SLO (scenarios/slo.py judge)."""
    slo: SLO
    met: bool
    far_past: bool = False
    good_requests: int = 0
    good_fraction: Number | None = None
    ttft_within_fraction: Number | None = None
    tpot_within_fraction: Number | None = None
    ttft_s_at_percentile: Number | None = None
    tpot_s_at_percentile: Number | None = None


class PrefixCache(Section):
    """How much of the measured requests' input came from a prefix cache, as the engine or server
    said per request (scenarios/stream_checks.py prefix_cache)."""
    hit_rate: Number | None = None              # cached / input tokens over the requests that reported
    cached_input_tokens: int | None = None
    input_tokens: int | None = None             # of the requests that reported
    requests_reported: int = 0
    requests: int = 0
    why_none: str | None = None                 # why hit_rate is None


class _Latencies(Section):
    """Per-request figures: present where at least one request had them."""
    ttft_s: Stats | None = None
    tpot_s: Stats | None = None
    e2e_s: Stats | None = None
    decode_tps: Stats | None = None
    prefill_tps: Stats | None = None
    inter_token_gap_s: Stats | None = None
    output_tps: Number | None = None            # aggregate output tokens / measured window
    client_cpu_fraction: Number | None = None   # over HTTP: the client's own CPU use
    errors: ErrorCounts | None = None
    token_accounting: dict[str, Any] | None = None
    prefix_cache: PrefixCache | None = None     # absent in results before it was recorded


class StreamSummary(_Latencies):
    pp_tps: Stats | None = None
    tg_tps: Stats | None = None


class TurnSummary(Section):
    """The requests of one turn depth of a chat-session level (scenarios/chat_session.py)."""
    turn: int                                   # 1: a conversation's first request
    requests: int                               # of this depth that succeeded
    context_tokens: Stats | None = None         # the prompt at send: the conversation so far
    ttft_s: Stats | None = None
    prefix_cache: PrefixCache | None = None     # the cache hits of this depth's requests


class LevelSummary(_Latencies):
    by_turn: list[TurnSummary] | None = None    # chat-session levels: the figures per turn depth
    queue_wait_s: Stats | None = None
    send_lag_s: Stats | None = None             # trace replay: how late the client sent each request
    requests_per_s: Number | None = None
    goodput: Number | None = None               # requests/s that met the SLO
    goodput_fraction: Number | None = None
    mean_in_flight: Number | None = None
    slo: SloVerdict | None = None


class SearchSummary(Section):
    best: Number | None = None                  # the highest level that met the SLO
    lowest_miss: Number | None = None
    levels_tried: list[Number] = []
    at_ceiling: bool = False
    best_level: str | None = None               # that level's entry name
    goodput: Number | None = None


class StreamParams(Section):
    name: str
    kind: ScenarioKind
    input_tokens: int
    output_tokens: int
    repetitions: int
    warmup: int = 1
    min_duration_s: Number | None = None
    max_passes: int | None = None
    depth: int = 0                              # pp/tg@d<D>: tokens already in the cache before each pass


class LevelParams(Section):
    scenario: str                               # the load scenario (workload profile) it is a level of
    mode: Literal["concurrency", "poisson", "trace"]
    concurrency: Number | None = None
    rate_per_s: Number | None = None
    searched: bool = False
    profile: dict[str, Any] = {}
    slo: SLO | None = None


class SearchParams(Section):
    scenario: str
    mode: Literal["concurrency", "poisson"]
    slo: SLO


class _Entry(Section):
    """What every entry of `scenarios` has."""
    name: str
    status: Status
    error: str | None = None
    samples: dict[str, Any] = {}
    energy: EnergyWindow | None = None
    validity: Validity
    roofline: Roofline | None = None


class StreamEntry(_Entry):
    """pp, tg and single-stream: generations one after another."""
    kind: StreamKind
    params: StreamParams
    summary: StreamSummary = Field(default_factory=StreamSummary)
    measured_output_tokens: int = 0
    measured_window_s: Number | None = None
    engine_reported: list[dict[str, Any]] | None = None
    engine_cross_check: dict[str, Any] | None = None
    errors: list[dict[str, Any]] | None = None      # single-stream over HTTP: failed requests


class LoadLevelEntry(_Entry):
    """One level of a load scenario: a concurrency or a Poisson rate (scenarios/levels.py)."""
    kind: LevelKind
    params: LevelParams
    summary: LevelSummary = Field(default_factory=LevelSummary)
    note: str | None = None          # why a sweep or search stopped here
    errors: list[dict[str, Any]] = []
    measured_requests: int = 0
    measured_output_tokens: int = 0
    measured_window_s: Number | None = None
    engine_reported: list[dict[str, Any]] | None = None
    engine_cross_check: dict[str, Any] | None = None


class SloSearchEntry(_Entry):
    """An SLO search's answer: the highest level that met the SLO (None: none did)."""
    kind: Literal[ScenarioKind.SLO_SEARCH]
    params: SearchParams
    summary: SearchSummary = Field(default_factory=SearchSummary)


# Every shape an entry of `scenarios` takes: a new shape is its class and its member here (readers
# type their entries with Entry, so they follow).
Entry = StreamEntry | LoadLevelEntry | SloSearchEntry
ScenarioEntry = Annotated[Entry, Field(discriminator="kind")]


class Memory(Section):
    peak_rss_bytes: int | None = None
    peak_rss_scope: str | None = None
    self_max_rss_bytes: int | None = None
    peak_device_memory: Any = None
    model_file_bytes: int | None = None
    kv_cache_bytes_per_token: int | None = None


class Monitoring(Section):
    interval_s: Number | None = None
    idle: IdleEnergy | None = None
    energy_sources: list[dict[str, Any]] = []
    unavailable: dict[str, Any] = {}
    throttle: dict[str, Any] = {}
    sampler: dict[str, Any] | None = None


class Workaround(Section):
    """A known engine fault avoided on this machine (issue 12); `line` is what the run printed."""
    line: str
    engine: str | None = None
    caveat: str | None = None        # what the figures are not, with this workaround


class ModelIdentity(Section):
    id: str | None = None
    name: str | None = None
    quant: str | None = None
    source: str | None = None        # "catalog", "synthetic", "local", "server", ...
    path: str | None = None
    file_bytes: int | None = None
    fingerprint: str | None = None
    architecture: dict[str, Any] | None = None
    weight_bytes_per_token: Number | None = None
    kv_bytes_per_token: Number | None = None


class BackendInfo(Section):
    """The engine as loaded; each engine adds fields of its own (threads, offload, ...)."""
    name: str
    device: Device | None = None
    n_ctx: int | None = None


class RunConfigRecord(Section):
    """The run's configuration as resolved (never the API key)."""
    model: str
    quant: str | None = None
    backend: str
    scenarios: list[dict[str, Any]] = []
    backend_options: dict[str, Any] = {}


class FleetNode(Section):
    """The Ray node a `bench fleet run` measured on (bench/fleet), and the key that resumes it."""
    node_id: str
    name: str                        # the node's rightsize-name label, else its hostname
    ip: str | None = None
    hostname: str | None = None
    labels: dict[str, str] = {}
    job_key: str                     # hash of the run's options for this model x quant (bench/fleet/jobs.py)


# --- the hardware section: what a run ran on, as the probes saw it (hardware/probe.py) ---------
#
# The probes build these classes themselves, so a result says exactly what was probed. Unknown
# values are None, with the reason in the `unknown` mapping next to them (field name -> why).
# The GPUs of every vendor are one list, each naming its vendor; `gpu_drivers` holds each vendor's
# driver and runtime, or why it gave no GPUs. Vendor ids ("nvidia", "amd") are the names of the
# providers in hardware/gpus.py, so a new vendor is no change here.

class CpuInfo(Section):
    model: str | None
    vendor: str | None
    arch: str
    sockets: int | None
    cores: int | None
    threads: int | None
    ram_bytes: int | None
    isa: dict[str, bool]
    caches_bytes: dict[str, int]          # l1d/l1i/l2/l3, summed over instances (like lscpu)
    os: str
    kernel: str
    virtualized: bool | None
    spec_bandwidth_gbps: Number | None = None
    spec_tdp_w: Number | None = None      # per socket
    spec_source: str | None = None
    unknown: dict[str, str] = {}


class PcieLink(Section):
    """The GPU's PCIe link now and at most: generation and lanes."""
    gen: int | None = None
    width: int | None = None
    max_gen: int | None = None
    max_width: int | None = None


class GpuInfo(Section):
    """One GPU, whichever vendor made it."""
    vendor: str                           # the provider that found it: "nvidia" (NVML), "amd" (amdsmi)
    index: int                            # the vendor library's own index (what *_VISIBLE_DEVICES counts)
    device: str                           # its name in this document's energy, memory and bandwidth figures
    name: str
    uuid: str | None
    memory_bytes: int | None
    power_limit_w: Number | None
    spec_bandwidth_gbps: Number | None
    energy_counter: bool                  # a hardware energy counter answers (NVML on Volta+, amdsmi)
    spec_source: str | None = None        # where spec_bandwidth_gbps comes from
    # the target its compilers build for: NVIDIA's compute capability ("9.0"), AMD's gfx target ("gfx942")
    arch: str | None = None
    memory_bus_width_bits: int | None = None
    max_memory_clock_mhz: int | None = None
    pcie_link: PcieLink | None = None
    mig_mode: bool | None = None          # NVIDIA Multi-Instance GPU; None: not known, or not NVIDIA's
    unknown: dict[str, str] = {}


class GpuDriver(Section):
    """One vendor's GPU driver here: its versions, or why it gave no GPUs (no library, no driver, none)."""
    available: bool
    reason: str | None
    driver_version: str | None = None
    runtime: str | None = None            # the compute platform it serves: "CUDA", "ROCm"
    runtime_version: str | None = None    # NVIDIA: the highest CUDA the driver supports; AMD: ROCm's release


class AppleInfo(Section):
    chip: str | None
    p_cores: int | None
    e_cores: int | None
    gpu_cores: int | None
    unified_memory_bytes: int | None
    spec_bandwidth_gbps: Number | None
    spec_source: str | None
    unknown: dict[str, str] = {}


class HardwareInfo(Section):
    cpu: CpuInfo
    gpus: list[GpuInfo] = []
    gpu_drivers: dict[str, GpuDriver] = {}    # vendor -> its driver, for every vendor probed
    apple: AppleInfo | None = None
    fingerprint: str                          # keys the bandwidth cache and a fleet's finished jobs

    @classmethod
    def of(cls, cpu: CpuInfo, gpus: Sequence[GpuInfo] = (), gpu_drivers: dict[str, GpuDriver] | None = None,
           apple: AppleInfo | None = None) -> HardwareInfo:
        """What the probes found, with its fingerprint. Read back from its full dump, so that every
        field counts as set: any document written from it names every field, unknown ones as null."""
        probed = cls(cpu=cpu, gpus=list(gpus), gpu_drivers=gpu_drivers or {}, apple=apple,
                     fingerprint=fingerprint(cpu, gpus, apple))
        return cls.model_validate(probed.to_dict())

    def to_dict(self) -> dict[str, Any]:
        return self.model_dump(mode="json")


def fingerprint(cpu: CpuInfo, gpus: Iterable[GpuInfo], apple: AppleInfo | None) -> str:
    """Stable id of a machine's hardware (not its load). The key is what version 2 hashed, so the
    bandwidth caches and fleet results of NVIDIA and CPU machines keep their ids."""
    key = {
        "cpu": [cpu.model, cpu.sockets, cpu.cores, cpu.threads, cpu.ram_bytes],
        "gpus": [[g.name, g.uuid, g.memory_bytes] for g in gpus],
        "apple": [apple.chip, apple.gpu_cores] if apple else None,
    }
    return hashlib.sha256(json.dumps(key, sort_keys=True).encode()).hexdigest()[:16]


def vendors_text(gpus: Iterable[GpuInfo]) -> str:
    """"NVIDIA", "AMD", "AMD and NVIDIA": whose GPUs these are, for a line of text. A vendor id is
    its name in lower case, and both names are acronyms."""
    return " and ".join(sorted({g.vendor.upper() for g in gpus}))


class RunResult(Section):
    """One `bench run` of one model x quant on one backend."""
    schema_version: Literal[3]
    run_id: str
    status: Status
    label: str
    started_at: str | None
    finished_at: str | None
    config: RunConfigRecord
    environment: dict[str, Any]
    hardware: HardwareInfo | None = None        # what it ran on, as the probes saw it (hardware/probe.py)
    bandwidth: dict[str, Any] | None = None
    model: ModelIdentity
    backend: BackendInfo | None
    engine_health: dict[str, Any] | None = None
    workarounds: list[Workaround] = []
    scenarios: list[ScenarioEntry]
    errors: list[str] = []
    traceback: str | None = None
    engine_memory: dict[str, Any] | None = None
    memory: Memory | None = None
    monitoring: Monitoring | None = None
    timeline: list[dict[str, Any]] | None = None
    validity: Validity
    fleet: FleetNode | None = None              # set by the driver of `bench fleet run`


# --- bench quality and bench eval (bench/outcomes.py) -------------------------------------

class Estimate(Section):
    """A mean with its standard error and 95% interval (bench/quality/kld.py); none for no tokens."""
    value: Number | None = None
    uncertainty: Number | None = None
    ci95: list[Number] | None = None


class KldEstimate(Estimate):
    """The mean KL divergence, and its distribution over tokens (median, p90, ... max, min)."""
    median: Number | None = None
    p99: Number | None = None


class QuantQuality(Section):
    """What one quant loses against the reference (bench quality)."""
    count: int
    kld: KldEstimate = Field(default_factory=KldEstimate)
    same_top: Estimate = Field(default_factory=Estimate)
    ppl_ratio: Estimate = Field(default_factory=Estimate)
    ppl: Estimate = Field(default_factory=Estimate)             # the quant's perplexity over the scored tokens
    ppl_base: Estimate = Field(default_factory=Estimate)        # the reference's, over the same tokens
    ppl_correlation: Number | None = None
    file_bytes: int | None = None
    timing: dict[str, Any] | None = None


class QualityText(Section):
    name: str
    source: str | None = None


class QualityReference(Section):
    quant: str
    timing: dict[str, Any] | None = None


class QualityBody(Section):
    """`bench quality`: each quant's KL divergence from the reference quant over one text."""
    weights: Literal["synthetic", "real"]
    what_it_measures: str
    text: QualityText
    reference: QualityReference
    quants: dict[str, QuantQuality] = {}
    workarounds: list[str] = []      # each engine workaround's line, as the run printed it (Workaround.line)
    published: dict[str, Any] | None = None     # llama.cpp's published deltas for a catalog model
    n_ctx: int | None = None                    # tokens per window
    windows: int | None = None                  # windows scored
    scored_tokens: int | None = None


class TasksFile(Section):
    name: str
    sha256: str | None = None
    tasks: int | None = None


class EvalAnswer(Section):
    """One task's answer, as scored (the text cut short); measured figures None where not known."""
    id: str
    correct: bool
    why: str = ""
    valid: bool | None = None           # it has the shape the task asks for (scorers.passes_check); None: older
    input_tokens: int | None = None
    output_tokens: int | None = None
    ttft_s: Number | None = None
    e2e_s: Number | None = None
    error: str | None = None


class EvalSummary(Section):
    n: int
    correct: int
    accuracy: Number | None = None              # None: no task answered
    wilson95: list[Number] | None = None
    errors: int = 0
    input_tokens: Stats | None = None           # per task; None where no task reported it
    output_tokens: Stats | None = None
    ttft_s: Stats | None = None
    e2e_s: Stats | None = None


class EvalBody(Section):
    """`bench eval`: a task file's answers, scored, through an engine here or a server."""
    tasks_file: TasksFile
    backend: str
    endpoint: str | None = None
    answers: list[EvalAnswer] = []
    summary: EvalSummary | None = None          # None until the tasks ran
    weights: Literal["synthetic", "real"] | None = None
    what_it_measures: str | None = None
    device: str | None = None
    server_is_local: bool = True                # False: a hosted API, priced at its list price
    served_model: str | None = None
    base_url: str | None = None
    provider: str | None = None


class Outcome(Section):
    """A `bench quality` or `bench eval` document (bench/outcomes.py): what it measured is under
    the key named by `kind` (QualityBody or EvalBody)."""
    schema_version: Literal[3]
    kind: Literal["quality", "eval"]
    run_id: str
    status: Status
    label: str
    started_at: str | None
    finished_at: str | None
    config: dict[str, Any]
    environment: dict[str, Any]
    hardware: HardwareInfo | None
    model: dict[str, Any]
    errors: list[str] = []
    quality: QualityBody | None = None
    eval: EvalBody | None = None


Document = RunResult | Outcome
