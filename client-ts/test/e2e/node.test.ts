/** The package from Node against the local stack over real HTTP: a session to `ready`, retries after an injected 503
 * and an expired URL (the gate enforces the signature, the expiry and the checksum), and the outbox after a restart. */

import assert from "node:assert/strict";
import { after, before, test as nodeTest } from "node:test";

import { memoryOutboxStore, Outbox, UploadClient, UploadError, type WindowEntry } from "@session-uploads/client";

import { Stack } from "../support/stack.js";
import { wav } from "../support/wav.js";
import { zip } from "../support/zip.js";

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

/** Node's fetch, noting each request as "METHOD /path STATUS" (the last path segment: the route). */
function recording(): { fetch: typeof fetch; seen: string[] } {
  const seen: string[] = [];
  const spy: typeof fetch = async (input, init) => {
    const response = await fetch(input, init);
    seen.push(`${init?.method ?? "GET"} ${new URL(String(input)).pathname.split("/").pop()} ${response.status}`);
    return response;
  };
  return { fetch: spy, seen };
}

test("a session of six windows through the local stack ends ready", async () => {
  const { fetch: spy, seen } = recording();
  const uploads = client({ fetch: spy });
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
  // The six grants were asked for ahead of the PUTs (three at a time, so six ahead), in one request.
  assert.deepEqual(seen.filter((request) => /^POST (grants|audio|frames) /.test(request)), ["POST grants 200"]);

  await uploads.complete(created.sessionId, 6);
  const status = await uploads.waitForStatus(created.sessionId, { intervalMs: 200, timeoutMs: 30_000 });
  assert.equal(status.sessionId, created.sessionId);
  assert.equal(status.status, "ready");
});

test("an audio_video session's audio and frames through the local stack end ready, each half recorded", async () => {
  const uploads = client();
  const { sessionId } = await uploads.createSession("audio_video");
  const windows = new Map(
    Array.from({ length: 3 }, (_, w) => [w, { audio: wav(0.25, 300 + 20 * w), frames: { body: zip(5 + w), frameCount: 5 + w } }] as const),
  );
  const result = await uploads.uploadWindows(sessionId, windows, { concurrency: 2 });

  assert.ok(result.ok, [...result.failed.values()].join("; "));
  for (const [w, upload] of result.results) {
    assert.equal(upload.frames?.half, "frames", `window ${w}`);
    assert.match(upload.frames?.s3Key ?? "", new RegExp(`/window_00${w}/frames\\.zip$`));
  }

  // Once recorded, the same batch again: the grants request lists every half as already recorded, and each is found
  // to be these bytes, nothing sent.
  for (let polls = 0; (await uploads.status(sessionId)).counts.recorded < 3; polls++) {
    assert.ok(polls < 150, "the windows were not recorded within 30 s");
    await new Promise((resolve) => setTimeout(resolve, 200));
  }
  const { fetch: spy, seen } = recording();
  const batchAgain = await client({ fetch: spy }).uploadWindows(sessionId, windows, { skipRecorded: false });
  assert.ok(batchAgain.ok, [...batchAgain.failed.values()].join("; "));
  assert.deepEqual(
    [...batchAgain.results.values()].map((upload) => [upload.audio.alreadyStored, upload.frames?.alreadyStored]),
    [[true, true], [true, true], [true, true]],
  );
  assert.deepEqual(seen.filter((request) => !request.startsWith("GET windows ")), ["POST grants 200"]);
  await uploads.complete(sessionId, 3);
  const status = await uploads.waitForStatus(sessionId, { intervalMs: 200, timeoutMs: 30_000 });
  assert.equal(status.status, "ready");
  assert.deepEqual([status.counts.audio, status.counts.frames], [3, 3]);
  const page = await uploads.windows(sessionId);
  assert.deepEqual(page.windows.map((w) => [w.windowIndex, w.frames !== null]), [[0, true], [1, true], [2, true]]);

  // Again, as after a lost answer: the keys are write-once, the client finds each half already stored.
  const again = await uploads.uploadWindow(sessionId, 1, windows.get(1)!);
  assert.deepEqual([again.audio.alreadyStored, again.frames?.alreadyStored], [true, true]);
});

test("a frames grant for an audio_only session is refused naming the frames", async () => {
  const uploads = client({ retries: 0 });
  const { sessionId } = await uploads.createSession("audio_only");
  await assert.rejects(
    uploads.uploadWindow(sessionId, 0, { audio: wav(0.25, 440), frames: { body: zip(2), frameCount: 2 } }),
    (error: unknown) => {
      assert.ok(error instanceof UploadError);
      assert.equal(error.message, "window 0 (frames): HTTP 400: frames: this session's captureMode is audio_only, which records no frames");
      return true;
    },
  );
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
