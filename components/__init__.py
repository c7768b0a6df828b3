"""The stack's ComponentResources, one concern per module."""
