"""botocore's service models read, its event names aliased and its endpoint rules built once per process, not once
per session or client.

botocore gives every session a loader of its own, and a loader reads and parses a service's JSON files (about 1 MB
for DynamoDB or S3) for its session's first client of that service. The local stack makes a session per function
instance, role and operator, and the tests one per fixture and stack, so the same files were parsed again for each:
about 0.9 s of CPU per local stack start (`python -m bench.stack`). Here every session made after `install()` shares
one loader per data path. What a loader returns is read-only data that botocore already shares between one session's
clients; a session's credentials, config and region stay its own.

Each client also gets its own copy of its session's event aliaser, whose cache of aliased event names starts empty:
for each event a client registers or emits the first time, it tries each of botocore's 60 aliases in turn. Under
botocore's own aliases an event name's alias never changes, so those aliasers share one cache here.

Each client builds its endpoint resolver's rule tree from its service's ruleset (2.5 ms of CPU for S3, 0.5 ms for
DynamoDB). The tree is read-only, so the clients of one ruleset, which the shared loader returns as one object,
share one here.

And botocore checks that each event handler it registers accepts `**kwargs` with `inspect.getfullargspec`: 136
times for a new boto3 session, 5 to 12 times for a new client. For a function or a bound method, the answer is a
flag of its code object, read here; any other callable is still asked of `inspect`.
"""

from __future__ import annotations

import functools
import inspect
import types
from collections.abc import Callable

import botocore.compat
import botocore.hooks
import botocore.loaders
import botocore.regions
import botocore.session
from botocore.endpoint_provider import EndpointProvider
from botocore.utils import EVENT_ALIASES


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


_ALIASED: dict[str, str] = {}  # event name -> its name under EVENT_ALIASES
_ALIASER_INIT = botocore.hooks.EventAliaser.__init__


def _aliaser_init(self: botocore.hooks.EventAliaser, *args: object, **kwargs: object) -> None:
    _ALIASER_INIT(self, *args, **kwargs)
    if self._event_aliases == EVENT_ALIASES:
        self._alias_name_cache = _ALIASED


def _accepts_kwargs(func: Callable) -> bool:
    if isinstance(func, types.MethodType):
        func = func.__func__
    if isinstance(func, types.FunctionType):
        return bool(func.__code__.co_flags & inspect.CO_VARKEYWORDS)
    return bool(botocore.compat.accepts_kwargs(func))


_PROVIDERS: dict[tuple, tuple[dict, dict, EndpointProvider]] = {}


def _endpoint_provider(ruleset_data: dict, partition_data: dict, excluded_params: set | None = None
                       ) -> EndpointProvider:
    key = (id(ruleset_data), id(partition_data), frozenset(excluded_params or ()))
    if key not in _PROVIDERS:
        # Kept with its ruleset and partitions: alive, their ids cannot name other objects.
        _PROVIDERS[key] = (ruleset_data, partition_data, EndpointProvider(ruleset_data, partition_data, excluded_params))
    return _PROVIDERS[key][2]


def install() -> None:
    """Idempotent; sessions made before it keep loaders of their own."""
    botocore.session.create_loader = _shared_loader
    botocore.hooks.EventAliaser.__init__ = _aliaser_init
    botocore.hooks.accepts_kwargs = _accepts_kwargs
    botocore.regions.EndpointProvider = _endpoint_provider
