"""EventBridge "Scheduled Event" events, as a schedule rule hands them to its Lambda target."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime

from devstack.runtime import ACCOUNT_ID


def rule_arn(region: str, rule: str) -> str:
    return f"arn:aws:events:{region}:{ACCOUNT_ID}:rule/{rule}"


def scheduled_event(rule: str, region: str) -> dict:
    """One firing of the schedule rule named `rule`."""
    return {
        "version": "0",
        "id": str(uuid.uuid4()),
        "detail-type": "Scheduled Event",
        "source": "aws.events",
        "account": ACCOUNT_ID,
        "time": datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
        "region": region,
        "resources": [rule_arn(region, rule)],
        "detail": {},
    }
