"""`bench models`, `bench models pull` and `bench plan` through the real command line."""

import json
import subprocess
import sys

import pytest
from click.testing import CliRunner

from bench.commands.main import main
from bench.commands.models import parse_memory
from models.catalog import CATALOG, get_model
from models.synthetic import expected_file_size

GiB = 1 << 30


def _run(*args):
    return CliRunner().invoke(main, list(args))


def test_models_json_lists_every_model_quant_and_backend():
    result = _run("models", "--json")
    assert result.exit_code == 0, result.output
    rows = json.loads(result.output)
    listed = {s.id for s in CATALOG.values() if s.listed}
    assert {r["model"] for r in rows} == listed and "tiny" not in listed
    assert {r["backend"] for r in rows} == {"llamacpp", "mlx", "vllm", "torch"}
    assert len(rows) == len(listed) * (8 + 5 + 5 + 3)
    q4 = next(r for r in rows if r["model"] == "llama-3.1-8b" and r["quant"] == "Q4_K_M")
    assert q4["file_bytes"] == expected_file_size(get_model("llama-3.1-8b"), "Q4_K_M")  # what a build writes
    assert q4["kv_bytes_per_token"] == 131072 and q4["size_method"] == "exact" and q4["synthetic"]
    assert 0 < q4["bytes_per_token"] < q4["file_bytes"]
    mlx = next(r for r in rows if r["model"] == "qwen2.5-7b" and r["quant"] == "4bit")
    assert mlx["size_method"] == "layout estimate" and mlx["download"] == "mlx-community/Qwen2.5-7B-Instruct-4bit"
    assert mlx["download_verified"] is True


def test_models_table_filters_by_model_and_backend():
    result = _run("models", "--model", "phi-4", "--backend", "llamacpp")
    assert result.exit_code == 0, result.output
    assert "phi-4" in result.output and "IQ4_XS" in result.output and "mlx" not in result.output


def test_models_unknown_backend_is_one_line():
    result = _run("models", "--backend", "tensorrt")
    assert result.exit_code == 2
    assert result.output == "error: unknown backend 'tensorrt' (valid: llamacpp, mlx, vllm, torch)\n"


def test_pull_builds_a_synthetic_model_and_prints_its_path(tmp_path, monkeypatch):
    monkeypatch.setenv("RIGHTSIZE_CACHE", str(tmp_path))
    result = CliRunner().invoke(main, ["models", "pull", "tiny", "--quant", "q8_0"])
    assert result.exit_code == 0, result.stderr
    path = result.stdout.strip()
    assert path.startswith(str(tmp_path)) and path.endswith(".gguf")
    assert (tmp_path / path.split("/")[-1]).stat().st_size == expected_file_size(get_model("tiny"), "Q8_0")


def test_pull_synthetic_is_gguf_only():
    result = _run("models", "pull", "qwen3-8b", "--backend", "mlx", "--quant", "4bit")
    assert result.exit_code == 2
    assert result.output.startswith("error: synthetic builds are GGUF (llamacpp) only, not mlx (use --source hub")


def test_plan_lists_what_fits_and_the_room_left_for_kv():
    result = _run("plan", "--memory", "24GB", "--context", "8192", "--concurrency", "8", "--json")
    assert result.exit_code == 0, result.output
    doc = json.loads(result.output)
    assert doc["available_bytes"] == 24 * GiB and doc["concurrency"] == 8
    rows = {(r["model"], r["quant"]): r for r in doc["rows"]}
    assert len(rows) == sum(s.listed for s in CATALOG.values()) * 8
    assert rows[("llama-3.1-8b", "Q4_K_M")]["fits"]
    assert not rows[("qwen2.5-14b", "F16")]["fits"]  # 27.5 GiB of weights
    assert not rows[("gemma-2-9b", "Q2_K")]["fits"]  # 8192 is its whole context, but 8 x 336 KiB x 8192 = 21 GiB of KV
    r = rows[("qwen3-8b", "Q4_K_M")]
    assert r["kv_room_bytes"] == 24 * GiB - r["weights_bytes"] - r["overhead_bytes"]
    assert r["max_context_per_sequence"] == min(r["max_kv_tokens"] // 8, 40960)


def test_plan_on_this_machines_memory():
    import hardware

    result = _run("plan", "--hardware", "--model", "tiny,llama-3.1-8b", "--quant", "Q4_K_M", "--context", "512",
                  "--json")
    assert result.exit_code == 0, result.output
    doc = json.loads(result.output)
    info = hardware.probe()
    if not info.gpus and info.apple is None:
        assert doc["available_bytes"] == info.cpu.ram_bytes and doc["memory_source"].startswith("CPU RAM")
    assert [r["model"] for r in doc["rows"]] == ["tiny", "llama-3.1-8b"] and doc["rows"][0]["fits"]


def test_plan_table():
    result = CliRunner().invoke(main, ["plan", "--memory", "8GB", "--model", "qwen3-14b", "--backend", "llamacpp"],
                                env={"COLUMNS": "200"})
    assert result.exit_code == 0, result.output
    assert "8.00 GiB (--memory 8GB), 1 x 8192 tokens, llamacpp" in result.output
    assert "qwen3-14b" in result.output and "left for KV" in result.output and "no" in result.output


@pytest.mark.parametrize("args, message", [
    (("plan", "--context", "512"), "error: give exactly one of --memory and --hardware (for example --memory 24GB)\n"),
    (("plan", "--memory", "24"),
     "error: --memory '24' is not a size with a unit (for example --memory 24GB or 512MB)\n"),
    (("plan", "--memory", "8GB", "--concurrency", "0"),
     "error: --concurrency must be positive, got 0 (for example --concurrency 8)\n"),
    (("plan", "--memory", "8GB", "--backend", "mlx,vllm", "--quant", "4bit"),
     "error: --quant needs a single --backend (for example --backend llamacpp --quant Q4_K_M,Q8_0)\n"),
])
def test_plan_bad_input_is_one_line(args, message):
    result = _run(*args)
    assert result.exit_code == 2 and result.output == message


@pytest.mark.parametrize("text, size", [("24GB", 24 * GiB), ("24 GiB", 24 * GiB), ("1.5t", 3 * (1 << 39)),
                                        ("512MB", 512 << 20)])
def test_memory_sizes_are_binary(text, size):
    assert parse_memory(text) == size


def test_help_imports_no_engine():
    code = ("import sys; from click.testing import CliRunner; from bench.commands.main import main; "
            "r = CliRunner().invoke(main, ['models', '--help']); assert r.exit_code == 0, r.output; "
            "r = CliRunner().invoke(main, ['plan', '--help']); assert r.exit_code == 0, r.output; "
            "print(sorted(m for m in ('torch', 'llama_cpp', 'mlx', 'vllm', 'huggingface_hub') if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "[]"
