"""What arrived, read from S3 before it is recorded: the object as S3 holds it, and the bytes that say what it is.

An audio half must be a RIFF/WAVE file (its first bytes, one ranged GET); a frames half must be a ZIP whose entry
count is the frame count the grant signed into the object's metadata (its last bytes, one ranged GET). Never the
whole object: a window's cost stays independent of its size.
"""

from __future__ import annotations

from handlers import contract
from handlers.domain import media
from handlers.domain.entities import AudioFormat, Half
from handlers.domain.media import Invalid
from handlers.domain.ports import ObjectHead, ObjectStore
from handlers.layout import Media


def inspect(kind: Media, key: str, head: ObjectHead, objects: ObjectStore, recorded_at: str) -> Half | Invalid:
    """The half as it will be recorded, or why it is refused."""
    half = Half(kind, head.size, head.etag, recorded_at, head.checksum_sha256)
    if kind is Media.AUDIO:
        byte_range = media.wav_head_range(head.size)
        if byte_range is None:
            return Invalid("empty object")
        found = media.parse_wav_header(objects.read(key, byte_range), head.size)
        if isinstance(found, Invalid):
            return found
        wav = AudioFormat(found.sample_rate, found.channels, found.bits_per_sample, found.duration_seconds)
        return Half(**{**half.__dict__, "wav": wav})
    declared = head.metadata.get(contract.FRAME_COUNT_METADATA, "")
    if not declared.isascii() or not declared.isdigit() or int(declared) < 1:
        return Invalid(f"no frame count: the object's x-amz-meta-{contract.FRAME_COUNT_METADATA} is {declared!r}")
    byte_range = media.zip_tail_range(head.size)
    if byte_range is None:
        return Invalid("empty object")
    found = media.check_frames(media.parse_zip_tail(objects.read(key, byte_range), head.size), int(declared))
    if isinstance(found, Invalid):
        return found
    return Half(**{**half.__dict__, "frame_count": int(declared)})
