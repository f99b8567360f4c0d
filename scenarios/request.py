"""The one wire format of a run: `RunRequest`, and a node's answer to it, `RunPlan`.

What `bench run` checked on its command line is a RunRequest, and only a RunRequest crosses a
process boundary: the job file a run's parent writes for each child (bench/isolation.py, read by
`python -m bench.commands.job`), the work `bench fleet` sends each node (bench/fleet/remote.py) and
the question it asks each node first (`python -m bench.commands.node_plan`, which answers with a
RunPlan). Each side reads it with `RunRequest.from_json`, so nothing parses a command line again
and no scenario is decoded by hand: a scenario *is* its typed parameters (scenarios/definitions.py),
told apart by its `kind`.

It lives here, on the scenarios floor, because it holds scenarios: the child, the fleet and
bench/run.py (all in `bench`) import it; contract/ may not. The API key is never a field: it
travels in the environment (bench/isolation.py, API_KEY_ENV).
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

from pydantic import BaseModel, ConfigDict, Discriminator, Field, Tag, TypeAdapter, ValidationError, field_validator

from contract.errors import BenchError
from scenarios.chat_session import KIND as CHAT_SESSION
from scenarios.chat_session import ChatSessionScenario
from scenarios.definitions import LOAD_KIND, LoadScenario, Scenario
from scenarios.kinds import KINDS, AnyScenario
from scenarios.trace_replay import KIND as TRACE_KIND
from scenarios.trace_replay import TraceScenario


def _kind_of(value: Any) -> str:
    kind = value.get("kind") if isinstance(value, dict) else getattr(value, "kind", None)
    return {TRACE_KIND: TRACE_KIND, CHAT_SESSION: CHAT_SESSION, LOAD_KIND: "load"}.get(str(kind), "stream")


# Any scenario, by its kind: a load scenario, a trace replay, users holding conversations, or one
# generation at a time (pp, tg, single-stream, or a kind that only scenarios/kinds.py's table knows).
ScenarioParams = Annotated[Annotated[LoadScenario, Tag("load")] | Annotated[TraceScenario, Tag(TRACE_KIND)]
                           | Annotated[ChatSessionScenario, Tag(CHAT_SESSION)]
                           | Annotated[Scenario, Tag("stream")], Discriminator(_kind_of)]
_SCENARIO = TypeAdapter(ScenarioParams)


def scenario_of(params: dict[str, Any]) -> AnyScenario:
    """The scenario whose params() these are (a run's journal keeps them, bench/journal.py)."""
    return _SCENARIO.validate_python(params)


class Output(BaseModel):
    """How the child prints its result: not part of what is measured, so not in the result's config."""
    model_config = ConfigDict(frozen=True, extra="forbid")

    as_json: bool = False                       # the result document instead of the tables
    cost: dict[str, Any] = {}                   # the cost options as given (bench/commands/cost_options.py)


# Not part of the result's `config` section: how it is printed, and where the models are cached.
_NOT_RECORDED = {"output", "cache_dir"}


class RunRequest(BaseModel):
    """One run, as `bench run` checked it: one model x quant (a sweep's request names several,
    comma-separated, until each child gets its own combination)."""
    model_config = ConfigDict(frozen=True, extra="forbid")

    model: str
    quant: str
    backend: str
    scenarios: tuple[ScenarioParams, ...] = Field(min_length=1)
    backend_options: dict[str, Any] = {}
    results_dir: Path = Path("results")
    label: str | None = None                     # None: this machine's hostname
    cache_dir: Path | None = None
    idle_seconds: float = Field(default=3.0, ge=0)   # idle power baseline before the engine loads
    backend_reason: str | None = None            # why this backend, when it was chosen for the hardware
    output: Output = Output()

    @field_validator("scenarios")
    @classmethod
    def _known_kinds(cls, scenarios: tuple[AnyScenario, ...]) -> tuple[AnyScenario, ...]:
        for s in scenarios:
            if s.kind not in KINDS:
                raise ValueError(f"scenario {s.name!r} has kind {s.kind!r}, which is none of {', '.join(KINDS)}")
        return scenarios

    @classmethod
    def from_json(cls, text: str | bytes, where: str) -> RunRequest:
        """The request in `text` (read from `where`); one line naming the first wrong field otherwise."""
        try:
            return cls.model_validate_json(text)
        except ValidationError as exc:
            raise BenchError(f"{where} is not a valid run request: {first_problem(exc)}",
                             "a bug in rightsize, or a node with another version of it: please report it") from None

    def config_record(self, backend_options: dict[str, Any]) -> dict[str, Any]:
        """The result's `config` section (contract RunConfigRecord): this request with the engine's
        options as resolved; never the API key (it is no field of a request)."""
        # (a trace replay's requests stay out: its scenario records which trace, TraceScenario)
        return {**self.model_dump(mode="json", exclude=_NOT_RECORDED, context={"record": True}),
                "backend_options": backend_options}


def first_problem(exc: ValidationError) -> str:
    """`scenarios.0.load.levels: Field required`: where the first error is, and what it is."""
    err = exc.errors()[0]
    where = ".".join(str(part) for part in err["loc"]) or "the document"
    return f"{where}: {err['msg']}"


class PlannedCombination(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    model: str
    quant: str
    skip_reason: str | None = None               # why it does not fit here (None: it runs)


class RunPlan(BaseModel):
    """What a RunRequest would do on a machine, measuring nothing (`python -m bench.commands.node_plan`)."""
    model_config = ConfigDict(frozen=True, extra="forbid")

    backend: str
    backend_reason: str | None = None
    fit_source: str | None = None                # where the fit check's memory figure came from; None: no check
    combinations: list[PlannedCombination]
