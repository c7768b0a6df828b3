"""A function instance's process (devstack/instances.py): Lambda's execution environment for one instance. It sets the
function's environment, imports the handler module (whose clients, settings, Logger and Metrics are then the
instance's own, as in a container), and runs one invocation at a time as its parent sends them, until the parent
closes the pipe or dies.

Importing this module is the expensive part of an instance, done once per parent process: it is the forkserver's
preload (devstack/forkserver.py). Every module the handlers share (Powertools, pydantic, boto3, the handlers' domain,
adapters and models) is imported, and the service models of their clients read, before the fork. An instance then
imports only its function's entry module (`handlers.<function>.app`), which reads its environment and builds its
clients, as a warm container's init would. Nothing environment-bound is built here: each `app` module is left for
its instances to import.
"""

from __future__ import annotations

import ast
import contextlib
import gc
import importlib
import importlib.util
import io
import os
import pkgutil
import sys
import traceback
from collections.abc import Mapping
from multiprocessing.connection import Connection
from typing import Any

import boto3
import botocore.session

import handlers
from devstack import iam
from devstack.instances import Outcome

# Variables a container has only if its function sets them: the forkserver's own (the parent's at its start) go.
_CONTAINER_PREFIXES = ("AWS_", "POWERTOOLS_", "_X_AMZN_")
# The services the handlers' clients call: their models, endpoint rules and event aliases read before the fork.
_SERVICES = ("dynamodb", "s3", "lambda", "events", "stepfunctions")


def _imports_of(module_name: str) -> list[str]:
    """The modules a module's top level imports (`from package import name` counts `package`), read from its source."""
    spec = importlib.util.find_spec(module_name)
    tree = ast.parse(spec.loader.get_source(module_name))
    names = []
    for node in tree.body:
        if isinstance(node, ast.Import):
            names += [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module != "__future__":
            names.append(node.module)
    return names


def _preload() -> None:
    """Every module of `handlers` but the entry modules, and every module an entry module imports."""
    for module in pkgutil.walk_packages(handlers.__path__, f"{handlers.__name__}."):
        imports = _imports_of(module.name) if module.name.endswith(".app") else [module.name]
        for name in imports:
            importlib.import_module(name)
    session = boto3.session.Session("preload", "preload", region_name="us-east-1")
    for service in _SERVICES:
        session.client(service)


_preload()
# Frozen, as moto's is (devstack/moto_process.py): an instance's collector never walks what it inherits, and the
# forked processes keep sharing those pages.
gc.freeze()


def serve(parent: Connection, handler: str, environment: Mapping[str, str], region: str) -> None:
    """The forked instance's body: load `handler` (`module.function`) in `environment`, then answer `parent`'s
    invocations (`(event, context)`), each with an Outcome; the load's Outcome first."""
    for name in [name for name in os.environ if name.startswith(_CONTAINER_PREFIXES)]:
        del os.environ[name]
    os.environ.update(environment)
    # Lambda sends a function's stdout and stderr to its log: both go to the parent with each answer. Set before the
    # module loads: Powertools' Logger keeps the stream it finds then.
    sys.stdout = sys.stderr = printed = io.StringIO()
    recorder = iam.CallRecorder(region)
    session = botocore.session.Session()
    recorder.attach(session)
    boto3.setup_default_session(botocore_session=session)
    reported: set[iam.Call] = set()

    def answer(result: Any = None, error: BaseException | None = None) -> None:
        calls = recorder.calls - reported
        reported.update(calls)
        output = printed.getvalue()
        printed.seek(0)
        printed.truncate()
        described = None if error is None else (
            type(error).__name__, str(error), "".join(traceback.format_exception(error)))
        parent.send(Outcome(result, described, output, tuple(calls)))

    module_name, _, function_name = handler.rpartition(".")
    try:
        function = getattr(importlib.import_module(module_name), function_name)
    except Exception as error:  # noqa: BLE001 - the parent raises it: the stack's start fails with it
        answer(error=error)
        os._exit(1)
    answer()
    with contextlib.suppress(EOFError):
        while True:
            event, context = parent.recv()
            try:
                result = function(event, context)
            except Exception as error:  # noqa: BLE001 - Lambda's runtime reports every error of a handler
                answer(error=error)
            else:
                answer(result)
    # Nothing to write or close: the instance's state lives and dies with the process (as moto_process's does).
    os._exit(0)
