"""The built layer holds exactly the pins, for the Lambda platform, in an archive whose bytes the pins determine."""

from __future__ import annotations

import importlib.metadata
import json
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest
from packaging.requirements import Requirement
from packaging.tags import parse_tag
from packaging.utils import canonicalize_name

import layer
from layer import LayerNotReady
from layer.build import ZIP_DATE, BuildError, build, check_closed, target_tags
from tests.layer.support import CHECK_BYTECODE, PREFIX, distributions

ELF_MAGIC, ELF_64_BIT, EM_X86_64 = b"\x7fELF", 2, 62


def _pins() -> dict[str, str]:
    return {p.name: p.version for p in layer.read_pins()}


def test_the_layer_holds_exactly_the_pinned_packages_at_the_pinned_versions(built):
    assert {name: d["version"] for name, d in distributions(built.archive).items()} == _pins()
    assert built.packages == _pins()  # and the manifest says so


def test_the_tests_run_exactly_the_versions_the_layer_holds():
    # The root requirements include layer/requirements.txt and pin none of its packages a second time.
    root = (layer.PROJECT_DIR / "requirements.txt").read_text().splitlines()
    assert "-r layer/requirements.txt" in root
    for file in ("requirements.txt", "requirements-dev.txt", "policies/requirements.txt"):
        for line in (layer.PROJECT_DIR / file).read_text().splitlines():
            line = line.split("#", 1)[0].strip()
            if line and not line.startswith("-"):
                assert canonicalize_name(Requirement(line).name) not in _pins(), f"{file} pins {line} again"
    installed = {name: importlib.metadata.version(name) for name in _pins()}
    assert installed == _pins()


def test_every_package_is_built_for_cpython_312_on_manylinux_x86_64(built):
    accepted = set(target_tags())
    for name, dist in distributions(built.archive).items():
        tags = {tag for line in dist["wheel"].get_all("Tag") for tag in parse_tag(line)}
        assert tags & accepted, f"{name} is tagged {sorted(map(str, tags))}"
    with zipfile.ZipFile(built.archive) as z:
        extensions = [n for n in z.namelist() if n.endswith(".so")]
        assert extensions  # pydantic-core and wrapt are compiled: a layer without them would be the wrong one
        for name in extensions:
            assert name.endswith((".cpython-312-x86_64-linux-gnu.so", ".abi3.so")), name
            header = z.read(name)[:20]
            assert header[:4] == ELF_MAGIC and header[4] == ELF_64_BIT, name
            assert int.from_bytes(header[18:20], "little") == EM_X86_64, name


def test_the_archive_is_normalised_sorted_dated_and_free_of_scripts(built):
    with zipfile.ZipFile(built.archive) as z:
        infos = z.infolist()
    names = [i.filename for i in infos]
    assert names == sorted(names)
    assert all(n.startswith(PREFIX) and not n.endswith("/") for n in names)  # Lambda adds /opt/python to the path
    assert {i.date_time for i in infos} == {ZIP_DATE}
    assert {i.external_attr >> 16 for i in infos} <= {0o100644, 0o100755}
    assert not [n for n in names if ".data/" in n or n.startswith(f"{PREFIX}bin/")]


def test_every_module_ships_the_runtimes_bytecode_of_its_own_source_and_no_other_bytecode(built):
    manifest = json.loads((layer.BUILD_DIR / layer.MANIFEST_NAME).read_text())
    python = layer.runtime_python()
    with zipfile.ZipFile(built.archive) as z:
        bytecode = [n for n in z.namelist() if layer.is_bytecode(n)]
    if python is None:  # no 3.12 on this machine: the build says so and ships the sources only
        assert manifest["bytecode"] is None and bytecode == []
        return
    assert all(n.endswith(".cpython-312.pyc") and "/__pycache__/" in n for n in bytecode)
    done = subprocess.run([python, "-I", "-c", CHECK_BYTECODE, str(built.archive)], capture_output=True, text=True,
                          check=True)
    found = json.loads(done.stdout)
    assert found["problems"] == []
    assert found["compiled"] == found["modules"] == len(bytecode) == manifest["bytecode"]["modules"] > 700


def test_the_pins_are_closed_under_the_runtimes_markers(built):
    pins = layer.read_pins()
    requires = {name: d["metadata"].get_all("Requires-Dist") or [] for name, d in distributions(built.archive).items()}
    check_closed(pins, requires)  # raises when a requirement is unpinned or pinned at a refused version
    without_six = tuple(p for p in pins if p.name != "six")
    with pytest.raises(BuildError, match=r"python-dateutil requires six>=1\.5, which is not pinned"):
        check_closed(without_six, requires)
    without_xray = tuple(p for p in pins if p.name != "aws-xray-sdk")  # required by the [tracer] extra only
    with pytest.raises(BuildError, match=r"aws-lambda-powertools requires aws-xray-sdk.*, which is not pinned"):
        check_closed(without_xray, requires)
    older_core = tuple(p if p.name != "pydantic-core" else layer.Pin(p.name, "2.50.3", p.extras) for p in pins)
    with pytest.raises(BuildError, match=r"pydantic requires pydantic-core==2\.50\.4, pinned at 2\.50\.3"):
        check_closed(older_core, requires)


@pytest.fixture(scope="module")
def rebuilt(tmp_path_factory) -> Path:
    """A second build of the same pins, later and elsewhere, from the wheels the first one downloaded."""
    work = tmp_path_factory.mktemp("rebuild")
    shutil.copy(layer.PINS_FILE, work / "requirements.txt")
    build(work / "requirements.txt", work / "layer", wheels_dir=layer.BUILD_DIR / "wheels", offline=True,
          log=lambda _: None)
    return work


def test_two_builds_of_the_same_pins_are_byte_identical(built, rebuilt):
    assert layer.file_sha256(rebuilt / "layer" / layer.ARCHIVE_NAME) == built.sha256
    again = json.loads((rebuilt / "layer" / layer.MANIFEST_NAME).read_text())
    assert again == json.loads((layer.BUILD_DIR / layer.MANIFEST_NAME).read_text())


def test_a_changed_pin_makes_the_layer_stale_until_it_is_rebuilt(rebuilt, tmp_path, monkeypatch):
    pins, build_dir = tmp_path / "requirements.txt", tmp_path / "layer"
    shutil.copy(rebuilt / "requirements.txt", pins)
    shutil.copytree(rebuilt / "layer", build_dir)
    layer.require_built(pins, build_dir)  # fresh

    original = pins.read_text()
    pins.write_text(original.replace("six==1.17.0", "six==1.16.0"))
    with pytest.raises(LayerNotReady, match=r"stale .*six 1\.17\.0 -> 1\.16\.0.*run `make package`"):
        layer.require_built(pins, build_dir)

    # Another extra is another pin too; rebuilt (offline: the same wheels), the layer is fresh again. Rebuilt
    # without the runtime's bytecode, which freshness does not depend on (the test below): 3 s less to compile.
    pins.write_text(original.replace("aws-lambda-powertools[tracer]==3.37.0", "aws-lambda-powertools==3.37.0"))
    with pytest.raises(LayerNotReady, match="built from other extras"):
        layer.require_built(pins, build_dir)
    monkeypatch.setattr(layer, "runtime_python", lambda: None)
    build(pins, build_dir, wheels_dir=layer.BUILD_DIR / "wheels", offline=True, log=lambda _: None)
    assert layer.require_built(pins, build_dir).packages == _pins()


def test_an_archive_changed_after_its_build_is_refused(rebuilt, tmp_path):
    build_dir = tmp_path / "layer"
    shutil.copytree(rebuilt / "layer", build_dir)
    with zipfile.ZipFile(build_dir / layer.ARCHIVE_NAME, "a") as z:
        z.writestr(f"{PREFIX}extra.py", "")
    with pytest.raises(LayerNotReady, match="not the archive its manifest describes"):
        layer.require_built(rebuilt / "requirements.txt", build_dir)


def test_without_the_runtimes_python_the_layer_ships_its_sources_and_says_so(rebuilt, tmp_path, monkeypatch):
    monkeypatch.setattr(layer, "runtime_python", lambda: None)
    said: list[str] = []
    manifest = build(rebuilt / "requirements.txt", tmp_path, wheels_dir=layer.BUILD_DIR / "wheels", offline=True,
                     log=said.append)
    assert manifest["bytecode"] is None
    assert any("ships its sources only" in line for line in said)
    with zipfile.ZipFile(tmp_path / layer.ARCHIVE_NAME) as z:
        assert not [n for n in z.namelist() if layer.is_bytecode(n)]
    assert layer.require_built(rebuilt / "requirements.txt", tmp_path).packages == _pins()  # fresh all the same


def test_the_runtimes_python_is_the_one_named_else_found_on_the_path_or_in_pyenv(tmp_path, monkeypatch):
    monkeypatch.setenv(layer.PYTHON_VARIABLE, sys.executable)  # this interpreter: 3.11, not the runtime's
    with pytest.raises(ValueError, match=f"{layer.PYTHON_VARIABLE}=.* is not a Python 3.12"):
        layer.runtime_python()
    monkeypatch.delenv(layer.PYTHON_VARIABLE)
    real = layer.runtime_python()
    monkeypatch.setenv("PATH", str(tmp_path / "bin"))  # nothing there
    monkeypatch.setenv("PYENV_ROOT", str(tmp_path / "pyenv"))
    assert layer.runtime_python() is None
    if real is not None:  # a pyenv-like tree: the newest working 3.12 by version number, not by name
        for version, target in (("3.12.9", real), ("3.12.10", real), ("3.12.11", "/bin/false"), ("3.13.0", real)):
            binary = tmp_path / "pyenv" / "versions" / version / "bin" / "python3.12"
            binary.parent.mkdir(parents=True)
            binary.symlink_to(target)
        assert layer.runtime_python() == str(tmp_path / "pyenv" / "versions" / "3.12.10" / "bin" / "python3.12")
        monkeypatch.setenv(layer.PYTHON_VARIABLE, real)
        assert layer.runtime_python() == real
