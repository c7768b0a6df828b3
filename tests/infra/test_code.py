"""The functions' code archive (components/code.py): the handlers' sources, and the runtime's bytecode of exactly
those sources, compiled once per set of sources."""

from __future__ import annotations

import json
import os
import subprocess
import time
import zipfile
from pathlib import Path

import pulumi
import pytest

import layer
from components import code
from tests.infra.conftest import archive_files
from tests.layer.support import CHECK_BYTECODE


def checked(archive: pulumi.AssetArchive, python: str, tmp_path: Path) -> dict:
    """CHECK_BYTECODE's findings over the archive, zipped as Pulumi would ship it."""
    zipped = tmp_path / "code.zip"
    with zipfile.ZipFile(zipped, "w") as z:
        for name, path in archive_files(archive).items():
            z.write(path, name)
    done = subprocess.run([python, "-I", "-c", CHECK_BYTECODE, str(zipped)], capture_output=True, text=True, check=True)
    return json.loads(done.stdout)


@pytest.fixture
def build_dir(tmp_path, monkeypatch) -> Path:
    monkeypatch.setattr(code, "BUILD_DIR", tmp_path / "build")
    return tmp_path / "build"


def test_every_handler_module_ships_the_runtimes_bytecode_of_its_own_source(tmp_path):
    python = layer.runtime_python()
    archive = code.code_archive()
    shipped = archive_files(archive)
    bytecode = [path for name, path in shipped.items() if layer.is_bytecode(name)]
    assert all(Path(path).is_relative_to(code.BUILD_DIR) for path in bytecode)  # never a cache beside the sources
    if python is None:  # no 3.12 on this machine: the sources only (test_without_the_runtimes_python_...)
        return
    found = checked(archive, python, tmp_path)
    assert found["problems"] == []
    assert found["compiled"] == found["modules"] == len([name for name in shipped if name.endswith(".py")]) > 30


def test_a_tree_ships_the_bytecode_of_its_current_sources_never_a_cache_written_beside_them(tmp_path, build_dir):
    python = layer.runtime_python()
    tree = tmp_path / "handlers"
    (tree / "api" / "__pycache__").mkdir(parents=True)
    (tree / "api" / "__pycache__" / "app.cpython-312.pyc").write_bytes(b"\0")  # what a local 3.12 run wrote
    (tree / "stale.pyc").write_bytes(b"\0")
    (tree / "api" / "app.py").write_text("VERSION = 1\n")
    archive = code.code_archive(str(tree))
    first = archive_files(archive)
    pyc = "handlers/api/__pycache__/app.cpython-312.pyc"
    assert sorted(first) == sorted(["handlers/api/app.py", *([pyc] if python else [])])
    if python is None:  # no 3.12 on this machine: nothing compiles (the next test)
        return
    assert Path(first[pyc]).is_relative_to(build_dir)
    assert checked(archive, python, tmp_path)["problems"] == []

    (tree / "api" / "app.py").write_text("VERSION = 2\n")
    archive = code.code_archive(str(tree))
    second = archive_files(archive)
    assert second[pyc] != first[pyc]
    found = checked(archive, python, tmp_path)
    assert found["problems"] == [] and found["compiled"] == found["modules"] == 1


def test_without_the_runtimes_python_the_archive_ships_the_sources_only(tmp_path, build_dir, monkeypatch):
    monkeypatch.setattr(layer, "runtime_python", lambda: None)
    tree = tmp_path / "handlers"
    tree.mkdir()
    (tree / "app.py").write_text("VERSION = 1\n")
    assert archive_files(code.code_archive(str(tree))) == {"handlers/app.py": str(tree / "app.py")}
    assert not build_dir.exists()


def test_sources_compiled_twice_at_once_are_written_once_and_whole(tmp_path, build_dir):
    built = build_dir / "digest"
    code._write(built, {"app.pyc": b"first"})
    code._write(built, {"app.pyc": b"second"})  # a concurrent run of the same sources, finishing second
    assert [p.name for p in build_dir.iterdir()] == ["digest"]
    assert (built / "app.pyc").read_bytes() == b"first"


def test_a_new_build_removes_the_builds_of_other_sources_an_hour_old_and_keeps_recent_ones(build_dir):
    code._write(build_dir / "old", {"app.pyc": b"old"})
    code._write(build_dir / "recent", {"app.pyc": b"recent"})
    an_hour_ago = time.time() - 3601
    os.utime(build_dir / "old", (an_hour_ago, an_hour_ago))
    code._write(build_dir / "new", {"app.pyc": b"new"})
    assert sorted(p.name for p in build_dir.iterdir()) == ["new", "recent"]
