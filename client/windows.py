"""A window's bytes on disk or in memory: file naming, size, SHA-256, and a streaming reader that reports progress."""

from __future__ import annotations

import base64
import hashlib
import io
import os
import re
from collections.abc import Callable
from pathlib import Path
from typing import BinaryIO

from client.errors import UsageError

Progress = Callable[[int, int], None]  # (bytes sent so far, total bytes); sent drops back to 0 when an attempt restarts

# The API's largest window index (handlers/layout.py; tests/client/test_cli_arguments.py holds the two equal).
MAX_WINDOW_INDEX = 99_999
_FILE_RE = re.compile(r"^window_(\d{3,})\.wav$")
_CHUNK = 1024 * 1024


def window_filename(index: int) -> str:
    return f"window_{index:03d}.wav"


def find_windows(directory: str | os.PathLike) -> dict[int, Path]:
    """Every window_NNN.wav in `directory`, by window index (only canonical names: window_0007.wav is ignored)."""
    root = Path(directory)
    if not root.is_dir():
        raise UsageError(f"not a directory: {root}")
    found = {}
    for path in root.iterdir():
        match = _FILE_RE.match(path.name)
        if match and path.name == window_filename(int(match[1])) and path.is_file():
            found[int(match[1])] = path
    return dict(sorted(found.items()))


class WindowBody:
    """The bytes of one window: a file (streamed, never loaded whole) or a bytes object."""

    def __init__(self, source: str | os.PathLike | bytes) -> None:
        if isinstance(source, (bytes, bytearray, memoryview)):
            self._data: bytes | None = bytes(source)
            self._path: Path | None = None
            self.size = len(self._data)
        else:
            self._data, self._path = None, Path(source)
            try:
                self.size = self._path.stat().st_size
            except OSError as exc:
                raise UsageError(f"cannot read {self._path}: {exc.strerror}") from None

    def _open(self) -> BinaryIO:
        if self._data is not None:
            return io.BytesIO(self._data)
        try:
            return self._path.open("rb")
        except OSError as exc:
            raise UsageError(f"cannot read {self._path}: {exc.strerror}") from None

    def sha256(self) -> str:
        """The base64 SHA-256 that S3 checks in x-amz-checksum-sha256."""
        digest = hashlib.sha256()
        with self._open() as stream:
            while chunk := stream.read(_CHUNK):
                digest.update(chunk)
        return base64.b64encode(digest.digest()).decode()

    def reader(self, progress: Progress | None = None) -> _Reader:
        """A fresh stream from the first byte, for one attempt; close it after the attempt."""
        return _Reader(self._open(), self.size, progress)


class _Reader:
    """A file-like body: `requests` sends it in blocks (reading `read`) with Content-Length from `__len__`."""

    def __init__(self, stream: BinaryIO, size: int, progress: Progress | None) -> None:
        self._stream, self._size, self._progress, self._sent = stream, size, progress, 0
        if progress:
            progress(0, size)

    def __len__(self) -> int:
        return self._size

    def read(self, amount: int = -1) -> bytes:
        chunk = self._stream.read(amount)
        self._sent += len(chunk)
        if self._progress and chunk:
            self._progress(self._sent, self._size)
        return chunk

    def close(self) -> None:
        self._stream.close()
