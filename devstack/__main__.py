"""`python -m devstack serve` runs the local stack in the foreground; `python -m devstack token` mints a dev token."""

from __future__ import annotations

import argparse
import logging
import signal
import sys
import threading
from pathlib import Path

from devstack.tokens import DEFAULT_STATE_DIR, DEFAULT_TTL_SECONDS, DEV_USER, DevKey


def serve(args: argparse.Namespace) -> int:
    from devstack.stack import ENDPOINTS_FILE, LocalStack  # moto and the handlers: only what serving needs

    stop = threading.Event()
    # SIGTERM and Ctrl-C both end the wait below, so the stack stops the same way on either.
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    signal.signal(signal.SIGINT, lambda *_: stop.set())
    options = {"region": args.region} if args.region else {}
    with LocalStack(state_dir=args.state_dir, **options) as stack:
        print(f"local stack up: API {stack.api_url}, AWS {stack.aws_endpoint}, S3 (presign gate) {stack.s3_endpoint}")
        print(f"endpoints and a dev token in {Path(args.state_dir) / ENDPOINTS_FILE}; Ctrl-C stops", flush=True)
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
    print(key.token(args.user, args.ttl))
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m devstack", description=__doc__)
    parser.add_argument("--state-dir", default=str(DEFAULT_STATE_DIR), help="where the key and endpoints live")
    commands = parser.add_subparsers(dest="command", required=True)
    serve_parser = commands.add_parser("serve", help="run the local stack until Ctrl-C or SIGTERM")
    serve_parser.add_argument("--region", help="the AWS region the stack pretends to be in")
    token_parser = commands.add_parser("token", help="print a dev bearer token signed by the stack's key")
    token_parser.add_argument("--user", default=DEV_USER, help="the token's subject (the caller)")
    token_parser.add_argument("--ttl", type=int, default=DEFAULT_TTL_SECONDS, help="lifetime in seconds")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.WARNING, format="%(asctime)s %(name)s %(levelname)s %(message)s")
    logging.getLogger("devstack").setLevel(logging.INFO)
    return serve(args) if args.command == "serve" else token(args)


if __name__ == "__main__":
    sys.exit(main())
