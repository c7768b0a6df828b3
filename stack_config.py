"""The stack's configuration: every `pulumi.Config` read, validated into one frozen, typed object."""

from __future__ import annotations

import json
import re
from dataclasses import dataclass

import pulumi

from handlers import contract, cors

NAMESPACE = "session-uploads"
# The values CloudWatch Logs accepts for a log group's retention.
LOG_RETENTION_DAYS = (1, 3, 5, 7, 14, 30, 60, 90, 120, 150, 180, 365, 400, 545, 731, 1096, 1827, 2192, 2557, 2922,
                      3288, 3653)
# Keys earlier versions read, refused rather than silently ignored: the value an operator set no longer applies.
RETIRED_KEYS = {
    "powertoolsLayerVersion": "the functions run on the stack's own layer, built by `make package` from "
                              "layer/requirements.txt (the versions the tests ran), not on the public Powertools layer",
    "lambdaRuntime": "the functions run on the runtime their layer is built for (layer.RUNTIME in layer/__init__.py)",
    "completionTimeoutMinutes": "it is finalizingTimeoutMinutes now (\"completion\" names an object's arrival, not the "
                                "end of a session's finalizing), so set that key to the same value",
}
MAX_SINGLE_PUT_BYTES = 5 * 1024**3  # S3 refuses a single PUT above 5 GiB
_LAMBDA_ARN = re.compile(r"^arn:aws[a-z-]*:lambda:[a-z0-9-]+:\d{12}:function:[A-Za-z0-9_-]{1,64}(:[A-Za-z0-9$_-]+)?$")
_KMS_KEY_ARN = re.compile(r"^arn:aws[a-z-]*:kms:[a-z0-9-]+:\d{12}:key/[0-9a-f-]{36}$")
_STATE_MACHINE_ARN = re.compile(r"^arn:aws[a-z-]*:states:([a-z0-9-]+):\d{12}:stateMachine:[A-Za-z0-9_-]{1,80}$")
# A custom or the default bus of this account and region (PutEvents takes the name; the grant derives the ARN).
_EVENT_BUS_NAME = re.compile(r"^[A-Za-z0-9._-]{1,256}$")


@dataclass(frozen=True)
class ExternalIdp:
    """An IdP the stack is given (jwtIssuer + jwtAudience) issues the tokens the API's JWT authorizer accepts."""

    issuer: str  # its issuer URL
    audience: tuple[str, ...]  # its accepted `aud` values


@dataclass(frozen=True)
class OwnUserPool:
    """The stack's own Cognito user pool issues them (neither jwtIssuer nor jwtAudience given)."""


@dataclass(frozen=True)
class Unauthenticated:
    """Nobody: the API's routes are open (allowUnauthenticated: true, an explicit opt-out)."""


ApiAuth = ExternalIdp | OwnUserPool | Unauthenticated  # how the API authenticates its callers


class ConfigError(ValueError):
    """A stack configuration value is missing or invalid; the message names the key."""


@dataclass(frozen=True)
class StackConfig:
    region: str
    retention_days: int  # session objects and rows expire after this many days
    kms_key_arn: str | None  # bucket encryption key; SSE-S3 when absent
    cors_allowed_origins: tuple[str, ...]  # browser origins allowed to call the API and PUT to the bucket
    api_auth: ApiAuth
    event_transport: contract.EventTransport  # direct S3 -> Lambda, or through EventBridge
    ingest_function_arn: str | None  # an existing ingest target; the default ingest Lambda when absent
    alarm_email: str | None
    log_retention_days: int
    max_event_age_seconds: int
    url_expires_seconds: int
    max_audio_bytes: int
    max_frames_bytes: int
    throttling_rate_limit: float
    throttling_burst_limit: int
    deletion_protection: bool
    processing_event_bus_name: str | None  # where SessionReady goes; the stack's own bus when absent
    processing_state_machine_arn: str | None  # also started once per ready session, when given
    finalizing_timeout_minutes: int  # a session still finalizing this long after complete becomes incomplete
    sweep_schedule_minutes: int  # how often the sweeper looks
    api_snap_start: bool  # the API function's cold starts restored from a SnapStart snapshot (billed: see README)


class _Reader:
    """Reads one namespace, turning every malformed value into a ConfigError that names its key."""

    def __init__(self, config: pulumi.Config):
        self._config = config
        self.name = config.name

    def key(self, key: str) -> str:
        return f"{self.name}:{key}"

    def fail(self, key: str, problem: str) -> ConfigError:
        return ConfigError(f"config {self.key(key)}: {problem}")

    def text(self, key: str, default: str | None = None) -> str | None:
        value = self._config.get(key)
        return default if value is None or value.strip() == "" else value.strip()

    def required(self, key: str) -> str:
        value = self.text(key)
        if value is None:
            raise self.fail(key, f"is required (set it with `pulumi config set {self.key(key)} <value>`)")
        return value

    def integer(self, key: str, default: int, low: int, high: int) -> int:
        raw = self.text(key)
        if raw is None:
            return default
        try:
            value = int(raw)
        except ValueError:
            raise self.fail(key, f"must be an integer, got {raw!r}") from None
        if not low <= value <= high:
            raise self.fail(key, f"must be from {low} to {high}, got {value}")
        return value

    def number(self, key: str, default: float, low: float, high: float) -> float:
        raw = self.text(key)
        if raw is None:
            return default
        try:
            value = float(raw)
        except ValueError:
            raise self.fail(key, f"must be a number, got {raw!r}") from None
        if not low <= value <= high:
            raise self.fail(key, f"must be from {low} to {high}, got {value}")
        return value

    def boolean(self, key: str, default: bool) -> bool:
        raw = self.text(key)
        if raw is None:
            return default
        if raw.lower() not in ("true", "false"):
            raise self.fail(key, f"must be true or false, got {raw!r}")
        return raw.lower() == "true"

    def strings(self, key: str) -> tuple[str, ...]:
        """A list of strings: a YAML list in the stack file, or one comma-separated string."""
        raw = self.text(key)
        if raw is None:
            return ()
        if raw.startswith("["):
            try:
                values = json.loads(raw)
            except json.JSONDecodeError:
                raise self.fail(key, "must be a list of strings") from None
            if not isinstance(values, list) or not all(isinstance(v, str) and v.strip() for v in values):
                raise self.fail(key, "must be a list of non-empty strings")
            return tuple(v.strip() for v in values)
        return tuple(part.strip() for part in raw.split(",") if part.strip())


def _origin(reader: _Reader, key: str, origin: str) -> str:
    if not cors.is_allowable_origin(origin):
        raise reader.fail(key, f"{origin!r} is not an https origin (scheme://host[:port], no path, no wildcard)")
    return origin


def _api_auth(r: _Reader) -> ApiAuth:
    """Which of the three ways the stack authenticates its API, refusing any mix of them."""
    issuer, audience = r.text("jwtIssuer"), r.strings("jwtAudience")
    if r.boolean("allowUnauthenticated", False):
        if issuer is not None or audience:
            raise r.fail("allowUnauthenticated", "is true but jwtIssuer or jwtAudience is set: choose one")
        return Unauthenticated()
    if issuer is None and not audience:
        return OwnUserPool()
    if issuer is None:
        raise r.fail("jwtIssuer", "is required with jwtAudience (or unset both for the stack's own user pool)")
    if not issuer.startswith("https://"):
        raise r.fail("jwtIssuer", f"must be an https URL, got {issuer!r}")
    if not audience:
        raise r.fail("jwtAudience", "is required with jwtIssuer (a list of accepted `aud` values)")
    return ExternalIdp(issuer, audience)


def load(config: pulumi.Config | None = None, aws_config: pulumi.Config | None = None) -> StackConfig:
    """Read and validate the stack's configuration; raise ConfigError naming the first bad key."""
    r = _Reader(config or pulumi.Config(NAMESPACE))
    aws = _Reader(aws_config or pulumi.Config("aws"))

    transport = r.text("eventTransport", contract.EventTransport.NOTIFICATION)
    if transport not in set(contract.EventTransport):
        raise r.fail("eventTransport", f"must be one of {', '.join(contract.EventTransport)}, got {transport!r}")

    api_auth = _api_auth(r)

    kms_key_arn = r.text("kmsKeyArn")
    if kms_key_arn is not None and not _KMS_KEY_ARN.match(kms_key_arn):
        raise r.fail("kmsKeyArn", f"must be a KMS key ARN (arn:aws:kms:<region>:<account>:key/<id>), got {kms_key_arn!r}")

    ingest_arn = r.text("ingestFunctionArn")
    if ingest_arn is not None and not _LAMBDA_ARN.match(ingest_arn):
        raise r.fail("ingestFunctionArn", f"must be a Lambda function ARN, got {ingest_arn!r}")

    alarm_email = r.text("alarmEmail")
    if alarm_email is not None and not re.fullmatch(r"[^@\s]+@[^@\s]+\.[^@\s]+", alarm_email):
        raise r.fail("alarmEmail", f"must be an email address, got {alarm_email!r}")

    for key, why in RETIRED_KEYS.items():
        if r.text(key) is not None:
            raise r.fail(key, f"is no longer read: {why}; remove it (`pulumi config rm {r.key(key)}`)")

    log_retention = r.integer("logRetentionDays", 30, 1, 3653)
    if log_retention not in LOG_RETENTION_DAYS:
        raise r.fail("logRetentionDays", f"must be one of {LOG_RETENTION_DAYS}, got {log_retention}")

    bus = r.text("processingEventBusName")
    if bus is not None and not _EVENT_BUS_NAME.match(bus):
        raise r.fail("processingEventBusName", f"must be the name of an event bus in this account and region "
                                               f"(letters, digits, . _ -; not an ARN), got {bus!r}")

    region = aws.required("region")
    state_machine = r.text("processingStateMachineArn")
    if state_machine is not None:
        match = _STATE_MACHINE_ARN.match(state_machine)
        if not match:
            raise r.fail("processingStateMachineArn", f"must be a Step Functions state machine ARN, got {state_machine!r}")
        if match.group(1) != region:  # the functions' Step Functions client calls the stack's region
            raise r.fail("processingStateMachineArn", f"must be in the stack's region {region}, got {match.group(1)}")

    return StackConfig(
        region=region,
        retention_days=r.integer("retentionDays", contract.DEFAULT_RETENTION_DAYS, 1, 3650),
        kms_key_arn=kms_key_arn,
        cors_allowed_origins=tuple(_origin(r, "corsAllowedOrigins", o) for o in r.strings("corsAllowedOrigins")),
        api_auth=api_auth,
        event_transport=contract.EventTransport(transport),
        ingest_function_arn=ingest_arn,
        alarm_email=alarm_email,
        log_retention_days=log_retention,
        # Lambda's async invocation accepts 60 s to 6 h.
        max_event_age_seconds=r.integer("maxEventAgeSeconds", 3600, 60, 21600),
        url_expires_seconds=r.integer("urlExpiresSeconds", contract.DEFAULT_URL_EXPIRES_SECONDS, 1,
                                      contract.MAX_URL_EXPIRES_SECONDS),
        max_audio_bytes=r.integer("maxAudioBytes", contract.DEFAULT_MAX_AUDIO_BYTES, 1, MAX_SINGLE_PUT_BYTES),
        max_frames_bytes=r.integer("maxFramesBytes", contract.DEFAULT_MAX_FRAMES_BYTES, 1, MAX_SINGLE_PUT_BYTES),
        throttling_rate_limit=r.number("throttlingRateLimit", 50.0, 1.0, 10000.0),
        throttling_burst_limit=r.integer("throttlingBurstLimit", 100, 1, 5000),
        deletion_protection=r.boolean("deletionProtection", False),
        processing_event_bus_name=bus,
        processing_state_machine_arn=state_machine,
        finalizing_timeout_minutes=r.integer("finalizingTimeoutMinutes",
                                             contract.DEFAULT_FINALIZING_TIMEOUT_SECONDS // 60, 1, 7 * 24 * 60),
        sweep_schedule_minutes=r.integer("sweepScheduleMinutes", 5, 1, 24 * 60),
        api_snap_start=r.boolean("apiSnapStart", False),
    )
