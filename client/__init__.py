"""The session-uploads client: `UploadClient` for programs, `python -m client` for people."""

from client.errors import ApiError, ClientError, UploadError, UsageError
from client.retry import Backoff
from client.uploader import DirUploadResult, UploadClient, UploadResult
from client.windows import WindowFiles, find_window_files, find_windows, frame_count, window_filename

__all__ = [
    "ApiError",
    "Backoff",
    "ClientError",
    "DirUploadResult",
    "UploadClient",
    "UploadError",
    "UploadResult",
    "UsageError",
    "WindowFiles",
    "find_window_files",
    "find_windows",
    "frame_count",
    "window_filename",
]
