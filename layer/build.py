"""Builds the functions' layer from the pins, reproducibly: the same pins and wheels give the same archive bytes.

Each pin's wheel for the Lambda platform is downloaded once (pip, binary wheels only, no dependency resolution: the
pins are the whole set) into `.build/layer/wheels/`, checked against its own RECORD, and unpacked into the archive
as an installer would: the wheel's files under `python/`, its `.data/purelib` and `.data/platlib` merged in, and
its scripts, headers and data left out (a console script's shebang names the build machine's interpreter). Every
module is then compiled by the runtime's Python (3.12) on this machine into the `__pycache__` beside it, as
unchecked-hash bytecode: Lambda's /opt is read-only, so without it each cold start compiles every module it imports.
Entries are sorted, dated 1980-01-01, with fixed permissions. The build fails when the pins are not closed
under the runtime's markers: a package requiring something that is not pinned, or pinned at a version it refuses.
"""

from __future__ import annotations

import base64
import csv
import hashlib
import io
import json
import os
import subprocess
import sys
import tempfile
import zipfile
import zlib
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from email.parser import HeaderParser
from pathlib import Path

from packaging.requirements import Requirement
from packaging.tags import Tag, compatible_tags, cpython_tags
from packaging.utils import canonicalize_name, parse_wheel_filename

import layer
from layer import Pin

ZIP_DATE = (1980, 1, 1, 0, 0, 0)  # the earliest date a zip entry can carry
FILE_MODE, EXTENSION_MODE = 0o100644, 0o100755
# zlib's default level: the layer's 44 MB deflated in 1.18 s to 24.50 MB, against 3.08 s to 24.44 MB at level 9 (0.3 %
# smaller, for a build that takes twice as long each time `make test` or `make package` runs it).
COMPRESS_LEVEL = 6
# Wheel .data subfolders an installer merges into site-packages; the others (scripts, headers, data) go elsewhere.
_SITE_DATA = ("purelib", "platlib")


class BuildError(RuntimeError):
    """The layer cannot be built from these pins; the message says why."""


def target_tags() -> list[Tag]:
    """Every wheel tag the runtime accepts, most preferred first."""
    platforms = list(layer.PLATFORMS)
    return [*cpython_tags(layer.PYTHON_VERSION, abis=[layer.ABI], platforms=platforms),
            *compatible_tags(layer.PYTHON_VERSION, interpreter=layer.ABI, platforms=platforms)]


@dataclass(frozen=True)
class Wheel:
    path: Path
    pin: Pin
    rank: int  # position of its best tag in target_tags(): lower is preferred

    @property
    def sha256(self) -> str:
        return layer.file_sha256(self.path)


def _find_wheel(pin: Pin, wheels_dir: Path, tags: list[Tag]) -> Wheel | None:
    ranks = {tag: i for i, tag in enumerate(tags)}
    found = []
    for path in sorted(wheels_dir.glob("*.whl")):
        name, version, _, wheel_tags = parse_wheel_filename(path.name)
        if name != pin.name or str(version) != pin.version:
            continue
        matching = [ranks[t] for t in wheel_tags if t in ranks]
        if matching:
            found.append(Wheel(path, pin, min(matching)))
    return min(found, key=lambda w: (w.rank, w.path.name), default=None)


def download(pins: Iterable[Pin], wheels_dir: Path, log: Callable[[str], None]) -> None:
    """pip download of exactly these versions as wheels for the runtime; the pins are the whole set (--no-deps)."""
    wanted = [f"{p.name}=={p.version}" for p in pins]
    log(f"downloading {len(wanted)} wheel(s): {', '.join(wanted)}")
    command = [sys.executable, "-m", "pip", "download", "--quiet", "--disable-pip-version-check", "--no-deps",
               "--only-binary=:all:", "--implementation", "cp",
               "--python-version", layer.PYTHON_VERSION_TEXT, "--abi", layer.ABI,
               *(arg for platform in layer.PLATFORMS for arg in ("--platform", platform)),
               "--dest", str(wheels_dir), *wanted]
    result = subprocess.run(command, capture_output=True, text=True, check=False)
    if result.returncode != 0:
        raise BuildError(f"pip download failed (no manylinux x86_64 / cp312 wheel for a pin?):\n{result.stderr}")


def wheels_for(pins: tuple[Pin, ...], wheels_dir: Path, *, offline: bool,
               log: Callable[[str], None]) -> list[Wheel]:
    """Each pin's wheel, downloading the ones the wheels folder lacks (unless offline)."""
    wheels_dir.mkdir(parents=True, exist_ok=True)
    tags = target_tags()
    missing = [p for p in pins if _find_wheel(p, wheels_dir, tags) is None]
    if missing and offline:
        raise BuildError(f"offline, and no wheel in {wheels_dir} for: {', '.join(map(str, missing))}")
    if missing:
        download(missing, wheels_dir, log)
    wheels = []
    for pin in pins:
        wheel = _find_wheel(pin, wheels_dir, tags)
        if wheel is None:
            raise BuildError(f"no {layer.ABI} manylinux x86_64 wheel of {pin} after download")
        wheels.append(wheel)
    return wheels


def _metadata(members: dict[str, bytes]) -> tuple[str, str, str]:
    """(dist-info folder, METADATA text, WHEEL text) of an unpacked wheel."""
    [dist_info] = {name.split("/", 1)[0] for name in members if name.split("/", 1)[0].endswith(".dist-info")}
    return dist_info, members[f"{dist_info}/METADATA"].decode(), members[f"{dist_info}/WHEEL"].decode()


def _check_record(wheel: Wheel, members: dict[str, bytes], dist_info: str) -> None:
    """Every file the wheel holds is the one its RECORD lists, with the hash it lists."""
    for row in csv.reader(io.StringIO(members[f"{dist_info}/RECORD"].decode())):
        if not row or not row[1]:
            continue  # RECORD itself (and signatures) carry no hash
        path, digest = row[0], row[1]
        algorithm, _, expected = digest.partition("=")
        if path not in members:
            raise BuildError(f"{wheel.path.name}: RECORD lists {path}, which the wheel lacks")
        actual = base64.urlsafe_b64encode(hashlib.new(algorithm, members[path]).digest()).rstrip(b"=").decode()
        if actual != expected:
            raise BuildError(f"{wheel.path.name}: {path} does not match its RECORD hash (corrupt download?)")


def _site_path(name: str, data_dir: str) -> str | None:
    """Where an installer puts a wheel member in site-packages, or None when it does not go there."""
    if name.startswith(f"{data_dir}/"):
        kind, _, rest = name[len(data_dir) + 1:].partition("/")
        return rest if kind in _SITE_DATA and rest else None
    return None if layer.is_bytecode(name) else name


def unpack(wheel: Wheel) -> tuple[dict[str, bytes], dict]:
    """The site-packages files of a wheel, and what the manifest records about it."""
    with zipfile.ZipFile(wheel.path) as archive:
        members = {info.filename: archive.read(info) for info in archive.infolist() if not info.is_dir()}
    dist_info, metadata, wheel_text = _metadata(members)
    _check_record(wheel, members, dist_info)
    headers = HeaderParser().parsestr(metadata)
    if canonicalize_name(headers["Name"]) != wheel.pin.name or headers["Version"] != wheel.pin.version:
        raise BuildError(f"{wheel.path.name}: its metadata names {headers['Name']} {headers['Version']}, "
                         f"not {wheel.pin}")
    data_dir = dist_info.removesuffix(".dist-info") + ".data"
    files = {}
    for name, content in members.items():
        path = _site_path(name, data_dir)
        if path is not None:
            files[path] = content
    record = {"file": wheel.path.name, "sha256": wheel.sha256,
              "requires": headers.get_all("Requires-Dist") or [],
              "purelib": HeaderParser().parsestr(wheel_text).get("Root-Is-Purelib", "").strip().lower() == "true"}
    return files, record


def check_closed(pins: tuple[Pin, ...], requires: dict[str, list[str]]) -> None:
    """Every requirement of every pinned package, as the runtime evaluates its markers with the extras asked for,
    is pinned at a version it accepts. `requires` maps a pin's name to its Requires-Dist lines."""
    pinned = {p.name: p for p in pins}
    extras = {p.name: set(p.extras) for p in pins}
    problems: list[str] = []
    queue = [p.name for p in pins]
    while queue:
        name = queue.pop()
        for line in requires[name]:
            requirement = Requirement(line)
            active = requirement.marker is None or any(
                requirement.marker.evaluate({**layer.MARKER_ENVIRONMENT, "extra": extra})
                for extra in ("", *sorted(extras[name])))
            if not active:
                continue
            needed = canonicalize_name(requirement.name)
            pin = pinned.get(needed)
            if pin is None:
                problems.append(f"{name} requires {requirement.name}{requirement.specifier}, which is not pinned")
            elif not requirement.specifier.contains(pin.version, prereleases=True):
                problems.append(f"{name} requires {requirement.name}{requirement.specifier}, pinned at {pin.version}")
            elif not set(requirement.extras) <= extras[needed]:
                extras[needed] |= set(requirement.extras)
                queue.append(needed)  # the new extras may require more
    if problems:
        raise BuildError("the pins are not closed for the runtime; pin what is missing:\n  "
                         + "\n  ".join(sorted(set(problems))))


# Run by the runtime's interpreter: its bytecode of every module under argv[1], each recorded as where Lambda mounts it
# (argv[2]), so that no build folder is written into it. One process, and a fixed hash seed (frozensets of strings
# in the constants are marshalled in hash order): the same sources give the same bytes. Unchecked-hash .pyc files:
# the interpreter reads them without opening the sources, which never change in a layer version. A module that does
# not compile for the runtime gets no bytecode, as pip's install would leave it. It prints its own version.
_COMPILE = """
import compileall, platform, py_compile, sys
compileall.compile_dir(sys.argv[1], ddir=sys.argv[2], quiet=2, workers=1,
                       invalidation_mode=py_compile.PycInvalidationMode.UNCHECKED_HASH)
print(platform.python_version())
"""


def compile_bytecode(files: dict[str, bytes], python: str,
                     mounted_at: str = f"/opt/{layer.SITE_DIR_IN_ARCHIVE}") -> tuple[str, dict[str, bytes]]:
    """The version of `python` (the runtime's), and the `__pycache__/<module>.cpython-312.pyc` it compiled of each
    module in `files`, whose paths are relative to `mounted_at` on Lambda (the layer's: /opt/python)."""
    with tempfile.TemporaryDirectory(prefix="layer-bytecode-") as tmp:
        root = Path(tmp)
        for name, content in files.items():
            if name.endswith(".py"):
                (root / name).parent.mkdir(parents=True, exist_ok=True)
                (root / name).write_bytes(content)
        done = subprocess.run([python, "-I", "-c", _COMPILE, tmp, mounted_at],
                              env={"PYTHONHASHSEED": "0", "PATH": os.environ.get("PATH", "")},
                              capture_output=True, text=True, check=False)
        if done.returncode != 0:
            raise BuildError(f"{python} could not compile the modules of {mounted_at}:\n{done.stderr}")
        return done.stdout.strip(), {path.relative_to(root).as_posix(): path.read_bytes()
                                     for path in sorted(root.rglob("*.pyc"))}


def write_archive(files: dict[str, bytes], path: Path) -> None:
    """A zip whose bytes depend only on `files`: sorted entries under python/, fixed dates and permissions."""
    with zipfile.ZipFile(path, "w") as archive:
        for name in sorted(files):
            info = zipfile.ZipInfo(f"{layer.SITE_DIR_IN_ARCHIVE}/{name}", date_time=ZIP_DATE)
            info.create_system = 3  # unix, so the permissions below are read
            info.external_attr = (EXTENSION_MODE if name.endswith(".so") else FILE_MODE) << 16
            info.compress_type = zipfile.ZIP_DEFLATED
            archive.writestr(info, files[name], compresslevel=COMPRESS_LEVEL)


def build(pins_file: Path | None = None, build_dir: Path | None = None, *, wheels_dir: Path | None = None,
          offline: bool = False, log: Callable[[str], None] = print) -> dict:
    """Build the archive and its manifest into `build_dir` (wheels kept in its wheels/ unless `wheels_dir` says
    otherwise; `offline`: from those only); return the manifest."""
    pins_file = pins_file or layer.PINS_FILE
    build_dir = build_dir or layer.BUILD_DIR
    pins = layer.read_pins(pins_file)
    wheels = wheels_for(pins, wheels_dir or build_dir / "wheels", offline=offline, log=log)
    files: dict[str, bytes] = {}
    owners: dict[str, str] = {}
    records = {}
    for wheel in wheels:
        unpacked, records[wheel.pin.name] = unpack(wheel)
        for name, content in unpacked.items():
            if name in files:
                raise BuildError(f"{name} is in both {owners[name]} and {wheel.path.name}")
            files[name], owners[name] = content, wheel.path.name
    check_closed(pins, {name: record["requires"] for name, record in records.items()})
    python = layer.runtime_python()
    bytecode = None
    if python is None:
        log(f"no Python {layer.PYTHON_VERSION_TEXT} on this machine ({layer.PYTHON_VARIABLE} names one): "
            f"the layer ships its sources only, and each cold start on Lambda compiles every module it imports")
    else:
        version, compiled = compile_bytecode(files, python)
        bytecode = {"python": version, "modules": len(compiled),
                    "of": sum(name.endswith(".py") for name in files)}
        files.update(compiled)

    build_dir.mkdir(parents=True, exist_ok=True)
    archive = build_dir / layer.ARCHIVE_NAME
    partial = archive.with_suffix(".zip.partial")
    write_archive(files, partial)
    os.replace(partial, archive)
    manifest = {
        "fingerprint": layer.fingerprint(pins),
        "sha256": layer.file_sha256(archive),
        "packages": {p.name: p.version for p in pins},
        "pins": [str(p) for p in pins],
        "runtime": layer.RUNTIME,
        # Which interpreter compiled the modules' bytecode, and how many of them (null: none, no 3.12 here).
        "bytecode": bytecode,
        "architecture": layer.ARCHITECTURE,
        "zipped_bytes": archive.stat().st_size,
        "unzipped_bytes": sum(len(content) for content in files.values()),
        "files": len(files),
        "wheels": [{"file": w.path.name, "sha256": records[w.pin.name]["sha256"]} for w in wheels],
        # Deflate's output is fixed by the zlib that wrote it: the same pins give the same bytes with this zlib.
        "zlib": zlib.ZLIB_RUNTIME_VERSION,
    }
    partial = build_dir / f"{layer.MANIFEST_NAME}.partial"
    partial.write_text(json.dumps(manifest, indent=2, sort_keys=True) + "\n")
    os.replace(partial, build_dir / layer.MANIFEST_NAME)
    return manifest
