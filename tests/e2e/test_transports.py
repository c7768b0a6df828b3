"""Both event transports of the program (eventTransport), run locally as deployed: the bucket's notification to the
function, or the bucket's events to EventBridge and the program's rule (its own pattern) to the function. A window's
events, duplicated, are each recorded and ingested once, and the session is ready once, either way."""

from __future__ import annotations

import json

import pytest

from devstack import samples
from devstack.stack import DevStack
from handlers import contract
from tests.e2e.conftest import CLAIM_LEASE_SECONDS, RETRY_DELAYS, Api

WINDOWS = 3


@pytest.fixture(scope="module", params=list(contract.EventTransport))
def transported(request, tmp_path_factory):
    with DevStack(retry_delays=RETRY_DELAYS, claim_lease_seconds=CLAIM_LEASE_SECONDS, event_transport=request.param,
                    state_dir=tmp_path_factory.mktemp("devstack")) as stack:
        yield stack


def test_the_bucket_sends_its_events_as_the_program_configures_them(transported):
    stack = transported
    notification = stack.client("s3").get_bucket_notification_configuration(Bucket=stack.names.bucket)
    rules = stack.client("events").list_rules(EventBusName="default")["Rules"]
    program_rules = stack.deployment.run.of_type("aws:cloudwatch/eventRule:EventRule")
    if stack.event_transport is contract.EventTransport.EVENTBRIDGE:
        # (moto delivers to EventBridge but does not echo EventBridgeConfiguration back.)
        assert "QueueConfigurations" not in notification
        [pattern] = [r.inputs["eventPattern"] for r in program_rules if "eventPattern" in r.inputs]
        [rule] = [r for r in rules if "EventPattern" in r]
        assert json.loads(rule["EventPattern"]) == json.loads(pattern)  # the program's own, wildcards and all
    else:
        assert not [r for r in rules if "EventPattern" in r]
        filters = sorted([rule["Value"] for rule in config["Filter"]["Key"]["FilterRules"]]
                         for config in notification["QueueConfigurations"])
        program = stack.deployment.run.one("aws:s3/bucketNotification:BucketNotification").inputs
        assert filters == sorted([f["filterPrefix"], f["filterSuffix"]] for f in program["lambdaFunctions"])
    assert stack.deployment.event_transport == stack.event_transport


def test_each_window_is_ingested_once_and_the_session_ready_once_whatever_the_duplicates(transported):
    stack, api, body = transported, Api(transported), samples.wav_bytes()
    session_id = api.create_session()
    stack.faults.duplicate_events(WINDOWS)
    for window in range(WINDOWS):
        api.upload(session_id, window, body)
    stack.wait_idle()
    assert api.complete(session_id, WINDOWS).json()["status"] == "ready"
    assert stack.ingest_counts(session_id) == dict.fromkeys(range(WINDOWS), 1)
    assert [e["sessionId"] for e in stack.session_ready_events()].count(session_id) == 1
    assert stack.faults.injected("duplicate_event") == WINDOWS
