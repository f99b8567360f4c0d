"""The fleet's schedule and its run: one runner per target node (a Ray actor pinned there),
one run at a time on each — a RunRequest per model x quant — results written by the driver as
each one returns."""

from __future__ import annotations

import contextlib
import signal
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from bench.fleet.cluster import Node, ray_module
from bench.fleet.jobs import RunOptions, already_measured
from bench.fleet.remote import NodeRunner
from bench.stop_signals import NotedStops, name_of, signal_of
from contract import storage
from contract.build import died_run, utc_now
from contract.documents import dump
from contract.errors import BenchError
from scenarios.request import RunPlan, RunRequest

# After Ctrl-C: how long the runs get to stop and return what they measured before they are killed.
STOP_GRACE_S = 60.0


@dataclass
class Job:
    """One model x quant on one node, and where it stands."""
    node: Node
    model: str
    quant: str
    backend: str
    key: str
    state: str                      # run, skipped, measured; then queued, running, done, failed, not run
    detail: str = ""                # skip reason, the resumed file, the result file, the failure
    status: str | None = None       # the result's status once one is written


@dataclass
class NodePlan:
    node: Node
    info: dict[str, Any] | None     # NodeRunner.describe: hardware, environment, the backend it would choose
    error: str | None               # why the node cannot run this at all
    jobs: list[Job] = field(default_factory=list)
    request: RunRequest | None = None   # the sweep's request for this node; each job gets its combination
    plan: RunPlan | None = None         # the node's answer to it (bench/commands/node_plan.py)

    @property
    def fingerprint(self) -> str | None:
        return ((self.info or {}).get("hardware") or {}).get("fingerprint")


def start_runners(nodes: list[Node], hold_node: bool) -> dict[str, Any]:
    """A NodeRunner actor on each node, which only that node may run. `hold_node`: it asks for
    all of the node's CPUs and GPUs, so no other Ray work shares the machine while it measures."""
    ray = ray_module()
    from ray.util.scheduling_strategies import NodeAffinitySchedulingStrategy

    actor_class = ray.remote(NodeRunner)
    runners = {}
    for n in nodes:
        runners[n.node_id] = actor_class.options(
            num_cpus=n.resources.get("CPU", 0) if hold_node else 0,
            num_gpus=n.resources.get("GPU", 0) if hold_node else 0,
            max_concurrency=2,             # interrupt() while run() waits
            max_restarts=0, max_task_retries=0,
            scheduling_strategy=NodeAffinitySchedulingStrategy(n.node_id, soft=False),
        ).remote()
    return runners


def plan(nodes: list[Node], runners: dict[str, Any], options: RunOptions, results_dir: Path | None,
         force: bool, stops: NotedStops) -> list[NodePlan]:
    """Ask every node at once what it is, then what its RunRequest would do there (each node's
    request follows the backend it chooses, unless --backend chose one for all); mark what is
    already measured."""
    ray = ray_module()
    described = {runners[n.node_id].describe.remote(): n for n in nodes}
    done = {}
    if results_dir is not None and Path(results_dir).is_dir() and not force:
        loaded, _ = storage.load_documents([Path(results_dir)])
        done = already_measured(loaded)
    plans = {n.node_id: NodePlan(n, None, None) for n in nodes}
    asked = {}
    for ref, node in described.items():
        p = plans[node.node_id]
        try:
            p.info = _wait(ray, ref, stops)
        except ray.exceptions.RayError as exc:
            p.error = f"the node could not be asked: {_cause(exc)}"
            continue
        choice = p.info["choice"]
        try:
            p.request = options.request_for((choice[0], choice[1]) if choice else None)
        except BenchError as exc:
            p.error = p.info["error"] or str(exc)
            continue
        asked[runners[node.node_id].plan.remote(p.request.model_dump_json())] = p
    for ref, p in asked.items():
        try:
            answer = _wait(ray, ref, stops)
        except ray.exceptions.RayError as exc:
            p.error = f"the node could not be asked: {_cause(exc)}"
            continue
        if answer["plan"] is None:
            p.error = answer["error"]
            continue
        p.plan = RunPlan.model_validate_json(answer["plan"])
        for c in p.plan.combinations:
            key = options.job_key(p.plan.backend, c.model, c.quant)
            job = Job(p.node, c.model, c.quant, p.plan.backend, key, "run")
            resumed = done.get((p.node.name, p.fingerprint or "", key))
            if c.skip_reason:
                job.state, job.detail = "skipped", f"does not fit ({p.plan.fit_source}): {c.skip_reason}"
            elif resumed is not None:
                job.state, job.detail = "measured", str(resumed)
            p.jobs.append(job)
    return [plans[n.node_id] for n in nodes]


def _wait(ray: Any, ref: Any, stops: NotedStops) -> Any:
    """ray.get that Ctrl-C can interrupt at once."""
    while True:
        stops.check()
        ready, _ = ray.wait([ref], timeout=0.5)
        if ready:
            return ray.get(ref)


class FleetRun:
    """Runs the planned jobs: one at a time per node, all nodes at once."""

    def __init__(self, plans: list[NodePlan], runners: dict[str, Any], options: RunOptions, results_dir: Path,
                 say: Callable[[str], None], stops: NotedStops):
        self.plans, self.runners, self.options, self._stops = plans, runners, options, stops
        self.results_dir, self.say = Path(results_dir), say
        self.stopped_by: int | None = None      # the stop signal (SIGINT, SIGTERM, SIGHUP) that ended it
        self._queues = {p.node.node_id: [j for j in p.jobs if j.state == "run"] for p in plans if not p.error}
        self._totals = {nid: len(q) for nid, q in self._queues.items()}
        self._pending: dict[Any, Job] = {}
        self._info = {p.node.node_id: p.info or {} for p in plans}
        self._requests = {p.node.node_id: p.request for p in plans}

    def execute(self) -> None:
        ray = ray_module()
        for q in self._queues.values():
            for job in q:
                job.state = "queued"
                self.say(f"[{job.node.name}] queued: {job.model} {job.quant} ({job.backend})")
        for nid in self._queues:
            self._next(nid)
        try:
            self._drain(ray, deadline=None)
        except KeyboardInterrupt as stop:
            self.stopped_by = signal_of(stop)
            self._stop(ray)

    def _next(self, node_id: str) -> None:
        queue = self._queues[node_id]
        if not queue or self.stopped_by:
            return
        job = queue.pop(0)
        job.state = "running"
        done = self._totals[node_id] - len(queue)
        self.say(f"[{job.node.name}] running ({done}/{self._totals[node_id]}): {job.model} {job.quant}")
        sweep = self._requests[node_id]
        assert sweep is not None                    # a node without a request has an error and no jobs
        request = sweep.model_copy(update={"model": job.model, "quant": job.quant, "label": job.node.name})
        self._pending[self.runners[node_id].run.remote(request.model_dump_json(), self.options.api_key)] = job

    def _drain(self, ray: Any, deadline: float | None) -> None:
        while self._pending:
            if deadline is not None and time.monotonic() > deadline:
                return
            self._stops.check()         # Ctrl-C (the first one, or the second while stopping)
            ready, _ = ray.wait(list(self._pending), num_returns=1, timeout=0.5)
            for ref in ready:
                job = self._pending.pop(ref)
                try:
                    self._collect(job, ray.get(ref))
                except ray.exceptions.RayTaskError as exc:     # our own code failed on the node
                    self._lost(job, f"the fleet runner failed on node {job.node.name}: {_cause(exc)}")
                except ray.exceptions.RayError as exc:         # the node, its raylet or the worker is gone
                    self._lost(job, f"node {job.node.name} ({job.node.short_id}, {job.node.ip}) was lost "
                                    f"mid-run: {_cause(exc)}")
                    self._give_up(job.node.node_id, "not run: the node was lost")
                    continue
                self._next(job.node.node_id)

    def _stop(self, ray: Any) -> None:
        """Ctrl-C, SIGTERM or SIGHUP: each running run gets a Ctrl-C of its own and returns what it measured."""
        running = list(self._pending.values())
        signal_name = name_of(self.stopped_by or signal.SIGINT)
        for nid in self._queues:
            self._give_up(nid, f"not run: stopped by {signal_name}")
        if not running:
            return
        self.say(f"stopping {len(running)} run(s): {', '.join(j.node.name for j in running)} "
                 f"({signal_name} again to kill them now)")
        for job in running:
            self.runners[job.node.node_id].interrupt.remote()
        with contextlib.suppress(KeyboardInterrupt):
            self._drain(ray, deadline=time.monotonic() + STOP_GRACE_S)
        for _ref, job in list(self._pending.items()):
            ray.kill(self.runners[job.node.node_id], no_restart=True)
            job.state, job.detail, job.status = "failed", f"killed after {signal_name}: nothing returned", "interrupted"
            self.say(f"[{job.node.name}] killed: {job.model} {job.quant}")
        self._pending.clear()

    def _give_up(self, node_id: str, why: str) -> None:
        for job in self._queues.get(node_id, []):
            job.state, job.detail = "not run", why
        if node_id in self._queues:
            self._queues[node_id] = []

    def _collect(self, job: Job, out: dict[str, Any]) -> None:
        """Write what a node's run returned, as each one returns: atomic, checked, with the node's identity."""
        if not out["docs"] and out["exit_code"] == 130:
            job.state, job.detail = "not run", "stopped by Ctrl-C before it started"
            self.say(f"[{job.node.name}] {job.detail}: {job.model} {job.quant}")
            return
        if not out["docs"]:
            error = out["error"] or f"bench run exited with code {out['exit_code']} without writing a result"
            self._lost(job, f"on node {job.node.name}: {error}")
            return
        paths = []
        for doc in out["docs"]:
            doc["fleet"] = {**job.node.identity(), "job_key": job.key}
            nice = (doc.get("environment") or {}).get("niceness")
            if nice:
                self.say(f"[{job.node.name}] warning: measured at niceness {nice} (Ray's worker priority; run the "
                         f"node's raylet as root or with CAP_SYS_NICE to measure at the machine's own)")
            paths.append(self._write(doc))
            job.status = doc.get("status")
        job.state = "done" if job.status == "completed" else "failed"
        job.detail = ", ".join(str(p) for p in paths)
        verb = "done" if job.state == "done" else job.status or "failed"
        self.say(f"[{job.node.name}] {verb} in {out['seconds']:.1f} s: {job.detail}"
                 + (f" ({out['error']})" if out["error"] else ""))

    def _lost(self, job: Job, error: str) -> None:
        """A run that returned nothing still leaves a failed result naming the node and the cause."""
        now = utc_now()
        info = self._info.get(job.node.node_id) or {}
        result = dump(died_run(finished_at=now, label=job.node.name, model=job.model, quant=job.quant,
                               backend=job.backend, environment=info.get("environment") or {}, error=error))
        result["hardware"] = info.get("hardware")
        result["fleet"] = {**job.node.identity(), "job_key": job.key}
        path = self._write(result)
        job.state, job.status, job.detail = "failed", "failed", f"{error}; recorded in {path}"
        self.say(f"[{job.node.name}] failed: {job.detail}")

    def _write(self, doc: dict[str, Any]) -> Path:
        from dashboards.report import write_run_report

        _, path, warning = storage.write_document(doc, self.results_dir, doc["run_id"])
        if warning:
            self.say(f"warning: {warning}")
        write_run_report(path, warn=self.say)
        return path

    def statuses(self) -> list[str]:
        """Each job's outcome for sweep.exit_code: what was resumed counts as completed, what was
        not run as failed; a node that could not be planned is one failure."""
        out = []
        for p in self.plans:
            if p.error:
                out.append("failed")
            for j in p.jobs:
                out.append({"skipped": "skipped", "measured": "completed", "not run": "failed"}.get(
                    j.state, j.status or "failed"))
        return out


def _cause(exc: BaseException) -> str:
    """The first line of a Ray error that says something (Ray puts a banner first)."""
    lines = [ln.strip() for ln in str(exc).splitlines() if ln.strip()]
    for ln in lines:
        if not ln.startswith(("ray::", "Traceback", "File ")) and len(ln) > 12:
            return ln[:300]
    return type(exc).__name__
