"""The failures the operator tool reports: each one line for a human; the class decides the exit code."""

from __future__ import annotations


class OpsError(Exception):
    """A request failed or an object of the stack is not there (exit 1); str() is one line an operator can act on."""


class UsageError(OpsError):
    """The input or the configuration is wrong: a bad outputs file, no credentials, no stack (exit 2)."""
