"""Every header a grant tells a client to send is one the bucket's CORS rule lets a browser send."""

import base64
import hashlib

import pytest

from components.storage import GRANT_HEADERS

# Browsers set Content-Length themselves and never ask a preflight for it.
_SET_BY_THE_BROWSER = {"content-length"}


@pytest.mark.parametrize("sha256", [None, base64.b64encode(hashlib.sha256(b"RIFF").digest()).decode()])
def test_a_browser_may_send_every_granted_header(api, sha256):
    status, grant = api.grant(api.create(), 0, size=4, sha256=sha256)
    assert status == 200

    granted = {name.lower() for name in grant["headers"]} - _SET_BY_THE_BROWSER

    assert granted <= set(GRANT_HEADERS), f"not allowed by the bucket's CORS rule: {granted - set(GRANT_HEADERS)}"
