"""One description of each function's environment: its settings class reads it (`from_env`) and writes it
(`environment()`), the program deploys what it writes, and the local stack runs each function with what the program
deploys. A variable a settings class reads that the program does not deploy fails here before it fails a deploy."""

import pytest

from devstack.stack import COMPRESSIBLE
from handlers import contract
from handlers.settings import (
    ApiSettings,
    CompletionSettings,
    IngestSettings,
    ProcessingSettings,
    SweeperSettings,
)
from offline.program import run_program
from tests.infra.conftest import function

FUNCTIONS = [
    ("api", "handlers.api.app", ApiSettings),
    ("upload-completion", "handlers.upload_complete.app", CompletionSettings),
    ("ingest", "handlers.ingest.app", IngestSettings),
    ("sweeper", "handlers.sweeper.app", SweeperSettings),
]
POWERTOOLS = {"POWERTOOLS_SERVICE_NAME"}  # Powertools' own, set by components/lambda_function.py


class ReadRecorder(dict):
    """An environment that remembers every variable read from it, present or not."""

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.read: set[str] = set()

    def get(self, key, default=None):
        self.read.add(key)
        return super().get(key, default)

    def __getitem__(self, key):
        self.read.add(key)
        return super().__getitem__(key)


@pytest.mark.parametrize("stack_file", ["dev", "prod"])
def test_every_variable_a_functions_settings_read_is_one_the_program_deploys(stack_file):
    program = run_program(stack_file)
    deployed_functions = {r.name for r in program.of_type("aws:lambda/function:Function")}
    checked = []
    for component, _, settings in FUNCTIONS:
        if f"{component}-handler-function" not in deployed_functions:
            continue  # prod is given an existing ingest function: the stack deploys none
        deployed = ReadRecorder(function(program, component).inputs["environment"]["variables"])
        settings.from_env(deployed)
        missing = deployed.read - set(deployed)
        # The state machine is optional, deployed only when configured; every other variable read must be deployed.
        assert missing <= {contract.ENV_PROCESSING_STATE_MACHINE_ARN}, f"{component} reads {missing}, never deployed"
        assert set(deployed) - POWERTOOLS <= deployed.read, f"{component} deploys variables nothing reads"
        checked.append(component)
    assert {"api", "upload-completion", "sweeper"} <= set(checked)


def test_a_settings_class_reads_back_exactly_what_it_writes():
    processing = ProcessingSettings(event_bus_name="bus", state_machine_arn=None, claim_lease_seconds=7)
    examples = [
        ApiSettings("bucket", "table", 60, 10, 20, 3, processing),
        CompletionSettings("bucket", "table", "ingest", processing),
        IngestSettings("bucket"),
        SweeperSettings("bucket", "table", "ingest", 120,
                        ProcessingSettings("bus", "arn:aws:states:eu-west-1:123456789012:stateMachine:m", 9)),
    ]
    for example in examples:
        assert type(example).from_env(example.environment()) == example


@pytest.mark.parametrize("component, module, settings", FUNCTIONS)
def test_each_local_function_runs_with_the_environment_the_program_deploys(stack, component, module, settings):
    deployed = function(stack.deployment.run, component).inputs["environment"]["variables"]
    local = stack.function_variables[module]
    assert set(local) == set(deployed)
    assert {k: v for k, v in local.items() if k not in COMPRESSIBLE} == \
        {k: v for k, v in deployed.items() if k not in COMPRESSIBLE}


def test_each_local_function_runs_with_the_timeout_and_memory_the_program_deploys(stack):
    for spec in stack.deployment.functions.values():
        deployed = stack.deployment.run.one("aws:lambda/function:Function", spec.resource).inputs
        assert (spec.timeout_seconds, spec.memory_mb) == (deployed["timeout"], deployed["memorySize"])
        assert stack.function_variables[spec.module]  # loaded with its environment
    api = stack.deployment.function(stack.deployment.api_function)
    assert api.memory_mb == 512 and api.handler == "handlers.api.app.lambda_handler"
