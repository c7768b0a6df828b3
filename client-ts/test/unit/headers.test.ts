/** Header exactness: the PUT carries exactly the granted headers (Content-Length as the body's length, set by fetch),
 * never the token; the grant asks for the exact size and SHA-256; both halves of an audio_video window. */

import assert from "node:assert/strict";
import { once } from "node:events";
import { createServer, type IncomingHttpHeaders } from "node:http";
import type { AddressInfo } from "node:net";
import { beforeEach, test } from "node:test";

import { UploadClient, type UploadError, UsageError } from "@session-uploads/client";

import { API, b64sha, FakeService, TOKEN } from "../support/fake.js";

const AUDIO = new Uint8Array(5000).map((_, i) => (i * 7) % 256);
const FRAMES = new Uint8Array(3000).map((_, i) => (i * 3) % 256);

let fake: FakeService;
let client: UploadClient;

beforeEach(() => {
  fake = new FakeService();
  client = new UploadClient({ apiUrl: API, token: TOKEN, fetch: fake.fetch, sleep: async () => {} });
});

test("the PUT carries exactly the granted headers but Content-Length, never the token, and the exact bytes", async () => {
  const session = fake.newSession();
  const result = await client.uploadWindow(session, 7, AUDIO);

  const [grant] = fake.of("grant");
  assert.equal(grant!.url.searchParams.get("windowIndex"), "7");
  assert.equal(grant!.headers["authorization"], `Bearer ${TOKEN}`);
  assert.deepEqual(JSON.parse(new TextDecoder().decode(grant!.body)), { sizeBytes: AUDIO.length, sha256: b64sha(AUDIO) });
  const [put] = fake.of("put");
  assert.deepEqual(put!.headers, {
    "content-type": "audio/wav",
    "if-none-match": "*",
    "x-amz-checksum-sha256": b64sha(AUDIO),
  });
  assert.deepEqual(put!.body, AUDIO);
  assert.equal(result.windowIndex, 7);
  assert.deepEqual(
    { ...result.audio, etag: typeof result.audio.etag },
    { half: "audio", s3Key: `sessions/${session}/window_007/audio.wav`, sizeBytes: AUDIO.length, attempts: 1, etag: "string", alreadyStored: false },
  );
});

test("on the wire (Node's fetch), Content-Length is the granted one and no other x-amz- header is sent", async () => {
  const seen: IncomingHttpHeaders[] = [];
  const server = createServer((request, response) => {
    seen.push(request.headers);
    request.resume();
    request.on("end", () => response.writeHead(200, { ETag: '"abc"' }).end());
  });
  server.listen(0, "127.0.0.1");
  await once(server, "listening");
  const port = (server.address() as AddressInfo).port;
  try {
    const granted = { "Content-Type": "audio/wav", "Content-Length": String(AUDIO.length), "x-amz-checksum-sha256": b64sha(AUDIO) };
    const api: typeof fetch = async (input, init) => {
      if (String(input).startsWith(API)) {
        return Response.json({ url: `http://127.0.0.1:${port}/b/k?X-Amz-Signature=s`, s3Key: "k", windowIndex: 0, expiresIn: 300, headers: granted });
      }
      return fetch(input, init);
    };
    const wire = new UploadClient({ apiUrl: API, token: TOKEN, fetch: api });
    const result = await wire.uploadWindow("s", 0, AUDIO);
    assert.equal(result.audio.etag, '"abc"');
    const [headers] = seen;
    assert.equal(headers!["content-length"], String(AUDIO.length));
    assert.equal(headers!["content-type"], "audio/wav");
    assert.equal(headers!["authorization"], undefined);
    assert.deepEqual(Object.keys(headers!).filter((h) => h.startsWith("x-amz-")), ["x-amz-checksum-sha256"]);
  } finally {
    server.close();
  }
});

test("without sendSha256 the grant asks for no checksum and the PUT sends none", async () => {
  const session = fake.newSession();
  const plain = new UploadClient({ apiUrl: API, token: TOKEN, fetch: fake.fetch, sendSha256: false });
  await plain.uploadWindow(session, 0, AUDIO.buffer);
  assert.deepEqual(JSON.parse(new TextDecoder().decode(fake.of("grant")[0]!.body)), { sizeBytes: AUDIO.length });
  assert.equal(fake.of("put")[0]!.headers["x-amz-checksum-sha256"], undefined);
});

test("a Blob is sent as it is, its SHA-256 read from it", async () => {
  const session = fake.newSession();
  await client.uploadWindow(session, 1, new Blob([AUDIO], { type: "application/octet-stream" }));
  const [put] = fake.of("put");
  assert.equal(put!.headers["content-type"], "audio/wav", "the granted type, not the Blob's");
  assert.equal(put!.headers["x-amz-checksum-sha256"], b64sha(AUDIO));
  assert.deepEqual(put!.body, AUDIO);
});

test("a token function is asked before each API request, and its token never reaches storage", async () => {
  const session = fake.newSession();
  let asked = 0;
  const refreshing = new UploadClient({ apiUrl: `${API}/`, token: async () => (asked++, TOKEN), fetch: fake.fetch });
  await refreshing.uploadWindow(session, 0, AUDIO);
  await refreshing.status(session);
  assert.equal(asked, 2);
  assert.equal(fake.of("put")[0]!.headers["authorization"], undefined);
  assert.equal(fake.of("status")[0]!.url.href, `${API}/sessions/${session}`);
});

test("a grant whose Content-Length is not the body's size fails at once, before any PUT", async () => {
  const session = fake.newSession();
  const lying: typeof fetch = async (input, init) => {
    const response = await fake.fetch(input, init);
    if (!String(input).includes("/audio")) return response;
    const grant = await response.json();
    return Response.json({ ...grant, headers: { ...grant.headers, "Content-Length": "12" } });
  };
  const strict = new UploadClient({ apiUrl: API, token: TOKEN, fetch: lying });
  await assert.rejects(strict.uploadWindow(session, 2, AUDIO), {
    name: "UploadError",
    message: `window 2: the grant is for 12 bytes, the body has ${AUDIO.length}`,
  });
  assert.equal(fake.of("put").length, 0);
});

test("an audio_video window: the audio half, then the frames half with its frame count and the frames grant's headers", async () => {
  const session = fake.newSession();
  const result = await client.uploadWindow(session, 3, { audio: AUDIO, frames: { body: FRAMES, frameCount: 12 } });

  const grants = fake.of("grant");
  assert.deepEqual(grants.map((g) => g.url.pathname.split("/").pop()), ["audio", "frames"]);
  assert.deepEqual(JSON.parse(new TextDecoder().decode(grants[1]!.body)), { sizeBytes: FRAMES.length, frameCount: 12, sha256: b64sha(FRAMES) });
  const frames = fake.of("put")[1]!;
  assert.deepEqual(frames.headers, {
    "content-type": "application/zip",
    "if-none-match": "*",
    "x-amz-checksum-sha256": b64sha(FRAMES),
    "x-amz-meta-frame-count": "12",
  });
  assert.deepEqual(frames.body, FRAMES);
  assert.equal(result.frames!.s3Key, `sessions/${session}/window_003/frames.zip`);
  await assert.rejects(client.uploadWindow(session, 4, { audio: AUDIO, frames: { body: FRAMES, frameCount: 0 } }), UsageError);
});

test("a half already stored with these bytes (412 on the write-once PUT) is done, not failed", async () => {
  const session = fake.newSession();
  fake.recordHalf(session, 0, "audio", AUDIO);
  const result = await client.uploadWindow(session, 0, AUDIO);
  assert.deepEqual([result.audio.alreadyStored, result.audio.attempts], [true, 1]);
});

test("a half already stored with other bytes fails as write-once, without a retry", async () => {
  const session = fake.newSession();
  fake.recordHalf(session, 0, "audio", AUDIO.map((b) => b ^ 1));
  await assert.rejects(client.uploadWindow(session, 0, AUDIO), (error: UploadError) => {
    assert.match(error.message, /already stored \(uploads are write-once\): the stored one has other content/);
    assert.deepEqual([error.attempts, error.transient], [1, false]);
    return true;
  });
  fake.recordHalf(session, 1, "audio", new Uint8Array(10)); // another size: other content, checksum or not
  await assert.rejects(client.uploadWindow(session, 1, AUDIO), /other content/);
});

test("a 412 for a half the backend has not recorded yet is asked again, not taken for ours", async () => {
  const session = fake.newSession();
  fake.script("put", { status: 412, body: "<Error><Code>PreconditionFailed</Code><Message>pre-condition</Message></Error>" });
  const result = await client.uploadWindow(session, 0, AUDIO);
  assert.deepEqual([result.audio.alreadyStored, result.audio.attempts], [false, 2]);
  assert.equal(fake.of("put").length, 2);
});

test("a grant refused 409 for a half already recorded is done; a 409 for anything else fails", async () => {
  const session = fake.newSession();
  fake.recordHalf(session, 0, "audio", AUDIO);
  fake.script("grant", { status: 409, body: { error: "window 0's audio is already recorded" } });
  assert.equal((await client.uploadWindow(session, 0, AUDIO)).audio.alreadyStored, true);
  assert.equal(fake.of("put").length, 0);

  fake.script("grant", { status: 409, body: { error: "session is ready: it no longer accepts uploads" } });
  await assert.rejects(client.uploadWindow(session, 1, AUDIO), { message: "window 1: HTTP 409: session is ready: it no longer accepts uploads" });
});
