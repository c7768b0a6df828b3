/** Progress events: each step of a window's upload, and a batch's bytes and windows. */

import assert from "node:assert/strict";
import { test } from "node:test";

import { type BatchProgress, UploadClient, type UploadProgress } from "@session-uploads/client";

import { API, FakeService, TOKEN } from "../support/fake.js";

test("each step of an upload is reported, a retry with its delay and reason", async () => {
  const fake = new FakeService();
  const session = fake.newSession();
  fake.script("put", { status: 503, body: "<Error><Code>SlowDown</Code><Message>Please reduce your request rate.</Message></Error>" });
  const client = new UploadClient({ apiUrl: API, token: TOKEN, fetch: fake.fetch, backoff: { random: () => 1 }, sleep: async () => {} });
  const steps: UploadProgress[] = [];
  await client.uploadWindow(session, 4, new Uint8Array(300), { onProgress: (p) => steps.push(p) });

  assert.deepEqual(
    steps.map((s) => [s.phase, s.attempt, s.sentBytes]),
    [["granting", 1, 0], ["uploading", 1, 0], ["retrying", 1, 0], ["granting", 2, 0], ["uploading", 2, 0], ["uploaded", 2, 300]],
  );
  assert.deepEqual([steps[2]!.retryInMs, steps[2]!.reason], [500, "SlowDown: Please reduce your request rate."]);
  assert.ok(steps.every((s) => s.sessionId === session && s.windowIndex === 4 && s.half === "audio" && s.totalBytes === 300));
});

test("a batch counts the bytes and the windows done, both halves of a window included, and skips recorded windows", async () => {
  const fake = new FakeService();
  const session = fake.newSession([1]);
  const client = new UploadClient({ apiUrl: API, token: TOKEN, fetch: fake.fetch });
  const windows = new Map([
    [0, { audio: new Uint8Array(100), frames: { body: new Uint8Array(50), frameCount: 2 } }],
    [1, { audio: new Uint8Array(100) }],
    [2, { audio: new Uint8Array(70) }],
  ]);
  const seen: BatchProgress[] = [];
  const result = await client.uploadWindows(session, windows, { concurrency: 1, onProgress: (p) => seen.push(p) });

  assert.deepEqual([result.uploaded, result.skipped, result.ok], [[0, 2], [1], true]);
  const uploaded = seen.filter((p) => p.step.phase === "uploaded");
  assert.deepEqual(
    uploaded.map((p) => [p.step.windowIndex, p.step.half, p.sentBytes, p.windowsDone]),
    [[0, "audio", 100, 0], [0, "frames", 150, 1], [2, "audio", 220, 2]],
  );
  assert.ok(seen.every((p) => p.totalBytes === 220 && p.windowsTotal === 2));
});
