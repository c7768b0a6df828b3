"""A cold start's imports without the garbage collector, and what they build kept out of its later passes.

Before its first request a handler module imports botocore, Powertools and pydantic: over 100,000 objects, which
live as long as the instance. While they are built, the collector passes over the young ones every 700 allocations
and over the whole heap each time it has grown by a quarter, finding next to nothing: on this machine, 129 passes
took 66 ms of a bare `boto3.client("s3")` cold start's 360, and 178 passes 73 ms of the API's 580. So each handler
module turns the collector off before its third-party imports (`gc.disable()`), and its last statement is
`imported()`: `gc.freeze()` moves everything built so far to the permanent generation, which no pass scans, and the
collector runs again, over what the requests build. Freezing matters as much as pausing: re-enabled without it, the
collector passes over the whole heap in the first request. The imports leave a few hundred objects of garbage, which
are frozen with the rest. Python's documentation of gc.freeze gives the same order (disable early, freeze once the
long-lived state is built), there before a fork.
"""

import gc


def imported() -> None:
    """A handler module's last statement: its imports and set-up frozen, and the collector on again."""
    gc.freeze()
    gc.enable()
