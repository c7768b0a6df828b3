"""The processing trigger on AWS: an EventBridge event, and a Step Functions execution when one is configured."""

from __future__ import annotations

import json
from typing import Any

from handlers import contract


class AwsProcessingTrigger:
    """PutEvents on the configured bus; StartExecution named after the session when a state machine is configured.

    Both are safe to repeat for one session: the execution name makes Step Functions idempotent (an existing
    execution counts as success), and the caller's claim keeps the event to one delivery in all but a crash
    between PutEvents and the confirm write.
    """

    def __init__(self, events_client: Any, bus_name: str, sfn_client: Any = None, state_machine_arn: str | None = None):
        self._events = events_client
        self._bus_name = bus_name
        self._sfn = sfn_client
        self._state_machine_arn = state_machine_arn

    def __call__(self, detail: dict[str, Any]) -> None:
        response = self._events.put_events(
            Entries=[
                {
                    "Source": contract.PROCESSING_EVENT_SOURCE,
                    "DetailType": contract.PROCESSING_EVENT_DETAIL_TYPE,
                    "Detail": json.dumps(detail),
                    "EventBusName": self._bus_name,
                }
            ]
        )
        if response.get("FailedEntryCount", 0):
            entry = response["Entries"][0]
            raise RuntimeError(f"SessionReady not accepted: {entry.get('ErrorCode')}: {entry.get('ErrorMessage')}")
        if self._state_machine_arn:
            try:
                self._sfn.start_execution(
                    stateMachineArn=self._state_machine_arn, name=detail["sessionId"], input=json.dumps(detail)
                )
            except self._sfn.exceptions.ExecutionAlreadyExists:
                pass  # this session's execution was started by an earlier delivery
