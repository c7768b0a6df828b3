/** The PUT and API timeouts (a transient failure, retried) and cancellation (immediate, never retried). */

import assert from "node:assert/strict";
import { beforeEach, test } from "node:test";

import { CancelledError, UploadClient, UploadError, type UploadProgress } from "@session-uploads/client";

import { API, FakeService, TOKEN } from "../support/fake.js";

const AUDIO = new Uint8Array(2048).fill(7);

let fake: FakeService;

beforeEach(() => {
  fake = new FakeService();
});

function client(options: Partial<ConstructorParameters<typeof UploadClient>[0]> = {}): UploadClient {
  return new UploadClient({ apiUrl: API, token: TOKEN, fetch: fake.fetch, backoff: { baseMs: 1 }, ...options });
}

test("a PUT with no answer is abandoned at the PUT timeout and retried with a fresh grant", async () => {
  const session = fake.newSession();
  fake.script("put", "hang");
  const started = Date.now();
  const result = await client({ putTimeoutMs: 50 }).uploadWindow(session, 0, AUDIO);
  assert.equal(result.audio.attempts, 2);
  assert.equal(fake.of("grant").length, 2);
  assert.ok(Date.now() - started < 5000);
});

test("PUTs that never answer fail once retries run out, saying they timed out", async () => {
  const session = fake.newSession();
  fake.script("put", "hang", "hang", "hang");
  await assert.rejects(client({ putTimeoutMs: 30, retries: 2 }).uploadWindow(session, 9, AUDIO), (error: unknown) => {
    assert.ok(error instanceof UploadError);
    assert.equal(error.message, "window 9: upload to storage timed out after 0.03 s after 3 attempts");
    assert.deepEqual([error.status, error.transient], [null, true]);
    return true;
  });
});

test("the API timeout applies to API requests", async () => {
  const session = fake.newSession();
  fake.script("status", "hang");
  const status = await client({ apiTimeoutMs: 30 }).status(session);
  assert.equal(status.sessionId, session);
  assert.equal(fake.of("status").length, 2);
});

test("cancelling during a PUT ends the upload at once, with no retry", async () => {
  const session = fake.newSession();
  fake.script("put", "hang");
  const controller = new AbortController();
  const steps: string[] = [];
  const upload = client().uploadWindow(session, 0, AUDIO, {
    signal: controller.signal,
    onProgress: (p: UploadProgress) => {
      steps.push(p.phase);
      if (p.phase === "uploading") setTimeout(() => controller.abort(new Error("user left")), 10);
    },
  });
  await assert.rejects(upload, (error: unknown) => {
    assert.ok(error instanceof CancelledError);
    assert.equal(error.message, "window 0: cancelled");
    assert.equal((error.cause as Error).message, "user left");
    return true;
  });
  assert.deepEqual(steps, ["granting", "uploading"]);
  assert.equal(fake.of("grant").length, 1);
});

test("cancelling during the backoff wait ends it at once", async () => {
  const session = fake.newSession();
  fake.script("put", { status: 503, body: "" });
  const controller = new AbortController();
  const slow = client({ backoff: { baseMs: 60_000, random: () => 1 } });
  const started = Date.now();
  const upload = slow.uploadWindow(session, 0, AUDIO, {
    signal: controller.signal,
    onProgress: (p) => p.phase === "retrying" && setTimeout(() => controller.abort(), 10),
  });
  await assert.rejects(upload, CancelledError);
  assert.ok(Date.now() - started < 5000, "did not wait out the 60 s backoff");
  assert.equal(fake.of("grant").length, 1);
});

test("an already cancelled signal sends nothing", async () => {
  const session = fake.newSession();
  await assert.rejects(client().uploadWindow(session, 0, AUDIO, { signal: AbortSignal.abort() }), CancelledError);
  await assert.rejects(client().status(session, { signal: AbortSignal.abort() }), CancelledError);
  assert.equal(fake.requests.length, 0);
});

test("cancelling a batch stops every window and rejects with CancelledError", async () => {
  const session = fake.newSession();
  fake.script("put", "hang", "hang");
  const controller = new AbortController();
  const windows = new Map([0, 1, 2, 3, 4, 5].map((w) => [w, AUDIO] as [number, Uint8Array]));
  const batch = client().uploadWindows(session, windows, {
    concurrency: 2,
    signal: controller.signal,
    onProgress: (p) => p.step.phase === "uploading" && setTimeout(() => controller.abort(), 10),
  });
  await assert.rejects(batch, CancelledError);
  assert.ok(fake.of("put").length <= 2, "no window started after the cancel");
});
