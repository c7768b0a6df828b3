"""The failures the client reports: each one line for a human, typed for a program."""

from __future__ import annotations


class ClientError(Exception):
    """Base of every failure the client raises; str() is one line that a user can act on."""


class UsageError(ClientError):
    """The caller's input or configuration is wrong (missing API URL, no such file): nothing was sent."""


class ApiError(ClientError):
    """The session API refused a request or could not be reached (status None: no HTTP answer)."""

    def __init__(self, operation: str, message: str, *, status: int | None = None) -> None:
        self.operation = operation
        self.message = message
        self.status = status
        super().__init__(f"{operation}: {_with_status(message, status)}")


class UploadError(ClientError):
    """One half of a window (its audio, or its frames bundle) could not be uploaded; `status` is the last HTTP status
    (None: a network error)."""

    def __init__(
        self, window: int, message: str, *, status: int | None = None, attempts: int = 1, half: str = "audio"
    ) -> None:
        self.window = window
        self.half = half
        self.message = message
        self.status = status
        self.attempts = attempts
        tries = f" after {attempts} attempts" if attempts > 1 else ""
        which = f"window {window}" if half == "audio" else f"window {window} ({half})"
        super().__init__(f"{which}: {_with_status(message, status)}{tries}")


def _with_status(message: str, status: int | None) -> str:
    return f"HTTP {status}: {message}" if status is not None else message
