import pytest


@pytest.fixture(scope="session")
def model_cache(tmp_path_factory):
    """One cache for the session: tiny builds are shared between tests that only read them."""
    return tmp_path_factory.mktemp("model-cache")
