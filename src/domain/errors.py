"""The root of every typed domain error.

Entry points map ``InvalidInput`` to "bad request" (exit 2 / HTTP 422) and ``RuleViolation`` to
"refused by the rules" (exit 1 / HTTP 409), so each error says which kind it is.
"""

from __future__ import annotations

from pydantic import ValidationError


class DomainError(Exception):
    """A command refused by the domain; nothing was written."""

    code: str = "domain_error"

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason

    def __str__(self) -> str:
        return self.reason


class InvalidInput(DomainError):
    """The command itself is malformed: a bad identifier, an unknown region, a missing field."""

    code = "invalid_input"


class RuleViolation(DomainError):
    """The command is well formed but the rules forbid it in the holder's current state."""

    code = "rule_violation"


class NotFound(DomainError):
    """The command names a holder or card that the store does not know."""

    code = "not_found"


class ConfigurationError(ValueError):
    """A setting from the environment is missing or malformed, or a key does not fit the store
    it opens; says which variable (exit 2). Not a ``DomainError``: no command was refused.

    Here, at the bottom of the rooms, so that the composition root (which reads the settings)
    and the store (which checks its keys) raise the one kind entry points turn into exit 2."""

    def __init__(self, variable: str, problem: str) -> None:
        super().__init__(f"{variable} {problem}")
        self.variable = variable


def first_problem(exc: ValidationError, whole: str = "") -> tuple[str, str]:
    """The first of a validation's errors: where it is (the fields' dotted path, or ``whole``
    when it is the input as a whole) and what is wrong."""
    first = exc.errors()[0]
    return ".".join(str(part) for part in first["loc"]) or whole, str(first["msg"])
