"""bench quality end to end on the tiny synthetic model: real llama.cpp, real quantization."""

import json

import pytest

from bench.quality.run import QualityConfig, execute
from bench.quality.text import DEFAULT_TEXT, load_text
from contract import documents

pytestmark = pytest.mark.engine   # real llama.cpp quantizing and scoring


@pytest.fixture(scope="module")
def tiny_quality(tmp_path_factory):
    out = tmp_path_factory.mktemp("quality")
    return execute(QualityConfig(model="tiny", quants=["Q8_0", "Q4_K_M", "Q2_K"], chunks=4, results_dir=out))


def test_loss_rises_down_the_quant_ladder(tiny_quality):
    """A property of the quantizer: fewer bits, a larger error, so this can fail."""
    q = tiny_quality.doc["quality"]["quants"]
    klds = [q[n]["kld"]["value"] for n in ("Q8_0", "Q4_K_M", "Q2_K")]
    disagree = [1 - q[n]["same_top"]["value"] for n in ("Q8_0", "Q4_K_M", "Q2_K")]
    assert klds[0] < klds[1] < klds[2]
    assert disagree[0] < disagree[1] < disagree[2]
    # and each step is well outside its 95% interval
    for lo, hi in zip(("Q8_0", "Q4_K_M"), ("Q4_K_M", "Q2_K"), strict=True):
        assert q[lo]["kld"]["ci95"][1] < q[hi]["kld"]["ci95"][0]


def test_the_outcome_is_a_result_of_its_own_kind(tiny_quality):
    doc = json.loads(tiny_quality.path.read_text())
    out = documents.outcome(doc, tiny_quality.path)     # the contract reads it back, typed
    kind, body = out.kind, doc[out.kind]
    assert kind == "quality" and doc["status"] == "completed"
    assert body["weights"] == "synthetic" and "random weights" in body["what_it_measures"]
    assert body["windows"] == 4 and body["scored_tokens"] == 4 * 255
    assert body["published"] is None            # nothing published for the test model
    for quant in body["quants"].values():
        assert quant["count"] == 4 * 255
        assert quant["timing"]["seconds"] > 0 and quant["timing"]["windows"] == 4
    assert body["reference"]["timing"]["s_per_window"] > 0


def test_published_deltas_are_reference_data_beside_a_catalog_model():
    from models.published_quality import published_deltas

    pub = published_deltas("llama-3.1-8b", ["F16", "Q8_0", "Q4_K_M", "Q2_K"])
    assert pub is not None
    assert pub["observed"] == "2026-10-01" and "tools/perplexity/README.md" in pub["source"]
    assert "Llama 3 8B" in pub["note"]          # said to be the nearest published model, not 3.1
    assert pub["rows"]["Q4_K_M"]["kld"] == [0.031273, 0.000238]
    kld = [pub["rows"][q]["kld"][0] for q in ("F16", "Q8_0", "Q4_K_M", "Q2_K")]
    assert kld == sorted(kld)
    assert published_deltas("tiny", ["Q8_0"]) is None


def test_a_file_is_compared_with_llama_cpp_quantizations_of_itself(tmp_path):
    from models.catalog import get_model
    from models.synthetic import materialize

    f16 = materialize(get_model("tiny"), "F16")
    out = execute(QualityConfig(model=str(f16), quants=["Q8_0"], chunks=2, results_dir=tmp_path,
                                cache_dir=tmp_path / "cache"))
    body = out.doc["quality"]
    assert body["reference"]["quant"] == "F16"
    assert body["weights"] == "synthetic"       # the file says the suite built it
    assert body["quants"]["Q8_0"]["kld"]["value"] > 0
    assert (tmp_path / "cache" / "quantized").is_dir()


def test_default_text_is_public_domain_and_long_enough():
    text = load_text(None)
    assert text.default and "public domain" in text.source
    assert (DEFAULT_TEXT.parent / "SOURCE.md").exists()
    import llama_cpp

    from models.catalog import get_model
    from models.synthetic import materialize

    vocab = llama_cpp.Llama(str(materialize(get_model("tiny"), "Q4_K_M")), vocab_only=True, verbose=False)
    assert len(vocab.tokenize(text.body.encode(), add_bos=True)) >= 20_000
    assert "Gutenberg" not in text.body         # no Project Gutenberg header or licence inside the text


def test_the_table_shows_each_quant_from_the_typed_outcome(tiny_quality):
    from rich.console import Console

    from bench.commands.quality import quality_table

    console = Console(width=300, record=True)
    console.print(quality_table(tiny_quality.document))
    text = console.export_text()
    q = tiny_quality.doc["quality"]
    assert f"over {q['windows']} windows of {q['n_ctx']} tokens ({q['scored_tokens']} scored)" in text
    for name, s in q["quants"].items():
        row = next(line for line in text.splitlines() if line.strip("│ ").startswith(name))
        assert f"{s['kld']['value']:.5f} ± {s['kld']['uncertainty']:.5f}" in row and f"{s['kld']['median']:.5f}" in row
