/** The outbox: in order, stopping while offline, resuming after a restart, dropping what can never succeed. */

import assert from "node:assert/strict";
import { beforeEach, test } from "node:test";

import {
  keyValueOutboxStore,
  memoryOutboxStore,
  Outbox,
  type OutboxStore,
  UploadClient,
  type UploadProgress,
  type WindowEntry,
} from "@session-uploads/client";

import { API, FakeService, TOKEN } from "../support/fake.js";

let fake: FakeService;
let client: UploadClient;
const media = (entry: WindowEntry) => Promise.resolve(new Uint8Array(100 + entry.windowIndex).fill(entry.windowIndex));

beforeEach(() => {
  fake = new FakeService();
  client = new UploadClient({ apiUrl: API, token: TOKEN, fetch: fake.fetch, retries: 1, sleep: async () => {} });
});

function uploadedOrder(): number[] {
  return fake.of("put").map((put) => Number(/window_(\d+)/.exec(put.url.pathname)![1]));
}

test("entries are uploaded in the order enqueued, then the session completed", async () => {
  const session = fake.newSession();
  const outbox = new Outbox(client, { store: memoryOutboxStore(), loadMedia: media });
  for (const w of [2, 0, 1]) await outbox.enqueueWindow(session, w);
  await outbox.enqueueComplete(session, 3);

  const result = await outbox.drain();
  assert.deepEqual(uploadedOrder(), [2, 0, 1]);
  assert.deepEqual(result.done.map((e) => e.kind), ["window", "window", "window", "complete"]);
  assert.deepEqual([result.remaining, result.stoppedBy, result.failed], [0, null, []]);
  assert.equal(fake.of("complete").length, 1);
  assert.ok(fake.of("complete")[0]!.url.pathname.endsWith(`${session}/complete`));
});

test("offline, the drain stops and keeps the rest; after a restart a new outbox resumes in order", async () => {
  const session = fake.newSession();
  const storage = new Map<string, string>();
  const kv = { getItem: (k: string) => storage.get(k) ?? null, setItem: async (k: string, v: string) => void storage.set(k, v) };
  const first = new Outbox(client, { store: keyValueOutboxStore(kv), loadMedia: media });
  for (const w of [0, 1, 2, 3]) await first.enqueueWindow(session, w, { file: `window_${w}.wav` });
  await first.enqueueComplete(session, 4);

  // Window 0 goes through; then the network is gone for window 1's every attempt.
  const offline = { ok: true };
  const flaky: typeof fetch = async (input, init) => {
    if (!offline.ok && String(input).startsWith(API)) throw new TypeError("Network request failed");
    return fake.fetch(input, init);
  };
  const flakyClient = new UploadClient({ apiUrl: API, token: TOKEN, fetch: flaky, retries: 1, sleep: async () => {} });
  const dropping = new Outbox(flakyClient, {
    store: keyValueOutboxStore(kv),
    loadMedia: media,
    onProgress: (p: UploadProgress) => {
      if (p.windowIndex === 0 && p.phase === "uploaded") offline.ok = false;
    },
  });
  const stopped = await dropping.drain();
  assert.deepEqual(stopped.done.map((e) => (e as WindowEntry).windowIndex), [0]);
  assert.equal(stopped.remaining, 4);
  assert.match(stopped.stoppedBy!.message, /^window 1: cannot reach the API at https:\/\/api\.test \(TypeError: Network request failed\) after 2 attempts$/);

  // The app restarts: a new client and outbox over the same storage, online again.
  const restarted = new Outbox(client, { store: keyValueOutboxStore(kv), loadMedia: media });
  const pending = await restarted.pending();
  assert.deepEqual(pending.map((e) => (e.kind === "window" ? e.windowIndex : "complete")), [1, 2, 3, "complete"]);
  assert.deepEqual((pending[0] as WindowEntry).data, { file: "window_1.wav" });
  const resumed = await restarted.drain();
  assert.equal(resumed.remaining, 0);
  assert.deepEqual(uploadedOrder(), [0, 1, 2, 3]);
  assert.equal(JSON.parse(storage.get("session-uploads.outbox")!).length, 0);
});

test("an entry that can never succeed leaves the outbox, is reported, and the others go on", async () => {
  const session = fake.newSession();
  const store = memoryOutboxStore();
  const failures: string[] = [];
  const outbox = new Outbox(client, {
    store,
    loadMedia: async (entry) => {
      if (entry.windowIndex === 1) throw new Error("ENOENT: window_001.wav");
      return media(entry);
    },
    onFailure: (_entry, error) => void failures.push(error.message),
  });
  for (const w of [0, 1, 2]) await outbox.enqueueWindow(session, w);
  await outbox.enqueueWindow("no-such-session", 0);

  const result = await outbox.drain();
  assert.deepEqual(result.done.map((e) => (e as WindowEntry).windowIndex), [0, 2]);
  assert.deepEqual(failures, ["window 1: its media cannot be read: ENOENT: window_001.wav", "window 0: HTTP 404: session not found"]);
  assert.deepEqual([result.remaining, store.snapshot()], [0, []]);
});

test("a window uploaded before a crash (its entry not yet removed) is done when the drain meets it again", async () => {
  const session = fake.newSession();
  fake.recordHalf(session, 0, "audio", new Uint8Array(100).fill(0)); // stored, but the app died before removing the entry
  const outbox = new Outbox(client, { store: memoryOutboxStore(), loadMedia: media });
  await outbox.enqueueWindow(session, 0);
  const result = await outbox.drain();
  assert.deepEqual([result.done.length, result.failed.length], [1, 0]);
});

test("one drain at a time, and entries enqueued while it runs are kept for the next", async () => {
  const session = fake.newSession();
  const store: OutboxStore = memoryOutboxStore();
  let added = false;
  const outbox: Outbox = new Outbox(client, {
    store,
    loadMedia: async (entry) => {
      if (!added) {
        added = true;
        await outbox.enqueueWindow(session, 9);
      }
      return media(entry);
    },
  });
  await outbox.enqueueWindow(session, 0);
  const [a, b] = [outbox.drain(), outbox.drain()];
  assert.equal(a, b);
  const first = await a;
  assert.deepEqual([first.done.length, first.remaining], [1, 1]);
  assert.deepEqual((await outbox.drain()).done.map((e) => (e as WindowEntry).windowIndex), [9]);
});
