"""Shared fixtures. Tests read as a spec: one behaviour per test, named for it."""


import pytest


def pytest_collection_modifyitems(items):
    """Tests parametrised by a token run on the worker that renders that token first (xdist
    `--dist loadgroup`): each token renders once per run, not once per worker that meets it."""
    for item in items:
        callspec = getattr(item, "callspec", None)
        token = callspec.params.get("token") if callspec else None
        if isinstance(token, str):
            item.add_marker(pytest.mark.xdist_group(token))
