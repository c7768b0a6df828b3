/** The package from Node against the local stack over real HTTP: a session to `ready`, retries after an injected 503
 * and an expired URL (the gate enforces the signature, the expiry and the checksum), and the outbox after a restart. */

import assert from "node:assert/strict";
import { after, before, test as nodeTest } from "node:test";

import { memoryOutboxStore, Outbox, UploadClient, UploadError, type WindowEntry } from "@session-uploads/client";

import { Stack } from "../support/stack.js";
import { wav } from "../support/wav.js";

let stack: Stack;

// Bounded: a stuck browser or stack fails the run instead of hanging it.
const LIMIT = { timeout: 120_000 };
const test = (name: string, fn: () => Promise<void>) => nodeTest(name, LIMIT, fn);

before(async () => {
  stack = await Stack.start();
}, LIMIT);

after(async () => {
  await stack?.stop();
}, LIMIT);

function client(options: Partial<ConstructorParameters<typeof UploadClient>[0]> = {}): UploadClient {
  const { apiUrl, token } = stack.endpoints;
  return new UploadClient({ apiUrl, token, backoff: { baseMs: 50 }, ...options });
}

test("a session of six windows through the local stack ends ready", async () => {
  const uploads = client();
  const created = await uploads.createSession("audio_only");
  assert.equal(created.status, "recording");
  const windows = new Map(Array.from({ length: 6 }, (_, w) => [w, wav(0.25, 300 + 20 * w)] as [number, Uint8Array]));
  const steps: string[] = [];
  const result = await uploads.uploadWindows(created.sessionId, windows, {
    concurrency: 3,
    onProgress: (p) => p.step.phase === "uploaded" && steps.push(`${p.step.windowIndex}:${p.sentBytes}/${p.totalBytes}`),
  });

  assert.ok(result.ok, [...result.failed.values()].join("; "));
  assert.deepEqual(result.uploaded, [0, 1, 2, 3, 4, 5]);
  for (const [w, upload] of result.results) {
    assert.equal(upload.audio.attempts, 1);
    assert.match(upload.audio.etag ?? "", /^"[0-9a-f]{32}"$/, `window ${w}'s ETag`);
  }
  assert.equal(steps.length, 6);
  const total = [...windows.values()].reduce((n, b) => n + b.length, 0);
  assert.ok(steps.at(-1)!.endsWith(`${total}/${total}`));

  await uploads.complete(created.sessionId, 6);
  const status = await uploads.waitForStatus(created.sessionId, { intervalMs: 200, timeoutMs: 30_000 });
  assert.equal(status.sessionId, created.sessionId);
  assert.equal(status.status, "ready");
});

test("a PUT answered 503 by storage is retried with a fresh grant", async () => {
  const uploads = client();
  const { sessionId } = await uploads.createSession();
  const before = (await stack.injected())["s3_put"] ?? 0;
  await stack.injectFaults({ failS3Puts: 1 });
  const retries: string[] = [];
  const result = await uploads.uploadWindow(sessionId, 0, wav(0.25, 440), {
    onProgress: (p) => p.phase === "retrying" && retries.push(p.reason ?? ""),
  });
  assert.equal(result.audio.attempts, 2);
  assert.deepEqual(retries, ["ServiceUnavailable: Please reduce your request rate."]);
  assert.equal((await stack.injected())["s3_put"], before + 1);
});

test("an expired URL is retried with a fresh grant", async () => {
  const uploads = client();
  const { sessionId } = await uploads.createSession();
  await stack.injectFaults({ expireS3Urls: 1 });
  const retries: string[] = [];
  const result = await uploads.uploadWindow(sessionId, 0, wav(0.25, 440), {
    onProgress: (p) => p.phase === "retrying" && retries.push(p.reason ?? ""),
  });
  assert.equal(result.audio.attempts, 2);
  assert.deepEqual(retries, ["AccessDenied: Request has expired"]);
});

test("a header changed on the way (an interceptor) fails at once with the gate's SignatureDoesNotMatch", async () => {
  const meddling: typeof fetch = (input, init) => {
    if (init?.method !== "PUT") return fetch(input, init);
    return fetch(input, { ...init, headers: { ...(init.headers as Record<string, string>), "Content-Type": "audio/x-wav" } });
  };
  const uploads = client({ fetch: meddling });
  const { sessionId } = await uploads.createSession();
  await assert.rejects(uploads.uploadWindow(sessionId, 3, wav(0.25, 440)), (error: unknown) => {
    assert.ok(error instanceof UploadError);
    assert.match(error.message, /^window 3: HTTP 403: SignatureDoesNotMatch: The request signature we calculated does not match/);
    assert.equal(error.attempts, 1);
    return true;
  });
});

test("windows recorded offline are uploaded in order after a restart, and the session completed", async () => {
  const { sessionId } = await client().createSession();
  const media = (entry: WindowEntry) => Promise.resolve(wav(0.25, 200 + entry.windowIndex));
  const store = memoryOutboxStore(); // the app's storage: it outlives the outbox objects below
  const offline = new UploadClient({
    apiUrl: stack.endpoints.apiUrl,
    token: stack.endpoints.token,
    retries: 0,
    fetch: () => Promise.reject(new TypeError("Network request failed")),
  });
  const recording = new Outbox(offline, { store, loadMedia: media });
  for (const w of [0, 1, 2, 3, 4]) await recording.enqueueWindow(sessionId, w);
  await recording.enqueueComplete(sessionId, 5);
  const stopped = await recording.drain();
  assert.equal(stopped.remaining, 6);
  assert.equal(stopped.stoppedBy?.message, "window 0: cannot reach the API at " + stack.endpoints.apiUrl + " (TypeError: Network request failed)");

  const order: number[] = [];
  const online = new Outbox(client(), {
    store,
    loadMedia: media,
    onProgress: (p) => p.phase === "uploaded" && order.push(p.windowIndex),
  });
  const drained = await online.drain();
  assert.deepEqual([drained.remaining, drained.failed.length], [0, 0]);
  assert.deepEqual(order, [0, 1, 2, 3, 4]);
  const status = await client().waitForStatus(sessionId, { intervalMs: 200, timeoutMs: 30_000 });
  assert.equal(status.status, "ready");
});
