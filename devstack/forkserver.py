"""The process's forkserver: multiprocessing starts one per process, with one list of modules to import first. moto's
servers (devstack/servers.py) and the functions' instances (devstack/instances.py) fork from it, each with what it
needs imported, and warmed, once; each talks to its parent over a pipe, and ends when the parent closes it."""

from __future__ import annotations

import multiprocessing
from collections.abc import Callable
from multiprocessing.connection import Connection
from multiprocessing.process import BaseProcess
from typing import Any

CONTEXT = multiprocessing.get_context("forkserver")
CONTEXT.set_forkserver_preload(["devstack.moto_process", "devstack.instance_process"])
START_TIMEOUT = 60  # seconds: a busy 2-core machine starting many stacks at once (the tests)


def fork(target: Callable[..., None], args: tuple[Any, ...], name: str) -> tuple[BaseProcess, Connection]:
    """A child forked from the forkserver, running `target(its end of the pipe, *args)`, and this end of the pipe, once
    the child has something to say (its first message, or its exit). RuntimeError if it says nothing in time."""
    pipe, child = CONTEXT.Pipe()
    process = CONTEXT.Process(target=target, args=(child, *args), name=name, daemon=True)
    process.start()
    child.close()
    if not pipe.poll(START_TIMEOUT):
        end(process, pipe)
        raise RuntimeError(f"{name} did not start in {START_TIMEOUT} s")
    return process, pipe


def end(process: BaseProcess, pipe: Connection, timeout: float = 10) -> None:
    """The pipe closed, so the child exits; killed if it has not within `timeout` seconds."""
    if not pipe.closed:
        pipe.close()
    process.join(timeout)
    if process.is_alive():
        process.kill()
        process.join()
