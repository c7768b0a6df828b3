"""What arrived: a window's audio (the head of a RIFF/WAVE file) and frames bundle (the end records of a ZIP).

Pure: the bytes a ranged GET returned and the object's size in, a typed result out (`WavFormat`, `ZipSummary`, or
`Invalid` with a short reason for a human). No AWS, stdlib only, and no input makes a parser raise.

The completion path reads an object's size from HeadObject, then GETs `wav_head_range(size)` or
`zip_tail_range(size)` and hands the bytes to `parse_wav_header` or `parse_zip_tail` (then `check_frames`).

Decisions, each refusing what a correct writer never produces (the objects come from our own clients):
- WAV: integer PCM only, as WAVE_FORMAT_PCM or WAVE_FORMAT_EXTENSIBLE with the PCM subformat; float, A-law,
  mu-law, ADPCM and compressed formats are refused. `block_align` and `byte_rate` must be the ones the format
  implies. The `fmt ` chunk must precede the `data` chunk, and both chunk headers must lie within the bytes read
  (`WAV_HEAD_BYTES`): a head whose `data` header lies further is refused, not read a second time (a canonical
  header is 44 bytes; LIST, bext and JUNK chunks before the data are far smaller than 4 KiB in practice).
- WAV: the duration is the `data` chunk's declared size over the byte rate. The data must be whole frames and
  not empty, and lie within the object (otherwise "truncated") and within the RIFF chunk. The object must be
  exactly the RIFF chunk: 8 + the RIFF size bytes, or one byte more when that size is odd (the pad byte of an
  odd last chunk, which some writers leave out of the RIFF size; Python's `wave` writes no pad byte at all).
  Other bytes after the RIFF chunk are refused, and so is a RIFF size larger than the object.
- ZIP: the end of central directory record must end the object exactly (its comment runs to the last byte), the
  archive must be on one disk, and the central directory must end where the end records begin (no bytes
  prepended to the archive, as self-extracting archives have). A ZIP64 end record is used whenever its locator
  precedes the end record, as Python's `zipfile` reads it; the ZIP64 record must then agree with every field of
  the end record that is not saturated (0xFFFF, 0xFFFFFFFF). Entries are counted as the end record says,
  directory entries included.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass

WAV_HEAD_BYTES = 4096
"""How many first bytes of an audio object `parse_wav_header` needs: the ranged GET's size."""

_ZIP_END_RECORD_BYTES = 22
_ZIP_MAX_COMMENT_BYTES = 0xFFFF
_ZIP64_LOCATOR_BYTES = 20
_ZIP64_END_RECORD_BYTES = 56
ZIP_TAIL_BYTES = _ZIP64_END_RECORD_BYTES + _ZIP64_LOCATOR_BYTES + _ZIP_END_RECORD_BYTES + _ZIP_MAX_COMMENT_BYTES
"""How many last bytes of a frames bundle `parse_zip_tail` needs: the end record with the longest comment, and
the ZIP64 locator and end record that may precede it (65,633)."""


@dataclass(frozen=True)
class Invalid:
    """The object is not what its key says it is; `reason` is one short line for a human."""

    reason: str


@dataclass(frozen=True)
class WavFormat:
    """A RIFF/WAVE file's PCM format and where its samples lie. `bits_per_sample` is the significant bits (a
    WAVE_FORMAT_EXTENSIBLE file's valid bits); `block_align` is the bytes of one frame (a sample per channel)."""

    sample_rate: int
    channels: int
    bits_per_sample: int
    block_align: int
    data_offset: int
    data_bytes: int

    @property
    def byte_rate(self) -> int:
        return self.sample_rate * self.block_align

    @property
    def frame_count(self) -> int:
        return self.data_bytes // self.block_align

    @property
    def duration_seconds(self) -> float:
        return self.data_bytes / self.byte_rate

    @property
    def duration_ms(self) -> int:
        """Whole milliseconds, rounded down (an integer stores exactly in DynamoDB)."""
        return self.data_bytes * 1000 // self.byte_rate


@dataclass(frozen=True)
class ZipSummary:
    """A ZIP archive's end records: how many entries, where its central directory lies, and its comment's size."""

    entry_count: int
    central_directory_offset: int
    central_directory_size: int
    comment_bytes: int
    zip64: bool


def wav_head_range(object_size: int) -> str | None:
    """The Range header that GETs what `parse_wav_header` needs: the first `WAV_HEAD_BYTES` (all of a smaller
    object). None for an empty object, which has no byte to range over (S3 would answer 416)."""
    if object_size <= 0:
        return None
    return f"bytes=0-{min(object_size, WAV_HEAD_BYTES) - 1}"


def zip_tail_range(object_size: int) -> str | None:
    """The Range header that GETs what `parse_zip_tail` needs: the last `ZIP_TAIL_BYTES` (all of a smaller
    object). None for an empty object."""
    if object_size <= 0:
        return None
    return f"bytes=-{min(object_size, ZIP_TAIL_BYTES)}"


# --- WAV --------------------------------------------------------------------------------------------------------

_WAVE_FORMAT_PCM = 0x0001
_WAVE_FORMAT_EXTENSIBLE = 0xFFFE
_KSDATAFORMAT_SUBTYPE_PCM = bytes.fromhex("0100000000001000800000aa00389b71")
_FORMAT_NAMES = {
    0x0002: "ADPCM",
    0x0003: "IEEE float",
    0x0006: "A-law",
    0x0007: "mu-law",
    0x0011: "IMA ADPCM",
    0x0055: "MP3",
}


@dataclass(frozen=True)
class _Fmt:
    channels: int
    sample_rate: int
    bits_per_sample: int
    block_align: int


def parse_wav_header(head: bytes, object_size: int) -> WavFormat | Invalid:
    """The format of a RIFF/WAVE object of `object_size` bytes, from its first bytes (`head`, at most the object)."""
    if len(head) > object_size:
        return Invalid(f"{len(head)} bytes read from an object of {object_size}")
    if len(head) < 12:
        if not b"RIFF".startswith(head[:4]):
            return Invalid("not a RIFF/WAVE file")
        if object_size < 12:
            return Invalid(f"too short for a WAV file: {object_size} bytes")
        return Invalid(f"only {len(head)} bytes read: a WAV header needs more")
    if head[:4] != b"RIFF" or head[8:12] != b"WAVE":
        return Invalid("not a RIFF/WAVE file")
    riff_size = _u32(head, 4)
    riff_end = 8 + riff_size

    # The walk is bounded by the object, not by the RIFF size: a wrong RIFF size (a streaming writer's placeholder)
    # is then reported as such below, rather than as a missing chunk.
    fmt: _Fmt | None = None
    offset = 12
    while True:
        if offset + 8 > object_size:
            return Invalid("no data chunk")
        if offset + 8 > len(head):
            return Invalid(f"no data chunk in the first {len(head)} bytes")
        chunk, size, body = head[offset : offset + 4], _u32(head, offset + 4), offset + 8
        if chunk == b"data":
            break
        if body + size > object_size:
            name = _chunk_name(chunk)
            return Invalid(f"truncated: {name} chunk declares {size} bytes, object holds {object_size - body}")
        if chunk == b"fmt ":
            if fmt is not None:
                return Invalid("two fmt chunks")
            if body + size > len(head):
                return Invalid(f"fmt chunk ends past the first {len(head)} bytes")
            parsed = _parse_fmt(head[body : body + size])
            if isinstance(parsed, Invalid):
                return parsed
            fmt = parsed
        offset = body + size + (size & 1)  # a chunk of odd size is followed by a pad byte

    data_offset, data_bytes = offset + 8, size
    if fmt is None:
        return Invalid("no fmt chunk before the data chunk")
    if data_offset + data_bytes > object_size:
        return Invalid(f"truncated: data chunk declares {data_bytes} bytes, object holds {object_size - data_offset}")
    if riff_end > object_size:
        return Invalid(f"truncated: RIFF header declares {riff_end} bytes, object has {object_size}")
    if object_size != riff_end and not (riff_size % 2 == 1 and object_size == riff_end + 1):
        return Invalid(f"RIFF header declares {riff_end} bytes: {object_size - riff_end} bytes follow it")
    if data_offset + data_bytes > riff_end:
        return Invalid("data chunk extends past the RIFF chunk")
    if data_bytes == 0:
        return Invalid("no audio: the data chunk is empty")
    if data_bytes % fmt.block_align:
        return Invalid(f"data chunk of {data_bytes} bytes is not a whole number of {fmt.block_align}-byte frames")
    return WavFormat(
        sample_rate=fmt.sample_rate,
        channels=fmt.channels,
        bits_per_sample=fmt.bits_per_sample,
        block_align=fmt.block_align,
        data_offset=data_offset,
        data_bytes=data_bytes,
    )


def _parse_fmt(body: bytes) -> _Fmt | Invalid:
    if len(body) < 16:
        return Invalid(f"fmt chunk too short ({len(body)} bytes)")
    tag, channels, sample_rate, byte_rate, block_align, container_bits = struct.unpack_from("<HHIIHH", body)
    significant_bits = container_bits
    if tag == _WAVE_FORMAT_EXTENSIBLE:
        if len(body) < 40:
            return Invalid(f"fmt chunk too short for WAVE_FORMAT_EXTENSIBLE ({len(body)} bytes)")
        extension_size, valid_bits = struct.unpack_from("<HH", body, 16)
        if extension_size < 22:
            return Invalid(f"fmt chunk's WAVE_FORMAT_EXTENSIBLE extension too short ({extension_size} bytes)")
        if body[24:40] != _KSDATAFORMAT_SUBTYPE_PCM:
            return Invalid("unsupported WAVE_FORMAT_EXTENSIBLE subformat: only PCM")
        if container_bits % 8 or valid_bits > container_bits:
            return Invalid(f"fmt chunk: {valid_bits} valid bits in {container_bits}-bit samples")
        significant_bits = valid_bits or container_bits  # 0: every bit of the container
    elif tag != _WAVE_FORMAT_PCM:
        name = _FORMAT_NAMES.get(tag)
        return Invalid(f"unsupported audio format 0x{tag:04x}{f' ({name})' if name else ''}: only PCM")
    if channels == 0:
        return Invalid("fmt chunk: 0 channels")
    if sample_rate == 0:
        return Invalid("fmt chunk: sample rate 0")
    if not 1 <= container_bits <= 32:
        return Invalid(f"fmt chunk: {container_bits} bits per sample (PCM has 1 to 32)")
    expected_align = channels * ((container_bits + 7) // 8)
    if block_align != expected_align:
        return Invalid(
            f"fmt chunk: block align {block_align}, {channels} channels of {container_bits} bits need {expected_align}"
        )
    if byte_rate != sample_rate * block_align:
        return Invalid(
            f"fmt chunk: byte rate {byte_rate}, {sample_rate} Hz of {block_align}-byte frames need "
            f"{sample_rate * block_align}"
        )
    return _Fmt(channels=channels, sample_rate=sample_rate, bits_per_sample=significant_bits, block_align=block_align)


def _chunk_name(chunk: bytes) -> str:
    text = chunk.decode("latin-1")
    return repr(text) if text.isprintable() else f"0x{chunk.hex()}"


# --- ZIP --------------------------------------------------------------------------------------------------------

_END_RECORD = b"PK\x05\x06"
_ZIP64_LOCATOR = b"PK\x06\x07"
_ZIP64_END_RECORD = b"PK\x06\x06"
_CENTRAL_ENTRY_MIN_BYTES = 46  # a central directory file header with empty name, extra field and comment
_LOCAL_ENTRY_MIN_BYTES = 30  # a local file header likewise, before an entry's data


def parse_zip_tail(tail: bytes, object_size: int) -> ZipSummary | Invalid:
    """The end records of a ZIP object of `object_size` bytes, from its last bytes (`tail`, at most the object)."""
    if len(tail) > object_size:
        return Invalid(f"{len(tail)} bytes read from an object of {object_size}")
    window = tail[-ZIP_TAIL_BYTES:]
    base = object_size - len(window)  # the object offset of window[0]
    found = _find_end_record(window)
    if isinstance(found, Invalid):
        if found.reason == "not a ZIP archive" and len(window) < min(object_size, ZIP_TAIL_BYTES):
            return Invalid(f"no ZIP end record in the last {len(window)} bytes")
        return found
    end = found
    if base > 0 and end < _ZIP64_LOCATOR_BYTES + _ZIP64_END_RECORD_BYTES:
        return Invalid(f"the ZIP end records are not all within the last {len(window)} bytes")
    disk, directory_disk, disk_entries, entries, directory_size, directory_offset, comment = struct.unpack_from(
        "<HHHHIIH", window, end + 4
    )
    zip64 = end >= _ZIP64_LOCATOR_BYTES and window[end - _ZIP64_LOCATOR_BYTES : end - 16] == _ZIP64_LOCATOR
    records_start = base + end  # where the central directory must end
    if zip64:
        read = _read_zip64(window, base, end)
        if isinstance(read, Invalid):
            return read
        records_start, z_disk, z_directory_disk, z_disk_entries, z_entries, z_size, z_offset = read
        for short, wide, saturated in (
            (disk, z_disk, 0xFFFF),
            (directory_disk, z_directory_disk, 0xFFFF),
            (disk_entries, z_disk_entries, 0xFFFF),
            (entries, z_entries, 0xFFFF),
            (directory_size, z_size, 0xFFFFFFFF),
            (directory_offset, z_offset, 0xFFFFFFFF),
        ):
            if short != saturated and short != wide:
                return Invalid("the ZIP64 end record disagrees with the end record")
        disk, directory_disk, disk_entries, entries = z_disk, z_directory_disk, z_disk_entries, z_entries
        directory_size, directory_offset = z_size, z_offset
    if disk != 0 or directory_disk != 0 or disk_entries != entries:
        return Invalid("multi-disk ZIP archives are not supported")
    if directory_offset + directory_size != records_start:
        return Invalid(
            f"central directory (offset {directory_offset}, {directory_size} bytes) does not end where "
            f"the end records begin (offset {records_start})"
        )
    if directory_size < _CENTRAL_ENTRY_MIN_BYTES * entries or (entries == 0 and directory_size != 0):
        return Invalid(f"a central directory of {directory_size} bytes cannot hold {entries} entries")
    if directory_offset < _LOCAL_ENTRY_MIN_BYTES * entries:
        return Invalid(f"a central directory at offset {directory_offset} leaves no room for {entries} entries")
    return ZipSummary(
        entry_count=entries,
        central_directory_offset=directory_offset,
        central_directory_size=directory_size,
        comment_bytes=comment,
        zip64=zip64,
    )


def check_frames(summary: ZipSummary | Invalid, declared_frame_count: int) -> ZipSummary | Invalid:
    """The bundle holds one entry per declared frame. An Invalid passes through, so that
    `check_frames(parse_zip_tail(tail, size), declared)` is one call."""
    if isinstance(summary, Invalid):
        return summary
    if summary.entry_count != declared_frame_count:
        return Invalid(f"frames bundle has {summary.entry_count} entries, declared {declared_frame_count}")
    return summary


def _find_end_record(window: bytes) -> int | Invalid:
    """The offset in `window` of the end record whose comment runs exactly to the window's end. The last
    signature wins: a comment may itself hold the signature's bytes, but not a record that ends the archive."""
    last = len(window) - _ZIP_END_RECORD_BYTES
    first_seen: int | None = None
    position = window.rfind(_END_RECORD, 0, last + 4) if last >= 0 else -1
    while position >= 0:
        comment = struct.unpack_from("<H", window, position + 20)[0]
        if position + _ZIP_END_RECORD_BYTES + comment == len(window):
            return position
        first_seen = position if first_seen is None else first_seen
        position = window.rfind(_END_RECORD, 0, position + 3)
    if first_seen is not None:
        comment = struct.unpack_from("<H", window, first_seen + 20)[0]
        after = len(window) - (first_seen + _ZIP_END_RECORD_BYTES + comment)
        if after > 0:
            return Invalid(f"{after} bytes after the ZIP end record")
        return Invalid(
            f"truncated: the ZIP end record's comment declares {comment} bytes, object holds {comment + after}"
        )
    return Invalid("not a ZIP archive")


def _read_zip64(window: bytes, base: int, end: int) -> tuple[int, int, int, int, int, int, int] | Invalid:
    """(where the ZIP64 end record begins, its disk, directory disk, disk entries, entries, directory size and
    offset), from the locator just before the end record at `end` and the record it points at."""
    locator = end - _ZIP64_LOCATOR_BYTES
    locator_disk, record_offset, disks = struct.unpack_from("<IQI", window, locator + 4)
    if locator_disk != 0 or disks > 1:
        return Invalid("multi-disk ZIP archives are not supported")
    record = record_offset - base
    if record < 0 or record + _ZIP64_END_RECORD_BYTES > locator:
        return Invalid(
            f"the ZIP64 end record (offset {record_offset}) is not before its locator (offset {base + locator})"
        )
    signature, record_size, _made, _needed, disk, directory_disk, disk_entries, entries, size, offset = (
        struct.unpack_from("<4sQHHIIQQQQ", window, record)
    )
    if signature != _ZIP64_END_RECORD:
        return Invalid(f"no ZIP64 end record at offset {record_offset}")
    if record + 12 + record_size != locator:
        return Invalid("the ZIP64 end record does not end where its locator begins")
    return base + record, disk, directory_disk, disk_entries, entries, size, offset


def _u32(data: bytes, offset: int) -> int:
    return struct.unpack_from("<I", data, offset)[0]
