"""The operator tool: inspect any session, list sessions by status, redrive the DLQs through the completion path, and
reconcile the bucket against the table, on a deployed stack (its `pulumi stack output --json`, the operator's own
AWS credentials) or on the local stack (its endpoints file). `python -m ops --help`."""
