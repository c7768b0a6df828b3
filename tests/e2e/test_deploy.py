"""The local stack's resources are the program's: for each stack file, what the program's graph holds and what moto
holds after devstack/deploy.py ran the program against it, type by type; the rest is what the stack stands in for."""

from __future__ import annotations

import boto3
import pytest

from devstack.deploy import STANDS_IN, deploy
from devstack.servers import MotoServer


@pytest.fixture(scope="module")
def moto():
    server = MotoServer()
    server.start()
    yield server
    server.stop()


def _in_moto(session: boto3.session.Session, url: str, bucket: str) -> dict[str, set[str]]:
    """What moto holds, by the program's resource type: names (the bucket's configurations by the bucket's name)."""

    def client(service: str):
        return session.client(service, endpoint_url=url)

    s3, events, iam = client("s3"), client("events"), client("iam")
    buses = [b["Name"] for b in events.list_event_buses()["EventBuses"]]
    rules = [(bus, r["Name"]) for bus in buses for r in events.list_rules(EventBusName=bus)["Rules"]]
    roles = [r["RoleName"] for r in iam.list_roles()["Roles"]]
    sqs, cognito, sns = client("sqs"), client("cognito-idp"), client("sns")
    queues = sqs.list_queues().get("QueueUrls", [])
    pools = [p["Id"] for p in cognito.list_user_pools(MaxResults=60)["UserPools"]]
    configured = {
        "aws:s3/bucketPublicAccessBlock:BucketPublicAccessBlock": s3.get_public_access_block,
        "aws:s3/bucketOwnershipControls:BucketOwnershipControls": s3.get_bucket_ownership_controls,
        "aws:s3/bucketServerSideEncryptionConfiguration:BucketServerSideEncryptionConfiguration":
            s3.get_bucket_encryption,
        "aws:s3/bucketLifecycleConfiguration:BucketLifecycleConfiguration": s3.get_bucket_lifecycle_configuration,
        "aws:s3/bucketCorsConfiguration:BucketCorsConfiguration": s3.get_bucket_cors,
        "aws:s3/bucketNotification:BucketNotification": s3.get_bucket_notification_configuration,
    }
    held = {typ: {bucket} for typ, get in configured.items() if _answers(lambda get=get: get(Bucket=bucket))}
    return held | {
        "aws:s3/bucket:Bucket": {b["Name"] for b in s3.list_buckets()["Buckets"]},
        "aws:dynamodb/table:Table": set(client("dynamodb").list_tables()["TableNames"]),
        "aws:sqs/queue:Queue": {u.rsplit("/", 1)[-1] for u in queues},
        "aws:cloudwatch/eventBus:EventBus": set(buses) - {"default"},
        "aws:cloudwatch/eventRule:EventRule": {name for _, name in rules},
        "aws:cloudwatch/eventTarget:EventTarget": {t["Id"] for bus, name in rules
                                                   for t in events.list_targets_by_rule(Rule=name, EventBusName=bus)
                                                   ["Targets"]},
        "aws:sqs/queuePolicy:QueuePolicy": {u.rsplit("/", 1)[-1] for u in queues
                                            if "Policy" in sqs.get_queue_attributes(QueueUrl=u, AttributeNames=[
                                                "Policy"]).get("Attributes", {})},
        "aws:cognito/userPoolClient:UserPoolClient": {c["ClientName"] for p in pools for c in
                                                      cognito.list_user_pool_clients(UserPoolId=p, MaxResults=60)
                                                      ["UserPoolClients"]},
        "aws:sns/topicSubscription:TopicSubscription": {f"{s['Protocol']}:{s['Endpoint']}" for s in
                                                        sns.list_subscriptions()["Subscriptions"]},
        "aws:iam/role:Role": set(roles),
        "aws:iam/rolePolicy:RolePolicy": {p for r in roles for p in iam.list_role_policies(RoleName=r)["PolicyNames"]},
        "aws:cloudwatch/logGroup:LogGroup": {g["logGroupName"] for g in client("logs").describe_log_groups()["logGroups"]},
        "aws:sns/topic:Topic": {t["TopicArn"].rsplit(":", 1)[-1] for t in sns.list_topics()["Topics"]},
        "aws:cloudwatch/metricAlarm:MetricAlarm": {a["AlarmName"] for a in
                                                    client("cloudwatch").describe_alarms()["MetricAlarms"]},
        "aws:cognito/userPool:UserPool": {p["Name"] for p in cognito.list_user_pools(MaxResults=60)["UserPools"]},
    }


def _answers(call) -> bool:
    try:
        call()
    except Exception:  # noqa: BLE001 - S3 answers a missing configuration with an error
        return False
    return True


@pytest.mark.parametrize("stack_file", ["dev", "prod"])
def test_every_resource_of_the_program_is_created_in_moto_or_stood_in_for(moto, stack_file):
    session = boto3.session.Session("bootstrap", "bootstrap", region_name="eu-west-1")
    sqs = session.client("sqs", endpoint_url=moto.url)
    queue = sqs.create_queue(QueueName=f"delivery-{stack_file}")["QueueUrl"]
    arn = sqs.get_queue_attributes(QueueUrl=queue, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    before = _in_moto(session, moto.url, "none")

    deployment = deploy(stack_file, {}, session, moto.url, arn)

    graph = {}
    for resource in deployment.run.resources:
        if resource.custom and resource.type.startswith("aws:"):
            graph.setdefault(resource.type, set()).add(resource.name)
    stood_in = {typ for typ in graph if typ in STANDS_IN}
    # Every resource is created, or its type stood in for; a schedule's target is stood in for (DevStack.sweep).
    schedule_targets = {r.name for r in deployment.run.of_type("aws:cloudwatch/eventTarget:EventTarget")
                        if ":lambda:" in r.inputs["arn"] and r.inputs["rule"] in deployment.schedules}
    expected = {typ: names - schedule_targets for typ, names in graph.items() if typ not in stood_in}
    assert {typ: set(names) for typ, names in deployment.created.items()} == {t: n for t, n in expected.items() if n}
    bucket = deployment.outputs["bucketName"]
    after = _in_moto(session, moto.url, bucket)
    new = {typ: after[typ] - before.get(typ, set()) for typ in after}
    new = {typ: names for typ, names in new.items() if names}
    created = {typ: set(names.values()) for typ, names in deployment.created.items()}
    # moto names a role policy by its own name; the bucket's configurations by the bucket.
    assert new == created
    assert "aws:lambda/function:Function" in stood_in and len(deployment.functions) == len(
        graph["aws:lambda/function:Function"])
