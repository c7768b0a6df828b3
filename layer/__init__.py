"""The functions' third-party packages as one Lambda layer: its pins, its platform, and whether its build is fresh.

`layer/requirements.txt` pins every package the layer holds; `make package` (`python -m layer`, layer/build.py)
builds `.build/layer/layer.zip` from exactly those pins for the Lambda platform below, with a manifest recording what
it was built from. The program deploys that archive and refuses to run when it is missing or stale (`require_built`).
"""

from __future__ import annotations

import base64
import glob
import hashlib
import json
import os
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path

from packaging.requirements import InvalidRequirement, Requirement
from packaging.utils import NormalizedName, canonicalize_name

PROJECT_DIR = Path(__file__).resolve().parent.parent
PINS_FILE = Path(__file__).resolve().with_name("requirements.txt")
BUILDER_FILE = Path(__file__).resolve().with_name("build.py")
# Not committed (.gitignore): the archive, its manifest, and the downloaded wheels it was built from.
BUILD_DIR = PROJECT_DIR / ".build" / "layer"
ARCHIVE_NAME = "layer.zip"
MANIFEST_NAME = "manifest.json"
BUILD_COMMAND = "make package"

# The Lambda platform the layer is built for; the functions run on exactly this runtime and architecture.
RUNTIME = "python3.12"
ARCHITECTURE = "x86_64"
PYTHON_VERSION = (3, 12)
PYTHON_VERSION_TEXT = ".".join(map(str, PYTHON_VERSION))  # "3.12"
ABI = "cp312"
# manylinux2014 (glibc 2.17) and older: wheels that run on the runtime's Amazon Linux 2023 (glibc 2.34). Order is
# preference, newest first, as pip's --platform takes it.
PLATFORMS = (*(f"manylinux_2_{minor}_x86_64" for minor in range(17, 4, -1)),
             "manylinux2014_x86_64", "manylinux2010_x86_64", "manylinux1_x86_64")
# PEP 508 markers as they evaluate inside the runtime: what a package's Requires-Dist means there.
MARKER_ENVIRONMENT = {
    "implementation_name": "cpython",
    "implementation_version": "3.12.0",
    "os_name": "posix",
    "platform_machine": "x86_64",
    "platform_python_implementation": "CPython",
    "platform_release": "",
    "platform_system": "Linux",
    "platform_version": "",
    "python_full_version": "3.12.0",
    "python_version": "3.12",
    "sys_platform": "linux",
}
# Where Lambda mounts a layer's `python/` folder, on every Python function's import path.
SITE_DIR_IN_ARCHIVE = "python"


# The runtime's interpreter on the building machine, whose bytecode the layer ships (layer/build.py): the one
# LAYER_PYTHON names, else `python3.12` on the path, else pyenv's.
PYTHON_VARIABLE = "LAYER_PYTHON"


def is_bytecode(path: str) -> bool:
    """Whether a '/'-separated path (or a single name) is bytecode: a __pycache__ folder or what is in one, or a
    compiled module. No bytecode from elsewhere ships to Lambda (a wheel's own, the tests' __pycache__ beside the
    handlers): the layer's is compiled by its build, with the runtime's Python, and the code archive has none."""
    return "__pycache__" in path.split("/") or path.endswith((".pyc", ".pyo"))


def is_runtime_python(candidate: str) -> bool:
    """Whether `candidate` runs and is the runtime's Python version (pyenv's shim for a version it does not have
    selected is on the path, and fails)."""
    try:
        done = subprocess.run([candidate, "-I", "-c", f"import sys; print(sys.version_info[:2] == {PYTHON_VERSION})"],
                              capture_output=True, text=True, timeout=30, check=False)
    except (OSError, subprocess.TimeoutExpired):
        return False
    return done.stdout.strip() == "True"


def runtime_python() -> str | None:
    """An interpreter of the runtime's Python version on this machine, or None: LAYER_PYTHON when set (it must be
    one), else `python3.12` on the path, else the newest of pyenv's 3.12 versions."""
    chosen = os.environ.get(PYTHON_VARIABLE)
    if chosen:
        if not is_runtime_python(chosen):
            raise ValueError(f"{PYTHON_VARIABLE}={chosen} is not a Python {PYTHON_VERSION_TEXT}")
        return chosen
    version = PYTHON_VERSION_TEXT
    pyenv = Path(os.environ.get("PYENV_ROOT", Path.home() / ".pyenv"))
    found = sorted(glob.glob(str(pyenv / "versions" / f"{version}.*" / "bin" / f"python{version}")),
                   key=lambda p: tuple(int(n) for n in Path(p).parent.parent.name.split(".") if n.isdigit()),
                   reverse=True)
    return next((c for c in [shutil.which(f"python{version}"), *found] if c and is_runtime_python(c)), None)


class LayerNotReady(RuntimeError):
    """The layer archive is missing, or was built from other pins or by another builder: run `make package`."""


@dataclass(frozen=True)
class Pin:
    name: NormalizedName
    version: str
    extras: frozenset[str]

    def __str__(self) -> str:
        extras = f"[{','.join(sorted(self.extras))}]" if self.extras else ""
        return f"{self.name}{extras}=={self.version}"


def read_pins(path: Path | None = None) -> tuple[Pin, ...]:
    """The pins of a requirements file: one `name[extras]==version` a line, no markers, URLs or includes."""
    path = path or PINS_FILE
    pins: dict[str, Pin] = {}
    for number, raw in enumerate(path.read_text().splitlines(), 1):
        line = raw.split("#", 1)[0].strip()
        if not line:
            continue
        where = f"{path.name}:{number}"
        try:
            requirement = Requirement(line)
        except InvalidRequirement as error:
            raise ValueError(f"{where}: not a requirement ({error})") from None
        specifiers = list(requirement.specifier)
        if requirement.url or requirement.marker or len(specifiers) != 1 or specifiers[0].operator != "==" \
                or "*" in specifiers[0].version:
            raise ValueError(f"{where}: {line!r} must be an exact pin, name[extras]==version, with no marker or URL")
        name = canonicalize_name(requirement.name)
        if name in pins:
            raise ValueError(f"{where}: {name} is pinned twice")
        pins[name] = Pin(name, specifiers[0].version, frozenset(requirement.extras))
    if not pins:
        raise ValueError(f"{path.name}: no pins")
    return tuple(sorted(pins.values(), key=lambda p: p.name))


def fingerprint(pins: tuple[Pin, ...]) -> str:
    """What a build depends on besides the wheels the pins name: the pins, the platform and the builder's code.
    The manifest records it; a layer whose fingerprint differs from the current one is stale."""
    facts = {
        "pins": [str(p) for p in pins],
        "runtime": RUNTIME, "architecture": ARCHITECTURE, "abi": ABI, "platforms": list(PLATFORMS),
        "builder": hashlib.sha256(BUILDER_FILE.read_bytes()).hexdigest(),
    }
    return hashlib.sha256(json.dumps(facts, sort_keys=True).encode()).hexdigest()


def file_sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


@dataclass(frozen=True)
class BuiltLayer:
    """A fresh build: the archive to deploy and the facts the program needs about it."""

    archive: Path
    sha256: str  # hex, of the archive's bytes
    packages: dict[str, str]  # canonical name -> version, as the manifest recorded them

    @property
    def code_hash(self) -> str:
        """Base64 SHA-256 of the archive, as Lambda reports a layer version's CodeSha256."""
        return base64.b64encode(bytes.fromhex(self.sha256)).decode()

    @property
    def program_path(self) -> str:
        """The archive's path as the program gives it to Pulumi: relative to the project when inside it."""
        try:
            return f"./{self.archive.relative_to(PROJECT_DIR).as_posix()}"
        except ValueError:
            return str(self.archive)


def _shown(path: Path) -> str:
    try:
        return path.relative_to(PROJECT_DIR).as_posix()
    except ValueError:
        return str(path)


def require_built(pins_file: Path | None = None, build_dir: Path | None = None) -> BuiltLayer:
    """The layer built from the current pins by the current builder, or LayerNotReady naming the command to run."""
    pins_file = pins_file or PINS_FILE
    build_dir = build_dir or BUILD_DIR
    archive, manifest_file = build_dir / ARCHIVE_NAME, build_dir / MANIFEST_NAME
    if not archive.is_file() or not manifest_file.is_file():
        raise LayerNotReady(f"the functions' layer is not built ({_shown(archive)} is missing): run "
                            f"`{BUILD_COMMAND}`")
    manifest = json.loads(manifest_file.read_text())
    pins = read_pins(pins_file)
    if manifest.get("fingerprint") != fingerprint(pins):
        built = manifest.get("packages", {})
        changed = sorted({f"{p.name} {built.get(p.name, 'absent')} -> {p.version}" for p in pins
                          if built.get(p.name) != p.version}
                         | {f"{name} {version} -> absent" for name, version in built.items()
                            if name not in {p.name for p in pins}})
        why = f"pins changed since it was built: {', '.join(changed)}" if changed else \
            "built from other extras, for another platform or by another version of layer/build.py"
        raise LayerNotReady(f"the functions' layer {_shown(archive)} is stale against {_shown(pins_file)} ({why}): "
                            f"run `{BUILD_COMMAND}`")
    digest = file_sha256(archive)
    if digest != manifest.get("sha256"):
        raise LayerNotReady(f"the functions' layer {_shown(archive)} is not the archive its manifest describes "
                            f"(changed after the build): run `{BUILD_COMMAND}`")
    return BuiltLayer(archive=archive, sha256=digest, packages=dict(manifest["packages"]))
