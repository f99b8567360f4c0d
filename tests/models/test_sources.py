"""Local model directories (MLX, Hugging Face) and the hub source's offline error."""

import json
import os
import struct
import subprocess
import sys

import pytest

from bench.run import RunUI
from contract.errors import ModelError
from models.catalog import get_model
from models.hf_config import architecture_from_config, read_model_dir
from models.resolve import resolve_model

# Excerpts of the models' own config.json files (the keys an architecture is made of)
CONFIGS = {
    "llama-3.1-8b": {
        "model_type": "llama", "hidden_size": 4096, "intermediate_size": 14336, "max_position_embeddings": 131072,
        "num_attention_heads": 32, "num_hidden_layers": 32, "num_key_value_heads": 8, "rms_norm_eps": 1e-05,
        "rope_scaling": {"factor": 8.0, "low_freq_factor": 1.0, "high_freq_factor": 4.0,
                         "original_max_position_embeddings": 8192, "rope_type": "llama3"},
        "rope_theta": 500000.0, "tie_word_embeddings": False, "vocab_size": 128256,
    },
    "qwen3-8b": {
        "model_type": "qwen3", "head_dim": 128, "hidden_size": 4096, "intermediate_size": 12288,
        "max_position_embeddings": 40960, "num_attention_heads": 32, "num_hidden_layers": 36,
        "num_key_value_heads": 8, "rms_norm_eps": 1e-06, "rope_scaling": None, "rope_theta": 1000000,
        "sliding_window": None, "tie_word_embeddings": False, "vocab_size": 151936,
    },
    "gemma-2-9b": {
        "model_type": "gemma2", "attn_logit_softcapping": 50.0, "final_logit_softcapping": 30.0, "head_dim": 256,
        "hidden_size": 3584, "intermediate_size": 14336, "max_position_embeddings": 8192,
        "num_attention_heads": 16, "num_hidden_layers": 42, "num_key_value_heads": 8, "rms_norm_eps": 1e-06,
        "rope_theta": 10000.0, "sliding_window": 4096, "vocab_size": 256000,
    },
    "phi-4": {
        "model_type": "phi3", "hidden_size": 5120, "intermediate_size": 17920, "max_position_embeddings": 16384,
        "num_attention_heads": 40, "num_hidden_layers": 40, "num_key_value_heads": 10, "rms_norm_eps": 1e-05,
        "rope_scaling": None, "rope_theta": 250000, "sliding_window": None, "tie_word_embeddings": False,
        "vocab_size": 100352,
    },
    "qwen2.5-14b": {
        "model_type": "qwen2", "hidden_size": 5120, "intermediate_size": 13824, "max_position_embeddings": 131072,
        "num_attention_heads": 40, "num_hidden_layers": 48, "num_key_value_heads": 8, "rms_norm_eps": 1e-05,
        "rope_theta": 1000000.0, "sliding_window": 131072, "use_sliding_window": False,
        "tie_word_embeddings": False, "vocab_size": 152064,
    },
}


@pytest.mark.parametrize("model_id", list(CONFIGS))
def test_catalog_architectures_are_their_configs(model_id):
    assert architecture_from_config(CONFIGS[model_id]) == get_model(model_id).architecture


def _safetensors(path, n_floats):
    """A minimal valid safetensors file: one F32 tensor."""
    header = json.dumps({"w": {"dtype": "F32", "shape": [n_floats], "data_offsets": [0, 4 * n_floats]}}).encode()
    path.write_bytes(struct.pack("<Q", len(header)) + header + bytes(4 * n_floats))


def _model_dir(tmp_path, config):
    d = tmp_path / "model"
    d.mkdir()
    (d / "config.json").write_text(json.dumps(config))
    _safetensors(d / "model-00001-of-00002.safetensors", 1000)
    _safetensors(d / "model-00002-of-00002.safetensors", 500)
    return d


def test_an_mlx_directory_resolves_from_its_config(tmp_path):
    config = {**CONFIGS["qwen3-8b"], "quantization": {"group_size": 64, "bits": 4}}
    d = _model_dir(tmp_path, config)
    r = resolve_model(str(d), "Q4_K_M", None, RunUI())
    assert (r.source, r.format, r.quant) == ("local", "mlx", "4bit")
    assert r.file_bytes == sum(f.stat().st_size for f in d.glob("*.safetensors"))
    assert r.architecture["family"] == "qwen3" and r.architecture["n_layers"] == 36
    assert r.kv_bytes_per_token == get_model("qwen3-8b").architecture.kv_bytes_per_token()
    assert 0 < r.weight_bytes_per_token < r.file_bytes
    assert r.fingerprint.startswith("sha256-dir:")


@pytest.mark.parametrize("extra, quant", [
    ({"quantization_config": {"quant_method": "awq", "bits": 4}}, "awq-int4"),
    ({"quantization_config": {"quant_method": "gptq", "bits": 8}}, "gptq-int8"),
    ({"torch_dtype": "bfloat16"}, "bf16"),
])
def test_a_hugging_face_directory_names_its_quantization(tmp_path, extra, quant):
    d = _model_dir(tmp_path, {**CONFIGS["phi-4"], **extra})
    assert read_model_dir(d).quant == quant and read_model_dir(d).format == "hf"


@pytest.mark.parametrize("config, files, fragment", [
    (None, True, "has no config.json"),
    ({"model_type": "mamba"}, True, "model_type 'mamba' is not supported"),
    ({"model_type": "llama"}, True, "lacks 'num_attention_heads'"),
    (CONFIGS["phi-4"], False, "has no \\*.safetensors weights"),
])
def test_bad_directories_are_one_line_errors(tmp_path, config, files, fragment):
    d = tmp_path / "m"
    d.mkdir()
    if config is not None:
        (d / "config.json").write_text(json.dumps(config))
    if files:
        _safetensors(d / "model.safetensors", 10)
    with pytest.raises(ModelError, match=fragment) as e:
        resolve_model(str(d), "Q4_K_M", None, RunUI())
    assert "\n" not in str(e.value)


def _bench(*args, **env):
    return subprocess.run([sys.executable, "-m", "bench", *args], capture_output=True, text=True, timeout=120,
                          env={**os.environ, **env})


@pytest.mark.parametrize("args, where, local", [
    (("qwen3-8b", "--quant", "Q4_K_M"), "bartowski/Qwen_Qwen3-8B-GGUF/Qwen_Qwen3-8B-Q4_K_M.gguf",
     "/path/to/Qwen_Qwen3-8B-Q4_K_M.gguf"),
    (("qwen2.5-7b", "--backend", "vllm", "--quant", "awq-int4"), "Qwen/Qwen2.5-7B-Instruct-AWQ",
     "/path/to/Qwen2.5-7B-Instruct-AWQ"),
])
@pytest.mark.engine   # a bench process of its own
def test_hub_offline_is_one_line_naming_the_repo_and_a_local_path(tmp_path, args, where, local):
    # only the offline path is tested: no network here. The download itself is huggingface_hub's.
    pytest.importorskip("huggingface_hub")
    p = _bench("models", "pull", *args, "--source", "hub", HF_HUB_OFFLINE="1", HF_HOME=str(tmp_path))
    assert p.returncode == 2 and p.stdout == ""
    error = p.stderr.splitlines()[-1]  # progress lines may come first
    assert "Traceback" not in p.stderr and p.stderr.count("error:") == 1
    assert error.startswith(f"error: cannot download {where} from the Hugging Face hub (offline")
    assert error.endswith(f"pass its path: --model {local})")


def test_a_rung_nobody_publishes_says_so():
    from models.hub import location

    with pytest.raises(ModelError, match=r"no known llamacpp download of llama-2-7b at IQ4_XS .*published: Q2_K"):
        location(get_model("llama-2-7b"), "llamacpp", "IQ4_XS")


def test_a_catalog_id_wins_over_a_folder_of_the_same_name(tmp_path, monkeypatch, tiny_gguf):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "tiny").mkdir()
    r = resolve_model("tiny", "Q4_K_M", None, RunUI())
    assert r.source == "synthetic" and r.path == tiny_gguf
    with pytest.raises(ModelError, match=r"has no config.json"):
        resolve_model("./tiny", "Q4_K_M", None, RunUI())
