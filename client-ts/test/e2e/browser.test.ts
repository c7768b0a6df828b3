/** The example page in Debian's Chromium (headless, driven by playwright-core), loaded from the local stack's own
 * origin: it uploads a session through the presign gate with CORS and the session ends ready; and when the bucket's
 * CORS rules do not allow a header the grant binds, the preflight is refused and the upload fails with a clear
 * error, not a hang. */

import assert from "node:assert/strict";
import { existsSync } from "node:fs";
import { after, before, test as nodeTest } from "node:test";

import { type Browser, chromium, type Page } from "playwright-core";

import { PACKAGE_DIR, Stack } from "../support/stack.js";

const CHROMIUM = process.env["CHROMIUM_PATH"] ?? "/usr/bin/chromium";

let stack: Stack;
let browser: Browser;

// Bounded: a stuck browser or stack fails the run instead of hanging it.
const LIMIT = { timeout: 120_000 };
const test = (name: string, fn: () => Promise<void>) => nodeTest(name, LIMIT, fn);

before(async () => {
  if (!existsSync(CHROMIUM)) {
    throw new Error(`no Chromium at ${CHROMIUM}: install Debian's (apt-get install -y chromium) or set CHROMIUM_PATH`);
  }
  stack = await Stack.start({ staticDir: PACKAGE_DIR });
  browser = await chromium.launch({
    executablePath: CHROMIUM,
    headless: true,
    chromiumSandbox: false, // --no-sandbox: root in a container
    timeout: 60_000,
    args: [
      "--disable-gpu",
      "--disable-background-networking",
      "--disable-quic",
      "--no-first-run",
      "--disable-component-update",
      "--disable-sync",
    ],
  });
}, LIMIT);

after(async () => {
  await browser?.close();
  await stack?.stop();
}, LIMIT);

interface Outcome {
  sessionId: string | null;
  uploaded: number[];
  etags: (string | null)[];
  status: string | null;
  error: string | null;
}

/** Opens the example page with these query parameters (autostarted) and returns its outcome and console. */
async function runPage(query: Record<string, string>): Promise<{ outcome: Outcome; console: string[]; page: Page }> {
  const { pageUrl, apiUrl, token } = stack.endpoints;
  const page = await browser.newPage();
  const messages: string[] = [];
  page.on("console", (message) => messages.push(message.text()));
  page.on("pageerror", (error) => messages.push(`pageerror: ${error.message}`));
  const params = new URLSearchParams({ api: apiUrl, token, autostart: "1", ...query });
  await page.goto(`${pageUrl}/example/index.html?${params}`);
  await page.waitForFunction(() => (window as { uploadOutcome?: unknown }).uploadOutcome !== undefined, null, {
    timeout: 60_000,
  });
  const outcome = await page.evaluate(() => (window as unknown as { uploadOutcome: Outcome }).uploadOutcome);
  return { outcome, console: messages, page };
}

test("the page uploads a session of six windows through the gate with CORS, and it ends ready", async () => {
  const { pageUrl, apiUrl, s3Endpoint } = stack.endpoints;
  assert.notEqual(new URL(pageUrl!).origin, new URL(apiUrl).origin, "the API is another origin: CORS is exercised");
  assert.notEqual(new URL(pageUrl!).origin, new URL(s3Endpoint).origin, "storage is another origin too");

  const { outcome, console, page } = await runPage({ windows: "6", seconds: "0.5" });
  assert.equal(outcome.error, null, console.join("\n"));
  assert.equal(outcome.status, "ready");
  assert.match(outcome.sessionId ?? "", /^[0-9a-f-]{36}$/);
  assert.deepEqual(outcome.uploaded, [0, 1, 2, 3, 4, 5]);
  for (const etag of outcome.etags) assert.match(etag ?? "", /^"[0-9a-f]{32}"$/, "the bucket's CORS exposes ETag");
  assert.equal(await page.textContent("#state"), "ready");
  assert.equal(await page.getAttribute("#progress", "value"), "1");
  await page.close();
});

test("a header the bucket's CORS does not allow: the preflight is refused and the upload fails clearly", async () => {
  const rules = await stack.bucketCors();
  const withoutChecksum = rules.map((rule) => ({
    ...rule,
    AllowedHeaders: (rule.AllowedHeaders ?? []).filter((h) => h !== "x-amz-checksum-sha256"),
  }));
  await stack.setBucketCors(withoutChecksum);
  try {
    // What Chromium's preflight asks, answered as S3 answers it.
    const { pageUrl, s3Endpoint, bucket } = stack.endpoints;
    const preflight = await fetch(`${s3Endpoint}/${bucket}/sessions/x/window_000/audio.wav`, {
      method: "OPTIONS",
      headers: {
        Origin: pageUrl!,
        "Access-Control-Request-Method": "PUT",
        "Access-Control-Request-Headers": "content-type,x-amz-checksum-sha256",
      },
    });
    assert.equal(preflight.status, 403);
    assert.match(await preflight.text(), /<Code>AccessForbidden<\/Code><Message>CORSResponse: This CORS request is not allowed/);

    const started = Date.now();
    const { outcome, console, page } = await runPage({ windows: "1", retries: "1", backoffMs: "20" });
    assert.equal(outcome.status, null);
    assert.match(
      outcome.error ?? "",
      /^window 0: upload to storage failed \(TypeError: Failed to fetch\): .*CORS rules refused this origin or a header it sends \(content-type, if-none-match, x-amz-checksum-sha256\) after 2 attempts$/,
    );
    assert.ok(Date.now() - started < 30_000, "it failed, it did not hang");
    assert.ok(
      console.some((line) => line.includes("blocked by CORS policy")),
      `Chromium reports the refused preflight:\n${console.join("\n")}`,
    );
    assert.equal(await page.textContent("#state"), "failed");
    await page.close();
  } finally {
    await stack.setBucketCors(rules);
  }
});
