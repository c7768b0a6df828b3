"""The functions run on the stack's own layer, published from the fresh archive `make package` built."""

from __future__ import annotations

import shutil

import pytest

import layer
from layer import LayerNotReady
from offline import preview
from offline.program import ACCOUNT_ID, run_program
from stack_config import ConfigError
from tests.infra.conftest import FUNCTION

LAYER_VERSION = "aws:lambda/layerVersion:LayerVersion"


def test_one_layer_version_is_published_from_the_built_archive_for_the_runtime_it_was_built_for(dev, prod):
    built = layer.require_built()
    for run in (dev, prod):
        version = run.one(LAYER_VERSION, "packages-version")
        assert version.inputs["code"].path == built.program_path == "./.build/layer/layer.zip"
        assert version.inputs["sourceCodeHash"] == built.code_hash  # a new archive publishes a new version
        assert version.inputs["compatibleRuntimes"] == [layer.RUNTIME]
        assert version.inputs["compatibleArchitectures"] == [layer.ARCHITECTURE]
        assert version.inputs["layerName"] == f"session-uploads-{run.stack}-packages"


def test_every_function_runs_on_that_layer_and_nothing_else(dev, prod):
    for run in (dev, prod):
        version = run.one(LAYER_VERSION, "packages-version")
        arn = f"arn:aws:lambda:eu-west-1:{ACCOUNT_ID}:layer:session-uploads-{run.stack}-packages:1"
        for function in run.of_type(FUNCTION):
            assert function.inputs["layers"] == [arn]
            assert version.urn in function.dependencies
            assert function.inputs["runtime"] in version.inputs["compatibleRuntimes"]
            assert set(function.inputs["architectures"]) <= set(version.inputs["compatibleArchitectures"])


@pytest.mark.parametrize("key", ["powertoolsLayerVersion", "lambdaRuntime"])
def test_a_retired_key_is_refused_by_name(key):
    with pytest.raises(ConfigError, match=f"session-uploads:{key}: is no longer read"):
        run_program("dev", {key: "27" if key == "powertoolsLayerVersion" else "python3.11"})


def test_the_program_refuses_to_run_without_the_layer(tmp_path, monkeypatch):
    monkeypatch.setattr(layer, "BUILD_DIR", tmp_path / "layer")
    with pytest.raises(LayerNotReady, match=r"layer\.zip is missing\): run `make package`"):
        run_program("dev")


def test_the_program_refuses_a_layer_stale_against_the_pins(tmp_path, monkeypatch):
    build_dir = tmp_path / "layer"
    shutil.copytree(layer.BUILD_DIR, build_dir, ignore=shutil.ignore_patterns("wheels"))
    pins = tmp_path / "requirements.txt"
    pins.write_text(layer.PINS_FILE.read_text().replace("pydantic==2.14.3", "pydantic==2.14.2"))
    monkeypatch.setattr(layer, "BUILD_DIR", build_dir)
    monkeypatch.setattr(layer, "PINS_FILE", pins)
    with pytest.raises(LayerNotReady, match=r"stale .*pydantic 2\.14\.3 -> 2\.14\.2.*run `make package`"):
        run_program("dev")


def test_the_offline_preview_stops_with_the_command_to_run(tmp_path, monkeypatch, capsys):
    monkeypatch.setattr(layer, "BUILD_DIR", tmp_path / "layer")
    assert preview.main(["--stack", "dev"]) == 2
    assert "run `make package`" in capsys.readouterr().err
