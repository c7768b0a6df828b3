"""A function instance in a process of its own (devstack/instance_process.py), as Lambda gives each instance an
execution environment: the function's environment and nothing else, its own clients, credentials, Logger, Metrics
and resolver state, and an interpreter (with its lock) that no other instance, nor the stack, shares. Instances of
every function run at once on every core, as Lambda's do.

The process forks from this process's forkserver (devstack/forkserver.py), which imported what the handlers share
and read their services' models once: an instance starts by importing its function's entry module. Each invocation
is one message each way over a pipe: the event and context in; the result or the error out, with what the handler
printed (to this process's stdout, where Lambda's log would have it) and the AWS calls it made (to the function's
devstack/iam.py recorder).
"""

from __future__ import annotations

import sys
from collections.abc import Mapping
from typing import Any, NamedTuple

from devstack import forkserver, iam


class Outcome(NamedTuple):
    """One answer from an instance's process: the load's or an invocation's result, or its error as Lambda's runtime
    reports one (type name, message, stack trace); what the instance printed meanwhile; the AWS calls it made that it
    had not reported yet."""

    result: Any = None
    error: tuple[str, str, str] | None = None
    output: str = ""
    calls: tuple[iam.Call, ...] = ()


def _serve(*args: Any) -> None:
    from devstack import instance_process  # noqa: PLC0415 - the forkserver's import

    instance_process.serve(*args)


class FunctionError(Exception):
    """A handler's error, as Lambda's runtime reports it: its type's name, message and stack trace."""

    def __init__(self, error_type: str, message: str, trace: str = ""):
        super().__init__(message)
        self.error_type = error_type
        self.trace = trace

    def __repr__(self) -> str:
        return f"{self.error_type}({str(self)!r})"


class ProcessInstance:
    """One warm instance of a function: a handler (`module.function`) loaded in `environment`, in a process of its
    own, called as the handler is. An instance serves one invocation at a time (devstack/runtime.py's Function lends
    it to one caller at a time). Its load's error is raised here, as the handler's `FunctionError`; an instance whose
    process ended is no longer `alive`, and its invocation fails as Lambda's does (`Runtime.ExitError`)."""

    def __init__(self, handler: str, environment: Mapping[str, str], region: str,
                 recorder: iam.CallRecorder | None = None):
        self._handler = handler
        self._recorder = recorder
        self._process, self._pipe = forkserver.fork(_serve, (handler, dict(environment), region),
                                                    f"instance of {handler}")
        try:
            self._receive()
        except BaseException:
            self.close()
            raise

    @property
    def alive(self) -> bool:
        """False once its process was found gone (the pipe is closed then)."""
        return not self._pipe.closed

    def __call__(self, event: Any, context: Any) -> Any:
        try:
            self._pipe.send((event, context))
        except OSError:  # its process ended while the instance was idle
            self._exited()
        return self._receive()

    def _receive(self) -> Any:
        try:
            outcome: Outcome = self._pipe.recv()
        except EOFError:
            self._exited()
        if outcome.output:
            sys.stdout.write(outcome.output)
        if self._recorder is not None:
            for call in outcome.calls:
                self._recorder.record(call)
        if outcome.error is not None:
            raise FunctionError(*outcome.error)
        return outcome.result

    def _exited(self) -> None:
        self.close()
        raise FunctionError("Runtime.ExitError", f"{self._handler}: the instance's process exited") from None

    def close(self) -> None:
        """Ends the process (its pipe closed, it exits; killed if it does not)."""
        forkserver.end(self._process, self._pipe, timeout=5)
