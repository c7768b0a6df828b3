"""`make package`: build the functions' layer from layer/requirements.txt and print what it holds."""

from __future__ import annotations

import argparse
import sys
import time

import layer
from layer.build import BuildError, build


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m layer", description=__doc__)
    parser.add_argument("--offline", action="store_true",
                        help="build from the wheels already downloaded into .build/layer/wheels only")
    args = parser.parse_args(argv)
    started = time.perf_counter()
    try:
        manifest = build(offline=args.offline, log=lambda line: print(f"layer: {line}", file=sys.stderr))
    except (BuildError, ValueError) as error:
        print(f"layer: {error}", file=sys.stderr)
        return 1
    archive = layer.BUILD_DIR / layer.ARCHIVE_NAME
    print(f"{archive.relative_to(layer.PROJECT_DIR)}: {len(manifest['packages'])} packages for "
          f"{manifest['runtime']} {manifest['architecture']}, {manifest['files']} files, "
          f"{manifest['zipped_bytes'] / 1e6:.1f} MB zipped, {manifest['unzipped_bytes'] / 1e6:.1f} MB unzipped, "
          f"sha256 {manifest['sha256']} ({time.perf_counter() - started:.1f} s)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
