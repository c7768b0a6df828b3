"""A DynamoDB table as boto3's Table resource presents it to handlers.dal.sessions_table, on a plain client."""

from __future__ import annotations

from typing import Any

from boto3.dynamodb.transform import TransformationInjector, copy_dynamodb_params


class _Meta:
    def __init__(self, client: Any):
        self.client = client


class Table:
    """The part of boto3's `Table` resource that SessionsTable calls (`name`, `meta.client`, `put_item`, `get_item`,
    `update_item`, `query`), with the same Python-typed items, conditions and copies of the caller's parameters: the
    four handlers boto3's DynamoDB resource registers on its client (boto3.dynamodb.transform.
    DynamoDBHighLevelResource), registered on a plain client. So `meta.client` serializes what the DAL hands it
    directly too (`batch_get_item`, `transact_write_items`), as the resource's own client does.

    A resource costs a cold start about a third more than its client: boto3 stats every service's folder for resource
    models, loads the table's, and builds the resource classes. SessionsTable takes this or a real Table resource.
    """

    def __init__(self, client: Any, name: str):
        self.name = name
        self.meta = _Meta(client)
        events = client.meta.events
        injector = TransformationInjector()
        # As DynamoDBHighLevelResource.__init__ registers them, with the same unique ids (so never twice).
        events.register("provide-client-params.dynamodb", copy_dynamodb_params, unique_id="dynamodb-create-params-copy")
        events.register(
            "before-parameter-build.dynamodb",
            injector.inject_condition_expressions,
            unique_id="dynamodb-condition-expression",
        )
        events.register(
            "before-parameter-build.dynamodb", injector.inject_attribute_value_input, unique_id="dynamodb-attr-value-input"
        )
        events.register(
            "after-call.dynamodb", injector.inject_attribute_value_output, unique_id="dynamodb-attr-value-output"
        )

    # Each as the resource's action: the table's name, then the caller's parameters; the response as the client's.
    def put_item(self, **kwargs: Any) -> dict[str, Any]:
        return self.meta.client.put_item(**{"TableName": self.name, **kwargs})

    def get_item(self, **kwargs: Any) -> dict[str, Any]:
        return self.meta.client.get_item(**{"TableName": self.name, **kwargs})

    def update_item(self, **kwargs: Any) -> dict[str, Any]:
        return self.meta.client.update_item(**{"TableName": self.name, **kwargs})

    def query(self, **kwargs: Any) -> dict[str, Any]:
        return self.meta.client.query(**{"TableName": self.name, **kwargs})
