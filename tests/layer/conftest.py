"""The layer `make package` built, as the tests of its contents read it."""

from __future__ import annotations

import pytest

import layer


@pytest.fixture(scope="session")
def built() -> layer.BuiltLayer:
    return layer.require_built()  # make test builds it first; run `make package` before a bare pytest
