"""The media validators: real WAVs from `wave` and real ZIPs from `zipfile`, each way of being wrong, the ranges
the completion path GETs, and properties: what `wave` wrote is read back exactly, and no bytes make a parser raise."""

from __future__ import annotations

import io
import struct
import wave
import zipfile

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from handlers.domain import media
from handlers.domain.media import Invalid, WavFormat, ZipSummary

# --- building WAVs ----------------------------------------------------------------------------------------------


def samples(channels: int, sample_width: int, frames: int) -> bytes:
    size = channels * sample_width * frames
    return (bytes(range(256)) * (size // 256 + 1))[:size]


def make_wav(channels: int = 1, sample_width: int = 2, rate: int = 16000, frames: int = 160) -> bytes:
    out = io.BytesIO()
    with wave.open(out, "wb") as writer:
        writer.setnchannels(channels)
        writer.setsampwidth(sample_width)
        writer.setframerate(rate)
        writer.writeframes(samples(channels, sample_width, frames))
    return out.getvalue()


def chunk(name: bytes, body: bytes) -> bytes:
    return name + struct.pack("<I", len(body)) + body + (b"\x00" if len(body) % 2 else b"")


def riff(*chunks: bytes) -> bytes:
    body = b"WAVE" + b"".join(chunks)
    return b"RIFF" + struct.pack("<I", len(body)) + body


def fmt_body(tag=1, channels=1, rate=16000, bits=16, block_align=None, byte_rate=None) -> bytes:
    block_align = channels * ((bits + 7) // 8) if block_align is None else block_align
    byte_rate = rate * block_align if byte_rate is None else byte_rate
    return struct.pack("<HHIIHH", tag, channels, rate, byte_rate, block_align, bits)


PCM_GUID = bytes.fromhex("0100000000001000800000aa00389b71")
FLOAT_GUID = bytes.fromhex("0300000000001000800000aa00389b71")


def extensible_fmt(channels=2, rate=48000, container=32, valid=24, subformat=PCM_GUID) -> bytes:
    return fmt_body(0xFFFE, channels, rate, container) + struct.pack("<HHI", 22, valid, 3) + subformat


def parse(data: bytes) -> WavFormat | Invalid:
    """As the completion path does: the object's first WAV_HEAD_BYTES and its size."""
    return media.parse_wav_header(data[: media.WAV_HEAD_BYTES], len(data))


def reason(result) -> str:
    assert isinstance(result, Invalid), result
    return result.reason


# --- WAV: what the capture apps write ---------------------------------------------------------------------------


@pytest.mark.parametrize("rate", [8000, 16000, 44100, 48000])
@pytest.mark.parametrize("sample_width", [1, 2, 3])
@pytest.mark.parametrize("channels", [1, 2])
def test_a_wav_written_by_wave_is_read_back(channels, sample_width, rate):
    frames = rate // 10  # 100 ms
    data = make_wav(channels, sample_width, rate, frames)

    result = parse(data)

    assert result == WavFormat(
        sample_rate=rate,
        channels=channels,
        bits_per_sample=8 * sample_width,
        block_align=channels * sample_width,
        data_offset=44,
        data_bytes=channels * sample_width * frames,
    )
    assert result.frame_count == frames
    assert result.duration_seconds == pytest.approx(0.1)
    assert result.duration_ms == 100


def test_a_sixty_second_window_is_read_from_its_first_bytes_only():
    data = make_wav(1, 2, 16000, 16000 * 60)  # ~1.9 MB, the size of a real window

    result = parse(data)

    assert isinstance(result, WavFormat) and result.duration_seconds == 60.0 and result.duration_ms == 60_000


def test_an_odd_data_chunk_is_valid_with_or_without_its_pad_byte():
    unpadded = make_wav(1, 1, 8000, 101)  # wave writes no pad byte after 101 data bytes
    assert len(unpadded) == 44 + 101 and struct.unpack_from("<I", unpadded, 4)[0] == 36 + 101
    padded = riff(unpadded[12:36], chunk(b"data", samples(1, 1, 101)))  # the pad byte, counted in the RIFF size
    pad_outside_riff = unpadded + b"\x00"  # the pad byte, left out of the RIFF size

    for data in (unpadded, padded, pad_outside_riff):
        result = parse(data)
        assert isinstance(result, WavFormat) and result.frame_count == 101, data[:8]


@pytest.mark.parametrize(
    "list_body", [b"INFOISFT\x05\x00\x00\x00test\x00\x00", b"INFO" + b"x" * 9], ids=["even", "odd"]
)
def test_chunks_before_the_data_such_as_list_are_skipped_with_their_padding(list_body):
    samples = bytes(range(200))
    data = riff(chunk(b"fmt ", fmt_body()), chunk(b"LIST", list_body), chunk(b"data", samples))

    result = parse(data)

    assert isinstance(result, WavFormat)
    assert result.data_offset == data.index(samples) and result.data_bytes == 200


def test_a_wave_format_extensible_pcm_file_is_read_with_its_valid_bits():
    data = riff(chunk(b"fmt ", extensible_fmt(channels=2, container=32, valid=24)), chunk(b"data", bytes(8 * 480)))

    result = parse(data)

    assert result == WavFormat(48000, 2, 24, 8, 68, 8 * 480)
    assert result.duration_ms == 10


# --- WAV: what is refused, and why -------------------------------------------------------------------------------


def test_a_truncated_wav_is_refused_with_the_sizes():
    data = make_wav(1, 2, 16000, 1000)[:-500]

    assert reason(parse(data)) == "truncated: data chunk declares 2000 bytes, object holds 1500"


@pytest.mark.parametrize(
    "data, expected",
    [
        (riff(chunk(b"fmt ", fmt_body())), "no data chunk"),
        (riff(chunk(b"data", bytes(100)), chunk(b"fmt ", fmt_body())), "no fmt chunk before the data chunk"),
        (riff(chunk(b"fmt ", fmt_body()))[:-2], "truncated: 'fmt ' chunk declares 16 bytes, object holds 14"),
        (
            riff(chunk(b"fmt ", fmt_body()), chunk(b"JUNK", bytes(5000)), chunk(b"data", bytes(100))),
            f"no data chunk in the first {media.WAV_HEAD_BYTES} bytes",
        ),
        (riff(chunk(b"fmt ", fmt_body()[:14]), chunk(b"data", bytes(100))), "fmt chunk too short (14 bytes)"),
        (riff(chunk(b"fmt ", fmt_body()), chunk(b"fmt ", fmt_body()), chunk(b"data", bytes(2))), "two fmt chunks"),
        (
            riff(chunk(b"fmt ", fmt_body(tag=3, bits=32)), chunk(b"data", bytes(100))),
            "unsupported audio format 0x0003 (IEEE float): only PCM",
        ),
        (
            riff(chunk(b"fmt ", fmt_body(tag=0x55)), chunk(b"data", bytes(100))),
            "unsupported audio format 0x0055 (MP3): only PCM",
        ),
        (
            riff(chunk(b"fmt ", extensible_fmt(subformat=FLOAT_GUID)), chunk(b"data", bytes(80))),
            "unsupported WAVE_FORMAT_EXTENSIBLE subformat: only PCM",
        ),
        (
            riff(chunk(b"fmt ", fmt_body(0xFFFE)), chunk(b"data", bytes(80))),
            "fmt chunk too short for WAVE_FORMAT_EXTENSIBLE (16 bytes)",
        ),
        (riff(chunk(b"fmt ", fmt_body(channels=0)), chunk(b"data", bytes(10))), "fmt chunk: 0 channels"),
        (riff(chunk(b"fmt ", fmt_body(rate=0)), chunk(b"data", bytes(10))), "fmt chunk: sample rate 0"),
        (
            riff(chunk(b"fmt ", fmt_body(bits=40)), chunk(b"data", bytes(10))),
            "fmt chunk: 40 bits per sample (PCM has 1 to 32)",
        ),
        (
            riff(chunk(b"fmt ", fmt_body(channels=2, block_align=2)), chunk(b"data", bytes(10))),
            "fmt chunk: block align 2, 2 channels of 16 bits need 4",
        ),
        (
            riff(chunk(b"fmt ", fmt_body(byte_rate=1234)), chunk(b"data", bytes(10))),
            "fmt chunk: byte rate 1234, 16000 Hz of 2-byte frames need 32000",
        ),
        (riff(chunk(b"fmt ", fmt_body()), chunk(b"data", b"")), "no audio: the data chunk is empty"),
        (
            riff(chunk(b"fmt ", fmt_body(channels=2)), chunk(b"data", bytes(6))),
            "data chunk of 6 bytes is not a whole number of 4-byte frames",
        ),
        (make_wav() + b"\x00" * 10, "RIFF header declares 364 bytes: 10 bytes follow it"),
        (
            make_wav()[:4] + struct.pack("<I", 0) + make_wav()[8:],  # a streaming writer's placeholder size
            "RIFF header declares 8 bytes: 356 bytes follow it",
        ),
        (
            make_wav()[:4] + struct.pack("<I", 1000) + make_wav()[8:],
            "truncated: RIFF header declares 1008 bytes, object has 364",
        ),
    ],
    ids=[
        "no-data",
        "fmt-after-data",
        "fmt-truncated",
        "data-header-beyond-the-head",
        "fmt-too-short",
        "two-fmt",
        "float",
        "mp3-in-riff",
        "extensible-float",
        "extensible-too-short",
        "no-channels",
        "no-rate",
        "forty-bits",
        "wrong-block-align",
        "wrong-byte-rate",
        "empty-data",
        "partial-frame",
        "trailing-bytes",
        "riff-size-placeholder",
        "riff-size-too-big",
    ],
)
def test_a_malformed_wav_is_refused_with_its_reason(data, expected):
    assert reason(parse(data)) == expected


@pytest.mark.parametrize(
    "data",
    [
        b"ID3\x04\x00\x00\x00\x00\x00\x00" + bytes(4000),  # an MP3 with an ID3v2 tag, named audio.wav
        b"\xff\xfb\x90\x64" + bytes(4000),  # an MP3 frame header
        b"OggS" + bytes(100),
        b"RIFF\x24\x00\x00\x00AVI LIST",  # RIFF, but not WAVE
        bytes(range(256)) * 4,
        b"MZ",
    ],
    ids=["id3", "mp3-frame", "ogg", "riff-avi", "random", "two-bytes"],
)
def test_what_is_not_riff_wave_is_refused_as_such(data):
    assert reason(parse(data)) == "not a RIFF/WAVE file"


def test_sizes_that_cannot_be_are_refused():
    assert reason(media.parse_wav_header(b"RIFF", 4)) == "too short for a WAV file: 4 bytes"
    assert reason(media.parse_wav_header(b"", 0)) == "too short for a WAV file: 0 bytes"
    assert reason(media.parse_wav_header(b"RIFF", 1000)) == "only 4 bytes read: a WAV header needs more"
    data = make_wav()
    assert reason(media.parse_wav_header(data, len(data) - 1)).startswith(f"{len(data)} bytes read from an object")


# --- building ZIPs ----------------------------------------------------------------------------------------------


def make_zip(entries: int, comment: bytes = b"", *, zip64_above: int | None = None) -> bytes:
    """A ZIP with `entries` frames; `zip64_above` makes zipfile write ZIP64 end records past that many entries (as
    it does past 65,535), without writing that many."""
    out = io.BytesIO()
    limit = zipfile.ZIP_FILECOUNT_LIMIT
    if zip64_above is not None:
        zipfile.ZIP_FILECOUNT_LIMIT = zip64_above
    try:
        with zipfile.ZipFile(out, "w", zipfile.ZIP_STORED) as archive:
            for index in range(entries):
                archive.writestr(f"frame_{index:04d}.jpg", b"\xff\xd8" + bytes([index % 256]) * 20 + b"\xff\xd9")
            archive.comment = comment
    finally:
        zipfile.ZIP_FILECOUNT_LIMIT = limit
    return out.getvalue()


def parse_zip(data: bytes) -> ZipSummary | Invalid:
    """As the completion path does: the object's last ZIP_TAIL_BYTES and its size."""
    return media.parse_zip_tail(data[-media.ZIP_TAIL_BYTES :], len(data))


@pytest.mark.parametrize("entries", [1, 2, 60, 300])
@pytest.mark.parametrize("comment", [b"", b"captured by session-uploads", b"PK\x05\x06" + bytes(30)])
def test_a_zip_written_by_zipfile_has_its_entries_counted(entries, comment):
    data = make_zip(entries, comment)

    result = parse_zip(data)

    assert isinstance(result, ZipSummary)
    assert (result.entry_count, result.comment_bytes, result.zip64) == (entries, len(comment), False)
    assert result.central_directory_offset + result.central_directory_size == len(data) - 22 - len(comment)
    assert media.check_frames(result, entries) == result


def test_an_empty_zip_has_no_entries():
    data = make_zip(0)
    assert data == b"PK\x05\x06" + bytes(18)

    assert parse_zip(data) == ZipSummary(0, 0, 0, 0, False)
    assert reason(media.check_frames(parse_zip(data), 1)) == "frames bundle has 0 entries, declared 1"


def test_a_zip_with_the_longest_comment_is_read_from_its_tail():
    data = make_zip(3, b"c" * 0xFFFF)

    result = parse_zip(data)

    assert isinstance(result, ZipSummary) and (result.entry_count, result.comment_bytes) == (3, 0xFFFF)


def test_one_entry_too_few_is_refused_with_both_counts():
    assert reason(media.check_frames(parse_zip(make_zip(59)), 60)) == "frames bundle has 59 entries, declared 60"


def test_check_frames_passes_an_invalid_bundle_through():
    assert media.check_frames(Invalid("not a ZIP archive"), 3) == Invalid("not a ZIP archive")


def test_zip64_end_records_are_read_when_their_locator_precedes_the_end_record():
    data = make_zip(5, b"note", zip64_above=3)

    result = parse_zip(data)

    assert isinstance(result, ZipSummary) and (result.entry_count, result.zip64) == (5, True)
    # The ZIP64 record and locator (56 + 20 bytes) lie between the central directory and the end record.
    assert result.central_directory_offset + result.central_directory_size == len(data) - 22 - 4 - 76


def test_a_zip_of_more_than_65535_entries_is_counted_from_its_zip64_end_record():
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", zipfile.ZIP_STORED) as archive:
        for index in range(65_536):
            archive.writestr(str(index), b"")
    data = out.getvalue()
    assert struct.unpack_from("<H", data, len(data) - 22 + 10)[0] == 0xFFFF  # the end record's count saturates

    result = parse_zip(data)

    assert isinstance(result, ZipSummary) and (result.entry_count, result.zip64) == (65_536, True)


@pytest.mark.parametrize(
    "data, expected",
    [
        (b"\xff\xd8\xff\xe0" + bytes(5000), "not a ZIP archive"),
        (make_wav(), "not a ZIP archive"),
        (b"", "not a ZIP archive"),
        (make_zip(3) + b"trailing", "8 bytes after the ZIP end record"),
        (make_zip(3, b"comment")[:-3], "truncated: the ZIP end record's comment declares 7 bytes, object holds 4"),
        # make_zip(3): three 68-byte entries, then a 180-byte central directory at 204, then the end record at 384.
        (
            b"junk" * 10 + make_zip(3),
            "central directory (offset 204, 180 bytes) does not end where the end records begin (offset 424)",
        ),
        (
            make_zip(3)[:50] + make_zip(3)[-22:],
            "central directory (offset 204, 180 bytes) does not end where the end records begin (offset 50)",
        ),
    ],
    ids=["jpeg", "wav", "empty-object", "trailing-bytes", "truncated-comment", "prepended-bytes", "cut-in-the-middle"],
)
def test_a_malformed_zip_is_refused_with_its_reason(data, expected):
    assert reason(parse_zip(data)) == expected


def _patched_end_record(data: bytes, **fields: int) -> bytes:
    names = ("disk", "directory_disk", "disk_entries", "entries", "size", "offset", "comment")
    values = dict(zip(names, struct.unpack_from("<HHHHIIH", data, len(data) - 18), strict=True)) | fields
    return data[:-18] + struct.pack("<HHHHIIH", *(values[name] for name in names))


@pytest.mark.parametrize(
    "fields, expected",
    [
        ({"disk": 1}, "multi-disk ZIP archives are not supported"),
        ({"disk_entries": 2}, "multi-disk ZIP archives are not supported"),
        ({"entries": 4, "disk_entries": 4}, "a central directory of 180 bytes cannot hold 4 entries"),
        ({"entries": 0, "disk_entries": 0}, "a central directory of 180 bytes cannot hold 0 entries"),
        ({"offset": 10, "size": 374}, "a central directory at offset 10 leaves no room for 3 entries"),
    ],
)
def test_an_end_record_that_does_not_fit_the_object_is_refused(fields, expected):
    data = _patched_end_record(make_zip(3), **fields)
    assert reason(parse_zip(data)) == expected


def test_a_zip64_end_record_that_disagrees_with_the_end_record_is_refused():
    data = _patched_end_record(make_zip(5, zip64_above=3), entries=4, disk_entries=4)
    assert reason(parse_zip(data)) == "the ZIP64 end record disagrees with the end record"


def test_a_tail_too_short_for_the_comment_says_so():
    data = make_zip(3, b"c" * 1000)
    assert reason(media.parse_zip_tail(data[-500:], len(data))) == "no ZIP end record in the last 500 bytes"


# --- the ranges the completion path GETs -----------------------------------------------------------------------


def test_the_ranges_cover_what_the_parsers_need_and_never_more_than_the_object():
    assert media.WAV_HEAD_BYTES == 4096
    assert media.ZIP_TAIL_BYTES == 56 + 20 + 22 + 65_535
    assert media.wav_head_range(2_000_000) == "bytes=0-4095"
    assert media.wav_head_range(100) == "bytes=0-99"
    assert media.wav_head_range(0) is None
    assert media.zip_tail_range(5_000_000) == "bytes=-65633"
    assert media.zip_tail_range(1000) == "bytes=-1000"
    assert media.zip_tail_range(0) is None


# --- properties -------------------------------------------------------------------------------------------------


@settings(max_examples=200, deadline=None)
@given(
    channels=st.integers(1, 8),
    sample_width=st.integers(1, 4),
    rate=st.integers(1, 384_000),
    frames=st.integers(1, 300),
    list_chunk=st.none() | st.binary(max_size=300),
)
def test_any_wav_written_by_wave_is_read_back_exactly(channels, sample_width, rate, frames, list_chunk):
    written = samples(channels, sample_width, frames)
    data = make_wav(channels, sample_width, rate, frames)
    if list_chunk is not None:  # another chunk before the data, as many writers add; wave's fmt chunk kept
        data = riff(data[12:36], chunk(b"LIST", list_chunk), chunk(b"data", written))

    result = parse(data)

    assert isinstance(result, WavFormat), result
    assert (result.sample_rate, result.channels, result.bits_per_sample) == (rate, channels, 8 * sample_width)
    assert result.frame_count == frames
    assert result.duration_seconds == frames / rate
    assert data[result.data_offset : result.data_offset + result.data_bytes] == written


@settings(max_examples=100, deadline=None)
@given(entries=st.integers(0, 40), comment=st.binary(max_size=200))
def test_any_zip_written_by_zipfile_has_its_entries_counted(entries, comment):
    result = media.check_frames(parse_zip(make_zip(entries, comment)), entries)

    assert isinstance(result, ZipSummary) and (result.entry_count, result.comment_bytes) == (entries, len(comment))


def _mutations(seed: bytes):
    """The seed with bytes overwritten at drawn positions, cut short, or extended: near-valid inputs that reach
    every branch of a parser, which random bytes alone rarely do."""
    return st.tuples(
        st.lists(st.tuples(st.integers(0, len(seed) - 1), st.integers(0, 255)), max_size=8),
        st.integers(0, len(seed)),
        st.binary(max_size=16),
    ).map(lambda m: _mutate(seed, *m))


def _mutate(seed: bytes, flips: list[tuple[int, int]], keep: int, extra: bytes) -> bytes:
    data = bytearray(seed)
    for position, value in flips:
        data[position] = value
    return bytes(data[:keep]) + extra


WAV_SEED = riff(chunk(b"fmt ", extensible_fmt()), chunk(b"LIST", b"INFOx"), chunk(b"data", bytes(16)))
ZIP64_SEED = make_zip(2, b"c", zip64_above=1)


@settings(max_examples=500, deadline=None)
@given(
    data=st.binary(max_size=300) | _mutations(WAV_SEED) | _mutations(make_wav(2, 2, 8000, 4)),
    extra_size=st.integers(0, 2**33),
)
def test_no_bytes_make_the_wav_parser_raise(data, extra_size):
    for size in (len(data), len(data) + extra_size):
        result = media.parse_wav_header(data[: media.WAV_HEAD_BYTES], size)
        assert isinstance(result, WavFormat | Invalid)
        if isinstance(result, WavFormat):
            assert result.data_offset + result.data_bytes <= size and result.frame_count >= 1


@settings(max_examples=500, deadline=None)
@given(
    data=st.binary(max_size=300) | _mutations(ZIP64_SEED) | _mutations(make_zip(3, b"note")),
    extra_size=st.integers(0, 2**33),
)
def test_no_bytes_make_the_zip_parser_raise(data, extra_size):
    for size in (len(data), len(data) + extra_size):
        result = media.parse_zip_tail(data[-media.ZIP_TAIL_BYTES :], size)
        assert isinstance(result, ZipSummary | Invalid)
        if isinstance(result, ZipSummary):
            assert result.central_directory_offset + result.central_directory_size <= size
