"""The conformance check of devstack/iam.py on doctored policies: a call outside every statement, a grant never used;
and what a call touches, from its parameters."""

from devstack import iam
from devstack.iam import Call, calls_of, conformance, for_moto

TABLE = "arn:aws:dynamodb:eu-west-1:123456789012:table/sessions"
BUCKET = "arn:aws:s3:::media"
POLICY = {
    "Version": "2012-10-17",
    "Statement": [
        {"Sid": "Sessions", "Effect": "Allow", "Action": ["dynamodb:GetItem", "dynamodb:UpdateItem"], "Resource": TABLE},
        {"Sid": "Uploads", "Effect": "Allow", "Action": "s3:GetObject", "Resource": f"{BUCKET}/sessions/*"},
        {"Sid": "Logs", "Effect": "Allow", "Action": ["logs:PutLogEvents"], "Resource": "arn:aws:logs:*"},
    ],
}
USED = [Call("dynamodb:GetItem", TABLE), Call("dynamodb:UpdateItem", TABLE),
        Call("s3:GetObject", f"{BUCKET}/sessions/a/window_000/audio.wav")]


def test_calls_each_allowed_by_arn_using_every_grant_conform():
    assert conformance(POLICY, USED).ok  # the runtime's Logs statement is not the code's to use


def test_a_grant_never_used_does_not_conform():
    result = conformance(POLICY, USED[1:])
    assert result.unused == (("Sessions", "dynamodb:GetItem"),) and not result.ok


def test_a_call_outside_every_statement_does_not_conform_by_action_or_by_arn():
    other_table = Call("dynamodb:GetItem", "arn:aws:dynamodb:eu-west-1:123456789012:table/other")
    outside_prefix = Call("s3:GetObject", f"{BUCKET}/quarantine/x")
    not_granted = Call("dynamodb:DeleteItem", TABLE)
    result = conformance(POLICY, [*USED, other_table, outside_prefix, not_granted])
    assert set(result.denied) == {other_table, outside_prefix, not_granted} and not result.ok


def test_a_call_names_the_actions_and_arns_iam_checks():
    region = "eu-west-1"
    assert calls_of("s3", "HeadObject", {"Bucket": "media", "Key": "k"}, region) == [Call("s3:GetObject", f"{BUCKET}/k")]
    assert calls_of("s3", "ListObjectsV2", {"Bucket": "media", "Prefix": "p"}, region) == [Call("s3:ListBucket", BUCKET)]
    assert calls_of("s3", "CopyObject", {"Bucket": "media", "Key": "q/k", "CopySource": {"Bucket": "media", "Key": "k"}},
                    region) == [Call("s3:GetObject", f"{BUCKET}/k"), Call("s3:PutObject", f"{BUCKET}/q/k")]
    transaction = {"TransactItems": [{"Update": {"TableName": "sessions"}}, {"ConditionCheck": {"TableName": "sessions"}}]}
    assert calls_of("dynamodb", "TransactWriteItems", transaction, region) == [
        Call("dynamodb:UpdateItem", TABLE), Call("dynamodb:ConditionCheckItem", TABLE)]
    assert calls_of("dynamodb", "Query", {"TableName": "sessions", "IndexName": "pending"}, region) == [
        Call("dynamodb:Query", f"{TABLE}/index/pending")]
    assert calls_of("lambda", "Invoke", {"FunctionName": "ingest"}, region) == [
        Call("lambda:InvokeFunction", "arn:aws:lambda:eu-west-1:123456789012:function:ingest")]
    assert calls_of("events", "PutEvents", {"Entries": [{"EventBusName": "bus"}]}, region) == [
        Call("events:PutEvents", "arn:aws:events:eu-west-1:123456789012:event-bus/bus")]
    assert calls_of("sqs", "SendMessage", {"QueueUrl": "http://127.0.0.1:1/123456789012/dlq"}, region) == [
        Call("sqs:SendMessage", "arn:aws:sqs:eu-west-1:123456789012:dlq")]


def test_the_policy_for_moto_names_its_actions_and_widens_only_what_moto_checks_against_star():
    translated = for_moto({"Statement": [
        {"Sid": "Mixed", "Effect": "Allow", "Action": ["lambda:InvokeFunction", "s3:GetObject"], "Resource": "arn:x"},
    ]})
    by_arn, by_action = translated["Statement"]
    assert (by_arn["Action"], by_arn["Resource"]) == (["s3:GetObject"], "arn:x")  # moto checks S3's ARNs: kept
    assert set(by_action["Action"]) == {"lambda:InvokeFunction", "lambda:Invoke"} and by_action["Resource"] == "*"
    assert iam.allows(POLICY, "s3:GetObject", f"{BUCKET}/sessions/x") and not iam.allows(POLICY, "s3:GetObject", BUCKET)
