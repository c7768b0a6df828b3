/** uploadWindows' grant prefetch: grants asked for ahead of the PUTs, several halves a request, no further ahead than
 * `prefetch`, with the fallbacks of the Python client's upload_dir (a request refused for good asked again half by
 * half, one that may pass each half's first attempt, a half already recorded done as write-once, a stale or expired
 * URL granted again), and cancellation. */

import assert from "node:assert/strict";
import { beforeEach, test } from "node:test";

import { CancelledError, UploadClient, type UploadClientOptions, UsageError, type WindowMedia } from "@session-uploads/client";

import { API, b64sha, EXPIRED, FakeService, type Step, TOKEN } from "../support/fake.js";

let fake: FakeService;
let sleeps: number[];

beforeEach(() => {
  fake = new FakeService();
  sleeps = [];
});

/** A client of the fake whose backoff delays are their ceilings (500 ms first) and are recorded, not waited. Its
 * SHA-256 is node:crypto's, answered in a microtask, so that requests leave in the order they were prepared. */
function client(options: Partial<UploadClientOptions> = {}): UploadClient {
  return new UploadClient({
    apiUrl: API,
    token: TOKEN,
    fetch: fake.fetch,
    backoff: { random: () => 1 },
    sleep: async (ms) => void sleeps.push(ms),
    sha256: async (bytes) => b64sha(bytes),
    ...options,
  });
}

/** Window w's audio: its bytes all w, its size told apart too. */
const audio = (w: number) => new Uint8Array(300 + w).fill(w);

function audioWindows(count: number): Map<number, Uint8Array> {
  return new Map(Array.from({ length: count }, (_, w) => [w, audio(w)]));
}

function audioVideoWindows(count: number): Map<number, WindowMedia> {
  const media = (w: number): WindowMedia => ({ audio: audio(w), frames: { body: new Uint8Array(50).fill(w), frameCount: 2 } });
  return new Map(Array.from({ length: count }, (_, w) => [w, media(w)]));
}

/** The windows of the grants asked for on the halves' own routes, in order. */
function ownRouteGrants(): number[] {
  return fake.of("grant").map((r) => Number(r.url.searchParams.get("windowIndex")));
}

/** Resolves once `condition` holds, or after `timeoutMs` regardless (the assertions after it then say what was not). */
async function until(condition: () => boolean, timeoutMs = 2000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!condition() && Date.now() < deadline) await pause(5);
}

const pause = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

test("the halves are granted several a request, each once, in upload order, a window's audio before its frames", async () => {
  const session = fake.newSession();
  // Concurrency 8, so prefetch 16: a grants request waits for 8 free places; 32 halves in at most 4 requests.
  const result = await client().uploadWindows(session, audioVideoWindows(16), { concurrency: 8 });

  assert.ok(result.ok, [...result.failed.values()].join("; "));
  assert.deepEqual(result.uploaded, Array.from({ length: 16 }, (_, w) => w));
  assert.deepEqual(fake.of("grant"), [], "none asked for on the halves' own routes");
  const batches = fake.batches();
  const expected = Array.from({ length: 16 }, (_, w) => [[w, "audio"], [w, "frames"]]).flat();
  assert.deepEqual(batches.flat(), expected);
  assert.ok(batches.length <= 4 && batches.every((batch) => batch.length >= 1 && batch.length <= 16), JSON.stringify(batches));
  assert.ok(batches.filter((batch) => batch.length < 8).length <= 1, "only the last of the halves may come fewer");
  assert.ok(fake.putWithLastGrant());
});

test("no more than `prefetch` halves are granted, or read and hashed, ahead of the PUT in flight", async () => {
  const session = fake.newSession();
  const hashed: number[] = [];
  const seen: { granted?: number[]; hashed?: number[] } = {};
  // Window 0's PUT stays in flight until the grants ahead of it are in, and a while longer: room for the prefetch to
  // overstep its bound, were it to.
  fake.hold("put", async () => {
    await until(() => fake.issued.length >= 3);
    await pause(50);
    seen.granted = fake.issued.map((grant) => grant.window);
    seen.hashed = [...hashed];
  });
  const hashing = client({ sha256: async (bytes) => (hashed.push(bytes[0]!), b64sha(bytes)) });
  const result = await hashing.uploadWindows(session, audioWindows(6), { concurrency: 1, prefetch: 2 });

  assert.deepEqual(seen, { granted: [0, 1, 2], hashed: [0, 1, 2] });
  assert.ok(result.ok);
  assert.deepEqual(result.uploaded, [0, 1, 2, 3, 4, 5]);
  assert.deepEqual(hashed, [0, 1, 2, 3, 4, 5], "each half hashed once");
  assert.ok(fake.putWithLastGrant());
});

for (const [name, refusal] of [
  ["a half refused", { status: 400, body: { error: "uploads[1].sizeBytes: must be an integer from 1 to 100" } }],
  ["no such route", { status: 404, body: { message: "Not Found" } }],
] as [string, Step][]) {
  test(`a grants request refused for good (${name}) is asked again half by half, so only the bad half fails`, async () => {
    const session = fake.newSession();
    fake.script("grants", refusal);
    fake.refuse(1, "audio", 400, { error: "sizeBytes: must be an integer from 1 to 100" });
    const result = await client().uploadWindows(session, audioWindows(4), { concurrency: 4 });

    assert.deepEqual(fake.batches(), [[[0, "audio"], [1, "audio"], [2, "audio"], [3, "audio"]]], "the one request, refused");
    assert.deepEqual(ownRouteGrants().sort(), [0, 1, 2, 3]);
    assert.deepEqual([...result.failed.keys()], [1]);
    assert.equal(result.failed.get(1)!.message, "window 1: HTTP 400: sizeBytes: must be an integer from 1 to 100");
    assert.deepEqual(result.uploaded, [0, 2, 3]);
    assert.deepEqual(sleeps, []);
  });
}

for (const [name, failure] of [
  ["503", { status: 503, body: { message: "Service Unavailable" } }],
  ["a dropped connection", "drop"],
] as [string, Step][]) {
  test(`a grants request failing with ${name} is each half's first attempt, retried on its own route with backoff`, async () => {
    const session = fake.newSession();
    fake.script("grants", failure);
    const result = await client().uploadWindows(session, audioWindows(4), { concurrency: 4 });

    assert.ok(result.ok);
    assert.equal(fake.batches().length, 1);
    assert.deepEqual(ownRouteGrants().sort(), [0, 1, 2, 3]);
    assert.deepEqual(sleeps, [500, 500, 500, 500]);
    assert.deepEqual([...result.results.values()].map((r) => r.audio.attempts), [2, 2, 2, 2]);
    assert.ok(fake.putWithLastGrant());
  });
}

test("a half the grants answer lists as refused (already recorded) is done as write-once, without a PUT", async () => {
  const session = fake.newSession();
  fake.recordHalf(session, 1, "audio", audio(1)); // these very bytes: an earlier run's
  fake.recordHalf(session, 2, "audio", audio(2).map((b) => b ^ 1)); // other bytes: another writer's
  for (const w of [1, 2]) fake.refuse(w, "audio", 409, { error: `window ${w}: its audio is already recorded` });
  const result = await client().uploadWindows(session, audioWindows(4), { concurrency: 4, skipRecorded: false });

  assert.equal(fake.batches().length, 1);
  assert.deepEqual(fake.of("grant"), []);
  assert.deepEqual(fake.of("put").map((put) => put.url.pathname.split("/")[4]), ["window_000", "window_003"]);
  assert.deepEqual(result.uploaded, [0, 1, 3]);
  assert.equal(result.results.get(1)!.audio.alreadyStored, true);
  assert.equal(
    result.failed.get(2)?.message,
    "window 2: HTTP 409: the window's audio is already stored (uploads are write-once): the stored one has other content",
  );
  assert.deepEqual(sleeps, []);
});

for (const [laterMs, askedAgain, name] of [
  [269_000, [], "31 s to live by their PUT are used"],
  [271_000, [1, 2, 3], "29 s to live by their PUT are asked for again on their own route"],
] as [number, number[], string][]) {
  test(`grants of a request whose URLs have ${name}`, async () => {
    // The grants live 300 s and the margin is 30 s. Windows 0 to 3 are granted in one request; window 0's PUT takes
    // `laterMs`, so by the time the PUTs of 1 to 3 are due their URLs have that much less to live.
    const session = fake.newSession();
    let now = 1_000_000;
    fake.hold("put", async () => void (now += laterMs));
    const timed = client({ clock: () => now, grantMarginMs: 30_000 });
    const result = await timed.uploadWindows(session, audioWindows(6), { concurrency: 1, prefetch: 4 });

    assert.ok(result.ok);
    assert.deepEqual(fake.batches(), [[0, 1, 2, 3].map((w) => [w, "audio"]), [4, 5].map((w) => [w, "audio"])]);
    assert.deepEqual(ownRouteGrants(), askedAgain);
    assert.ok(fake.putWithLastGrant(), "each PUT went to the freshest URL of its half");
  });
}

test("a grant whose URL lives less than twice the margin is not stale as it arrives", async () => {
  const session = fake.newSession();
  fake.expiresIn = 20; // under the 30 s margin: the margin is then half its life
  const result = await client().uploadWindows(session, audioWindows(4), { concurrency: 1, prefetch: 2 });

  assert.ok(result.ok);
  assert.deepEqual(fake.batches()[0], [[0, "audio"], [1, "audio"]], "granted ahead");
  assert.deepEqual(fake.issued.map((grant) => grant.window), [0, 1, 2, 3], "each granted once");
});

for (const expiredPuts of [1, 2]) {
  test(`a prefetched URL S3 refuses as expired is granted again at once, once, not spending a retry (${expiredPuts} refused)`, async () => {
    const session = fake.newSession();
    fake.script("put", ...Array<Step>(expiredPuts).fill(EXPIRED));
    const result = await client({ retries: 0 }).uploadWindows(session, audioWindows(1));

    assert.deepEqual(fake.issued.map((grant) => grant.window), [0, 0]);
    assert.deepEqual(sleeps, []);
    if (expiredPuts === 1) {
      assert.ok(result.ok);
      assert.equal(result.results.get(0)!.audio.attempts, 2);
      assert.ok(fake.putWithLastGrant());
    } else {
      // The fresh grant's URL expired too: a failure like any other, and no retries are left.
      const error = result.failed.get(0)!;
      assert.equal(error.message, "window 0: HTTP 403: AccessDenied: Request has expired after 2 attempts");
    }
  });
}

test("a window whose audio fails sends no frames, its prefetched frames grant let go, and the others go on", async () => {
  const session = fake.newSession();
  fake.refuse(0, "audio", 400, { error: "sizeBytes: too big" });
  const result = await client().uploadWindows(session, audioVideoWindows(3), { concurrency: 1 });

  assert.deepEqual(result.uploaded, [1, 2]);
  assert.deepEqual([...result.failed.keys()], [0]);
  assert.equal(result.failed.get(0)!.half, "audio");
  // Its frames were asked for with its audio (the request refused for the audio's sake, then half by half)...
  assert.deepEqual(fake.batches()[0], [[0, "audio"], [0, "frames"]]);
  assert.ok(fake.issued.some((grant) => grant.window === 0 && grant.half === "frames"));
  // ...and never sent.
  assert.ok(!fake.of("put").some((put) => put.url.pathname.includes("/window_000/")));
});

test("every window is settled whatever the concurrency and prefetch, some failing", async () => {
  for (const concurrency of [1, 3, 8]) {
    for (const prefetch of [1, 3, undefined]) {
      fake = new FakeService();
      const session = fake.newSession();
      for (const w of [0, 3, 4]) fake.refuse(w, "audio", 400, { error: "sizeBytes: too big" });
      const result = await client().uploadWindows(session, audioVideoWindows(8), { concurrency, prefetch });

      const where = `concurrency ${concurrency}, prefetch ${prefetch}`;
      assert.deepEqual([...result.failed.keys()].sort(), [0, 3, 4], where);
      assert.deepEqual(result.uploaded, [1, 2, 5, 6, 7], where);
      assert.ok(fake.batches().length > 0 || prefetch === 1, `${where}: grants asked for several a request`);
    }
  }
});

test("prefetch 0 asks for each grant on its half's own route, just before its PUT; the default asks ahead", async () => {
  const result = await client().uploadWindows(fake.newSession(), audioWindows(3), { concurrency: 1, prefetch: 0 });
  assert.ok(result.ok);
  assert.deepEqual(fake.requests.map((r) => r.route), ["status", "grant", "put", "grant", "put", "grant", "put"]);

  fake = new FakeService();
  assert.ok((await client().uploadWindows(fake.newSession(), audioWindows(3), { concurrency: 1 })).ok);
  assert.deepEqual(fake.requests.map((r) => r.route).slice(0, 3), ["status", "grants", "put"]);
});

test("a prefetch that is not a whole number, 0 or more, is refused before anything is sent", async () => {
  for (const prefetch of [-1, 1.5]) {
    await assert.rejects(client().uploadWindows(fake.newSession(), audioWindows(1), { prefetch }), UsageError);
  }
  assert.deepEqual(fake.requests, []);
});

test("cancelling while a grants request is in flight ends the batch at once, and nothing more is asked for", async () => {
  const unhandled: unknown[] = [];
  const onUnhandled = (reason: unknown) => void unhandled.push(reason);
  process.on("unhandledRejection", onUnhandled);
  try {
    const session = fake.newSession();
    fake.script("grants", "hang");
    const hashed: number[] = [];
    const hashing = client({ sha256: async (bytes) => (hashed.push(bytes[0]!), b64sha(bytes)) });
    const controller = new AbortController();
    // Four workers, two halves ahead: two of the workers wait for halves not yet asked for.
    const batch = hashing.uploadWindows(session, audioWindows(12), { concurrency: 4, prefetch: 2, signal: controller.signal });
    await until(() => fake.of("grants").length === 1);
    controller.abort(new Error("user left"));
    await assert.rejects(batch, CancelledError);

    const sent = fake.requests.length;
    await pause(50);
    assert.equal(fake.requests.length, sent, "nothing sent after the cancel");
    assert.deepEqual(fake.requests.map((r) => r.route), ["status", "grants"]);
    assert.deepEqual(hashed, [0, 1], "nothing more read ahead after the cancel");
    assert.deepEqual(unhandled, []);
  } finally {
    process.off("unhandledRejection", onUnhandled);
  }
});

test("cancelling during a PUT stops the prefetch too", async () => {
  const session = fake.newSession();
  fake.script("put", "hang", "hang");
  const controller = new AbortController();
  const batch = client().uploadWindows(session, audioWindows(12), {
    concurrency: 2,
    prefetch: 4,
    signal: controller.signal,
    onProgress: (p) => p.step.phase === "uploading" && controller.abort(),
  });
  await assert.rejects(batch, CancelledError);

  const sent = fake.requests.length;
  await pause(50);
  assert.equal(fake.requests.length, sent, "nothing sent after the cancel");
  assert.equal(fake.batches().length, 1, "the grants were asked for ahead, once");
  assert.ok(fake.issued.length <= 4, `no more than prefetch granted: ${fake.issued.length}`);
});

test("the first halves are hashed while the status is on its way, and no body twice", async () => {
  const session = fake.newSession([0]);
  const events: string[] = [];
  let hashing!: () => void;
  const hashed = new Promise<void>((resolve) => (hashing = resolve));
  // The status answers once a body is being hashed (or after 2 s, too late for the test).
  fake.hold("status", async () => {
    await Promise.race([hashed, pause(2000)]);
    events.push("status answered");
  });
  const sha256 = async (bytes: Uint8Array) => {
    events.push(`window ${bytes[0]}`);
    hashing();
    return b64sha(bytes);
  };

  const result = await client({ sha256 }).uploadWindows(session, audioWindows(6), { concurrency: 2 });

  assert.deepEqual([result.uploaded, result.skipped, [...result.failed.keys()]], [[1, 2, 3, 4, 5], [0], []]);
  assert.equal(events[0], "window 0"); // hashed in upload order, recorded or not
  assert.ok(events.includes("status answered"));
  const counts = new Map<string, number>();
  for (const event of events.filter((e) => e !== "status answered" && e !== "window 0")) counts.set(event, (counts.get(event) ?? 0) + 1);
  assert.deepEqual(Object.fromEntries(counts), Object.fromEntries([1, 2, 3, 4, 5].map((w) => [`window ${w}`, 1])));
  // Each grant asked for, in a grants request or on the half's own route, carries its body's SHA-256.
  const body = (r: { body: Uint8Array }) => JSON.parse(new TextDecoder().decode(r.body));
  const sent = [
    ...fake.of("grants").flatMap((r) => (body(r) as { uploads: { windowIndex: number; sha256: string }[] }).uploads),
    ...fake.of("grant").map((r) => ({ windowIndex: Number(r.url.searchParams.get("windowIndex")), sha256: body(r).sha256 })),
  ];
  const expected = [1, 2, 3, 4, 5].map((w) => [w, b64sha(audio(w))]);
  assert.deepEqual(Object.fromEntries(sent.map((u) => [u.windowIndex, u.sha256])), Object.fromEntries(expected));
});
