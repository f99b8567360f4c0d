import os

import pytest


@pytest.fixture(scope="session", autouse=True)
def _session_model_cache(tmp_path_factory):
    """Synthetic builds go to a per-session cache, never the user's ~/.cache."""
    old = os.environ.get("RIGHTSIZE_CACHE")
    os.environ["RIGHTSIZE_CACHE"] = str(tmp_path_factory.mktemp("rightsize-cache"))
    yield
    if old is None:
        os.environ.pop("RIGHTSIZE_CACHE", None)
    else:
        os.environ["RIGHTSIZE_CACHE"] = old


@pytest.fixture(scope="session")
def tiny_gguf(_session_model_cache):
    from models.catalog import get_model
    from models.synthetic import materialize
    return materialize(get_model("tiny"), "Q4_K_M")
