"""The functions' code archive: the `handlers` package as Lambda mounts it under /var/task, its sources and, when
this machine has the runtime's Python, that interpreter's bytecode of each of its modules.

/var/task is read-only, so a module without bytecode there is compiled again at every cold start: 26, 48 and 18 ms of
the API's, the completion's and the ingest function's cold starts on Python 3.12 (README, "The handlers' bytecode
too"; `python -m bench.handlers --baseline 62ab16b`). The
bytecode is unchecked-hash, as the layer's (layer/build.py): the interpreter reads it without opening the source,
which never changes in a deployed version. It is compiled once per set of sources, into .build/code/<their digest>/,
where every later run of the program (a preview, the local stack's start, the tests') finds it.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import tempfile
import time
from pathlib import Path

import pulumi

import layer
from layer import build

TASK_ROOT = "/var/task"  # where Lambda extracts the code archive: the `handlers` package is /var/task/handlers
HANDLERS_DIR = "./handlers"  # never the repo root (it holds the venv)
BUILD_DIR = layer.PROJECT_DIR / ".build" / "code"
_KEPT_SECONDS = 3600  # older builds of other sources are removed when a new one is written


def sources(directory: Path) -> dict[str, Path]:
    """Every file under `directory` by its '/'-separated path inside it, but bytecode: not the __pycache__ that a
    local run of the tests or the local stack writes beside the sources (layer.is_bytecode)."""
    return {path.relative_to(directory).as_posix(): path for path in sorted(directory.rglob("*"))
            if path.is_file() and not layer.is_bytecode(path.relative_to(directory).as_posix())}


def bytecode(directory: Path) -> dict[str, Path]:
    """The runtime's bytecode of each module under `directory` (a `handlers` tree), by its path inside it
    (`api/__pycache__/app.cpython-312.pyc`); none when the sources were never compiled and this machine has no
    Python 3.12 (layer.runtime_python)."""
    return _compiled(sources(directory))


def _compiled(files: dict[str, Path]) -> dict[str, Path]:
    """`bytecode` of a tree whose `sources` are `files`."""
    modules = {name: path.read_bytes() for name, path in files.items() if name.endswith(".py")}
    digest = hashlib.sha256(json.dumps({
        "python": layer.PYTHON_VERSION_TEXT,
        "compiler": hashlib.sha256(layer.BUILDER_FILE.read_bytes()).hexdigest(),
        "modules": {name: hashlib.sha256(content).hexdigest() for name, content in modules.items()},
    }, sort_keys=True).encode()).hexdigest()
    built = BUILD_DIR / digest
    if not built.is_dir():
        python = layer.runtime_python()
        if python is None:
            return {}
        _, compiled = build.compile_bytecode(modules, python, f"{TASK_ROOT}/handlers")
        _write(built, compiled)
    return {path.relative_to(built).as_posix(): path for path in sorted(built.rglob("*.pyc"))}


def _write(built: Path, compiled: dict[str, bytes]) -> None:
    """`compiled` into `built`, whole or not at all: written aside, then renamed (a concurrent run that wrote the
    same sources' first wins, with the same bytes)."""
    BUILD_DIR.mkdir(parents=True, exist_ok=True)
    partial = Path(tempfile.mkdtemp(prefix=".partial-", dir=BUILD_DIR))
    for name, content in compiled.items():
        (partial / name).parent.mkdir(parents=True, exist_ok=True)
        (partial / name).write_bytes(content)
    try:
        os.rename(partial, built)
    except OSError:  # already there
        shutil.rmtree(partial, ignore_errors=True)
    for other in BUILD_DIR.iterdir():
        try:
            old = time.time() - other.stat().st_mtime > _KEPT_SECONDS
        except FileNotFoundError:  # removed by a concurrent run
            continue
        if other != built and old:
            shutil.rmtree(other, ignore_errors=True)


def shipped(directory: Path) -> dict[str, Path]:
    """What the code archive holds of `directory` under `handlers/`: its sources, and the runtime's bytecode of each
    of its modules (`bytecode`)."""
    files = sources(directory)
    return {**files, **_compiled(files)}


def extract(directory: Path, task: Path) -> Path:
    """The code archive of `directory`, extracted into `task` as Lambda extracts it into /var/task; returns `task`."""
    for name, path in shipped(directory).items():
        (task / "handlers" / name).parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(path, task / "handlers" / name)
    return task


def code_archive(directory: str = HANDLERS_DIR) -> pulumi.AssetArchive:
    """`directory` as the `handlers` package, as `shipped` says."""
    files = {name: str(path) for name, path in shipped(Path(directory)).items()}

    def tree(prefix: str) -> pulumi.AssetArchive:
        entries: dict[str, pulumi.Asset | pulumi.Archive] = {}
        for name in sorted(files):
            if not name.startswith(prefix):
                continue
            first, _, rest = name[len(prefix):].partition("/")
            if not rest:
                entries[first] = pulumi.FileAsset(files[name])
            elif first not in entries:  # a folder: built once, from its first file
                entries[first] = tree(f"{prefix}{first}/")
        return pulumi.AssetArchive(entries)

    return pulumi.AssetArchive({"handlers": tree("")})
