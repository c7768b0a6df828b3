"""The embedded local stack: the deployed pipeline's handlers, in-process, against moto on 127.0.0.1."""
