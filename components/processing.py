"""The processing trigger's destination: the stack's own EventBridge bus, and what a function needs to deliver to it."""

from __future__ import annotations

from dataclasses import dataclass

import pulumi
import pulumi_aws as aws

from components.lambda_function import statement
from handlers import contract
from handlers.settings import ProcessingSettings

TYPE = "session-uploads:index:ProcessingBus"


def event_bus_arn(partition: pulumi.Input[str], region: str, account_id: pulumi.Input[str],
                  bus_name: str) -> pulumi.Output[str]:
    """The ARN of an existing bus of this account and region, given by name (PutEvents names it; IAM needs the ARN)."""
    return pulumi.Output.format("arn:{0}:events:{1}:{2}:event-bus/{3}", partition, region, account_id, bus_name)


@dataclass(frozen=True)
class ProcessingTarget:
    """Where SessionReady goes: one bus, and a state machine when one is configured; and the lease of the claims
    under which every function that can find a session ready (the API, the completion path, the sweeper) delivers
    its trigger, and under which the completion path ingests each window."""

    event_bus_name: pulumi.Input[str]
    event_bus_arn: pulumi.Input[str]
    state_machine_arn: str | None = None
    claim_lease_seconds: int = contract.DEFAULT_INGEST_CLAIM_LEASE_SECONDS

    def statements(self) -> list[aws.iam.GetPolicyDocumentStatementArgs]:
        """PutEvents on exactly the one bus; StartExecution on exactly the one state machine, only when configured."""
        granted = [statement(["events:PutEvents"], [self.event_bus_arn], sid="ProcessingEvents")]
        if self.state_machine_arn:
            granted.append(statement(["states:StartExecution"], [self.state_machine_arn], sid="ProcessingExecutions"))
        return granted

    def settings(self) -> ProcessingSettings:
        """What a function's handlers.settings.ProcessingSettings will read (names may be outputs here)."""
        return ProcessingSettings(event_bus_name=self.event_bus_name, state_machine_arn=self.state_machine_arn,
                                  claim_lease_seconds=self.claim_lease_seconds)


@dataclass
class ProcessingBusArgs:
    bus_name: str
    """The bus's name: fixed (not auto-named), since consumers in other stacks subscribe to it by name."""


class ProcessingBus(pulumi.ComponentResource):
    """A custom bus for the stack's application events, deployed when the stack is given no bus to use."""

    bus: aws.cloudwatch.EventBus
    name: pulumi.Output[str]
    arn: pulumi.Output[str]

    def __init__(self, name: str, args: ProcessingBusArgs, opts: pulumi.ResourceOptions | None = None):
        super().__init__(TYPE, name, None, opts)
        self.bus = aws.cloudwatch.EventBus(
            f"{name}-bus",
            aws.cloudwatch.EventBusArgs(name=args.bus_name,
                                        description="session-uploads: SessionReady, one event per ready session"),
            opts=pulumi.ResourceOptions(parent=self),
        )
        self.name = self.bus.name
        self.arn = self.bus.arn
        self.register_outputs({"busName": self.name, "busArn": self.arn})
