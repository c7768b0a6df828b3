"""Errors the domain raises; the API maps each to one HTTP status."""


class DomainError(Exception):
    """Base of the errors a caller can act on."""


class BadRequest(DomainError):
    """The input is invalid (400); the message names the field."""


class NotFound(DomainError):
    """The session does not exist or belongs to someone else (404): the message never says which."""


class Conflict(DomainError):
    """The request is valid but the session's state refuses it (409)."""


class WindowClaimInFlight(Exception):
    """Another invocation holds an unexpired claim on this window's ingest.

    Raised, not swallowed: if that claimant dies, this event's retry must still be able to take the claim over
    once the lease expires; if it succeeds, the retry finds the window ingested and does nothing.
    """


class OutOfTime(Exception):
    """Too little of the invocation's time is left to start another step safely: stop, and decide nothing more.
    `healed` holds the windows recorded before stopping (they stay recorded)."""

    def __init__(self, message: str, healed: list[int] | None = None):
        super().__init__(message)
        self.healed = healed or []
