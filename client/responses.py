"""What a failed response says: the API's {"error"} JSON or S3's XML <Code>/<Message>, in one line."""

from __future__ import annotations

import json
import xml.etree.ElementTree as ET

import requests

_MAX_ERROR_BODY = 64 * 1024  # error bodies are small; never parse a huge one


def error_detail(response: requests.Response) -> tuple[str | None, str]:
    """(S3 error code or None, human-readable message) of a failed response, whatever shape its body has."""
    body = response.content[:_MAX_ERROR_BODY]
    text = body.decode("utf-8", "replace").strip()
    if text.startswith("{"):
        try:
            data = json.loads(text)
        except ValueError:
            data = None
        # Our API answers {"error"}; API Gateway's own answers (authorizer, throttling) are {"message"}.
        if isinstance(data, dict):
            for field in ("error", "message"):
                if isinstance(data.get(field), str):
                    return None, data[field]
    if text.startswith("<"):
        try:
            root = ET.fromstring(body)
        except ET.ParseError:
            root = None
        if root is not None and root.tag == "Error":
            code, message = root.findtext("Code"), root.findtext("Message")
            if code:
                return code, f"{code}: {message}" if message else code
    return None, response.reason or "no message"
