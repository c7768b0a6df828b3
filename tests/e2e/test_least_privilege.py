"""Each function calls AWS with its own role's session, under the policy the program grants it, and the stack enforces
that policy: moto on every call, the stack's Lambda API on invokes, the presign gate on the URLs a function signs. A
program missing one action a function calls fails here; and every call each function makes is allowed by a statement
of its policy by ARN, and every action its policy grants is used (devstack/iam.py)."""

from __future__ import annotations

import json
import time

import pytest
import requests

from client import UploadClient
from devstack import iam, s3events, samples
from devstack.deploy import Edit
from devstack.schedule import scheduled_event
from devstack.stack import DevStack
from handlers import layout
from tests.e2e.conftest import CLAIM_LEASE_SECONDS, FINALIZING_TIMEOUT_SECONDS, Api, put, s3_error

WAV = samples.wav_bytes()


def without(component: str, action: str) -> Edit:
    """The program, its `component` function's policy without `action`, in whichever statement grants it."""

    def edit(typ: str, name: str, inputs: dict) -> dict:
        if typ != "aws:iam/rolePolicy:RolePolicy" or name != f"{component}-handler-policy":
            return inputs
        policy = json.loads(inputs["policy"])
        statements = []
        for statement in policy["Statement"]:
            actions = [a for a in iam._listed(statement["Action"]) if a != action]
            statements += [{**statement, "Action": actions}] if actions else []
        assert statements != policy["Statement"], f"{component}'s policy grants no {action}"
        return {**inputs, "policy": json.dumps({**policy, "Statement": statements})}

    return edit


def doctored(tmp_path, edit: Edit) -> DevStack:
    return DevStack(retry_delays=(0.1, 0.1), claim_lease_seconds=CLAIM_LEASE_SECONDS, state_dir=tmp_path,
                      program_edit=edit)


def test_the_api_without_dynamodb_put_item_cannot_create_a_session(tmp_path):
    with doctored(tmp_path, without("api", "dynamodb:PutItem")) as stack:
        created = requests.post(f"{stack.api_url}/sessions", json={"captureMode": "audio_only"},
                                headers=Api(stack).headers, timeout=10)
        assert created.status_code == 500
        assert iam.Call("dynamodb:PutItem", f"arn:aws:dynamodb:{stack.region}:{iam.ACCOUNT_ID}:table/"
                        f"{stack.names.table}") in stack.calls[stack.names.api_function].calls
        # What the policy still grants still works: reading a session that is not there is a 404, not a denial.
        assert requests.get(f"{stack.api_url}/sessions/nope", headers=Api(stack).headers, timeout=10).status_code == 404


def test_a_url_whose_signer_may_not_put_the_object_is_refused_by_the_gate_as_s3_does(tmp_path):
    with doctored(tmp_path, without("api", "s3:PutObject")) as stack:
        api = Api(stack)
        session_id = api.create_session()
        grant = api.grant(session_id, 0, WAV)  # signed with the API's role: S3 checks the role's policy
        response = requests.put(grant["url"], data=WAV, headers=grant["headers"], timeout=10)
        assert (response.status_code, s3_error(response)[0]) == (403, "AccessDenied")
        listed = stack.client("s3").list_objects_v2(Bucket=stack.names.bucket, Prefix=layout.session_prefix(session_id))
        assert listed["KeyCount"] == 0


def test_the_completion_path_without_lambda_invoke_cannot_ingest_and_dead_letters_the_event(tmp_path):
    with doctored(tmp_path, without("upload-completion", "lambda:InvokeFunction")) as stack:
        api = Api(stack)
        session_id = api.create_session()
        put(api.grant(session_id, 0, WAV), WAV)
        stack.wait_idle()
        [record] = stack.dlq_messages()
        assert "lambda:InvokeFunction" in record["responsePayload"]["errorMessage"]
        assert stack.ingest_counts(session_id) == {}


@pytest.fixture(scope="module")
def exercised(tmp_path_factory):
    """A stack through every path each function has: both capture modes, a duplicate and a dropped event, a
    refused upload, an event and a sweep that fail until they are dead-lettered, readiness found by the API, the
    completion path and the sweeper, the status and windows routes."""
    # Retries a second apart: `complete` lands between a failed attempt and its retry.
    with DevStack(retry_delays=(1.0, 1.0), claim_lease_seconds=CLAIM_LEASE_SECONDS,
                    finalizing_timeout_seconds=FINALIZING_TIMEOUT_SECONDS,
                    state_dir=tmp_path_factory.mktemp("devstack")) as stack:
        api = Api(stack)
        with UploadClient(stack.api_url, stack.token(user="alice")) as client:
            # Ready found by the completion path: the last half's event fails once, complete is called before its
            # retry records it; with a duplicate event.
            video = client.create_session("audio_video")["sessionId"]
            stack.faults.duplicate_events(1)
            for index in (0, 1, 2):
                client.upload_window(video, index, WAV)  # raises unless stored
                if index < 2:
                    client.upload_frames(video, index, samples.frames_zip(2))
            stack.wait_idle()
            stack.faults.fail_completion(1)
            client.upload_frames(video, 2, samples.frames_zip(2))
            client.complete(video, 3)
            # Ready found by the API's complete; a refused (not a WAV) upload, quarantined, then the real one.
            audio = api.create_session()
            garbage = b"not a wav at all" * 8
            put(api.grant(audio, 0, garbage), garbage)
            stack.wait_idle()
            # A late duplicate of the refused half's event: its object is gone (S3 answers 404 with s3:ListBucket).
            late = {"Records": [s3events.notification_record(stack.names.bucket, layout.audio_key(audio, 0),
                                                             region=stack.region)]}
            stack.client("lambda").invoke(FunctionName=stack.names.completion_function, Payload=json.dumps(late))
            client.upload_window(audio, 0, WAV)  # the refused half is quarantined: the window may be uploaded again
            client.upload_window(audio, 1, WAV)
            stack.wait_idle()
            client.complete(audio, 2)
            client.windows(audio)
            # Ready found by the sweeper: a dropped event healed; an event failing until it is dead-lettered.
            healed = api.create_session()
            stack.faults.drop_events(1)
            api.upload(healed, 0, WAV)
            stack.faults.fail_completion(3)
            api.upload(healed, 1, WAV)
            stack.wait_idle()
            client.complete(healed, 2)
            stack.faults.fail_sweeps(1)
            stack.client("lambda").invoke(FunctionName=stack.names.sweeper_function, InvocationType="Event",
                                          Payload=json.dumps(scheduled_event(stack.names.sweep_schedule, stack.region)))
            # A refused half whose event was lost: the sweeper's heal refuses and quarantines it.
            refused = api.create_session()
            stack.faults.drop_events(1)
            put(api.grant(refused, 0, garbage), garbage)
            stack.wait_idle()
            client.complete(refused, 1)
            time.sleep(FINALIZING_TIMEOUT_SECONDS + 0.2)  # the sweeper heals and judges only after the timeout
            stack.sweep()
            assert client.status(refused)["status"] == "incomplete"
            assert client.status(healed)["status"] == "ready" and client.status(video)["status"] == "ready"
            assert client.status(audio)["status"] == "ready"
        yield stack


def test_every_call_of_every_function_is_allowed_by_its_policy_by_arn_and_every_grant_is_used(exercised):
    deployment = exercised.deployment
    report = {}
    for spec in deployment.functions.values():
        result = iam.conformance(deployment.policies[spec.role_name], exercised.calls[spec.name].calls)
        report[spec.resource] = (result.denied, result.unused)
    assert report == {name: ((), ()) for name in report}
    assert len(report) == 4
