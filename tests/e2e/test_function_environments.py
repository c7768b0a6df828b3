"""The local stack runs each function with the environment the program deploys it with: the same variable names,
so that a variable the program forgets (or the local stack does) fails here before it fails a deploy."""

import pytest

from offline.program import run_program
from tests.infra.conftest import function

FUNCTIONS = [
    ("api", "handlers.api.app"),
    ("upload-completion", "handlers.upload_complete.app"),
    ("ingest", "handlers.ingest.app"),
    ("sweeper", "handlers.sweeper.app"),
]


@pytest.fixture(scope="module")
def program():
    return run_program("dev")


@pytest.mark.parametrize("component, module", FUNCTIONS)
def test_each_local_function_has_the_variables_the_program_deploys(stack, program, component, module):
    deployed = set(function(program, component).inputs["environment"]["variables"])
    deployed -= {"POWERTOOLS_SERVICE_NAME", "POWERTOOLS_METRICS_NAMESPACE", "POWERTOOLS_LOG_LEVEL"}
    assert set(stack.function_variables[module]) == deployed
