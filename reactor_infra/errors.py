"""One error hierarchy for reactor-infra.

Every error a user can cause is a `UserError` (exit code 2: bad input) and every
operation that failed is an `OperationError` (exit code 1). The CLI prints
`lines()` in red, one problem per line, and never a traceback for either.
"""

from __future__ import annotations

from collections.abc import Sequence

MAX_SHOWN = 40


def shorten(text: str, limit: int = MAX_SHOWN) -> str:
    """Cut user input for messages so a pasted novel does not flood the terminal."""
    text = text.replace("\n", "\\n")
    return text if len(text) <= limit else text[: limit - 1] + "…"


class ReactorInfraError(Exception):
    """Base class; `exit_code` is what the CLI exits with."""

    exit_code = 1

    def lines(self) -> list[str]:
        return [str(self)]


class UserError(ReactorInfraError):
    """Bad input: a token, a stack file, an option. Exit code 2."""

    exit_code = 2


class OperationError(ReactorInfraError):
    """Something we tried did not work (a missing CLI, a failed update). Exit code 1."""

    exit_code = 1


class ProblemsError(UserError):
    """A user error that carries several problems, one line each."""

    def __init__(self, subject: str, problems: Sequence[str]):
        self.subject = subject
        self.problems = list(problems)
        super().__init__("; ".join(self.lines()))

    def lines(self) -> list[str]:
        return [f"{self.subject}: {p}" for p in self.problems]


class SettingsError(ProblemsError):
    """A stack file or settings value is wrong."""


class PlatformMissingError(OperationError):
    """A platform plugin is not installed."""


class PulumiMissingError(OperationError):
    """The Pulumi CLI (or the pulumi Python package) is not available."""
