"""A window's bytes on disk or in memory: file naming, size, SHA-256 (and MD5), the frame count of a frames bundle, and a
streaming reader that reports progress."""

from __future__ import annotations

import base64
import hashlib
import io
import os
import re
import zipfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO

from client.errors import UsageError

Progress = Callable[[int, int], None]  # (bytes sent so far, total bytes); sent drops back to 0 when an attempt restarts

# The API's largest window index and frame count, and the most halves one grants request asks for (handlers/layout.py
# and handlers/contract.py; tests/client/test_cli_arguments.py holds them equal).
MAX_WINDOW_INDEX = 99_999
MAX_FRAMES_PER_WINDOW = 3_600
MAX_GRANTS_PER_REQUEST = 32
# The halves of a window, as the API names them (its routes, the windows route's fields), and their files' suffixes.
AUDIO, FRAMES = "audio", "frames"
HALVES = (AUDIO, FRAMES)
_EXTENSIONS = {AUDIO: "wav", FRAMES: "zip"}
_FILE_RE = re.compile(r"^window_(\d{3,})\.(wav|zip)$")
_CHUNK = 1024 * 1024


def window_filename(index: int, half: str = AUDIO) -> str:
    """window_007.wav (the audio), window_007.zip (the frames bundle)."""
    return f"window_{index:03d}.{_EXTENSIONS[half]}"


@dataclass(frozen=True)
class WindowFiles:
    """A window's files in a directory: its audio and its frames bundle, each None when absent."""

    audio: Path | None = None
    frames: Path | None = None

    def of(self, half: str) -> Path | None:
        return self.audio if half == AUDIO else self.frames

    @property
    def halves(self) -> tuple[str, ...]:
        return tuple(half for half in HALVES if self.of(half) is not None)


def find_window_files(directory: str | os.PathLike) -> dict[int, WindowFiles]:
    """Every window_NNN.wav and window_NNN.zip in `directory`, by window index (only canonical names:
    window_0007.wav is ignored)."""
    root = Path(directory)
    if not root.is_dir():
        raise UsageError(f"not a directory: {root}")
    found: dict[int, dict[str, Path]] = {}
    for path in root.iterdir():
        match = _FILE_RE.match(path.name)
        if not match:
            continue
        index, half = int(match[1]), AUDIO if match[2] == "wav" else FRAMES
        if path.name == window_filename(index, half) and path.is_file():
            found.setdefault(index, {})[half] = path
    return {index: WindowFiles(**found[index]) for index in sorted(found)}


def find_windows(directory: str | os.PathLike) -> dict[int, Path]:
    """Every window_NNN.wav in `directory`, by window index (only canonical names: window_0007.wav is ignored)."""
    return {index: files.audio for index, files in find_window_files(directory).items() if files.audio is not None}


def frame_count(source: str | os.PathLike | bytes) -> int:
    """How many frames a bundle holds: its ZIP entries, counted from the central directory as the API counts them
    (every entry, directories included). UsageError for anything that is not a ZIP archive with at least one."""
    if isinstance(source, (bytes, bytearray, memoryview)):
        name, archive = "the frames bundle", io.BytesIO(bytes(source))
    else:
        name, archive = str(source), source
    try:
        with zipfile.ZipFile(archive) as bundle:
            count = len(bundle.infolist())
    except zipfile.BadZipFile:
        raise UsageError(f"{name} is not a ZIP archive") from None
    except OSError as exc:
        raise UsageError(f"cannot read {name}: {exc.strerror or exc}") from None
    if not 1 <= count <= MAX_FRAMES_PER_WINDOW:
        raise UsageError(f"{name} holds {count} frames: a window holds 1 to {MAX_FRAMES_PER_WINDOW}")
    return count


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

    def _digest(self, algorithm: str) -> bytes:
        digest = hashlib.new(algorithm)
        with self._open() as stream:
            while chunk := stream.read(_CHUNK):
                digest.update(chunk)
        return digest.digest()

    def sha256(self) -> str:
        """The base64 SHA-256 that S3 checks in x-amz-checksum-sha256."""
        return base64.b64encode(self._digest("sha256")).decode()

    def md5_hex(self) -> str:
        """The hex MD5: S3's ETag of an object stored by one PUT with SSE-S3 (not with SSE-KMS)."""
        return self._digest("md5").hex()

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
