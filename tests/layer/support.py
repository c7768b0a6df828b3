"""Reading a built layer archive, and the third-party imports a handler reaches, for the layer's tests."""

from __future__ import annotations

import ast
import sys
import zipfile
from email.parser import HeaderParser
from pathlib import Path

from packaging.utils import canonicalize_name

import layer

PREFIX = f"{layer.SITE_DIR_IN_ARCHIVE}/"
# What a Python function may import without packaging it: the standard library only. The runtime's own boto3 and
# its dependencies are there too, but the layer carries the pinned ones, which come first on the import path.
RUNTIME_PROVIDED: frozenset[str] = frozenset()


def distributions(archive: Path) -> dict[str, dict]:
    """Each distribution in the archive by canonical name: its version, METADATA and WHEEL headers."""
    found = {}
    with zipfile.ZipFile(archive) as z:
        for name in z.namelist():
            parts = name.removeprefix(PREFIX).split("/")
            if len(parts) == 2 and parts[0].endswith(".dist-info") and parts[1] == "METADATA":
                metadata = HeaderParser().parsestr(z.read(name).decode())
                wheel = HeaderParser().parsestr(z.read(f"{PREFIX}{parts[0]}/WHEEL").decode())
                found[canonicalize_name(metadata["Name"])] = {"version": metadata["Version"], "metadata": metadata,
                                                              "wheel": wheel}
    return found


def top_level_modules(archive: Path) -> set[str]:
    """The importable top-level names the archive puts on the path: packages, modules and extension modules."""
    names = set()
    with zipfile.ZipFile(archive) as z:
        for name in z.namelist():
            first = name.removeprefix(PREFIX).split("/")[0]
            if first.endswith((".dist-info", ".data")) or first.endswith("-stubs"):
                continue
            names.add(first.split(".")[0])  # six.py -> six, _cffi.cpython-312-x86_64-linux-gnu.so -> _cffi
    return names


def _imports(path: Path) -> set[str]:
    """Every absolute module name a file imports, at any depth of its code (a lazy import runs too, when called)."""
    found = set()
    for node in ast.walk(ast.parse(path.read_text(), filename=str(path))):
        if isinstance(node, ast.Import):
            found |= {alias.name for alias in node.names}
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            found.add(node.module)
            found |= {f"{node.module}.{alias.name}" for alias in node.names}  # `from pkg import submodule`
    return found


def _module_file(root: Path, module: str) -> Path | None:
    base = root.joinpath(*module.split("."))
    for candidate in (base.with_suffix(".py"), base / "__init__.py"):
        if candidate.is_file():
            return candidate
    return None


def third_party_imports(root: Path, entry_modules: list[str], own: str = "handlers") -> dict[str, set[str]]:
    """Top-level third-party names reachable from the entry modules through the project's own package under
    `root`, each with the own modules that import it. Not third-party: the standard library, `own`, and
    RUNTIME_PROVIDED."""
    found: dict[str, set[str]] = {}
    seen: set[str] = set()
    queue = list(entry_modules)
    while queue:
        module = queue.pop()
        if module in seen:
            continue
        seen.add(module)
        parts = module.split(".")
        queue += [".".join(parts[:i]) for i in range(1, len(parts))]  # importing a module runs its packages
        path = _module_file(root, module)
        if path is None:
            continue  # `from pkg import name` where name is not a module
        for imported in _imports(path):
            top = imported.split(".")[0]
            if top == own:
                queue.append(imported)
            elif top not in sys.stdlib_module_names and top != "__future__" and top not in RUNTIME_PROVIDED:
                found.setdefault(top, set()).add(module)
    return found


# Run by the runtime's interpreter on a zip (the layer, or the functions' code archive): every .pyc is a module's own,
# in the __pycache__ beside it, with this interpreter's magic number, unchecked-hash (flags 0b01, PEP 552), over exactly
# that module's source.
CHECK_BYTECODE = r"""
import importlib.util, json, sys, zipfile
z = zipfile.ZipFile(sys.argv[1])
names = set(z.namelist())
problems, compiled = [], 0
for name in sorted(n for n in names if n.endswith(".pyc")):
    folder, _, file = name.rpartition("/__pycache__/")
    module, _, tag = file.rpartition(".")[0].rpartition(".")
    source = f"{folder}/{module}.py"
    header = z.read(name)[:16]
    if tag != sys.implementation.cache_tag or source not in names:
        problems.append(f"{name}: not the runtime's bytecode of a module in the archive")
    elif header[:4] != importlib.util.MAGIC_NUMBER or int.from_bytes(header[4:8], "little") != 0b01:
        problems.append(f"{name}: not unchecked-hash bytecode of this Python")
    elif header[8:16] != importlib.util.source_hash(z.read(source)):
        problems.append(f"{name}: compiled from another source than {source}")
    else:
        compiled += 1
print(json.dumps({"problems": problems, "compiled": compiled, "modules": sum(n.endswith(".py") for n in names)}))
"""
