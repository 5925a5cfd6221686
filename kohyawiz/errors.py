"""Errors a person can fix. The CLI prints them as one line and exits with code 2."""

from __future__ import annotations


class UserError(Exception):
    """A mistake in the input: a file, key or value, and what to do about it."""

    def __init__(self, message: str, *, where: str | None = None) -> None:
        self.where = where
        self.message = message
        super().__init__(f"{where}: {message}" if where else message)


class PlanRefused(UserError):
    """A plan that cannot be made, with every problem found; the message names the first (one
    line for the CLI), a face that lists them reads `problems`."""

    def __init__(self, problems: list[str]) -> None:
        self.problems = list(problems)
        more = f" (and {len(problems) - 1} more)" if len(problems) > 1 else ""
        super().__init__(problems[0] + more)
