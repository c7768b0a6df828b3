"""botocore's service models read once per process, not once per session.

botocore gives every session a loader of its own, and a loader reads and parses a service's JSON files (about 1 MB
for DynamoDB or S3) for its session's first client of that service. The local stack makes a session per function
instance, role and operator, and the tests one per fixture and stack, so the same files were parsed again for each:
about 0.9 s of CPU per local stack start (`python -m bench.stack`). Here every session made after `install()` shares
one loader per data path. What a loader returns is read-only data that botocore already shares between one session's
clients; a session's credentials, config and region stay its own.
"""

from __future__ import annotations

import functools

import botocore.loaders
import botocore.session


class _Paths(list):
    """boto3 appends its data folder to its session's loader at each new session (boto3/session.py, `_setup_loader`):
    shared, the loader keeps one copy of it, not one per session made."""

    def append(self, path: str) -> None:
        if path not in self:
            super().append(path)


@functools.cache
def _shared_loader(search_path_string: str | None = None) -> botocore.loaders.Loader:
    paths = botocore.loaders.create_loader(search_path_string).search_paths
    return botocore.loaders.Loader(extra_search_paths=_Paths(paths), include_default_search_paths=False)


def install() -> None:
    """Idempotent; sessions made before it keep loaders of their own."""
    botocore.session.create_loader = _shared_loader
