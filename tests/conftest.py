import os
import warnings

import pytest


@pytest.fixture(scope="session", autouse=True)
def _session_model_cache(tmp_path_factory):
    """Synthetic builds go to a per-session cache, never the user's ~/.cache; the user's own API
    price rows (bench prices --update) are not read either."""
    old = {k: os.environ.get(k) for k in ("RIGHTSIZE_CACHE", "RIGHTSIZE_PRICES")}
    os.environ["RIGHTSIZE_CACHE"] = str(tmp_path_factory.mktemp("rightsize-cache"))
    os.environ["RIGHTSIZE_PRICES"] = str(tmp_path_factory.mktemp("rightsize-config") / "prices.json")
    yield
    for k, v in old.items():
        if v is None:
            os.environ.pop(k, None)
        else:
            os.environ[k] = v


@pytest.fixture(scope="session", autouse=True)
def _llamacpp_kernels_that_work_here(request, _session_model_cache):
    """Where some llama.cpp kernels crash (AMX on some Xeons), a test that loads llama.cpp in this
    process would take pytest down with it: probe once, as `bench run` does, and keep to what works.
    Only tests marked `engine` run llama.cpp: a session without one (-m "not engine") skips the
    probe, which takes seconds."""
    if not any(item.get_closest_marker("engine") for item in request.session.items):
        return
    from engines.llamacpp.health import protect_this_process

    choice = protect_this_process()
    if choice is not None and choice.workaround:
        warnings.warn(f"llama.cpp in this test session: {choice.workaround['line']}", stacklevel=2)


@pytest.fixture(scope="session")
def tiny_gguf(_session_model_cache):
    from models.catalog import get_model
    from models.synthetic import materialize
    return materialize(get_model("tiny"), "Q4_K_M")

