"""The floor every measurement stands on: the engine seam (base.py), the engines behind it (one
subpackage each), the clock that times them (clock.py), the statistics (stats.py) and the engine
options (options.py). It imports only models/ and contract/ (docs/architecture.md).

Engines are imported only when chosen, so `bench --help` stays light.
"""

from __future__ import annotations

import importlib

from contract.errors import BackendError

# name on the command line -> (module, class, pip extra that installs the engine)
BACKENDS = {
    "llamacpp": ("engines.llamacpp.engine", "LlamaCppBackend", "llamacpp"),
    "openai": ("engines.openai.engine", "OpenAIBackend", "openai"),
    "llamacpp-server": ("engines.llamacpp.server", "LlamaCppServerBackend", "llamacpp-server"),
    "vllm": ("engines.vllm.engine", "VLLMBackend", "vllm"),
    "vllm-serve": ("engines.vllm.serve", "VLLMServeBackend", "vllm"),   # bench run --backend vllm --serve
    "mlx": ("engines.mlx.engine", "MLXBackend", "mlx"),
    "torch": ("engines.torch.engine", "TorchBackend", "torch"),
}


def model_format(name: str) -> str:
    """The model format (models/formats.py FORMATS) a backend runs, as its class names it; a backend
    whose server holds the model has none, and answers its own name."""
    return backend_class(name).model_format or name


def backend_class(name: str):
    """The backend's class (its name and capabilities) without creating it or importing its engine."""
    try:
        module_name, cls_name, _extra = BACKENDS[name]
    except KeyError:
        raise BackendError(f"unknown backend {name!r}", f"choose one of: {', '.join(BACKENDS)}") from None
    return getattr(importlib.import_module(module_name), cls_name)


def get_backend(name: str, **kwargs):
    """A ready backend; kwargs go to its constructor (e.g. api_key for HTTP backends)."""
    backend = backend_class(name)(**kwargs)
    backend.check_installed(BACKENDS[name][2])
    return backend
