"""The session-uploads CrossGuard policies, importable without starting the policy pack server."""
