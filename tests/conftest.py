"""Shared fixtures. Tests read as a spec: one behaviour per test, named for it."""
