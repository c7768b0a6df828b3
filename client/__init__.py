"""The session-uploads client: `UploadClient` for programs, `python -m client` for people."""

from client.errors import ApiError, ClientError, UploadError, UsageError
from client.retry import Backoff
from client.uploader import DirUploadResult, UploadClient, UploadResult
from client.windows import find_windows, window_filename

__all__ = [
    "ApiError",
    "Backoff",
    "ClientError",
    "DirUploadResult",
    "UploadClient",
    "UploadError",
    "UploadResult",
    "UsageError",
    "find_windows",
    "window_filename",
]
