"""bench fleet without a cluster: node selection, the run options it passes on, resume keys."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from bench.fleet.cluster import cluster_nodes, runtime_env, select
from bench.fleet.jobs import already_measured
from contract import documents
from contract.errors import BenchError


def parse(args):
    from bench.commands.fleet import parse_run_options

    return parse_run_options(args)

# what a node without a GPU would answer (NodeRunner.describe's `choice`)
CPU_NODE = ("llamacpp", "measuring the CPU with llama.cpp (backend llamacpp): no NVIDIA GPU detected")


EXAMPLES = Path(__file__).resolve().parents[2] / "examples" / "runs"
SAMPLE_TRACE = Path(__file__).resolve().parents[2] / "examples" / "traces" / "sample-mooncake.jsonl"


def _raw(node_id, host, alive=True, labels=None, resources=None):
    # the fields of ray.nodes() the fleet reads, as Ray 2.x returns them
    return {"NodeID": node_id, "Alive": alive, "NodeManagerAddress": "127.0.0.1", "NodeManagerHostname": host,
            "NodeName": "127.0.0.1", "Resources": {"CPU": 1.0, "memory": 1e9, **(resources or {})},
            "Labels": {"ray.io/node-id": node_id, **(labels or {})}}


@pytest.fixture
def nodes():
    return cluster_nodes([
        _raw("a1b2c3d4e5f6" + "0" * 44, "box", labels={"rightsize-name": "gpu-box", "rack": "r1"},
             resources={"GPU": 1.0, "accelerator_type:H100": 1.0}),
        _raw("ffeedd001122" + "0" * 44, "vm"),
        _raw("ffeedd991122" + "0" * 44, "vm"),
        _raw("0123456789ab" + "0" * 44, "gone", alive=False),
    ])


def test_nodes_are_named_by_label_then_hostname_and_duplicates_get_their_id(nodes):
    assert [n.name for n in nodes] == ["gpu-box", "vm-ffeedd0", "vm-ffeedd9", "gone"]
    assert nodes[0].labels == {"rightsize-name": "gpu-box", "rack": "r1"}     # Ray's own ray.io/ labels left out


def test_select_by_name_id_prefix_label_and_resource(nodes):
    assert [n.name for n in select(nodes, None)] == [n.name for n in nodes[:3]]     # alive ones only
    assert select(nodes, "gpu-box") == [nodes[0]]
    assert select(nodes, "ffeedd99") == [nodes[2]]
    assert select(nodes, "rack=r1") == [nodes[0]]
    assert select(nodes, "GPU") == [nodes[0]]
    assert select(nodes, "accelerator_type:H100") == [nodes[0]]
    assert select(nodes, "gpu-box,GPU," + nodes[1].name) == [nodes[0], nodes[1]]    # no node twice


@pytest.mark.parametrize("spec", ["CPU", "gone", "rack=r2", "TPU", "ffee"])
def test_a_selector_that_matches_no_alive_node_is_one_line(nodes, spec):
    with pytest.raises(BenchError) as err:
        select(nodes, spec)
    assert "matches no alive node" in str(err.value) and "gpu-box" in str(err.value)


def test_runtime_env_inline_file_and_bad(tmp_path):
    assert runtime_env('{"pip": ["rightsize[llamacpp]"]}') == {"pip": ["rightsize[llamacpp]"]}
    f = tmp_path / "env.json"
    f.write_text(json.dumps({"working_dir": "."}))
    assert runtime_env(str(f)) == {"working_dir": "."}
    assert runtime_env(None) is None
    with pytest.raises(BenchError, match=r"not valid JSON"):
        runtime_env("{pip")
    with pytest.raises(BenchError, match=r"must be a JSON object"):
        runtime_env("[1]")
    with pytest.raises(BenchError, match=r"cannot read the --runtime-env file"):
        runtime_env(str(tmp_path / "missing.json"))


@pytest.mark.parametrize("scheme", ["", "ray://"])
def test_an_address_where_nothing_listens_is_one_line_at_once(scheme):
    from bench.fleet.cluster import connect
    from engines.child_process import free_port

    address = f"{scheme}127.0.0.1:{free_port()}"
    with pytest.raises(BenchError, match=r"no Ray cluster answers at 127.0.0.1:"):
        connect(address)
    with pytest.raises(BenchError, match=r"is not auto, HOST:PORT or ray://HOST:PORT"):
        connect(scheme + "head-without-port")


@pytest.mark.parametrize("command", ["status", "run"])
@pytest.mark.engine   # a bench process of its own
def test_an_address_where_something_else_listens_is_one_line_within_the_bound(command, tmp_path):
    """A web server where the Ray head should be: Ray would retry it without end; bench fleet gives
    one line naming the address and what answered there, within its bound."""
    import subprocess
    import sys
    import threading
    from http.server import HTTPServer, SimpleHTTPRequestHandler

    from bench.fleet.cluster import ANSWER_TIMEOUT_S, CONNECT_TIMEOUT_S

    server = HTTPServer(("127.0.0.1", 0), SimpleHTTPRequestHandler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    address = f"127.0.0.1:{server.server_address[1]}"
    try:
        extra = ["--results-dir", str(tmp_path), "--model", "tiny"] if command == "run" else []
        # the bound plus a generous allowance for starting Python on a busy machine; past it, Ray is retrying
        p = subprocess.run([sys.executable, "-m", "bench", "fleet", command, "--address", address, *extra],
                           capture_output=True, text=True, timeout=CONNECT_TIMEOUT_S + ANSWER_TIMEOUT_S + 60)
    finally:
        server.shutdown()
    lines = [ln for ln in p.stderr.splitlines() if ln.strip()]
    assert p.returncode == 2 and len(lines) == 1, p.stderr
    # Python's http.server answers HTTP/2's preface with an error page and no status line
    assert lines[0].startswith(f"error: no Ray cluster at {address}: an HTTP server answered (with a web page)"), \
        lines[0]


def test_run_options_are_checked_by_bench_runs_own_parser():
    o = parse(["--model", "tiny,tiny", "--scenario", "tg16", "--repetitions", "2"])
    request = o.request_for(CPU_NODE)
    assert (request.model, request.quant, request.backend) == ("tiny,tiny", "Q4_K_M", "llamacpp")
    assert request.backend_reason == CPU_NODE[1]
    assert [(s.name, s.repetitions) for s in request.scenarios] == [("tg16", 2)]
    assert o.key_params == {"repetitions": 2, "scenario_spec": "tg16"}
    with pytest.raises(BenchError, match=r"bad bench run option.*--no-such"):
        parse(["--no-such-option"])
    with pytest.raises(BenchError, match=r"bad bench run option"):
        parse(["--repetitions", "many"])


@pytest.mark.parametrize("flag, value", [("--label", "x"), ("--json", None), ("--results-dir", "/tmp/x")])
def test_options_the_driver_owns_are_refused(flag, value):
    with pytest.raises(BenchError, match=f"{flag} is not a `bench fleet run` option"):
        parse([flag] + ([value] if value else []))


def test_the_api_key_never_travels_in_a_request():
    o = parse(["--backend", "openai", "--base-url", "http://127.0.0.1:1", "--model", "m",
                          "--api-key", "sk-secret"])
    assert o.api_key == "sk-secret"
    assert "sk-secret" not in o.request_for(None).model_dump_json()
    assert "sk-secret" not in json.dumps(o.key_params)


def test_each_node_gets_the_request_for_the_backend_it_chooses():
    """Without --backend, a node's own choice sets the backend, its default quant and its
    default scenarios; the options are parsed once all the same."""
    o = parse(["--model", "tiny", "--repetitions", "2"])
    cpu = o.request_for(CPU_NODE)
    gpu = o.request_for(("vllm", "measuring an H100 with vLLM (backend vllm): vLLM is installed"))
    assert (cpu.backend, cpu.quant, gpu.backend, gpu.quant) == ("llamacpp", "Q4_K_M", "vllm", "bf16")
    assert o.request_for(CPU_NODE) is cpu          # one request per backend, made once
    with pytest.raises(BenchError, match="could not choose a backend"):
        o.request_for(None)
    # with --backend, every node gets the one request, checked on the driver at once
    fixed = parse(["--model", "tiny", "--backend", "llamacpp"])
    assert fixed.request_for(None) is fixed.request_for(CPU_NODE) and fixed.request_for(None).backend_reason is None
    with pytest.raises(BenchError, match="needs --base-url"):
        parse(["--backend", "openai", "--model", "m"])


def test_nothing_in_the_fleet_parses_a_command_line():
    """A node's work is a RunRequest: no click (and so no argv parsing) in bench/fleet/."""
    fleet = Path(__file__).resolve().parents[2] / "bench" / "fleet"
    for f in fleet.glob("*.py"):
        text = f.read_text()
        assert "click" not in text and "bench.commands.main" not in text and '"run", *' not in text, f.name


def test_job_key_follows_options_backend_model_and_quant():
    a = parse(["--scenario", "tg16"])
    assert a.job_key("llamacpp", "tiny", "Q4_K_M") == parse(["--scenario", "tg16"]).job_key(
        "llamacpp", "tiny", "Q4_K_M")
    assert a.job_key("llamacpp", "tiny", "Q4_K_M") != a.job_key("llamacpp", "tiny", "Q8_0")
    assert a.job_key("llamacpp", "tiny", "Q4_K_M") != a.job_key("vllm", "tiny", "Q4_K_M")
    assert a.job_key("llamacpp", "tiny", "Q4_K_M") != parse(["--scenario", "tg32"]).job_key(
        "llamacpp", "tiny", "Q4_K_M")
    # a different model list in --model does not change one combination's key: it is set per combination
    assert a.job_key("llamacpp", "tiny", "Q4_K_M") == parse(
        ["--scenario", "tg16", "--model", "tiny,llama-3.1-8b"]).job_key("llamacpp", "tiny", "Q4_K_M")


def test_a_trace_enters_the_job_key_by_its_bytes(tmp_path):
    """A rerun with the trace edited in place (same path) is a new job, not a resume."""
    lines = SAMPLE_TRACE.read_text().splitlines(keepends=True)
    trace = tmp_path / "trace.jsonl"
    trace.write_text("".join(lines[:2]))
    first = parse(["--scenario", "trace", "--trace", str(trace)]).job_key("llamacpp", "tiny", "Q4_K_M")
    assert parse(["--scenario", "trace", "--trace", str(trace)]).job_key("llamacpp", "tiny", "Q4_K_M") == first
    trace.write_text("".join(lines[:3]))
    assert parse(["--scenario", "trace", "--trace", str(trace)]).job_key("llamacpp", "tiny", "Q4_K_M") != first


def test_already_measured_needs_a_completed_fleet_result_with_a_fingerprint(tmp_path):
    example = next(p for p in sorted(EXAMPLES.glob("*.json"))
                   if json.loads(p.read_text()).get("status") == "completed")
    doc = documents.dump(documents.read(example))
    doc["fleet"] = {"node_id": "n" * 56, "name": "node-a", "job_key": "k" * 16}
    fingerprint = doc["hardware"]["fingerprint"]
    plain = documents.dump(documents.read(example))
    failed = {**doc, "status": "failed"}
    loaded = [(Path(f"{i}.json"), documents.parse(d)) for i, d in enumerate([doc, plain, failed])]
    assert already_measured(loaded) == {("node-a", fingerprint, "k" * 16): Path("0.json")}


def test_a_node_plans_the_request_it_is_sent_and_a_bad_one_is_one_line():
    """NodeRunner.plan, without Ray: the node plan reads the RunRequest on stdin and answers a RunPlan."""
    from bench.fleet.remote import NodeRunner
    from scenarios.request import RunPlan

    request = parse(["--model", "tiny,tiny", "--quant", "Q8_0", "--scenario", "tg8"]).request_for(CPU_NODE)
    answer = NodeRunner().plan(request.model_dump_json())
    assert answer["error"] is None, answer
    plan = RunPlan.model_validate_json(answer["plan"])
    assert (plan.backend, plan.backend_reason) == CPU_NODE
    assert [(c.model, c.quant) for c in plan.combinations] == [("tiny", "Q8_0"), ("tiny", "Q8_0")]
    bad = json.loads(request.model_dump_json())
    bad["scenarios"][0]["repetitions"] = "many"
    answer = NodeRunner().plan(json.dumps(bad))
    assert answer["plan"] is None
    assert answer["error"].startswith("error: the run request <stdin> is not a valid run request: "
                                      "scenarios.0.stream.repetitions"), answer


@pytest.mark.engine   # a real run of the tiny model, as a node runs it
def test_a_node_runs_the_request_it_is_sent(tmp_path, monkeypatch):
    """NodeRunner.run, without Ray: the request, with the node's label, is the job the run's process
    reads (bench.commands.job); its result comes back with that request as its config."""
    from bench.fleet.remote import NodeRunner

    monkeypatch.chdir(tmp_path)
    options = parse(["--model", "tiny", "--scenario", "tg8", "--repetitions", "3", "--min-duration", "0",
                     "--idle-seconds", "0"])
    request = options.request_for(CPU_NODE).model_copy(update={"label": "node-a"})
    out = NodeRunner().run(request.model_dump_json())
    assert out["exit_code"] in (0, 1, 3), out
    (doc,) = out["docs"]
    assert doc["label"] == "node-a" and doc["status"] == "completed"
    config = doc["config"]
    assert config["scenarios"] == [s.params() for s in request.scenarios]
    assert (config["model"], config["quant"], config["backend"], config["backend_reason"]) == (
        "tiny", "Q4_K_M", "llamacpp", CPU_NODE[1])
    assert not list(tmp_path.iterdir())        # the node's results dir was its own scratch directory
