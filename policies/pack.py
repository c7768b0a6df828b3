"""Every policy of the pack, in report order; importing this module starts nothing."""

from __future__ import annotations

from policies import apigateway, cloudwatch, cognito, dynamodb, iam, lambda_, s3, sqs

PACK_NAME = "session-uploads"
POLICIES = [*iam.POLICIES, *s3.POLICIES, *lambda_.POLICIES, *sqs.POLICIES, *dynamodb.POLICIES, *apigateway.POLICIES,
            *cognito.POLICIES, *cloudwatch.POLICIES]
