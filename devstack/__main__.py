"""`python -m devstack serve` runs the local stack in the foreground; `token` mints a dev token; `sweep` runs the
sweeper of the running stack once, as its schedule would."""

from __future__ import annotations

import argparse
import json
import logging
import signal
import sys
import threading
from pathlib import Path
from urllib.parse import urlencode

from devstack import LOG_FORMAT
from devstack.tokens import DEFAULT_STATE_DIR, DEFAULT_TTL_SECONDS, DEV_USER, ENDPOINTS_FILE, DevKey
from handlers import contract

EXAMPLE_PAGE = "example/index.html"


def serve(args: argparse.Namespace) -> int:
    from devstack.stack import DevStack  # moto and the handlers: only what serving needs

    stop = threading.Event()
    # SIGTERM and Ctrl-C both end the wait below, so the stack stops the same way on either.
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    signal.signal(signal.SIGINT, lambda *_: stop.set())
    options = {"region": args.region} if args.region else {}
    if args.finalizing_timeout:
        options["finalizing_timeout_seconds"] = args.finalizing_timeout
    if args.url_expires:
        options["url_expires_seconds"] = args.url_expires
    with DevStack(
        state_dir=args.state_dir,
        cors_allowed_origins=args.allow_origin,
        static_dir=args.static,
        control=args.control,
        event_transport=args.transport,
        **options,
    ) as stack:
        print(f"local stack up: API {stack.api_url}, AWS {stack.aws_endpoint}, S3 (presign gate) {stack.s3_endpoint}; "
              f"S3 events by {stack.event_transport}")
        if stack.cors_allowed_origins:
            print(f"browsers allowed (CORS) from: {', '.join(stack.cors_allowed_origins)}")
        if stack.page_url:
            print(f"{args.static} served at {stack.page_url}")
            if (Path(args.static) / EXAMPLE_PAGE).is_file():  # the TypeScript client's example (make example)
                query = urlencode({"api": stack.api_url, "token": stack.token(DEV_USER)})
                print(f"example page: {stack.page_url}/{EXAMPLE_PAGE}?{query}")
        print(f"endpoints and a dev token in {Path(args.state_dir) / ENDPOINTS_FILE}; Ctrl-C stops")
        print("SessionReady events are logged as they arrive; `python -m devstack sweep` runs the sweeper", flush=True)
        while not stop.wait(0.5):
            pass
        print("stopping", flush=True)
    return 0


def token(args: argparse.Namespace) -> int:
    try:
        key = DevKey.load(args.state_dir)
    except FileNotFoundError as missing:
        print(missing, file=sys.stderr)
        return 1
    endpoints = Path(args.state_dir) / ENDPOINTS_FILE
    if not endpoints.exists():
        print(f"no running stack under {args.state_dir}: start it first (make dev)", file=sys.stderr)
        return 1
    # The running stack's authorizer: the issuer and audience of the program's.
    running = json.loads(endpoints.read_text())
    print(key.token(args.user, args.ttl, issuer=running["jwtIssuer"], audience=running["jwtAudience"]))
    return 0


def sweep(args: argparse.Namespace) -> int:
    """Invoke the running stack's sweeper through its Lambda endpoint, with the event its schedule sends."""
    import boto3
    from botocore.config import Config
    from botocore.exceptions import BotoCoreError

    from devstack.schedule import scheduled_event

    path = Path(args.state_dir) / ENDPOINTS_FILE
    try:
        endpoints = json.loads(path.read_text())
        function, lambda_endpoint = endpoints["sweeperFunction"], endpoints["lambdaEndpoint"]
    except (OSError, ValueError, KeyError) as problem:
        print(f"no running stack's endpoints in {path} ({problem!r}): start one with `make dev`", file=sys.stderr)
        return 1
    # As the stack's operator: its Invoke endpoint asks IAM whether the caller may invoke the function.
    config = Config(retries={"max_attempts": 1}, connect_timeout=2, read_timeout=120)
    client = boto3.client("lambda", endpoint_url=lambda_endpoint, region_name=endpoints["region"], config=config,
                          aws_access_key_id=endpoints["accessKeyId"], aws_secret_access_key=endpoints["secretAccessKey"])
    try:
        response = client.invoke(
            FunctionName=function,
            Payload=json.dumps(scheduled_event(endpoints["sweepSchedule"], endpoints["region"])),
        )
    except BotoCoreError as problem:
        print(f"the stack at {lambda_endpoint} did not answer ({problem}): is `make dev` running?", file=sys.stderr)
        return 1
    result = json.loads(response["Payload"].read())
    print(json.dumps(result, indent=2))
    return 1 if "FunctionError" in response or result.get("failed") else 0


def _origin(value: str) -> str:
    from handlers.cors import is_allowable_origin

    if not is_allowable_origin(value):
        raise argparse.ArgumentTypeError(
            f"{value!r} is not an origin the stack would allow: https://host[:port], or http://localhost[:port] or "
            "http://127.0.0.1[:port]; no path, no wildcard"
        )
    return value


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m devstack", description=__doc__)
    parser.add_argument("--state-dir", default=str(DEFAULT_STATE_DIR), help="where the key and endpoints live")
    commands = parser.add_subparsers(dest="command", required=True)
    serve_parser = commands.add_parser("serve", help="run the local stack until Ctrl-C or SIGTERM")
    serve_parser.add_argument("--region", help="the AWS region the stack pretends to be in")
    serve_parser.add_argument(
        "--finalizing-timeout", type=int, metavar="SECONDS",
        help="how long a session may stay finalizing before the sweeper marks it incomplete (default one hour)",
    )
    serve_parser.add_argument(
        "--allow-origin", action="append", default=[], metavar="ORIGIN", type=_origin,
        help="a browser origin allowed by the bucket's CORS rules and the API's CORS settings (repeatable), "
        "e.g. http://localhost:5173",
    )
    serve_parser.add_argument(
        "--static", metavar="DIR", help="serve DIR's files on another port of 127.0.0.1 (pageUrl), an allowed origin"
    )
    serve_parser.add_argument(
        "--control", action="store_true",
        help="serve the test control endpoint (controlUrl): fault injection and the bucket's CORS rules",
    )
    serve_parser.add_argument("--url-expires", type=int, metavar="SECONDS", help="lifetime of a presigned PUT")
    serve_parser.add_argument(
        "--transport", type=contract.EventTransport, choices=list(contract.EventTransport),
        default=contract.EventTransport.NOTIFICATION,
        help="how S3 events reach the completion function: the program's eventTransport (default notification)",
    )
    token_parser = commands.add_parser("token", help="print a dev bearer token signed by the stack's key")
    token_parser.add_argument("--user", default=DEV_USER, help="the token's subject (the caller)")
    token_parser.add_argument("--ttl", type=int, default=DEFAULT_TTL_SECONDS, help="lifetime in seconds")
    commands.add_parser("sweep", help="run the running stack's sweeper once, as its schedule would; print its report")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.WARNING, format=LOG_FORMAT)
    logging.getLogger("devstack").setLevel(logging.INFO)
    return {"serve": serve, "token": token, "sweep": sweep}[args.command](args)


if __name__ == "__main__":
    sys.exit(main())
