"""Every backend is a Backend and exactly one of TokenEngine or HTTPEngine, by what it implements:
the run and the scenarios ask which protocol a backend speaks, so a backend with half a protocol
(or with members of both) would fail a run, or skip what the engine can do."""

import pytest

from engines import BACKENDS, backend_class
from engines.base import PROTOCOLS, Backend, HTTPEngine, TokenEngine, protocol_members, speaks

# what each backend is beyond Backend
EXPECTED = {"llamacpp": TokenEngine, "vllm": TokenEngine, "mlx": TokenEngine, "torch": TokenEngine,
            "openai": HTTPEngine, "llamacpp-server": HTTPEngine, "vllm-serve": HTTPEngine}


@pytest.mark.parametrize("name", sorted(BACKENDS))
def test_each_backend_speaks_exactly_one_protocol(name):
    cls = backend_class(name)
    backend = cls()
    assert isinstance(backend, Backend)
    spoken = [p for p in PROTOCOLS if isinstance(backend, p)]
    assert spoken == [EXPECTED[name]], (name, spoken)
    # a class answers the same as its instances (bench run asks before making one)
    assert [p for p in PROTOCOLS if speaks(cls, p)] == spoken
    # no member of the other protocol, not even a refusal: a caller cannot call the wrong half
    other = next(p for p in PROTOCOLS if p is not EXPECTED[name])
    assert not set(protocol_members(other)) - set(protocol_members(Backend)) & set(dir(cls)), name


@pytest.mark.parametrize("name", sorted(BACKENDS))
def test_engine_memory_is_a_measurement_its_capability_promises(name):
    cls = backend_class(name)
    from engines.base import EngineDefaults
    assert (cls.engine_memory is not EngineDefaults.engine_memory) == cls.capabilities.engine_memory, name


def test_the_protocols_list_what_scenarios_and_the_run_call():
    assert set(protocol_members(Backend)) == {"name", "capabilities", "engine_options", "check_installed", "prepare",
                                              "load", "engine_memory", "unload"}
    assert set(protocol_members(TokenEngine)) - set(protocol_members(Backend)) == {
        "generate", "engine_counters", "batch_session"}
    assert set(protocol_members(HTTPEngine)) - set(protocol_members(Backend)) == {
        "client", "prepare_prompts", "prompt", "stream", "request_timeout_s"}


def test_a_backend_with_half_a_protocol_is_neither():
    class Half:
        name = "half"

        def generate(self, prompt_token_ids, max_tokens, ignore_eos=True):
            yield 1

    assert not isinstance(Half(), TokenEngine) and not speaks(Half, TokenEngine)


# the module that reads each backend's options (llama.cpp's probe reads them for it)
READERS = {"llamacpp": ("llamacpp/engine", "llamacpp/health"), "llamacpp-server": ("llamacpp/server", "llamacpp/health"),
           "openai": ("openai/engine",), "vllm": ("vllm/engine",), "vllm-serve": ("vllm/serve",), "mlx": ("mlx/engine",),
           "torch": ("torch/engine",)}


@pytest.mark.parametrize("name", sorted(BACKENDS))
def test_every_option_an_engine_reads_is_declared_in_its_options(name):
    import re
    from pathlib import Path

    here = Path(__file__).resolve().parents[2] / "engines"
    read = set()
    for module in READERS[name]:
        read |= set(re.findall(r'options(?:\.get\(|\[)"(\w+)"', (here / f"{module}.py").read_text()))
    declared = backend_class(name).engine_options.keys()
    assert read, name
    assert read <= declared, (name, read - declared)


def test_llamacpp_options_reach_llamacpp_only():
    from engines.llamacpp.engine import LlamaCppFlags

    given = {"n_threads": 2, "n_gpu_layers": 0, "flash_attn": None, "n_batch": 64, "n_ubatch": 32, "n_ctx": 256,
             "verbose": False, "static_cache": True}
    assert backend_class("llamacpp").engine_options.keep(given).keys() == given.keys() - {"static_cache"}
    kept = backend_class("mlx").engine_options.keep(given)
    assert kept == {"n_ctx": 256}
    assert not set(backend_class("torch").engine_options.keep(given)) & (LlamaCppFlags.keys() - {"n_ctx", "n_threads"})
