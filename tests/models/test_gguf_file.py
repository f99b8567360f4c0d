import struct

import pytest

from contract.errors import ModelError
from models.catalog import get_model
from models.gguf_file import inspect_gguf
from models.plan import tensor_plan, weight_bytes
from models.quant import get_quant
from models.synthetic import expected_file_size, materialize


@pytest.fixture(scope="module")
def tiny_q4(model_cache):
    return materialize(get_model("tiny"), "Q4_K_M", cache_dir=model_cache)


def test_summary_reads_the_architecture_back(tiny_q4):
    spec, quant = get_model("tiny"), get_quant("Q4_K_M")
    s = inspect_gguf(tiny_q4)
    assert s.architecture() == spec.architecture
    assert s.family == "llama" and s.version == 3
    assert s.metadata["general.file_type"] == quant.ftype
    assert s.metadata["tokenizer.ggml.tokens"] == spec.architecture.vocab  # arrays as lengths
    assert s.file_size == tiny_q4.stat().st_size == expected_file_size(spec, quant)
    assert s.tensor_bytes == weight_bytes(spec.architecture, quant)
    plan = tensor_plan(spec.architecture, quant)
    assert s.type_counts == {t: sum(p.type == t for p in plan) for t in {p.type for p in plan}}
    assert s.type_counts["Q6_K"] >= 1 and s.type_counts["F32"] == 2 * 2 + 1


def test_missing_file(tmp_path):
    with pytest.raises(ModelError, match=r"model file not found: .*nope.gguf"):
        inspect_gguf(tmp_path / "nope.gguf")


def test_directory(tmp_path):
    with pytest.raises(ModelError, match=r"not a file"):
        inspect_gguf(tmp_path)


def test_not_a_gguf(tmp_path):
    path = tmp_path / "model.gguf"
    path.write_bytes(b"<html>404 Not Found</html>")
    with pytest.raises(ModelError, match=r"not a GGUF file: .*starts with b'<htm'"):
        inspect_gguf(path)


def test_empty_file(tmp_path):
    path = tmp_path / "empty.gguf"
    path.write_bytes(b"")
    with pytest.raises(ModelError, match=r"not a GGUF file"):
        inspect_gguf(path)


def test_truncated_data(tiny_q4, tmp_path):
    path = tmp_path / "cut.gguf"
    data = tiny_q4.read_bytes()
    path.write_bytes(data[: len(data) - 1000])
    with pytest.raises(ModelError) as e:
        inspect_gguf(path)
    assert str(e.value).startswith(f"truncated GGUF file: {path} has {len(data) - 1000:,} bytes")
    assert "\n" not in str(e.value)


def test_truncated_inside_metadata(tiny_q4, tmp_path):
    path = tmp_path / "cut.gguf"
    path.write_bytes(tiny_q4.read_bytes()[:5000])
    with pytest.raises(ModelError, match=r"corrupt GGUF metadata .*past the end of the file"):
        inspect_gguf(path)


def test_garbage_after_magic(tmp_path):
    path = tmp_path / "junk.gguf"
    # a valid start, then a key whose length claims 2**40 bytes
    path.write_bytes(b"GGUF" + struct.pack("<IQQ", 3, 0, 1) + struct.pack("<Q", 1 << 40) + b"x" * 64)
    with pytest.raises(ModelError, match=r"corrupt GGUF metadata"):
        inspect_gguf(path)


def test_unknown_version(tmp_path):
    path = tmp_path / "v9.gguf"
    path.write_bytes(b"GGUF" + struct.pack("<IQQ", 9, 0, 0))
    with pytest.raises(ModelError, match=r"unsupported GGUF version 9"):
        inspect_gguf(path)
