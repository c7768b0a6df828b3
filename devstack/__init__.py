"""The embedded local stack: the deployed pipeline's handlers, in-process, against moto on 127.0.0.1."""

from devstack import botofix, motofix

# Every moto this project runs (the local stack's server, the tests' in-process mocks, the benches) is moto with
# constant-cost transactions; see devstack/motofix.py.
motofix.install()

# Every boto3 session in a process that runs the local stack (its function instances, roles and operator, the tests'
# fixtures) reads botocore's service models through one loader; see devstack/botofix.py.
botofix.install()
