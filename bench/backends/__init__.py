"""Inference engines behind the Backend protocol, one module each.

Engines are imported only when chosen, so `bench --help` stays light.
"""

from __future__ import annotations

import importlib

from bench.errors import BackendError

# name on the command line -> (module, class, pip extra that installs the engine)
BACKENDS = {
    "llamacpp": ("bench.backends.llamacpp", "LlamaCppBackend", "llamacpp"),
}


def get_backend(name: str):
    try:
        module_name, cls_name, extra = BACKENDS[name]
    except KeyError:
        raise BackendError(f"unknown backend {name!r}", f"choose one of: {', '.join(BACKENDS)}") from None
    module = importlib.import_module(module_name)
    backend = getattr(module, cls_name)()
    backend.check_installed(extra)
    return backend
