"""The HTTP API's Lambda: sessions, upload grants; one resolver, each route one domain call."""

from __future__ import annotations

import functools
import gc
from typing import Annotated

gc.disable()  # until coldstart.imported(), this module's last statement: handlers/coldstart.py

from aws_lambda_powertools import Logger, Metrics, Tracer
from aws_lambda_powertools.event_handler import APIGatewayHttpResolver, Response, content_types
from aws_lambda_powertools.event_handler.openapi.exceptions import RequestValidationError
from aws_lambda_powertools.event_handler.openapi.params import Path
from aws_lambda_powertools.metrics import MetricUnit
from botocore.config import Config

from handlers import coldstart, contract, layout
from handlers.api import guards, models
from handlers.api.models import (
    AudioGrantRequest,
    CompleteRequest,
    CreateSessionRequest,
    ErrorBody,
    FramesGrantRequest,
    Grants,
    GrantsRequest,
    SessionCreated,
    SessionStatus,
    UploadGrant,
    WindowsPage,
    query_int,
)
from handlers.dal.clients import LazyClient
from handlers.domain import sessions
from handlers.domain.errors import BadRequest, Conflict, NotFound
from handlers.settings import ApiSettings, processing_trigger, sessions_table

logger = Logger()
metrics = Metrics(namespace=contract.METRICS_NAMESPACE)
# Only botocore patched, so that every AWS call is still traced: Powertools' default patches every library the X-Ray
# SDK knows (httplib, sqlite3, requests, ...), importing each, and none of them is called here but through botocore.
tracer = Tracer(patch_modules=["botocore"])
settings = ApiSettings.from_env()

store = sessions_table(settings.table_name, settings.processing)
trigger = processing_trigger(settings.processing)
# SigV4 on the bucket's regional, virtual-hosted endpoint: boto3's defaults would presign for the global
# endpoint (and, in several regions, with SigV2, which binds neither Content-Length nor most headers). Built on the
# first grant: the S3 client is the costliest to build, and a cold start serving another route never needs it.
s3_client = LazyClient(
    "s3",
    config=Config(
        signature_version="s3v4", s3={"us_east_1_regional_endpoint": "regional", "addressing_style": "virtual"}
    ),
)

app = APIGatewayHttpResolver(enable_validation=True)
app.use(middlewares=[guards.refuse_unknown_query_parameters])

_ERRORS = {
    400: "invalid request",
    401: "missing or invalid bearer token",
    404: "session not found",
    409: "the session's state refuses the request",
}


def _error(status: int, message: str) -> Response:
    return Response(status_code=status, content_type=content_types.APPLICATION_JSON, body={"error": message})


def _responses(*statuses: int) -> dict:
    return {s: {"description": _ERRORS[s], "content": {"application/json": {"model": ErrorBody}}} for s in statuses}


class Unauthorized(Exception):
    """No caller identity: the authorizer did not pass a `sub` claim."""


def caller() -> str:
    authorizer = app.current_event.request_context.authorizer
    sub = (authorizer.jwt_claim or {}).get("sub") if authorizer else None
    if not isinstance(sub, str) or not sub:
        raise Unauthorized()
    return sub


@app.exception_handler(Unauthorized)
def _unauthorized(_: Unauthorized) -> Response:
    return _error(401, _ERRORS[401])


@app.exception_handler(RequestValidationError)
def _invalid(error: RequestValidationError) -> Response:
    problems = [f"{_field(detail.get('loc', ()))}: {detail.get('msg', 'invalid')}" for detail in error.errors()]
    return _error(400, "; ".join(problems))


def _field(loc: tuple) -> str:
    """Where a validation error is, as the request spells it: `sizeBytes`, `uploads[3].sizeBytes`. pydantic's location
    starts with the request's part (body, query) and, in a list of halves, names the half it validated the item as
    (`uploads, 3, audio, sizeBytes`), which the item's own `half` already says."""
    field = ""
    parts = loc[1:]
    for position, part in enumerate(parts):
        if isinstance(part, int):
            field += f"[{part}]"
        elif not (position and isinstance(parts[position - 1], int) and part in set(layout.Media)):
            field += f".{part}" if field else str(part)
    return field or "body"


@app.exception_handler(BadRequest)
def _bad_request(error: BadRequest) -> Response:
    return _error(400, str(error))


@app.exception_handler(NotFound)
def _not_found(error: NotFound) -> Response:
    return _error(404, str(error))


@app.exception_handler(Conflict)
def _conflict(error: Conflict) -> Response:
    return _error(409, str(error))


@app.not_found
def _no_route(_: Exception) -> Response:
    return _error(404, "no such route")


SessionId = Annotated[str, Path(description="The session's id, as returned by POST /sessions.")]
WindowIndex = query_int(0, layout.MAX_WINDOW_INDEX)


@app.post(
    "/sessions",
    responses={
        201: {"description": "created", "content": {"application/json": {"model": SessionCreated}}},
        **_responses(400, 401),
    },
)
def create_session(body: CreateSessionRequest) -> Response[SessionCreated]:
    created = sessions.create_session(caller(), body.captureMode, store=store, retention_days=settings.retention_days)
    metrics.add_metric(name=contract.Metric.SESSIONS_CREATED, unit=MetricUnit.Count, value=1)
    return Response(status_code=201, content_type=content_types.APPLICATION_JSON, body=created)


@app.get(
    "/sessions/<sessionId>",
    responses={
        200: {"description": "the session", "content": {"application/json": {"model": SessionStatus}}},
        **_responses(401, 404),
    },
)
def get_session(sessionId: SessionId) -> SessionStatus:
    return sessions.session_status(sessionId, caller(), store)


@app.get(
    "/sessions/<sessionId>/windows",
    responses={
        200: {"description": "per-window detail", "content": {"application/json": {"model": WindowsPage}}},
        **_responses(400, 401, 404),
    },
)
def get_windows(
    sessionId: SessionId,
    start: query_int(0, layout.MAX_WINDOW_INDEX, alias="from") = 0,
    limit: query_int(1, models.WINDOWS_PAGE_MAX) = models.WINDOWS_PAGE_DEFAULT,
) -> WindowsPage:
    return sessions.windows_page(sessionId, caller(), start, limit, store)


_GRANT_RESPONSES = {
    200: {"description": "a presigned PUT", "content": {"application/json": {"model": UploadGrant}}},
    **_responses(400, 401, 404, 409),
}


@functools.cache
def _signer():
    """What every grant is signed with. The grants module is imported by the first grant: a cold start serving another
    route never needs it."""
    from handlers.domain import grants

    return grants.Signer(
        s3_client, settings.bucket_name, settings.url_expires_seconds, {m: settings.max_bytes(m) for m in layout.Media}
    )


def _grant(session_id: str, media: layout.Media, window_index: int, size_bytes: int, sha256: str | None,
           frame_count: int | None = None) -> UploadGrant:
    """Both halves' own routes: one domain call."""
    from handlers.domain import grants

    request = grants.HalfRequest(media, window_index, size_bytes, sha256, frame_count)
    grant = grants.grant_upload(request, session_id, caller(), store=store, signer=_signer())
    metrics.add_metric(name=contract.Metric.UPLOAD_GRANTS, unit=MetricUnit.Count, value=1)
    return grant.body()


@app.post(
    "/sessions/<sessionId>/audio",
    description="A presigned PUT of the window's audio (a WAV file), write-once.",
    responses=_GRANT_RESPONSES,
)
def grant_audio(sessionId: SessionId, body: AudioGrantRequest, windowIndex: WindowIndex) -> UploadGrant:
    return _grant(sessionId, layout.Media.AUDIO, windowIndex, body.sizeBytes, body.sha256)


@app.post(
    "/sessions/<sessionId>/frames",
    description="A presigned PUT of the window's frames bundle (a ZIP, one entry per frame), write-once, its frame "
    "count bound as signed metadata; for an audio_video session (400 for an audio_only one, which records no frames).",
    responses=_GRANT_RESPONSES,
)
def grant_frames(sessionId: SessionId, body: FramesGrantRequest, windowIndex: WindowIndex) -> UploadGrant:
    return _grant(sessionId, layout.Media.FRAMES, windowIndex, body.sizeBytes, body.sha256, body.frameCount)


@app.post(
    "/sessions/<sessionId>/grants",
    description=f"Presigned PUTs of up to {contract.MAX_GRANTS_PER_REQUEST} halves of the session's windows in one "
    "request, each as its own route grants it: a client uploading several windows at a time asks for their grants "
    "with one round trip, one token check and one read of the session. A half already recorded is listed in "
    "`refused` and the others are granted; anything the halves' own routes refuse with a 400, 404 or 409 for the "
    "session or the input refuses the whole request, naming the half's position.",
    responses={
        200: {"description": "the grants", "content": {"application/json": {"model": Grants}}},
        **_responses(400, 401, 404, 409),
    },
)
def grant_many(sessionId: SessionId, body: GrantsRequest) -> Grants:
    from handlers.domain import grants

    asked = [
        grants.HalfRequest(layout.Media(u.half), u.windowIndex, u.sizeBytes, u.sha256, getattr(u, "frameCount", None))
        for u in body.uploads
    ]
    granted, refused = grants.grant_uploads(asked, sessionId, caller(), store=store, signer=_signer())
    metrics.add_metric(name=contract.Metric.UPLOAD_GRANTS, unit=MetricUnit.Count, value=len(granted))
    return {
        "grants": [{**grant.body(), "half": str(media)} for media, grant in granted],
        "refused": [refusal.body() for refusal in refused],
    }


@app.post(
    "/sessions/<sessionId>/complete",
    responses={
        202: {"description": "finalizing (or ready)", "content": {"application/json": {"model": SessionStatus}}},
        **_responses(400, 401, 404, 409),
    },
)
def complete_session(sessionId: SessionId, body: CompleteRequest) -> Response[SessionStatus]:
    from handlers.domain import completeness  # as grants: imported by the route that needs it

    result = completeness.complete_session(
        sessionId,
        caller(),
        body.expectedWindowCount,
        store=store,
        trigger=trigger,
    )
    if result.trigger_error is not None:
        # The session is ready all the same; the sweeper delivers the trigger it is still owed.
        logger.warning("processing trigger not delivered; the sweeper will retry", exc_info=result.trigger_error)
        metrics.add_metric(name=contract.Metric.PROCESSING_TRIGGER_FAILURES, unit=MetricUnit.Count, value=1)
    return Response(status_code=202, content_type=content_types.APPLICATION_JSON, body=result.body)


@logger.inject_lambda_context(correlation_id_path="requestContext.requestId")
@metrics.log_metrics
@tracer.capture_lambda_handler(capture_response=False)
def lambda_handler(event: dict, context: object) -> dict:
    refused = guards.refuse(event)
    return refused if refused is not None else app.resolve(event, context)


coldstart.imported()
