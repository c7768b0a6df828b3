"""Domain logic: plain functions over injected clients, no environment, testable without AWS."""
