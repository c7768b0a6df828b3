"""Lambda code: one package per function, shared domain logic and the project's facts (layout, contract)."""
