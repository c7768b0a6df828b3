"""Lambda's runtime: each function a pool of warm instances (each runs one invocation at a time, up to a concurrency
limit), and Lambda's asynchronous invocation (queued, retried twice with the same request id).

What an instance is comes from its loader: the local stack's are processes of their own (devstack/instances.py), with
the function's environment, clients, credentials and Powertools state, and an interpreter no other instance shares."""

from __future__ import annotations

import collections
import logging
import threading
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

log = logging.getLogger("devstack")

ACCOUNT_ID = "123456789012"  # moto's default account
MEMORY_MB = 256
DEFAULT_CONCURRENCY = 4  # warm instances a function may run at once, as a reserved concurrency of 4 would allow


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


def error_type(error: BaseException) -> str:
    """The `errorType` Lambda reports of a failed invocation: the handler's error's type (devstack/instances.py's
    FunctionError names the one raised in the instance's process), or the runtime's own (an injected fault)."""
    return getattr(error, "error_type", type(error).__name__)


Handler = Callable[[Any, Any], Any]


class Function:
    """One deployed function: a pool of warm instances, each a handler that `load` returns (a new container: see
    devstack/instances.py) and that runs one invocation at a time, as a container does (handler modules keep
    per-invocation state in module globals, e.g. Powertools' logger keys and metrics). An instance that is no longer
    `alive` (its process ended) leaves the pool; `close()` ends the idle ones (their `close`, where they have one).

    An invocation takes an idle instance (the one released last: the warmest), or starts a new one while fewer than
    `concurrency` exist (a cold start, outside the invocation's time), or waits for one to be released. Lambda
    throttles past its reserved concurrency rather than waiting; here the caller waits, as a retried async event
    would. The first instance is loaded here, so that a module that cannot load fails the stack's start."""

    def __init__(
        self,
        name: str,
        load: Callable[[], Handler],
        region: str,
        timeout_seconds: float,
        fault: Callable[[], bool] = lambda: False,
        concurrency: int = DEFAULT_CONCURRENCY,
        memory_mb: int = MEMORY_MB,
    ):
        if concurrency < 1:
            raise ValueError(f"{name}: needs a concurrency of at least 1 ({concurrency})")
        self.name = name
        self.arn = f"arn:aws:lambda:{region}:{ACCOUNT_ID}:function:{name}"
        self.concurrency = concurrency
        self._load = load
        self._timeout = timeout_seconds
        self._memory_mb = memory_mb
        self._fault = fault
        self._pool = threading.Condition()
        self._idle: list[Handler] = [load()]
        self._instances = 1

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
                if getattr(handler, "alive", True):
                    self._idle.append(handler)
                else:
                    self._instances -= 1
                self._pool.notify()

    def close(self) -> None:
        """End every idle instance (call once nothing invokes the function any more)."""
        with self._pool:
            idle, self._idle = self._idle, []
            self._instances -= len(idle)
        for handler in idle:
            getattr(handler, "close", lambda: None)()

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
