"""Every backend matches the Backend protocol, and its capabilities say truly what it implements:
the run and the scenarios ask the capabilities, so a capability without its methods (or methods
without their capability) would fail a run, or skip what the engine can do."""

import pytest

from engines import BACKENDS, backend_class
from engines.base import Backend, EngineDefaults, protocol_members

# the methods each capability promises; EngineDefaults refuses them where it is False
PROMISED = {
    "microbenchmarks": ("generate",),
    "http": ("client", "prepare_prompts", "prompt", "stream"),
    "engine_memory": ("engine_memory",),
}


def _own(cls, method: str) -> bool:
    """The class (or a base of its own) implements `method`, rather than EngineDefaults' refusal."""
    return getattr(cls, method) is not getattr(EngineDefaults, method)


@pytest.mark.parametrize("name", sorted(BACKENDS))
def test_each_backend_class_declares_every_protocol_member(name):
    cls = backend_class(name)
    missing = [m for m in protocol_members() if not hasattr(cls, m)]
    assert not missing, f"{cls.__name__} lacks {missing}"
    assert isinstance(cls(), Backend)


@pytest.mark.parametrize("name", sorted(BACKENDS))
def test_capabilities_match_what_each_backend_implements(name):
    cls = backend_class(name)
    caps = cls.capabilities
    for capability, methods in PROMISED.items():
        for method in methods:
            assert _own(cls, method) == getattr(caps, capability), (name, capability, method)
    # in-process load levels step a batch session; over HTTP the server batches
    assert _own(cls, "batch_session") == (caps.batching and not caps.http), name


def test_a_missing_feature_is_refused_naming_the_capability():
    backend = backend_class("openai")()
    with pytest.raises(NotImplementedError, match=r"no in-process batch session: ask its capabilities first"):
        backend.batch_session(2, 64)
    with pytest.raises(NotImplementedError, match=r"\(microbenchmarks\)"):
        next(backend.generate([1], 1))


def test_the_protocol_lists_what_scenarios_and_the_run_call():
    used = {"name", "capabilities", "engine_options", "check_installed", "prepare", "load", "generate",
            "engine_counters", "engine_memory", "batch_session", "client", "prepare_prompts", "prompt",
            "stream", "request_timeout_s", "unload"}
    assert used <= set(protocol_members())


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
