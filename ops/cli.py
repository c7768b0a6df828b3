"""`python -m ops` (or `session-uploads-ops`): operate a session-uploads stack. Exit 0 ok, 1 failed, 2 usage.

The stack is a deployed one, named by `--outputs FILE` (`pulumi stack output --json`, `-` for stdin) or `--stack NAME`
(runs that command), reached with the operator's own AWS credentials; or the local stack (`--local FILE`, its
endpoints file; .devstack/endpoints.json when no stack is named). Errors are one line on stderr.
"""

from __future__ import annotations

import argparse
import json
import re
import sys
import time
from collections.abc import Callable, Sequence
from datetime import UTC, datetime
from typing import Any

from client.report import ranges, status_table
from handlers.contract import Status
from handlers.domain.entities import Ranges
from ops import dlq, reconcile, sessions
from ops.errors import OpsError, UsageError
from ops.iam import operator_policy
from ops.progress import Progress
from ops.stack import Stack
from ops.target import LOCAL_ENDPOINTS, QUEUES, resolve

EXIT_OK, EXIT_FAILED, EXIT_USAGE = 0, 1, 2
_UUID = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}", re.ASCII | re.IGNORECASE)
_DURATION = re.compile(r"([1-9][0-9]{0,8})([smhd])", re.ASCII)
_UNIT_SECONDS = {"s": 1, "m": 60, "h": 3600, "d": 86400}
_DECIMAL = re.compile(r"[1-9][0-9]{0,8}", re.ASCII)


# --- argument types ---------------------------------------------------------------------------------------------

def _session_id(value: str) -> str:
    if not _UUID.fullmatch(value):
        raise argparse.ArgumentTypeError(f"not a session id (a UUID): {value!r}")
    return value.lower()


def _duration(value: str) -> int:
    """`90s`, `45m`, `2h`, `7d`: seconds."""
    match = _DURATION.fullmatch(value)
    if match is None:
        raise argparse.ArgumentTypeError(f"not a duration such as 90s, 45m, 2h or 7d: {value!r}")
    return int(match[1]) * _UNIT_SECONDS[match[2]]


def _since(value: str) -> str:
    """A date (`2025-03-01`) or a time (`2025-03-01T12:00`, seconds and a UTC offset optional): createdAt's form."""
    try:
        moment = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a date or time such as 2025-03-01 or 2025-03-01T12:00Z: {value!r}") \
            from None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return moment.astimezone(UTC).isoformat(timespec="seconds").replace("+00:00", "Z")


def _count(value: str) -> int:
    if not _DECIMAL.fullmatch(value):
        raise argparse.ArgumentTypeError(f"not a positive integer: {value!r}")
    return int(value)


# --- the parser -------------------------------------------------------------------------------------------------

def _parser() -> argparse.ArgumentParser:
    # Stack flags are accepted before or after the command; SUPPRESS keeps a subcommand's absent flag from
    # overwriting one given before it.
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument("--outputs", metavar="FILE", default=argparse.SUPPRESS,
                        help="a deployed stack's `pulumi stack output --json` (- for stdin)")
    common.add_argument("--stack", metavar="NAME", default=argparse.SUPPRESS,
                        help="a deployed stack: runs `pulumi stack output --json --stack NAME` in the project")
    common.add_argument("--local", metavar="FILE", default=argparse.SUPPRESS,
                        help=f"the local stack's endpoints file (when no stack is named: {LOCAL_ENDPOINTS})")
    common.add_argument("--profile", default=argparse.SUPPRESS, help="the AWS profile of the operator's credentials")
    json_flag = argparse.ArgumentParser(add_help=False)
    json_flag.add_argument("--json", action="store_true", help="print JSON, for scripts")

    parser = argparse.ArgumentParser(prog="python -m ops", parents=[common], description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    session = commands.add_parser("session", help="one session").add_subparsers(dest="action", required=True)
    show = session.add_parser("show", parents=[common, json_flag],
                              help="any user's session: header, counts, ranges (and every window with --windows)")
    show.add_argument("session_id", metavar="ID", type=_session_id)
    show.add_argument("--windows", action="store_true", help="also each window's detail, in window order")

    listing = commands.add_parser("sessions", help="many sessions").add_subparsers(dest="action", required=True)
    by_status = listing.add_parser("list", parents=[common, json_flag], help="sessions by status, paged")
    by_status.add_argument("--status", required=True, choices=[str(s) for s in Status])
    by_status.add_argument("--older-than", type=_duration, metavar="D",
                           help="only those in that status for longer than D (90s, 45m, 2h, 7d)")
    by_status.add_argument("--limit", type=_count, metavar="N", help="stop after N sessions")

    queues = commands.add_parser("dlq", help="the dead-letter queues").add_subparsers(dest="action", required=True)
    for name, description in (("show", "what the DLQs hold (read, left in them)"),
                              ("redrive", "replay each record's original event through its function; delete it "
                                          "only once that succeeded")):
        queue = queues.add_parser(name, parents=[common, json_flag], help=description)
        queue.add_argument("--queue", choices=[*QUEUES, "all"], default="all",
                           help="the completion DLQ, the sweeper's, or both (default)")
        if name == "show":
            queue.add_argument("--limit", type=_count, default=50, metavar="N", help="records shown per queue (50)")
        else:
            queue.add_argument("--dry-run", action="store_true", help="say what would be replayed; change nothing")

    recon = commands.add_parser("reconcile", parents=[common, json_flag],
                                help="list objects, compare with the table, replay the unrecorded ones")
    which = recon.add_mutually_exclusive_group(required=True)
    which.add_argument("--session", type=_session_id, metavar="ID")
    which.add_argument("--since", type=_since, metavar="DATE", help="every session created at or after DATE")
    recon.add_argument("--dry-run", action="store_true", help="only report what would be replayed")

    commands.add_parser("iam-policy", parents=[common],
                        help="print the IAM policy this tool needs on the stack (exact ARNs from its outputs)")
    return parser


# --- commands ---------------------------------------------------------------------------------------------------

def _print_json(value: Any) -> None:
    print(json.dumps(value, indent=2, default=str))


def _session_show(stack: Stack, args: argparse.Namespace) -> int:
    shown = sessions.show(stack, args.session_id, windows=args.windows)
    if args.json:
        _print_json(shown)
        return EXIT_OK
    header = shown["header"]
    print(status_table(shown["status"]))
    rows = [("owner", header["userId"]), ("recorded count", f"{header['recordedCount']} "
                                                             f"({header['unexpectedCount']} unexpected)")]
    rows += [(label, header[key]) for key, label in (("finalizingAt", "finalizing since"), ("readyAt", "ready at"),
                                                      ("incompleteAt", "incomplete at")) if key in header]
    trigger = "delivered" if header["processingTriggered"] else ("claimed" if header["processingClaimHeld"] else "no")
    rows += [("SessionReady", trigger), ("on sweeper index", "yes" if header["onSweeperIndex"] else "no"),
             ("expires", header["expiresAt"])]
    for name, value in rows:
        print(f"{name:<16}  {value}")
    for window in shown.get("windows", []):
        print(_window_line(window))
    return EXIT_OK


def _window_line(window: dict[str, Any]) -> str:
    def half(body: dict[str, Any] | None) -> str:
        return "-" if body is None else f"{body['sizeBytes']} B at {body['recordedAt']}"

    state = "ingested" if window["ingested"] else ("recorded" if window["recorded"] else "partial")
    invalid = f"  invalid: {window['invalid']}" if window.get("invalid") else ""
    return f"window {window['windowIndex']:>5}  {state:<8}  audio {half(window['audio'])}  " \
           f"frames {half(window['frames'])}{invalid}"


def _sessions_list(stack: Stack, args: argparse.Namespace) -> int:
    rows = sessions.by_status(stack, Status(args.status), args.older_than, time.time())
    found = []
    for row in rows:
        found.append(row)
        if not args.json:
            if len(found) == 1:
                print(f"{'SESSION':<36}  {'USER':<20}  {'SINCE':<20}  {'CREATED':<20}  EXPECTED  RECORDED")
            expected = "-" if row["expectedWindowCount"] is None else row["expectedWindowCount"]
            print(f"{row['sessionId']:<36}  {str(row['userId']):<20}  {row['since']:<20}  {row['createdAt']:<20}  "
                  f"{expected!s:>8}  {row['recordedCount']:>8}")
        if args.limit and len(found) >= args.limit:
            break
    if args.json:
        _print_json(found)
    else:
        print(f"{len(found)} {args.status} session{'s' if len(found) != 1 else ''}", file=sys.stderr)
    return EXIT_OK


def _queues(args: argparse.Namespace) -> Sequence[str]:
    return QUEUES if args.queue == "all" else (args.queue,)


def _dlq_show(stack: Stack, args: argparse.Namespace) -> int:
    shown = [dlq.show(stack, queue, args.limit) for queue in _queues(args)]
    if args.json:
        _print_json(shown)
        return EXIT_OK
    for queue in shown:
        print(f"{queue['queue']} DLQ: {queue['visible']} visible, {queue['inFlight']} in flight ({queue['url']})")
        for record in queue["records"]:
            attempts = f" x{record['attempts']}" if record["attempts"] else ""
            print(f"  {record['sentAt'] or '?'}  {record['condition'] or '?'}{attempts}  {record['error'] or ''}  "
                  f"{' '.join(record['keys'])}".rstrip())
    return EXIT_OK


def _dlq_redrive(stack: Stack, args: argparse.Namespace) -> int:
    log: Callable[[str], None] = (lambda line: print(line, file=sys.stderr)) if args.json else print
    reports = []
    for queue in _queues(args):
        report = dlq.redrive(stack, queue, dry_run=args.dry_run, log=lambda line, q=queue: log(f"{q}: {line}"))
        reports.append(report)
        if args.dry_run:
            log(f"{queue} DLQ: would replay {len(report.would_replay)}, unreadable {len(report.unreadable)}")
        else:
            log(f"{queue} DLQ: replayed {len(report.replayed)}, failed {len(report.failed)}, "
                f"unreadable {len(report.unreadable)}")
    if args.json:
        _print_json([report.as_dict() for report in reports])
    return EXIT_FAILED if any(report.failed for report in reports) else EXIT_OK


def _reconcile(stack: Stack, args: argparse.Namespace) -> int:
    ids = [args.session] if args.session else sessions.created_since(stack, args.since)
    progress = Progress()
    try:
        results = reconcile.reconcile(stack, ids, dry_run=args.dry_run, progress=progress)
    finally:
        progress.close()
    replayed = sum(len(r.replayed) for r in results)
    failed = sum(len(r.failed) for r in results)
    to_replay = sum(r.to_replay for r in results)
    if args.json:
        _print_json({"dryRun": args.dry_run, "sessions": [r.as_dict() for r in results], "toReplay": to_replay,
                     "replayed": replayed, "failed": failed})
    else:
        for r in results:
            print(_reconcile_line(r, args.dry_run))
            for failure in r.failed:
                print(f"  failed {failure['key']}: {failure['error']}")
        verb = "would replay" if args.dry_run else "replayed"
        done = to_replay if args.dry_run else replayed
        print(f"reconciled {len(results)} session{'s' if len(results) != 1 else ''}: {verb} {done}, "
              f"failed {failed}")
    return EXIT_FAILED if failed else EXIT_OK


def _reconcile_line(r: reconcile.SessionReconcile, dry_run: bool) -> str:
    parts = [f"{r.objects} objects, {r.recorded_halves} halves recorded"]
    if r.unrecorded:
        parts.append(f"unrecorded {len(r.unrecorded)}")
    if r.ingest_owed:
        parts.append(f"ingest owed {ranges(Ranges.of(r.ingest_owed))}")
    if r.gone:
        parts.append(f"recorded but gone from the bucket {ranges(r.gone)}")
    if r.to_replay:
        parts.append(f"would replay {r.to_replay}" if dry_run else f"replayed {len(r.replayed)}")
    else:
        parts.append("nothing to replay")
    status = r.status_before if r.status_after == r.status_before else f"{r.status_before} -> {r.status_after}"
    return f"{r.session_id} {status}: {'; '.join(parts)}"


def _iam_policy(stack: Stack, args: argparse.Namespace) -> int:
    _print_json(operator_policy(stack.target))
    return EXIT_OK


_COMMANDS: dict[tuple[str, str | None], Callable[[Stack, argparse.Namespace], int]] = {
    ("session", "show"): _session_show,
    ("sessions", "list"): _sessions_list,
    ("dlq", "show"): _dlq_show,
    ("dlq", "redrive"): _dlq_redrive,
    ("reconcile", None): _reconcile,
    ("iam-policy", None): _iam_policy,
}


def _run(args: argparse.Namespace) -> int:
    target = resolve(outputs=getattr(args, "outputs", None), stack=getattr(args, "stack", None),
                     local=getattr(args, "local", None), profile=getattr(args, "profile", None), stdin=sys.stdin)
    return _COMMANDS[(args.command, getattr(args, "action", None))](Stack(target), args)


def _aws_error(error: Exception, local: bool) -> tuple[str, int]:
    """One line for a failure botocore raised, and the exit code it deserves."""
    from botocore.exceptions import ClientError, EndpointConnectionError, NoCredentialsError

    if isinstance(error, ClientError):
        info = error.response.get("Error", {})
        code, message = info.get("Code", "?"), info.get("Message") or ""
        return f"{error.operation_name}: {code}" + (f": {message}" if message else ""), EXIT_FAILED
    if isinstance(error, NoCredentialsError):
        return "no AWS credentials: configure the operator's own (AWS_PROFILE or --profile, aws sso login, " \
               "aws configure)", EXIT_USAGE
    if isinstance(error, EndpointConnectionError) and local:
        return f"{error}: is the local stack running (`make dev`)?", EXIT_FAILED
    return str(error).splitlines()[0] if str(error) else type(error).__name__, EXIT_FAILED


def _error(message: object) -> None:
    """One line, whatever the message holds (a service's error body may span lines)."""
    print(f"error: {' '.join(str(message).split())}", file=sys.stderr)


def main(argv: Sequence[str] | None = None) -> int:
    from botocore.exceptions import BotoCoreError, ClientError

    args = _parser().parse_args(argv)  # exits 2 with a usage line on bad arguments
    try:
        return _run(args)
    except UsageError as error:
        _error(error)
        return EXIT_USAGE
    except OpsError as error:
        _error(error)
        return EXIT_FAILED
    except (BotoCoreError, ClientError) as error:
        local = getattr(args, "outputs", None) is None and getattr(args, "stack", None) is None
        message, code = _aws_error(error, local)
        _error(message)
        return code
    except KeyboardInterrupt:
        _error("interrupted")
        return 130
