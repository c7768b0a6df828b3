"""The boto3 adapters behind the domain's Protocols (handlers.domain.ports): the table, Lambda, EventBridge, SFN."""
