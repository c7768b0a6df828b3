"""Lambda's runtime, in-process: each function a pool of warm instances (handler modules loaded in their deployed
environment, each running one invocation at a time, up to a concurrency limit), and Lambda's asynchronous invocation
(queued, retried twice with the same request id).

Instances run in this process, not in worker processes: a second instance of a module costs 20 to 90 ms of its
import-time work (clients, settings), a worker process seconds of interpreter start and imports, and the e2e suite
starts many stacks. What a container would have to itself and this process shares is handled in two places:
- the environment: os.environ and boto3's default session are swapped only while a module loads
  (`deployed_environment`, one load at a time). Each instance builds its clients, credentials and settings then,
  and nothing reads them from the environment again: of what the handlers, Powertools and botocore read from
  os.environ per invocation (`_X_AMZN_TRACE_ID`, `AWS_LAMBDA_INITIALIZATION_TYPE`, `AWS_LAMBDA_FUNCTION_NAME` with
  `_X_AMZN_TRACE_ID` for the recursion-detection header, `AWS_EXECUTION_ENV`, `POWERTOOLS_METRICS_DISABLED` and
  `POWERTOOLS_DEV`), no deployed environment sets any but `AWS_LAMBDA_FUNCTION_NAME`, and that one only counts
  together with the trace id, which none sets: an invocation that overlaps another instance's load sees nothing of
  that environment that changes what it does;
- Powertools' per-process state (`_private_powertools_state`)."""

from __future__ import annotations

import collections
import contextlib
import importlib.util
import logging
import os
import threading
import time
import uuid
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from types import ModuleType
from typing import Any

import boto3
import botocore.loaders
import botocore.session

log = logging.getLogger("devstack")

ACCOUNT_ID = "123456789012"  # moto's default account
MEMORY_MB = 256
DEFAULT_CONCURRENCY = 4  # warm instances a function may run at once, as a reserved concurrency of 4 would allow
_ENV_LOCK = threading.Lock()
_ISOLATED_PREFIXES = ("AWS_", "POWERTOOLS_", "_X_AMZN_")


_MODEL_LOADER = botocore.loaders.create_loader()


def _fresh_botocore_session() -> botocore.session.Session:
    """A session that resolves credentials and config anew, sharing the (read-only) service models already parsed."""
    session = botocore.session.Session()
    session.register_component("data_loader", _MODEL_LOADER)
    return session


@contextlib.contextmanager
def deployed_environment(
    env: Mapping[str, str], on_session: Callable[[botocore.session.Session], None] | None = None
) -> Iterator[None]:
    """The process as a fresh Lambda container sees it: of the AWS_* variables, only the function's own, and a
    new default boto3 session (the current one caches credentials resolved from some other environment)."""
    with _ENV_LOCK:
        saved = {name: value for name, value in os.environ.items() if name.startswith(_ISOLATED_PREFIXES) or name in env}
        saved_session = boto3.DEFAULT_SESSION
        try:
            for name in saved:
                del os.environ[name]
            os.environ.update(env)
            botocore_session = _fresh_botocore_session()
            if on_session is not None:
                on_session(botocore_session)
            boto3.setup_default_session(botocore_session=botocore_session)
            yield
        finally:
            for name in [*env, *saved]:
                os.environ.pop(name, None)
            os.environ.update(saved)
            boto3.DEFAULT_SESSION = saved_session


# The class attributes in which every Metrics object of a process keeps one shared metric set (Powertools shares
# them on purpose, so that Metrics() anywhere in a function's code adds to one EMF blob).
_METRICS_SHARED_SETS = ("_metrics", "_dimensions", "_metadata", "_default_dimensions")


@contextlib.contextmanager
def _private_powertools_state(module: ModuleType) -> Iterator[None]:
    """While `module` loads, Powertools' per-process state made fresh, and after, its resolvers' request kept on
    them, so that the instance's Logger, Metrics and event handler share nothing with those of other instances (of
    its own function or another) that run at the same time, as in a container of its own.

    - Metrics: a Metrics object adds to the sets it finds in the class attributes when built; each load builds
      its objects on fresh sets, and the class gets its own back after (objects built outside a load share them).
    - Logger: the first Logger of a service configures the stdlib logger of that name (a handler whose formatter
      holds the appended keys: request id, correlation id); every later Logger of the service reuses that handler.
      The loggers Powertools configured are hidden from `logging`'s registry during the load, so the instance's
      Logger configures a logger (handler, formatter, keys) of its own; hidden ones it did not replace come back.
    - Event handler: `resolve()` stores the request's event and context on the `BaseRouter` class, where every
      resolver reads them (`app.current_event`: the caller's JWT claims); each resolver of the module also keeps
      them on itself, where its reads find them first.
    Process-wide still: Powertools' cold-start flags (only the process's first invocation logs `cold_start: true`).
    Call with `_ENV_LOCK` held: it swaps process-wide attributes.
    """
    # Here, not at the top: what imports devstack.runtime for its constants (devstack.s3events, the benches that
    # time cold starts) must not pay for Powertools; the module about to load imports it anyway.
    from aws_lambda_powertools.event_handler.api_gateway import BaseRouter  # noqa: PLC0415
    from aws_lambda_powertools.logging.constants import LOGGER_ATTRIBUTE_POWERTOOLS_HANDLER  # noqa: PLC0415
    from aws_lambda_powertools.metrics import Metrics  # noqa: PLC0415

    saved_sets = {name: getattr(Metrics, name) for name in _METRICS_SHARED_SETS}
    registry = logging.Logger.manager.loggerDict
    hidden = {
        name: logger
        for name, logger in list(registry.items())
        if getattr(logger, LOGGER_ATTRIBUTE_POWERTOOLS_HANDLER, None) is not None
    }
    try:
        for name in saved_sets:
            setattr(Metrics, name, {})
        for name in hidden:
            registry.pop(name, None)
        yield
    finally:
        for name, value in saved_sets.items():
            setattr(Metrics, name, value)
        for name, logger in hidden.items():
            registry.setdefault(name, logger)
    for resolver in {id(v): v for v in vars(module).values() if isinstance(v, BaseRouter)}.values():
        _keep_request_on(resolver)


def _keep_request_on(resolver: Any) -> None:
    """The resolver's reads of `current_event` and `lambda_context` find its own request's: resolve() still sets
    the class's, and the instance's attributes, set here, come first."""
    to_proxy_event, resolve = resolver._to_proxy_event, resolver.resolve

    def own_proxy_event(event: dict) -> Any:
        resolver.current_event = to_proxy_event(event)
        return resolver.current_event

    def own_resolve(event: Any, context: Any) -> Any:
        resolver.lambda_context = context
        return resolve(event, context)

    resolver._to_proxy_event = own_proxy_event
    resolver.resolve = own_resolve


def load_handler_module(
    module_name: str, env: Mapping[str, str], on_session: Callable[[botocore.session.Session], None] | None = None
) -> ModuleType:
    """A private instance of a handler module, executed in its environment: it builds its clients and settings at
    import, as in a container, and never touches the `sys.modules` copy that tests reload under moto's mock. Each
    call is a new container: its own environment, clients, credentials, Logger, Metrics and resolver state.
    `on_session` sees the botocore session its clients are made from (devstack/iam.py records their calls)."""
    spec = importlib.util.find_spec(module_name)
    if spec is None or spec.loader is None:
        raise ImportError(f"no handler module {module_name}")
    module = importlib.util.module_from_spec(spec)
    with deployed_environment(env, on_session), _private_powertools_state(module):
        spec.loader.exec_module(module)
    return module


@dataclass
class LambdaContext:
    """The attributes of Lambda's context object that handlers and Powertools read."""

    function_name: str
    invoked_function_arn: str
    aws_request_id: str
    timeout_seconds: float
    memory_limit_in_mb: int = MEMORY_MB
    function_version: str = "$LATEST"
    log_group_name: str = ""
    log_stream_name: str = "devstack"
    _deadline: float = field(default=0.0, repr=False)

    def __post_init__(self) -> None:
        self.log_group_name = f"/aws/lambda/{self.function_name}"
        self._deadline = time.monotonic() + self.timeout_seconds

    def get_remaining_time_in_millis(self) -> int:
        return max(0, int((self._deadline - time.monotonic()) * 1000))


class InjectedFault(RuntimeError):
    """A failure the stack's fault hooks asked for."""


Handler = Callable[[Any, Any], Any]


class Function:
    """One deployed function: a pool of warm instances, each a handler that `load` returns (a new container: see
    `load_handler_module`) and that runs one invocation at a time, as a container does (handler modules keep
    per-invocation state in module globals, e.g. Powertools' logger keys and metrics).

    An invocation takes an idle instance (the one released last: the warmest), or starts a new one while fewer than
    `concurrency` exist (a cold start, outside the invocation's time), or waits for one to be released. Lambda
    throttles past its reserved concurrency rather than waiting; here the caller waits, as a retried async event
    would. The first `warm` instances are loaded here (at least one, so a module that cannot load fails the stack's
    start), as provisioned concurrency would start them."""

    def __init__(
        self,
        name: str,
        load: Callable[[], Handler],
        region: str,
        timeout_seconds: float,
        fault: Callable[[], bool] = lambda: False,
        concurrency: int = DEFAULT_CONCURRENCY,
        memory_mb: int = MEMORY_MB,
        warm: int = 1,
    ):
        if not 1 <= warm <= concurrency:
            raise ValueError(f"{name}: needs 1 <= warm ({warm}) <= concurrency ({concurrency})")
        self.name = name
        self.arn = f"arn:aws:lambda:{region}:{ACCOUNT_ID}:function:{name}"
        self.concurrency = concurrency
        self._load = load
        self._timeout = timeout_seconds
        self._memory_mb = memory_mb
        self._fault = fault
        self._pool = threading.Condition()
        self._idle: list[Handler] = [load() for _ in range(warm)]
        self._instances = warm

    @property
    def instances(self) -> int:
        """How many instances exist (busy or idle, or being loaded)."""
        with self._pool:
            return self._instances

    def invoke(self, event: Any, request_id: str | None = None) -> Any:
        handler = self._acquire()
        try:
            context = LambdaContext(self.name, self.arn, request_id or str(uuid.uuid4()), self._timeout,
                                    memory_limit_in_mb=self._memory_mb)
            if self._fault():
                raise InjectedFault(f"{self.name}: failure injected by devstack faults")
            return handler(event, context)
        finally:
            with self._pool:
                self._idle.append(handler)
                self._pool.notify()

    def _acquire(self) -> Handler:
        with self._pool:
            while not self._idle and self._instances >= self.concurrency:
                self._pool.wait()
            if self._idle:
                return self._idle.pop()
            self._instances += 1
        try:
            # Outside the pool's lock: a cold start holds up no other invocation's release.
            handler = self._load()
        except BaseException:
            with self._pool:
                self._instances -= 1
                self._pool.notify()
            raise
        log.info("%s: instance %d started", self.name, self.instances)
        return handler


class Activity:
    """Counts work in flight (queued or running invocations, retries waiting), so callers can wait for none."""

    def __init__(self) -> None:
        self._count = 0
        self._lock = threading.Lock()

    def begin(self) -> None:
        with self._lock:
            self._count += 1

    def end(self) -> None:
        with self._lock:
            self._count -= 1

    @property
    def busy(self) -> bool:
        with self._lock:
            return self._count > 0


FailureHandler = Callable[[Any, str, BaseException, int], None]


@dataclass
class _AsyncEvent:
    event: Any
    request_id: str
    attempts: int = 0


class AsyncInvoker:
    """Lambda's asynchronous invocation of one function: accepted at once into the function's event queue, run by
    at most as many workers as the function has instances, retried after each delay with the same request id (a
    waiting retry holds no instance), then handed to `on_failure` (the function's on-failure destination).

    The queue is in memory, as Lambda's is the service's own: events still queued when the stack stops are dropped
    with it. Workers start with work and end when the queue is empty: a backlog costs memory, not threads."""

    def __init__(
        self,
        function: Function,
        retry_delays: tuple[float, ...],
        activity: Activity,
        stopping: threading.Event,
        on_failure: FailureHandler | None = None,
    ):
        self.function = function
        self._delays = tuple(retry_delays)
        self._activity = activity
        self._stopping = stopping
        self._on_failure = on_failure
        self._queue: collections.deque[_AsyncEvent] = collections.deque()
        self._workers = 0
        self._threads: set[threading.Thread] = set()  # workers, and retries waiting for their delay
        self._lock = threading.Lock()

    def submit(self, event: Any) -> str:
        request_id = str(uuid.uuid4())
        self._activity.begin()
        self._enqueue(_AsyncEvent(event, request_id))
        return request_id

    def _enqueue(self, queued: _AsyncEvent) -> None:
        with self._lock:
            self._queue.append(queued)
            if self._workers >= self.function.concurrency:
                return  # a busy worker takes it next
            self._workers += 1
        self._start(self._work, "worker")

    def _start(self, target: Callable[..., None], role: str, *args: Any) -> None:
        thread = threading.Thread(target=self._tracked, args=(target, *args), name=f"{self.function.name}-{role}",
                                  daemon=True)
        with self._lock:
            self._threads.add(thread)
        thread.start()

    def _tracked(self, target: Callable[..., None], *args: Any) -> None:
        try:
            target(*args)
        finally:
            with self._lock:
                self._threads.discard(threading.current_thread())

    def _work(self) -> None:
        while True:
            with self._lock:
                if not self._queue or self._stopping.is_set():
                    self._workers -= 1
                    return
                queued = self._queue.popleft()
            self._attempt(queued)

    def _attempt(self, queued: _AsyncEvent) -> None:
        queued.attempts += 1
        try:
            self.function.invoke(queued.event, queued.request_id)
        except Exception as failure:  # noqa: BLE001 - Lambda catches every error of an async invocation
            log.warning("%s attempt %d of %s failed: %r", self.function.name, queued.attempts, queued.request_id,
                        failure)
            if queued.attempts <= len(self._delays):
                self._start(self._retry_later, "retry", queued)
            else:
                self._finish(queued, failure)
            return
        self._finish(queued, None)

    def _retry_later(self, queued: _AsyncEvent) -> None:
        if not self._stopping.wait(self._delays[queued.attempts - 1]):
            self._enqueue(queued)

    def _finish(self, queued: _AsyncEvent, error: BaseException | None) -> None:
        try:
            if error is not None and self._on_failure is not None:
                self._on_failure(queued.event, queued.request_id, error, queued.attempts)
            elif error is not None:
                log.error("%s: %s dropped after %d attempts", self.function.name, queued.request_id, queued.attempts)
        except Exception:  # noqa: BLE001 - a background thread must log, never die silently
            log.exception("%s: async invocation %s broke", self.function.name, queued.request_id)
        finally:
            self._activity.end()

    def join(self, timeout: float = 30.0) -> None:
        """Wait for the invocations running; call after setting `stopping`, which cuts retry delays short and leaves
        queued events unrun."""
        with self._lock:
            threads = list(self._threads)
        for thread in threads:
            thread.join(timeout)
