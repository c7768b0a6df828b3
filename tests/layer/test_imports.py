"""Every third-party module a deployed handler can import is one the layer puts on the function's path."""

from __future__ import annotations

import pytest

from offline.program import PROJECT_DIR, run_program
from tests.layer.support import third_party_imports, top_level_modules

FUNCTION = "aws:lambda/function:Function"


@pytest.fixture(scope="module")
def entry_modules() -> list[str]:
    """The module of every function the program deploys (dev deploys all four)."""
    handlers = {f.inputs["handler"] for f in run_program("dev").of_type(FUNCTION)}
    assert len(handlers) == 4
    return sorted(h.rpartition(".")[0] for h in handlers)


def test_every_third_party_import_of_the_handlers_is_in_the_layer(built, entry_modules):
    imported = third_party_imports(PROJECT_DIR, entry_modules)
    # What the handlers use, so the walk is known to see through the package (an empty result would pass anything).
    assert {"aws_lambda_powertools", "boto3", "botocore", "pydantic"} <= set(imported)
    missing = {name: sorted(by) for name, by in imported.items() if name not in top_level_modules(built.archive)}
    assert missing == {}, f"imported by the handlers, in neither the layer nor the runtime: {missing}"


def test_an_import_outside_the_layer_is_caught_even_lazy_and_two_modules_deep(tmp_path, built):
    package = tmp_path / "handlers"
    (package / "api").mkdir(parents=True)
    (package / "__init__.py").write_text("")
    (package / "api" / "__init__.py").write_text("")
    (package / "api" / "app.py").write_text("import json\nimport boto3\nfrom handlers import helpers\n"
                                            "from aws_lambda_powertools import Logger\n")
    (package / "helpers.py").write_text("def render():\n    import yaml\n    return yaml\n")
    (package / "tool.py").write_text("import numpy\n")  # no deployed function reaches it
    imported = third_party_imports(tmp_path, ["handlers.api.app"])
    assert imported == {"boto3": {"handlers.api.app"}, "aws_lambda_powertools": {"handlers.api.app"},
                        "yaml": {"handlers.helpers"}}
    assert {name for name in imported if name not in top_level_modules(built.archive)} == {"yaml"}
