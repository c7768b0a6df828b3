"""`python -m client`: create sessions, upload windows, show and complete sessions. Exit 0 ok, 1 failed, 2 usage."""

from __future__ import annotations

import argparse
import json
import re
import sys
from collections.abc import Callable, Sequence

from client import config
from client.errors import ClientError, UsageError
from client.progress import ProgressBar
from client.report import status_table
from client.uploader import UploadClient
from client.windows import FRAMES, MAX_WINDOW_INDEX, find_window_files, window_filename

EXIT_OK, EXIT_FAILED, EXIT_USAGE = 0, 1, 2
# The API's capture modes (handlers/contract.py; tests/client/test_cli_arguments.py holds the two equal).
CAPTURE_MODES = ("audio_only", "audio_video")
_DECIMAL = re.compile(r"0|[1-9][0-9]*", re.ASCII)
_UUID = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}", re.ASCII | re.IGNORECASE)


def _parser() -> argparse.ArgumentParser:
    # Connection flags are accepted before or after the command; SUPPRESS keeps a subcommand's absent flag
    # from overwriting one given before it.
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument("--api", default=argparse.SUPPRESS, help=f"API URL (else ${config.ENV_API_URL})")
    common.add_argument("--token", default=argparse.SUPPRESS, help=f"bearer token (else ${config.ENV_TOKEN})")
    common.add_argument(
        "--retries", type=_integer(0), default=argparse.SUPPRESS, help="retries per request (default 5)"
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
    create.add_argument("--mode", default="audio_only", choices=CAPTURE_MODES, help="capture mode (default audio_only)")

    upload = commands.add_parser(
        "upload", parents=[common], help="upload one window's file: its audio (.wav) or frames bundle (.zip)"
    )
    upload.add_argument("file", help="a WAV file, or a ZIP of the window's frames (one entry per frame)")
    upload.add_argument("--session", required=True, type=_session_id)
    upload.add_argument("--window", required=True, type=_integer(0, MAX_WINDOW_INDEX))

    upload_dir = commands.add_parser(
        "upload-dir", parents=[common], help="upload every window_NNN.wav and window_NNN.zip of a directory"
    )
    upload_dir.add_argument("directory")
    upload_dir.add_argument("--session", required=True, type=_session_id)
    upload_dir.add_argument("--concurrency", type=_integer(1), default=4)
    upload_dir.add_argument(
        "--no-resume", dest="resume", action="store_false", help="do not ask which halves are already stored"
    )

    status = commands.add_parser("status", parents=[common], help="show a session's status")
    status.add_argument("--session", required=True, type=_session_id)
    status.add_argument("--json", action="store_true", help="print the API's JSON")

    complete = commands.add_parser("complete", parents=[common], help="declare how many windows were recorded")
    complete.add_argument("--session", required=True, type=_session_id)
    complete.add_argument("--expected", required=True, type=_integer(0, MAX_WINDOW_INDEX + 1))
    complete.add_argument("--json", action="store_true", help="print the API's JSON")
    return parser


def _integer(minimum: int, maximum: int | None = None) -> Callable[[str], int]:
    """An argparse type: decimal digits (as the API takes them: not ` 1`, `+1`, `1_0` or `1.0`, which int() would
    coerce), from `minimum` (to `maximum`)."""

    in_range = f"must be from {minimum} to {maximum}" if maximum is not None else f"must be at least {minimum}"

    def parse(value: str) -> int:
        if value.startswith("-") and value[1:].isascii() and value[1:].isdigit():
            raise argparse.ArgumentTypeError(in_range)
        if not _DECIMAL.fullmatch(value):
            raise argparse.ArgumentTypeError(f"not an integer in decimal digits: {value!r}")
        if len(value) > 18:  # int() of a long digit string is slow, and refused past 4,300 digits
            raise argparse.ArgumentTypeError(f"{in_range}: {value[:20]}... is too large")
        number = int(value)
        if number < minimum or (maximum is not None and number > maximum):
            raise argparse.ArgumentTypeError(in_range)
        return number

    return parse


def _session_id(value: str) -> str:
    """A session id as `session create` printed it (a UUID; capitals are taken as the same id)."""
    if not _UUID.fullmatch(value):
        raise argparse.ArgumentTypeError(f"not a session id (the UUID that `session create` prints): {value!r}")
    return value.lower()


def _run(args: argparse.Namespace) -> int:
    settings = config.resolve(getattr(args, "api", None), getattr(args, "token", None))
    with UploadClient(settings.api_url, settings.token, retries=getattr(args, "retries", 5)) as client:
        if args.command == "session":
            print(client.create_session(args.mode)["sessionId"])
        elif args.command == "upload":
            _upload(client, args)
        elif args.command == "upload-dir":
            return _upload_dir(client, args)
        else:
            if args.command == "status":
                body = client.status(args.session)
            else:
                body = client.complete(args.session, args.expected)
            print(json.dumps(body, indent=2) if args.json else status_table(body))
    return EXIT_OK


def _upload(client: UploadClient, args: argparse.Namespace) -> None:
    if args.file.lower().endswith(".zip"):
        result = client.upload_frames(args.session, args.window, args.file)
        what = f"window {result.window} (frames)"
    else:
        result = client.upload_window(args.session, args.window, args.file)
        what = f"window {result.window}"
    print(f"{what}: already stored" if result.already_stored else f"{what}: uploaded {result.size_bytes} bytes")


def _upload_dir(client: UploadClient, args: argparse.Namespace) -> int:
    if not find_window_files(args.directory):
        raise UsageError(f"no window_NNN.wav or window_NNN.zip files in {args.directory}")
    bar = ProgressBar()
    try:
        result = client.upload_dir(
            args.session,
            args.directory,
            concurrency=args.concurrency,
            progress=bar,
            halves=bar.half,
            resume=args.resume,
        )
    finally:
        bar.close()
    for error in result.failed.values():
        print(f"error: {error}", file=sys.stderr)
    for window, halves in result.incomplete.items():
        files = " and ".join(window_filename(window, half) for half in halves)
        print(f"warning: window {window}: no {files}: the session cannot record this window", file=sys.stderr)
    skipped = f"skipped {len(result.skipped)} (already recorded)"
    print(f"uploaded {len(result.uploaded)}, {skipped}, failed {len(result.failed)}")
    if result.halves_uploaded[FRAMES]:
        print(", ".join(f"{half} {count}" for half, count in result.halves_uploaded.items()) + " halves uploaded")
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
