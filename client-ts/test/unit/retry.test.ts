/** The retry policy: which failures are retried, after which delays, with a fresh grant each time. */

import assert from "node:assert/strict";
import { beforeEach, describe, test } from "node:test";

import { ApiError, Backoff, errorDetail, isTransient, UploadClient, UploadError } from "@session-uploads/client";

import { API, BAD_SIGNATURE, EXPIRED, FakeService, TOKEN, type Step } from "../support/fake.js";

const AUDIO = new Uint8Array(4096).map((_, i) => i % 251);

let fake: FakeService;
let sleeps: number[];
let client: UploadClient;

beforeEach(() => {
  fake = new FakeService();
  sleeps = [];
  // random() == 1 makes every jittered delay its ceiling, so the schedule is exact.
  client = new UploadClient({
    apiUrl: API,
    token: TOKEN,
    fetch: fake.fetch,
    retries: 3,
    backoff: { random: () => 1 },
    sleep: async (ms) => void sleeps.push(ms),
  });
});

describe("isTransient", () => {
  const cases: [number, string | null, string, boolean][] = [
    [500, null, "", true],
    [502, null, "Bad Gateway", true],
    [503, "SlowDown", "", true],
    [429, null, "Too Many Requests", true],
    [400, "RequestTimeout", "", true],
    [403, "AccessDenied", "AccessDenied: Request has expired", true],
    [403, "AccessDenied", "AccessDenied: Access Denied", false],
    [403, "SignatureDoesNotMatch", "", false],
    [400, "BadDigest", "", false],
    [404, null, "session not found", false],
    [409, null, "session is ready", false],
    [401, null, "Unauthorized", false],
  ];
  for (const [status, code, message, expected] of cases) {
    test(`${status} ${code ?? ""} ${message} → ${expected}`, () => {
      assert.equal(isTransient(status, code, message), expected);
    });
  }
});

describe("Backoff", () => {
  test("doubles from the base up to the cap, jittered over [0, ceiling]", () => {
    const top = new Backoff({ baseMs: 500, capMs: 3000, random: () => 1 });
    assert.deepEqual([0, 1, 2, 3, 4].map((n) => top.delayMs(n)), [500, 1000, 2000, 3000, 3000]);
    const half = new Backoff({ baseMs: 500, capMs: 3000, random: () => 0.5 });
    assert.deepEqual([0, 1, 2].map((n) => half.delayMs(n)), [250, 500, 1000]);
    assert.equal(new Backoff({ random: () => 0 }).delayMs(10), 0);
  });

  test("defaults to the Python client's 0.5 s base and 20 s cap", () => {
    const backoff = new Backoff({ random: () => 1 });
    assert.deepEqual([backoff.baseMs, backoff.capMs], [500, 20_000]);
    assert.equal(backoff.delayMs(10), 20_000);
  });
});

describe("uploads", () => {
  const transient: [string, Step][] = [
    ["s3 500", { status: 500, body: "<Error><Code>InternalError</Code><Message>oops</Message></Error>" }],
    ["s3 503", { status: 503, body: "" }],
    ["expired url", EXPIRED],
    ["connection dropped", "drop"],
  ];
  for (const [name, failure] of transient) {
    test(`a PUT failing with ${name} is retried with a fresh grant and backoff`, async () => {
      const session = fake.newSession();
      fake.script("put", failure, failure);
      const result = await client.uploadWindow(session, 2, AUDIO);

      assert.equal(result.audio.attempts, 3);
      assert.equal(fake.of("grant").length, 3);
      const urls = fake.of("put").map((put) => put.url.searchParams.get("X-Amz-Signature"));
      assert.equal(new Set(urls).size, 3, "each attempt PUTs to the URL of its own grant");
      assert.deepEqual(sleeps, [500, 1000]);
      assert.ok(fake.sessions.get(session)!.get(2)!.has("audio"));
    });
  }

  for (const failure of [{ status: 429, body: { message: "Too Many Requests" } }, { status: 502, body: { message: "Bad Gateway" } }, "drop"] as Step[]) {
    test(`a grant failing with ${typeof failure === "string" ? failure : failure.status} is retried`, async () => {
      const session = fake.newSession();
      fake.script("grant", failure);
      assert.equal((await client.uploadWindow(session, 1, AUDIO)).audio.attempts, 2);
      assert.equal(sleeps.length, 1);
      assert.equal(fake.of("put").length, 1);
    });
  }

  test("retries run out: the error names the window, the last status and the attempts, and says it may pass", async () => {
    const session = fake.newSession();
    fake.script("put", EXPIRED, EXPIRED, EXPIRED, EXPIRED);
    await assert.rejects(client.uploadWindow(session, 5, AUDIO), (error: unknown) => {
      assert.ok(error instanceof UploadError);
      assert.equal(error.message, "window 5: HTTP 403: AccessDenied: Request has expired after 4 attempts");
      assert.deepEqual([error.window, error.status, error.attempts, error.transient], [5, 403, 4, true]);
      return true;
    });
    assert.deepEqual(sleeps, [500, 1000, 2000]);
  });

  test("a rejected PUT is not retried and names the window, the status and S3's message", async () => {
    const session = fake.newSession();
    fake.script("put", BAD_SIGNATURE);
    await assert.rejects(client.uploadWindow(session, 4, AUDIO), (error: unknown) => {
      assert.ok(error instanceof UploadError);
      assert.equal(
        error.message,
        "window 4: HTTP 403: SignatureDoesNotMatch: The request signature we calculated does not match",
      );
      assert.deepEqual([error.status, error.attempts, error.transient], [403, 1, false]);
      return true;
    });
    assert.equal(fake.of("grant").length, 1);
    assert.deepEqual(sleeps, []);
  });

  const refusals: [number, object, string][] = [
    [409, { error: "session is ready: it no longer accepts uploads" }, "session is ready: it no longer accepts uploads"],
    [400, { error: "sizeBytes: must be an integer from 1 to 10485760" }, "sizeBytes: must be an integer from 1 to 10485760"],
    [401, { message: "Unauthorized" }, "Unauthorized"],
  ];
  for (const [status, body, message] of refusals) {
    test(`a grant refused with ${status} is not retried and carries the API's message`, async () => {
      const session = fake.newSession();
      fake.script("grant", { status, body });
      await assert.rejects(client.uploadWindow(session, 3, AUDIO), {
        name: "UploadError",
        message: `window 3: HTTP ${status}: ${message}`,
      });
      assert.deepEqual(sleeps, []);
      assert.equal(fake.of("put").length, 0);
    });
  }
});

describe("API requests", () => {
  test("status is retried on 5xx and network errors", async () => {
    const session = fake.newSession([0]);
    fake.script("status", { status: 503, body: { message: "Service Unavailable" } }, "drop");
    const status = await client.status(session);
    assert.equal(status.sessionId, session);
    assert.equal(fake.of("status").length, 3);
    assert.deepEqual(sleeps, [500, 1000]);
  });

  test("creating a session is never retried: a lost answer would create a second one", async () => {
    fake.script("create", "drop");
    await assert.rejects(client.createSession("audio_only"), (error: unknown) => {
      assert.ok(error instanceof ApiError);
      assert.match(error.message, /^create session: cannot reach the API at https:\/\/api\.test \(TypeError: fetch failed\)$/);
      assert.deepEqual([error.status, error.transient], [null, true]);
      return true;
    });
    assert.equal(fake.of("create").length, 1);
  });

  test("a complete whose first answer was lost returns the session that ended with that count", async () => {
    const session = fake.newSession([0, 1]);
    fake.script("complete", "drop", { status: 409, body: { error: "session is ready: expectedWindowCount is 2" } });
    const ready = { ...fake.statusBody(session), status: "ready", expectedWindowCount: 2 };
    fake.script("status", { status: 200, body: ready });
    const status = await client.complete(session, 2);
    assert.equal(status.status, "ready");
  });

  test("a complete refused for another count stays refused", async () => {
    const session = fake.newSession([0, 1]);
    fake.script("complete", { status: 409, body: { error: "already completed with 3" } });
    fake.script("status", { status: 200, body: { ...fake.statusBody(session), status: "ready", expectedWindowCount: 3 } });
    await assert.rejects(client.complete(session, 2), {
      name: "ApiError",
      message: `complete session ${session}: HTTP 409: already completed with 3`,
    });
  });
});

describe("errorDetail", () => {
  test("reads the API's JSON, API Gateway's JSON and S3's XML, else the status text", () => {
    assert.deepEqual(errorDetail(404, "Not Found", '{"error": "session not found"}'), { code: null, message: "session not found" });
    assert.deepEqual(errorDetail(429, "", '{"message": "Too Many Requests"}'), { code: null, message: "Too Many Requests" });
    assert.deepEqual(
      errorDetail(403, "Forbidden", "<?xml version=\"1.0\"?>\n<Error><Code>AccessForbidden</Code><Message>CORSResponse: a &amp; b</Message></Error>"),
      { code: "AccessForbidden", message: "AccessForbidden: CORSResponse: a & b" },
    );
    assert.deepEqual(errorDetail(502, "Bad Gateway", "<html>oops</html>"), { code: null, message: "Bad Gateway" });
    assert.deepEqual(errorDetail(500, "", ""), { code: null, message: "HTTP 500" });
  });
});
