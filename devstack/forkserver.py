"""The process's forkserver: multiprocessing starts one per process, with one list of modules to import first. moto's
servers (devstack/servers.py) and the functions' instances (devstack/instances.py) fork from it, each with what it
needs imported, and warmed, once."""

from __future__ import annotations

import multiprocessing

CONTEXT = multiprocessing.get_context("forkserver")
CONTEXT.set_forkserver_preload(["devstack.moto_process", "devstack.instance_process"])
