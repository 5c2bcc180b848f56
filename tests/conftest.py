"""Shared fixtures. Tests read as a spec: one behaviour per test, named for it."""


import pytest

# Modules whose tests walk one platform's whole matrix (every token, inside one test).
MATRIX_MODULES = {"test_aws_ladder": "aws", "test_aws_policy": "aws", "test_aws_reactor_toml": "aws",
                  "test_fly_ladder": "fly", "test_fly_api_types": "fly",
                  "test_gcp_ladder": "gcp", "test_gcp_policy": "gcp",
                  "test_gcp_reactor_toml": "gcp",
                  "test_azure_ladder": "azure", "test_azure_policy": "azure", "test_azure_reactor_toml": "azure"}


def pytest_collection_modifyitems(items):
    """Renders are cached per worker process (`renders.py`), so a token rendered on both
    workers costs twice. Under xdist's `--dist loadgroup`, every test of one cloud platform's
    matrix (a whole-matrix module, or a test parametrised by one of its tokens) runs on one
    worker: each of its 87 tokens renders once per run. Other token-parametrised tests run on
    the worker that renders that token first."""
    for item in items:
        platform = MATRIX_MODULES.get(item.module.__name__.rsplit(".", 1)[-1])
        callspec = getattr(item, "callspec", None)
        token = callspec.params.get("token") if callspec else None
        if platform is None and isinstance(token, str):
            platform = next((p for p in set(MATRIX_MODULES.values()) if token.endswith(f"@{p}")), None)
        if platform is not None:
            item.add_marker(pytest.mark.xdist_group(f"{platform}-matrix"))
        elif isinstance(token, str):
            item.add_marker(pytest.mark.xdist_group(token))
