"""The completion handler reads each event's objects exactly as Powertools' S3Event and EventBridgeEvent read them."""

import pytest
from aws_lambda_powertools.utilities.data_classes import EventBridgeEvent, S3Event

from devstack import s3events
from handlers.domain.completion import ObjectCreated
from tests.conftest import BUCKET, load_handler

KEY = "sessions/0b7f1f36-3d4e-4a59-9c2e-5b8f2f1d2c3a/window_012/audio.wav"
ODD_KEY = "sessions/a b+c%/window_000/audio.wav"  # spaces, pluses and percents survive both encodings


def by_powertools(event: dict) -> list[ObjectCreated]:
    """The parse the handler had on Powertools' data classes."""
    from urllib.parse import unquote_plus

    if "Records" in event:
        return [
            ObjectCreated(unquote_plus(r.s3.get_object.key), int(r.s3.get_object.size or 0), r.s3.get_object.etag or "")
            for r in S3Event(event).records
            if r.event_name.startswith("ObjectCreated:")
        ]
    bridge = EventBridgeEvent(event)
    if bridge.detail_type != "Object Created":
        return []
    obj = bridge.detail["object"]
    return [ObjectCreated(obj["key"], int(obj.get("size", 0)), obj.get("etag", ""))]


def intelligent_tiering(key: str) -> dict:
    record = s3events.notification_record(BUCKET, key, size=7, etag="e", event_name="ObjectCreated:Put")
    record["s3"]["get_object"] = record["s3"].pop("object")
    return s3events.notification(record)


EVENTS = {
    "records": s3events.notification(
        *(s3events.notification_record(BUCKET, key, size=2048, etag="abc") for key in (KEY, ODD_KEY)),
        s3events.notification_record(BUCKET, KEY, event_name="ObjectRemoved:Delete"),
    ),
    "size-zero-no-etag": s3events.notification(s3events.notification_record(BUCKET, KEY)),
    "intelligent-tiering": intelligent_tiering(KEY),
    "eventbridge": s3events.object_created(BUCKET, ODD_KEY, size=5, etag="f"),
    "eventbridge-other": s3events.object_created(BUCKET, KEY, detail_type="Object Tags Added"),
    "no-records": {"Records": []},
}


@pytest.fixture(scope="module")
def module(aws_module):
    return load_handler("handlers.upload_complete.app")


@pytest.mark.parametrize("name", EVENTS)
def test_the_objects_of_an_event_are_the_ones_powertools_reads(module, name):
    assert list(module.objects_created(EVENTS[name])) == by_powertools(EVENTS[name])


@pytest.mark.parametrize(
    "event",
    [{"Records": [{"eventName": "ObjectCreated:Put", "s3": {"object": {"key": KEY}}}]}, {"detail": {}}],
    ids=["record-without-size", "neither-records-nor-detail-type"],
)
def test_an_event_without_a_field_both_read_fails_alike(module, event):
    with pytest.raises(KeyError):
        by_powertools(event)
    with pytest.raises(KeyError):
        list(module.objects_created(event))
