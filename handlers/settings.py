"""Each function's settings, read from its environment in one place, failing loudly when a required variable is
missing; and the one description of that environment: `environment()` writes what `from_env` reads, and the program
deploys each function with exactly that (components/), so the local stack, which runs the program's functions, and
the tests see the same variables."""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from handlers import contract
from handlers.dal.processing import AwsProcessingTrigger
from handlers.dal.sessions_table import SessionsTable
from handlers.layout import Media


class SettingsError(RuntimeError):
    """A required environment variable is missing or malformed: a deployment bug, never a client error."""


def _required(env: Mapping[str, str], name: str) -> str:
    value = env.get(name, "").strip()
    if not value:
        raise SettingsError(f"environment variable {name} is required")
    return value


def _positive_int(env: Mapping[str, str], name: str, default: int) -> int:
    raw = env.get(name, "").strip()
    if not raw:
        return default
    try:
        value = int(raw)
    except ValueError:
        raise SettingsError(f"environment variable {name} must be an integer, got {raw!r}") from None
    if value <= 0:
        raise SettingsError(f"environment variable {name} must be positive, got {value}")
    return value


@dataclass(frozen=True)
class ProcessingSettings:
    """Where a ready session's trigger goes: the EventBridge bus, and the Step Functions state machine to start when
    one is configured; and the lease of every claim (a window's ingest, a session's trigger)."""

    event_bus_name: str
    state_machine_arn: str | None
    claim_lease_seconds: int

    @classmethod
    def from_env(cls, env: Mapping[str, str] = os.environ) -> ProcessingSettings:
        return cls(
            event_bus_name=_required(env, contract.ENV_PROCESSING_EVENT_BUS_NAME),
            state_machine_arn=env.get(contract.ENV_PROCESSING_STATE_MACHINE_ARN, "").strip() or None,
            claim_lease_seconds=_positive_int(
                env, contract.ENV_INGEST_CLAIM_LEASE_SECONDS, contract.DEFAULT_INGEST_CLAIM_LEASE_SECONDS
            ),
        )

    def environment(self) -> dict[str, Any]:
        """The variables `from_env` reads, with these values: what the program deploys (a name may be a Pulumi
        output there)."""
        variables = {
            contract.ENV_PROCESSING_EVENT_BUS_NAME: self.event_bus_name,
            contract.ENV_INGEST_CLAIM_LEASE_SECONDS: str(self.claim_lease_seconds),
        }
        if self.state_machine_arn:
            variables[contract.ENV_PROCESSING_STATE_MACHINE_ARN] = self.state_machine_arn
        return variables


def sessions_table(table_name: str, processing: ProcessingSettings) -> SessionsTable:
    """The sessions table, built once per container; its claims hold for the configured lease. On a plain client with
    boto3's DynamoDB transformation (handlers.dal.dynamodb): a resource costs every cold start more."""
    import time

    import boto3

    from handlers.dal.dynamodb import Table

    return SessionsTable(Table(boto3.client("dynamodb"), table_name), time.time, processing.claim_lease_seconds)


def processing_trigger(settings: ProcessingSettings) -> AwsProcessingTrigger:
    """The trigger's clients, built once per container on a session's trigger (a cold start seldom delivers one), in
    the environment of the import (handlers.dal.clients); Step Functions only when a state machine is configured."""
    from handlers.dal.clients import LazyClient

    sfn = LazyClient("stepfunctions") if settings.state_machine_arn else None
    return AwsProcessingTrigger(LazyClient("events"), settings.event_bus_name, sfn, settings.state_machine_arn)


@dataclass(frozen=True)
class ApiSettings:
    """The API function's settings: where grants point, how long they live, how large each half may be."""

    bucket_name: str
    table_name: str
    url_expires_seconds: int
    max_audio_bytes: int
    max_frames_bytes: int
    retention_days: int
    processing: ProcessingSettings

    @classmethod
    def from_env(cls, env: Mapping[str, str] = os.environ) -> ApiSettings:
        expires = _positive_int(env, contract.ENV_URL_EXPIRES_SECONDS, contract.DEFAULT_URL_EXPIRES_SECONDS)
        if expires > contract.MAX_URL_EXPIRES_SECONDS:
            raise SettingsError(
                f"environment variable {contract.ENV_URL_EXPIRES_SECONDS} must be at most "
                f"{contract.MAX_URL_EXPIRES_SECONDS}, got {expires}"
            )
        return cls(
            bucket_name=_required(env, contract.ENV_BUCKET_NAME),
            table_name=_required(env, contract.ENV_SESSIONS_TABLE_NAME),
            url_expires_seconds=expires,
            max_audio_bytes=_positive_int(env, contract.ENV_MAX_AUDIO_BYTES, contract.DEFAULT_MAX_AUDIO_BYTES),
            max_frames_bytes=_positive_int(env, contract.ENV_MAX_FRAMES_BYTES, contract.DEFAULT_MAX_FRAMES_BYTES),
            retention_days=_positive_int(env, contract.ENV_RETENTION_DAYS, contract.DEFAULT_RETENTION_DAYS),
            processing=ProcessingSettings.from_env(env),
        )

    def environment(self) -> dict[str, Any]:
        """The variables `from_env` reads, with these values."""
        return {
            contract.ENV_BUCKET_NAME: self.bucket_name,
            contract.ENV_SESSIONS_TABLE_NAME: self.table_name,
            contract.ENV_URL_EXPIRES_SECONDS: str(self.url_expires_seconds),
            contract.ENV_MAX_AUDIO_BYTES: str(self.max_audio_bytes),
            contract.ENV_MAX_FRAMES_BYTES: str(self.max_frames_bytes),
            contract.ENV_RETENTION_DAYS: str(self.retention_days),
            **self.processing.environment(),
        }

    def max_bytes(self, media: Media) -> int:
        """The largest half of this kind a grant allows."""
        return self.max_audio_bytes if media is Media.AUDIO else self.max_frames_bytes


@dataclass(frozen=True)
class CompletionSettings:
    bucket_name: str
    table_name: str
    ingest_function_name: str
    processing: ProcessingSettings

    @property
    def claim_lease_seconds(self) -> int:
        return self.processing.claim_lease_seconds

    @classmethod
    def from_env(cls, env: Mapping[str, str] = os.environ) -> CompletionSettings:
        return cls(
            bucket_name=_required(env, contract.ENV_BUCKET_NAME),
            table_name=_required(env, contract.ENV_SESSIONS_TABLE_NAME),
            ingest_function_name=_required(env, contract.ENV_INGEST_FUNCTION_NAME),
            processing=ProcessingSettings.from_env(env),
        )

    def environment(self) -> dict[str, Any]:
        """The variables `from_env` reads, with these values."""
        return {
            contract.ENV_BUCKET_NAME: self.bucket_name,
            contract.ENV_SESSIONS_TABLE_NAME: self.table_name,
            contract.ENV_INGEST_FUNCTION_NAME: self.ingest_function_name,
            **self.processing.environment(),
        }


@dataclass(frozen=True)
class IngestSettings:
    bucket_name: str

    @classmethod
    def from_env(cls, env: Mapping[str, str] = os.environ) -> IngestSettings:
        return cls(bucket_name=_required(env, contract.ENV_BUCKET_NAME))

    def environment(self) -> dict[str, Any]:
        """The variables `from_env` reads, with these values."""
        return {contract.ENV_BUCKET_NAME: self.bucket_name}


@dataclass(frozen=True)
class SweeperSettings:
    """The sweeper settles sessions, and heals lost events through the completion path: it lists the bucket and
    needs whatever the completion path needs (the table, the ingest target, the processing trigger)."""

    bucket_name: str
    table_name: str
    ingest_function_name: str
    finalizing_timeout_seconds: int
    processing: ProcessingSettings

    @classmethod
    def from_env(cls, env: Mapping[str, str] = os.environ) -> SweeperSettings:
        return cls(
            bucket_name=_required(env, contract.ENV_BUCKET_NAME),
            table_name=_required(env, contract.ENV_SESSIONS_TABLE_NAME),
            ingest_function_name=_required(env, contract.ENV_INGEST_FUNCTION_NAME),
            finalizing_timeout_seconds=_positive_int(
                env, contract.ENV_FINALIZING_TIMEOUT_SECONDS, contract.DEFAULT_FINALIZING_TIMEOUT_SECONDS
            ),
            processing=ProcessingSettings.from_env(env),
        )

    def environment(self) -> dict[str, Any]:
        """The variables `from_env` reads, with these values."""
        return {
            contract.ENV_BUCKET_NAME: self.bucket_name,
            contract.ENV_SESSIONS_TABLE_NAME: self.table_name,
            contract.ENV_INGEST_FUNCTION_NAME: self.ingest_function_name,
            contract.ENV_FINALIZING_TIMEOUT_SECONDS: str(self.finalizing_timeout_seconds),
            **self.processing.environment(),
        }
