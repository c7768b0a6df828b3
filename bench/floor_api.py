"""The floor under the API function's cold start, for bench.handlers: the least an HTTP API on Lambda does with the
features issue 16 keeps, and none of our code. Powertools' logger, metrics and tracer (botocore patched, as the API
patches it), its HTTP resolver validating a pydantic body and response, and one DynamoDB PutItem: POST /sessions and
nothing else. It starts as the handlers start, the collector paused while it imports (handlers/coldstart.py). What
the API function's cold start takes beyond this one is ours: its modules, routes and models."""

from __future__ import annotations

import gc
import os
import uuid

gc.disable()  # until coldstart.imported(), this module's last statement: handlers/coldstart.py

import boto3
from aws_lambda_powertools import Logger, Metrics, Tracer
from aws_lambda_powertools.event_handler import APIGatewayHttpResolver
from pydantic import BaseModel, ConfigDict

from handlers import coldstart, contract

logger = Logger()
metrics = Metrics(namespace=contract.METRICS_NAMESPACE)
tracer = Tracer(patch_modules=["botocore"])
table_name = os.environ[contract.ENV_SESSIONS_TABLE_NAME]
dynamodb = boto3.client("dynamodb")
app = APIGatewayHttpResolver(enable_validation=True)


class CreateSession(BaseModel):
    model_config = ConfigDict(extra="forbid")
    captureMode: str


class Created(BaseModel):
    sessionId: str


@app.post("/sessions")
def create_session(body: CreateSession) -> tuple[Created, int]:
    session_id = str(uuid.uuid4())
    dynamodb.put_item(
        TableName=table_name,
        Item={contract.TABLE_HASH_KEY: {"S": session_id}, contract.TABLE_RANGE_KEY: {"S": "session"},
              "captureMode": {"S": body.captureMode}},
    )
    return Created(sessionId=session_id), 201


@logger.inject_lambda_context(correlation_id_path="requestContext.requestId")
@metrics.log_metrics
@tracer.capture_lambda_handler(capture_response=False)
def lambda_handler(event: dict, context: object) -> dict:
    return app.resolve(event, context)


coldstart.imported()
