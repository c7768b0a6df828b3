"""The embedded local stack: the deployed pipeline's handlers, each instance in a process of its own, against moto on
127.0.0.1."""

from devstack import botofix, motofix

# How the local stack's own log lines read, on the terminal of `python -m devstack` and in a bench's or the demo's log
# file (devstack.demo.handler_output_to).
LOG_FORMAT = "%(asctime)s %(name)s %(levelname)s %(message)s"

# Every moto this project runs (the local stack's server, the tests' in-process mocks, the benches) is moto with
# constant-cost transactions; see devstack/motofix.py.
motofix.install()

# Every boto3 session in a process that runs the local stack (its function instances, roles and operator, the tests'
# fixtures) reads botocore's service models through one loader; see devstack/botofix.py.
botofix.install()
