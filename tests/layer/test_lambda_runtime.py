"""The handlers import and serve requests with nothing on the path but their code and the layer, on Python 3.12.

A sandbox laid out as Lambda lays out a function: the code archive's `handlers/` in a task folder, the layer
archive's `python/` in an opt folder, and an interpreter started isolated (`-I -S`: no site-packages, no user or
environment paths) that puts exactly those two folders before the standard library, as Lambda's bootstrap does.
Tracing is on, as in Lambda (LAMBDA_TASK_ROOT set), so the tracer's X-Ray SDK and its botocore patching run too;
AWS is moto in server mode on 127.0.0.1.

The interpreter is Python 3.12 (the runtime's), the one the layer's build compiles its bytecode with
(`layer.runtime_python`: LAYER_PYTHON, `python3.12` or pyenv's), or the one LAYER_TEST_PYTHON names. Where none
exists, LAYER_TEST_PYTHON=local (or no 3.12 at all) runs the closest honest thing: this interpreter, with the layer's
compiled packages (cp312 builds that cannot load here) replaced by the same versions built for it, and every handler
module compiled as 3.12 grammar.
"""

from __future__ import annotations

import ast
import importlib.metadata
import json
import os
import shutil
import socket
import subprocess
import sys
import uuid
import zipfile
from dataclasses import dataclass
from pathlib import Path

import boto3
import pytest

import layer
from components import code
from devstack import deploy
from devstack.apigw import http_api_event
from devstack.s3events import notification, notification_record
from devstack.servers import MotoServer
from handlers import layout
from offline.program import PROJECT_DIR
from tests.conftest import BUCKET, HANDLER_ENV, REGION, TABLE
from tests.layer.support import distributions

# Runs inside the sandbox. Only the standard library is importable until it extends the path.
CHILD = r'''
import gc, importlib, json, sys, uuid
from pathlib import Path

import importlib._bootstrap_external as external

task, opt, out = sys.argv[1:4]
sys.path[:0] = [task, opt]  # /var/task, then /opt/python: Lambda's order, before the runtime's own libraries

# Every module the import system compiles from its source, for want of bytecode it can use.
from_source = []
_source_to_code = external.SourceLoader.source_to_code


def source_to_code(self, data, path, *args, **kwargs):
    from_source.append(path)
    return _source_to_code(self, data, path, *args, **kwargs)


external.SourceLoader.source_to_code = source_to_code


class Context:
    memory_limit_in_mb = 256

    def __init__(self, name):
        self.function_name = name
        self.aws_request_id = str(uuid.uuid4())
        self.invoked_function_arn = f"arn:aws:lambda:eu-west-1:123456789012:function:{name}"


compiled = 0
for path in sorted(Path(task).rglob("*.py")):  # every module the code archive ships, imported or not
    compile(path.read_text(), str(path), "exec")
    compiled += 1
# The collector's passes, and what each handler module's import did with the collector (handlers/coldstart.py).
passes, imports = [], {}
gc.callbacks.append(lambda phase, info: phase == "start" and passes.append(info["generation"]))
session, results = "", []
for call in json.load(sys.stdin):
    if call["module"] not in sys.modules:
        before, frozen = len(passes), gc.get_freeze_count()
        importlib.import_module(call["module"])
        imports[call["module"]] = {"passes": passes[before:], "frozen": gc.get_freeze_count() - frozen,
                                   "collecting": gc.isenabled()}
    module = importlib.import_module(call["module"])
    event = json.loads(json.dumps(call["event"]).replace("SESSION_ID", session))
    response = module.lambda_handler(event, Context(call["module"].split(".")[1]))
    if call["module"] == "handlers.api.app" and response["statusCode"] == 201:
        session = json.loads(response["body"])["sessionId"]
    results.append(response)
roots = {m.split(".")[0] for m in sys.modules}
origins = {name: getattr(sys.modules[name], "__file__", None) for name in sorted(roots) if name in sys.modules}
with open(out, "w") as f:
    json.dump({"python": list(sys.version_info[:2]), "compiled": compiled, "results": results,
               "session": session, "origins": origins, "path": sys.path, "from_source": from_source,
               "imports": imports}, f)
'''
TRACE_HEADER = "Root=1-5759e988-bd862e3fe1be46a994272793;Parent=53995c3f42cd8ad8;Sampled=1"
USER = "alice"


@dataclass(frozen=True)
class Interpreter:
    path: str
    exact: bool  # a real Python 3.12; else this interpreter with the compiled packages swapped


def find_python312() -> Interpreter:
    chosen = os.environ.get("LAYER_TEST_PYTHON")
    if chosen == "local":
        return Interpreter(sys.executable, exact=False)
    if chosen:
        if not layer.is_runtime_python(chosen):
            pytest.fail(f"LAYER_TEST_PYTHON={chosen} is not a Python 3.12 interpreter")
        return Interpreter(chosen, exact=True)
    found = layer.runtime_python()  # the one the layer's bytecode was compiled with, when this machine has one
    return Interpreter(found, exact=True) if found else Interpreter(sys.executable, exact=False)


@pytest.fixture(scope="module")
def python() -> Interpreter:
    return find_python312()


def _client(service: str, server: MotoServer):
    # Explicit fake credentials: a module fixture runs before the autouse fixture that sets them.
    return boto3.client(service, endpoint_url=server.url, region_name=REGION, aws_access_key_id="testing",
                        aws_secret_access_key="testing")


@pytest.fixture
def moto():
    # Per test: moto's backends are process-global, and another module's mock_aws (run by this worker between two
    # tests of this one) resets them.
    server = MotoServer()
    server.start()
    try:
        deploy.create_bucket(_client("s3", server), BUCKET, REGION)
        deploy.create_sessions_table(_client("dynamodb", server), TABLE)
        yield server
    finally:
        server.stop()


def _swap_compiled_packages(site: Path, archive: Path) -> list[str]:
    """Replace each compiled distribution in `site` with the same version installed for this interpreter."""
    swapped = []
    for name, dist in distributions(archive).items():
        if dist["wheel"]["Root-Is-Purelib"].strip().lower() == "true":
            continue
        local = importlib.metadata.distribution(name)
        assert local.version == dist["version"], f"{name}: the layer has {dist['version']}, this venv {local.version}"
        tops = {f.parts[0] for f in local.files or [] if f.parts[0] != ".." and not f.parts[0].endswith(".dist-info")}
        for top in tops:
            target, source = site / top, Path(local.locate_file(top))
            if target.is_dir():
                shutil.rmtree(target)
                shutil.copytree(source, target)
            elif source.is_file():
                shutil.copy(source, target)
        swapped.append(name)
    return swapped


def sandbox(root: Path, archive: Path, python: Interpreter, without: tuple[str, ...] = ()) -> tuple[Path, Path]:
    """The task folder (the code archive: handlers/ only) and the layer's python/ folder, as Lambda mounts them."""
    task, opt = code.extract(PROJECT_DIR / "handlers", root / "task"), root / "opt"
    with zipfile.ZipFile(archive) as z:
        z.extractall(opt)
    site = opt / "python"
    for top in without:
        shutil.rmtree(site / top)
    if not python.exact:
        _swap_compiled_packages(site, archive)
    return task, site


def serve(python: Interpreter, task: Path, site: Path, aws_endpoint: str, calls: list[dict],
          xray_port: int) -> subprocess.CompletedProcess:
    script, out = task.parent / "serve.py", task.parent / "out.json"
    script.write_text(CHILD)
    env = {
        "PATH": os.environ.get("PATH", "/usr/bin:/bin"), "LANG": "C.UTF-8", "TZ": "UTC",
        "AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing", "AWS_SESSION_TOKEN": "testing",
        "AWS_REGION": REGION, "AWS_DEFAULT_REGION": REGION, "AWS_ENDPOINT_URL": aws_endpoint,
        **HANDLER_ENV,
        "POWERTOOLS_SERVICE_NAME": "session-uploads-layer-test",
        # What Lambda sets, so that Powertools and the X-Ray SDK behave as they do there (tracing on).
        "LAMBDA_TASK_ROOT": str(task), "AWS_LAMBDA_FUNCTION_NAME": "session-uploads-layer-test",
        "AWS_EXECUTION_ENV": "AWS_Lambda_python3.12", "_X_AMZN_TRACE_ID": TRACE_HEADER,
        "AWS_XRAY_DAEMON_ADDRESS": f"127.0.0.1:{xray_port}", "AWS_XRAY_CONTEXT_MISSING": "LOG_ERROR",
    }
    return subprocess.run([python.path, "-I", "-S", str(script), str(task), str(site), str(out)],
                          input=json.dumps(calls), env=env, capture_output=True, text=True, timeout=300, check=False)


def _calls(unknown_session: str) -> list[dict]:
    claims = {"sub": USER}
    api = "handlers.api.app"
    return [
        {"module": api, "event": http_api_event("POST", "/sessions", body=json.dumps({"captureMode": "audio_only"}),
                                                claims=claims)},
        {"module": api, "event": http_api_event("POST", "/sessions/SESSION_ID/audio", query={"windowIndex": "0"},
                                                body=json.dumps({"sizeBytes": 2048}), claims=claims)},
        {"module": api, "event": http_api_event("GET", "/sessions/SESSION_ID", claims=claims)},
        {"module": "handlers.upload_complete.app",
         "event": notification(notification_record(BUCKET, layout.audio_key(unknown_session, 0), size=2048))},
        {"module": "handlers.ingest.app",
         "event": {"sessionId": "SESSION_ID", "userId": USER, "windowIndex": 0, "frameCount": 0}},
        {"module": "handlers.sweeper.app", "event": {"source": "aws.events", "detail-type": "Scheduled Event"}},
    ]


@pytest.fixture
def xray():
    """A UDP socket where the X-Ray daemon would listen: the traced segments the functions send land here."""
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        sock.bind(("127.0.0.1", 0))
        sock.setblocking(False)
        yield sock


def _segments(sock: socket.socket) -> list[dict]:
    """The (sub)segment documents received: each datagram is a JSON header line, then the document."""
    found = []
    while True:
        try:
            datagram = sock.recv(65536).decode()
        except BlockingIOError:
            return found
        found.append(json.loads(datagram.split("\n", 1)[1]))


def test_the_handlers_import_and_serve_requests_from_the_layer_alone(built, python, moto, xray, tmp_path):
    task, site = sandbox(tmp_path, built.archive, python)
    done = serve(python, task, site, moto.url, _calls(str(uuid.uuid4())), xray.getsockname()[1])
    assert done.returncode == 0, done.stderr[-4000:]
    out = json.loads((tmp_path / "out.json").read_text())

    if python.exact:
        assert out["python"] == [3, 12]
    assert out["compiled"] == len(list((PROJECT_DIR / "handlers").rglob("*.py")))
    created, granted, status, completed, ingested, swept = out["results"]
    assert created["statusCode"] == 201, created
    assert granted["statusCode"] == 200, granted
    assert json.loads(granted["body"])["s3Key"] == layout.audio_key(out["session"], 0)
    assert status["statusCode"] == 200 and json.loads(status["body"])["status"] == "recording"
    assert completed == {"handled": 1}  # an event for a session that does not exist: skipped, not retried
    assert ingested["key"].startswith(layout.INGEST_RECORDS_PREFIX)
    assert isinstance(swept, dict)
    assert _client("s3", moto).head_object(Bucket=BUCKET, Key=ingested["key"])["ContentLength"] > 0

    # Every module that is not the standard library came from the sandbox: the layer, or the handlers.
    stdlib = Path(subprocess.run([python.path, "-I", "-c", "import sysconfig; print(sysconfig.get_paths()['stdlib'])"],
                                 capture_output=True, text=True, check=True).stdout.strip())
    outside = {name: path for name, path in out["origins"].items() if path is not None
               and not Path(path).is_relative_to(stdlib) and not Path(path).is_relative_to(tmp_path)}
    assert outside == {}
    for package in ("boto3", "botocore", "pydantic", "pydantic_core", "aws_lambda_powertools", "aws_xray_sdk"):
        assert Path(out["origins"][package]).is_relative_to(site), package
    # On the runtime's Python, the cold starts compiled not one module, of the handlers or of the layer: each was read
    # from the bytecode its archive ships (components/code.py, layer/build.py). Elsewhere the handlers compile.
    compiled = [Path(p) for p in out["from_source"]]
    handlers = {p.relative_to(task).as_posix() for p in compiled if p.is_relative_to(task)}
    if python.exact and json.loads((built.archive.parent / layer.MANIFEST_NAME).read_text())["bytecode"]:
        assert [p for p in compiled if p.is_relative_to(site)] == []
    if python.exact and code.bytecode(PROJECT_DIR / "handlers"):
        assert handlers == set()
    else:
        assert handlers >= {"handlers/api/app.py", "handlers/upload_complete/app.py", "handlers/ingest/app.py",
                            "handlers/sweeper/app.py"}
    # Each handler module imported with the collector off, and left it on with what it built frozen (handlers/
    # coldstart.py). The first one imported the third-party packages: with the collector on during its imports, it
    # made 120 passes, one over the whole heap; now a few over the youngest objects, before the module turns it off.
    assert set(out["imports"]) == {"handlers.api.app", "handlers.upload_complete.app", "handlers.ingest.app",
                                   "handlers.sweeper.app"}
    for module, imported in out["imports"].items():
        assert imported["collecting"] and imported["frozen"] > 0, (module, imported)
        assert set(imported["passes"]) <= {0} and len(imported["passes"]) < 10, (module, imported)
    # The tracer ran as in Lambda: one subsegment per invocation, and the AWS calls inside them (X-Ray's botocore
    # patch), went to the daemon's port.
    segments = _segments(xray)
    assert [s["name"] for s in segments].count("## lambda_handler") == len(out["results"])
    calls = {(s["name"], s["aws"]["operation"]) for s in segments if s.get("namespace") == "aws"}
    assert {("dynamodb", "PutItem"), ("dynamodb", "GetItem"), ("s3", "PutObject")} <= calls


def test_without_a_package_the_layer_holds_the_handlers_fail_to_import(built, python, xray, tmp_path):
    # The test above can fail: the same sandbox, less the X-Ray SDK that the tracer needs, cannot even import them.
    task, site = sandbox(tmp_path, built.archive, python, without=("aws_xray_sdk",))
    done = serve(python, task, site, "http://127.0.0.1:9", _calls(str(uuid.uuid4()))[:1], xray.getsockname()[1])
    assert done.returncode != 0
    assert "No module named 'aws_xray_sdk'" in done.stderr


def test_the_handlers_parse_as_python_312():
    for path in sorted((PROJECT_DIR / "handlers").rglob("*.py")):
        ast.parse(path.read_text(), filename=str(path), feature_version=(3, 12))
