"""`python -m client`: create sessions, upload windows, show and complete sessions. Exit 0 ok, 1 failed, 2 usage."""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Callable, Sequence

from client import config
from client.errors import ClientError, UsageError
from client.progress import ProgressBar
from client.report import status_table
from client.uploader import UploadClient
from client.windows import find_windows

EXIT_OK, EXIT_FAILED, EXIT_USAGE = 0, 1, 2


def _parser() -> argparse.ArgumentParser:
    # Connection flags are accepted before or after the command; SUPPRESS keeps a subcommand's absent flag
    # from overwriting one given before it.
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument("--api", default=argparse.SUPPRESS, help=f"API URL (else ${config.ENV_API_URL})")
    common.add_argument("--token", default=argparse.SUPPRESS, help=f"bearer token (else ${config.ENV_TOKEN})")
    common.add_argument(
        "--retries", type=_at_least(0), default=argparse.SUPPRESS, help="retries per request (default 5)"
    )

    parser = argparse.ArgumentParser(
        prog="python -m client",
        parents=[common],
        description="Upload session windows through presigned URLs. Without --api/--token and the environment "
        f"variables, the local stack's {config.ENDPOINTS_FILE} is used.",
    )
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    session = commands.add_parser("session", help="manage sessions").add_subparsers(dest="action", required=True)
    create = session.add_parser("create", parents=[common], help="create a session; prints its id")
    create.add_argument("--mode", default="audio_only", help="capture mode (audio_only or audio_video)")

    upload = commands.add_parser("upload", parents=[common], help="upload one window's file")
    upload.add_argument("file")
    upload.add_argument("--session", required=True)
    upload.add_argument("--window", required=True, type=int)

    upload_dir = commands.add_parser("upload-dir", parents=[common], help="upload every window_NNN.wav of a directory")
    upload_dir.add_argument("directory")
    upload_dir.add_argument("--session", required=True)
    upload_dir.add_argument("--concurrency", type=_at_least(1), default=4)
    upload_dir.add_argument("--no-resume", dest="resume", action="store_false", help="upload recorded windows again")

    status = commands.add_parser("status", parents=[common], help="show a session's status")
    status.add_argument("--session", required=True)
    status.add_argument("--json", action="store_true", help="print the API's JSON")

    complete = commands.add_parser("complete", parents=[common], help="declare how many windows were recorded")
    complete.add_argument("--session", required=True)
    complete.add_argument("--expected", required=True, type=int)
    complete.add_argument("--json", action="store_true", help="print the API's JSON")
    return parser


def _at_least(minimum: int) -> Callable[[str], int]:
    def parse(value: str) -> int:
        try:
            number = int(value)
        except ValueError:
            raise argparse.ArgumentTypeError(f"not an integer: {value!r}") from None
        if number < minimum:
            raise argparse.ArgumentTypeError(f"must be at least {minimum}")
        return number

    return parse


def _run(args: argparse.Namespace) -> int:
    settings = config.resolve(getattr(args, "api", None), getattr(args, "token", None))
    with UploadClient(settings.api_url, settings.token, retries=getattr(args, "retries", 5)) as client:
        if args.command == "session":
            print(client.create_session(args.mode)["sessionId"])
        elif args.command == "upload":
            result = client.upload_window(args.session, args.window, args.file)
            print(f"window {result.window}: uploaded {result.size_bytes} bytes")
        elif args.command == "upload-dir":
            return _upload_dir(client, args)
        else:
            if args.command == "status":
                body = client.status(args.session)
            else:
                body = client.complete(args.session, args.expected)
            print(json.dumps(body, indent=2) if args.json else status_table(body))
    return EXIT_OK


def _upload_dir(client: UploadClient, args: argparse.Namespace) -> int:
    if not find_windows(args.directory):
        raise UsageError(f"no window_NNN.wav files in {args.directory}")
    bar = ProgressBar()
    try:
        result = client.upload_dir(
            args.session, args.directory, concurrency=args.concurrency, progress=bar, resume=args.resume
        )
    finally:
        bar.close()
    for error in result.failed.values():
        print(f"error: {error}", file=sys.stderr)
    skipped = f"skipped {len(result.skipped)} (already recorded)"
    print(f"uploaded {len(result.uploaded)}, {skipped}, failed {len(result.failed)}")
    return EXIT_OK if result.ok else EXIT_FAILED


def main(argv: Sequence[str] | None = None) -> int:
    args = _parser().parse_args(argv)  # exits 2 with a usage line on bad arguments
    try:
        return _run(args)
    except UsageError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return EXIT_USAGE
    except ClientError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return EXIT_FAILED
    except OSError as exc:  # a local file that vanished or cannot be read mid-run
        print(f"error: {exc}", file=sys.stderr)
        return EXIT_USAGE
    except KeyboardInterrupt:
        print("error: interrupted", file=sys.stderr)
        return 130
