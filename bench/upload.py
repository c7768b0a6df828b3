"""`python -m bench.upload`: client throughput to the local stack, with and without its grant prefetch, beside bare
presigned PUTs; and API bytes per window."""

from __future__ import annotations

import argparse
import json
import multiprocessing
import tempfile
import threading
import time
from collections import Counter
from collections.abc import Callable
from concurrent.futures import ProcessPoolExecutor, ThreadPoolExecutor
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import requests

from bench import machine
from client import UploadClient, find_windows
from client.windows import WindowBody
from devstack.demo import handler_output_to, write_windows
from devstack.stack import DevStack

# An hour of windows: at concurrency 8 the bare PUTs of the 20 windows this bench used to send took 0.3 s, which the
# client's start (the resume check, the first grants request) weighed on and a load spike on this machine swung.
WINDOWS = 60
WINDOW_SECONDS = 62.5  # 16 kHz 16-bit mono: 2,000,044 bytes, a "2 MB" window
CONCURRENCIES = (1, 8)
REPEATS = 5


class CountingProxy:
    """A pass-through in front of the API that records every request body's size: what the API front receives."""

    def __init__(self, target: str) -> None:
        self.bodies: list[tuple[str, int]] = []  # (route, body bytes)
        proxy = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args: object) -> None:
                pass

            def _forward(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                path = self.path.split("?")[0]
                route = path.rsplit("/", 1)[-1] if path.count("/") > 2 else f"{self.command} {path.count('/')}"
                route = {"audio": "grant", "POST 1": "create", "GET 2": "status"}.get(route, route)
                proxy.bodies.append((route, len(body)))
                headers = {k: v for k, v in self.headers.items() if k.lower() in ("authorization", "content-type")}
                answer = requests.request(self.command, target + self.path, data=body, headers=headers, timeout=60)
                self.send_response(answer.status_code)
                self.send_header("Content-Type", answer.headers.get("Content-Type", "application/json"))
                self.send_header("Content-Length", str(len(answer.content)))
                self.end_headers()
                self.wfile.write(answer.content)

            do_GET = do_POST = do_PUT = _forward

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._server.daemon_threads = True
        self.url = f"http://127.0.0.1:{self._server.server_address[1]}"
        threading.Thread(target=self._server.serve_forever, daemon=True).start()

    def close(self) -> None:
        self._server.shutdown()
        self._server.server_close()


def client_upload(api_url: str, token: str, directory: str, concurrency: int, prefetch: int | None = None) -> float:
    """Seconds for `upload_dir` (status, grants, hashing, PUTs), with a fresh session; `prefetch` as upload_dir takes
    it (None: its default; 0: each grant asked for just before its PUT, the client before issue 16)."""
    with UploadClient(api_url, token) as client:
        session = client.create_session("audio_only")["sessionId"]
        started = time.perf_counter()
        result = client.upload_dir(session, directory, concurrency=concurrency, prefetch=prefetch)
        elapsed = time.perf_counter() - started
    if not result.ok:
        raise SystemExit(f"bench upload failed: {next(iter(result.failed.values()))}")
    return elapsed


def bare_upload(
    api_url: str,
    token: str,
    directory: str,
    concurrency: int,
    *,
    timed_grants: bool,
    beside: Callable[[threading.Event], None] | None = None,
) -> float:
    """Seconds for plain `requests.put` of the same bytes, held in memory, to presigned URLs; the grants are
    asked for beforehand (the local limit of the PUTs) or, with `timed_grants`, one just before each PUT. `beside`
    runs on a thread of its own while the PUTs do, until the event it is given is set."""
    auth = {"Authorization": f"Bearer {token}"}
    session = requests.post(f"{api_url}/sessions", json={"captureMode": "audio_only"}, headers=auth).json()

    def grant(window: int, data: bytes, sha256: str) -> dict:
        return requests.post(
            f"{api_url}/sessions/{session['sessionId']}/audio",
            params={"windowIndex": window},
            json={"sizeBytes": len(data), "sha256": sha256},
            headers=auth,
            timeout=30,
        ).json()

    windows = [(w, path.read_bytes(), WindowBody(path).sha256()) for w, path in find_windows(directory).items()]
    grants = {} if timed_grants else {w: grant(w, data, sha) for w, data, sha in windows}

    def upload(item: tuple[int, bytes, str]) -> None:
        window, data, sha256 = item
        granted = grants.get(window) or grant(window, data, sha256)
        requests.put(granted["url"], data=data, headers=granted["headers"], timeout=60).raise_for_status()

    done = threading.Event()
    side = threading.Thread(target=beside, args=(done,)) if beside else None
    started = time.perf_counter()
    if side:
        side.start()
    with ThreadPoolExecutor(max_workers=concurrency) as pool:
        list(pool.map(upload, windows))
    elapsed = time.perf_counter() - started
    done.set()
    if side:
        side.join()
    return elapsed


def grants_beside_puts(api_url: str, token: str, directory: str, concurrency: int) -> tuple[int, float]:
    """(grants answered, seconds): grants asked for back to back, two at a time, while bare PUTs (granted beforehand)
    run: how fast the local API grants while S3 takes PUTs at full speed. A client that needs a grant per window keeps
    up with those PUTs only if that is a grant per window they store, however far ahead it asks."""
    auth = {"Authorization": f"Bearer {token}"}
    session = requests.post(f"{api_url}/sessions", json={"captureMode": "audio_only"}, headers=auth).json()
    answered: list[float] = []

    def ask(done: threading.Event) -> None:
        def one_stream(first: int) -> None:
            with requests.Session() as http:
                window = first
                while not done.is_set():
                    http.post(f"{api_url}/sessions/{session['sessionId']}/audio", params={"windowIndex": window},
                              json={"sizeBytes": 2_000_044}, headers=auth, timeout=30).raise_for_status()
                    if not done.is_set():
                        answered.append(time.perf_counter())
                    window += 2

        with ThreadPoolExecutor(max_workers=2) as streams:
            list(streams.map(one_stream, (0, 1)))

    seconds = bare_upload(api_url, token, directory, concurrency, timed_grants=False, beside=ask)
    return len(answered), seconds


class Uploader:
    """Runs each timed upload in a process of its own, as an app is: in the stack's process, the uploads' threads
    would share its interpreter lock with the front, the gate and the functions (the client's figures were 5 to 15
    points lower there). Waits for the stack to be idle after each, so that no run pays for another's events, then
    empties the bucket, so that none pays for another's objects: moto holds each object of under 5 MB in its
    process's memory, 120 MB a run here, and with them kept the same bare PUTs went from 124 to 59 MB/s over five
    rounds (S3 does not slow down as a bucket fills)."""

    def __init__(self, stack: DevStack) -> None:
        self._stack = stack
        self._token = stack.token(user="bench")
        self._child = ProcessPoolExecutor(max_workers=1, mp_context=multiprocessing.get_context("spawn"))

    def __call__(self, upload: Callable[..., Any], api_url: str, *args: Any, **kwargs: Any) -> Any:
        result = self._child.submit(upload, api_url, self._token, *args, **kwargs).result()
        self._stack.wait_idle()
        s3, bucket = self._stack.client("s3"), self._stack.names.bucket
        for page in s3.get_paginator("list_objects_v2").paginate(Bucket=bucket):
            if page.get("Contents"):  # a page holds at most 1,000 keys, as many as one DeleteObjects takes
                s3.delete_objects(Bucket=bucket, Delete={"Objects": [{"Key": o["Key"]} for o in page["Contents"]]})
        return result

    def close(self) -> None:
        self._child.shutdown()


def api_bytes_per_window(stack: DevStack, run: Uploader, directory: Path) -> tuple[float, float, Counter]:
    """(request body bytes per window, API requests per window, bodies by route) for one upload_dir run."""
    proxy = CountingProxy(stack.api_url)
    try:
        run(client_upload, proxy.url, str(directory), 8)
    finally:
        proxy.close()
    windows = len(find_windows(directory))
    sizes: Counter = Counter()
    for route, size in proxy.bodies:
        sizes[route] += size
    return sum(sizes.values()) / windows, len(proxy.bodies) / windows, sizes


LOG_FILE = Path(".devstack") / "bench.log"


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.upload", description=__doc__)
    parser.add_argument("--windows", type=int, default=WINDOWS, help=f"windows uploaded per run (default {WINDOWS})")
    windows = parser.parse_args().windows
    if windows < 1:
        parser.error("--windows must be at least 1")
    started = machine.cpu_times()
    with handler_output_to(LOG_FILE):
        rows, beside, per_window, size = measure(windows)
    spent = machine.since(started)
    megabytes = size / 1e6
    print(f"Upload throughput to the local stack: {windows} windows of {size / windows / 1e6:.2f} MB "
          f"({megabytes:.1f} MB), sha256 on; handler logs in {LOG_FILE}")
    print("MB/s; client before = upload_dir(prefetch=0), each grant asked for just before its PUT; client = upload_dir's "
          "default, grants prefetched while PUTs are in flight;")
    print("bare = requests.put of the bytes in memory, grants asked for before the clock starts or with each PUT")
    print(f"{'concurrency':>11}  {'client before':>13}  {'client':>8}  {'bare grant+PUT':>14}  {'bare PUT':>8}  "
          f"{'before/bare PUT':>15}  {'client/bare PUT':>15}")
    for concurrency, before_rate, client_rate, granted_rate, bare_rate in rows:
        print(f"{concurrency:>11}  {before_rate:>13.1f}  {client_rate:>8.1f}  {granted_rate:>14.1f}  {bare_rate:>8.1f}  "
              f"{before_rate / bare_rate:>15.0%}  {client_rate / bare_rate:>15.0%}")
    granted, seconds = beside
    print(f"\nGrants the local API answers while bare PUTs run at concurrency {CONCURRENCIES[-1]} (two asked for at a "
          f"time, back to back): {granted} in {seconds:.2f} s, {granted / seconds:.0f}/s;\nkeeping up with those PUTs "
          f"takes a grant per window: {windows / seconds:.0f}/s")
    print("\nBytes the API front receives (request bodies), upload_dir with concurrency 8")
    print(f"{'window':>8}  {'window bytes':>12}  {'API body B/window':>17}  {'API requests/window':>19}  by route")
    for label, (window_bytes, per, requests_per, routes) in per_window.items():
        print(f"{label:>8}  {window_bytes:>12}  {per:>17.1f}  {requests_per:>19.2f}  {json.dumps(dict(routes))}")
    if spent is not None:
        # The ratios compare runs minutes apart: a hypervisor taking the cores in some of them moves a ratio by points.
        print(f"\nMachine, over the bench: {spent.describe()}")


def measure(windows: int) -> tuple[list, dict, int]:
    with (
        tempfile.TemporaryDirectory() as big,
        tempfile.TemporaryDirectory() as small,
        tempfile.TemporaryDirectory() as state,
        DevStack(state_dir=state) as stack,
    ):
        write_windows(Path(big), windows, WINDOW_SECONDS)
        write_windows(Path(small), windows, 1.0)
        size = sum(p.stat().st_size for p in find_windows(big).values())
        megabytes = size / 1e6
        run = Uploader(stack)
        try:
            rows = []
            for concurrency in CONCURRENCIES:
                # The fastest of a few runs: other work on a small machine only ever slows a run down.
                runs = {
                    "client before": lambda c=concurrency: run(client_upload, stack.api_url, big, c, prefetch=0),
                    "client": lambda c=concurrency: run(client_upload, stack.api_url, big, c),
                    "grant+put": lambda c=concurrency: run(bare_upload, stack.api_url, big, c, timed_grants=True),
                    "put": lambda c=concurrency: run(bare_upload, stack.api_url, big, c, timed_grants=False),
                }
                # Round by round, each way once a round: a change of load between rounds falls on all of them.
                seconds = {name: [] for name in runs}
                for _ in range(REPEATS):
                    for name, timed in runs.items():
                        seconds[name].append(timed())
                rows.append((concurrency, *(megabytes / min(times) for times in seconds.values())))
            # The run with the most grants answered: like the others, it can only be slowed down by other work.
            beside = max((run(grants_beside_puts, stack.api_url, big, CONCURRENCIES[-1]) for _ in range(REPEATS)),
                         key=lambda answered: answered[0] / answered[1])
            per_window = {
                label: (sum(p.stat().st_size for p in find_windows(d).values()) // windows,
                        *api_bytes_per_window(stack, run, d))
                for label, d in (("1 s", Path(small)), (f"{WINDOW_SECONDS:g} s", Path(big)))
            }
        finally:
            run.close()

    return rows, beside, per_window, size


if __name__ == "__main__":
    main()
