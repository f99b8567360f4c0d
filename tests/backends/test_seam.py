"""Every backend is a Backend and exactly one of TokenEngine or HTTPEngine, by what it implements:
the run and the scenarios ask which protocol a backend speaks, so a backend with half a protocol
(or with members of both) would fail a run, or skip what the engine can do."""

import pytest

from engines import BACKENDS, backend_class
from engines.base import PROTOCOLS, Backend, HTTPEngine, TokenEngine, protocol_members, speaks

# what the built-in backends are beyond Backend (an engine added later needs no line here: it is
# held to speaking exactly one protocol)
EXPECTED = {"llamacpp": TokenEngine, "vllm": TokenEngine, "mlx": TokenEngine, "torch": TokenEngine,
            "openai": HTTPEngine, "llamacpp-server": HTTPEngine, "vllm-serve": HTTPEngine}


@pytest.mark.parametrize("name", sorted(BACKENDS))
def test_each_backend_speaks_exactly_one_protocol(name):
    cls = backend_class(name)
    backend = cls()
    assert isinstance(backend, Backend)
    spoken = [p for p in PROTOCOLS if isinstance(backend, p)]
    assert len(spoken) == 1 and spoken == [EXPECTED.get(name, spoken[0])], (name, spoken)
    # a class answers the same as its instances (bench run asks before making one)
    assert [p for p in PROTOCOLS if speaks(cls, p)] == spoken
    # no member of the other protocol, not even a refusal: a caller cannot call the wrong half
    other = next(p for p in PROTOCOLS if p is not spoken[0])
    assert not set(protocol_members(other)) - set(protocol_members(Backend)) & set(dir(cls)), name


@pytest.mark.parametrize("name", sorted(BACKENDS))
def test_engine_memory_is_a_measurement_its_capability_promises(name):
    cls = backend_class(name)
    from engines.base import EngineDefaults
    assert (cls.engine_memory is not EngineDefaults.engine_memory) == cls.capabilities.engine_memory, name


@pytest.mark.parametrize("name", sorted(BACKENDS))
def test_each_engine_names_the_model_format_it_runs(name):
    from engines import model_format
    from models.formats import FORMATS

    cls = backend_class(name)
    assert (cls.model_format in FORMATS) == cls.capabilities.local_model, name   # else a server holds the model
    assert model_format(name) == (cls.model_format or name)


def test_the_protocols_list_what_scenarios_and_the_run_call():
    assert set(protocol_members(Backend)) == {"name", "capabilities", "model_format", "engine_options",
                                              "check_installed", "prepare", "load", "engine_memory", "unload"}
    assert set(protocol_members(TokenEngine)) - set(protocol_members(Backend)) == {
        "generate", "engine_counters", "batch_session"}
    assert set(protocol_members(HTTPEngine)) - set(protocol_members(Backend)) == {
        "client", "prepare_prompts", "prompt", "stream", "request_timeout_s", "text_counter"}


def test_a_backend_with_half_a_protocol_is_neither():
    class Half:
        name = "half"

        def generate(self, prompt_token_ids, max_tokens, ignore_eos=True):
            yield 1

    assert not isinstance(Half(), TokenEngine) and not speaks(Half, TokenEngine)


# the modules that read each backend's options (llama.cpp's probe reads them for it); else the
# module the registry names
READERS = {"llamacpp": ("llamacpp/engine", "llamacpp/health"), "llamacpp-server": ("llamacpp/server", "llamacpp/health"),
           "openai": ("openai/engine",), "vllm": ("vllm/engine",), "vllm-serve": ("vllm/serve",), "mlx": ("mlx/engine",),
           "torch": ("torch/engine",)}


@pytest.mark.parametrize("name", sorted(BACKENDS))
def test_each_engine_reads_its_options_typed_never_by_key(name):
    """An engine's options are its pydantic model's fields, each with its one default: no module reads
    an option by key with a default of its own (`options.get("n_batch", 2048)`)."""
    import re
    from pathlib import Path

    from pydantic import BaseModel

    from engines.options import EngineOptions

    model = backend_class(name).engine_options
    assert issubclass(model, EngineOptions) and issubclass(model, BaseModel), name
    assert model.model_config.get("extra") == "forbid" and model.model_config.get("frozen"), name
    here = Path(__file__).resolve().parents[2] / "engines"
    for module in READERS.get(name, (BACKENDS[name][0].removeprefix("engines.").replace(".", "/"),)):
        source = (here / f"{module}.py").read_text()
        assert not re.findall(r'\bo(?:ptions)?(?:\.get\(|\[)"(\w+)"', source), (name, module)


def test_an_unknown_option_is_one_line_naming_the_key_and_the_fix():
    from contract.errors import BenchError
    from engines.llamacpp.options import LlamaCppOptions

    with pytest.raises(BenchError) as err:
        LlamaCppOptions.of({"n_ctx": 256, "n_treads": 2}, "llamacpp")
    line = str(err.value)
    assert "\n" not in line and "'n_treads'" in line and "--backend llamacpp" in line
    assert "drop it" in line and "n_threads" in line            # the fix, and the keys it reads
    with pytest.raises(BenchError, match=r"option n_batch='many' for --backend llamacpp: .*integer"):
        LlamaCppOptions.of({"n_batch": "many"}, "llamacpp")


def test_defaults_come_from_the_options_model():
    """None means "not given": the field's default, which is declared once, in the model; the result
    records the keys given with the values the engine ran with."""
    from engines.llamacpp.options import LlamaCppOptions
    from engines.vllm.engine import VLLMOptions

    o = LlamaCppOptions.of({"n_ctx": 256, "n_batch": None, "n_threads": None, "flash_attn": None}, "llamacpp")
    assert (o.n_batch, o.n_ubatch, o.n_gpu_layers, o.amx) == (2048, 512, -1, "auto")
    assert o.given() == {"n_ctx": 256, "n_batch": 2048, "n_threads": None, "flash_attn": None}
    assert o.with_(extra_buffer_types=["CPU_REPACK"]).given()["extra_buffer_types"] == ["CPU_REPACK"]
    assert LlamaCppOptions.of(o) is o                       # made once, passed on as it is
    v = VLLMOptions.of({"n_ctx": 128})
    assert (v.quant, v.dtype, v.tensor_parallel_size, v.enforce_eager) == ("bf16", "auto", 1, False)


def test_bench_runs_flag_defaults_are_the_models():
    """`bench run --help` shows llama.cpp's defaults without importing an engine: they must be the model's."""
    from bench.commands.run import run as run_command
    from engines.llamacpp.options import LlamaCppFlags

    defaults = {p.name: p.default for p in run_command.params}
    for flag, field in (("gpu_layers", "n_gpu_layers"), ("batch_size", "n_batch"), ("ubatch_size", "n_ubatch")):
        assert defaults[flag] == LlamaCppFlags.model_fields[field].default, flag


def test_llamacpp_options_reach_llamacpp_only():
    from engines.llamacpp.engine import LlamaCppFlags

    given = {"n_threads": 2, "n_gpu_layers": 0, "flash_attn": None, "n_batch": 64, "n_ubatch": 32, "n_ctx": 256,
             "verbose": False, "static_cache": True}
    assert backend_class("llamacpp").engine_options.keep(given).keys() == given.keys() - {"static_cache"}
    kept = backend_class("mlx").engine_options.keep(given)
    assert kept == {"n_ctx": 256}
    assert not set(backend_class("torch").engine_options.keep(given)) & (LlamaCppFlags.keys() - {"n_ctx", "n_threads"})
