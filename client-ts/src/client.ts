/**
 * UploadClient: sessions and window uploads against the session API, each upload a presigned PUT straight to S3.
 * The semantics are the Python client's (client/uploader.py): a fresh grant per attempt, exactly the granted headers,
 * a PUT timeout, retries with exponential backoff and full jitter on network errors, 5xx, 429 and expired URLs, and
 * any other 4xx failing at once with an error naming the window and the server's message. uploadWindows asks for its
 * grants ahead of the PUTs, several halves a request (prefetch.ts).
 */

import { type Body, type Sha256, bytesOf, sizeOf, webCryptoSha256 } from "./body.js";
import {
  type CaptureMode,
  type Grants,
  type Half,
  type HalfRecord,
  type SessionCreated,
  type SessionState,
  type SessionStatus,
  type UploadGrant,
  type WindowDetail,
  type WindowsPage,
  inRanges,
} from "./contract.js";
import { ApiError, CancelledError, ClientError, halfName, UploadError, UsageError } from "./errors.js";
import { describe, errorDetail, exchange, sleep as cancellableSleep } from "./http.js";
import { GrantPrefetch } from "./prefetch.js";
import { Backoff, type BackoffOptions, isExpired, isTransient } from "./retry.js";

export interface UploadClientOptions {
  /** The API's base URL (the stack output `apiUrl`). */
  apiUrl: string;
  /** The bearer token, or a function returning the current one (asked before every API request, so a refreshed
   * token is used as soon as the app has it). Never sent to storage. */
  token: string | (() => string | Promise<string>);
  /** A `fetch` (default: the global one). React Native, browsers and Node 18+ all have one. */
  fetch?: typeof fetch;
  /** How long one PUT may take, body and answer included, in ms (default 60,000: the old app's AbortController). */
  putTimeoutMs?: number;
  /** How long one API request may take, in ms (default 30,000). */
  apiTimeoutMs?: number;
  /** Retries after the first attempt of an upload or a repeatable API request (default 5). */
  retries?: number;
  backoff?: Backoff | BackoffOptions;
  /** Ask S3 to verify each body's SHA-256 (default true): the grant binds x-amz-checksum-sha256. */
  sendSha256?: boolean;
  /** Computes the base64 SHA-256 (default: WebCrypto). Node 18 has no global WebCrypto: pass one built on node:crypto. */
  sha256?: Sha256;
  /** How the client waits between attempts (tests replace it). */
  sleep?: (ms: number, signal?: AbortSignal) => Promise<void>;
  /** A grant asked for ahead of its PUT (uploadWindows' prefetch) whose URL has less than this to live when its PUT
   * is due (at most half the URL's life) is asked for again, in ms (default 30,000). */
  grantMarginMs?: number;
  /** The client's clock, in ms (default Date.now; tests replace it). */
  clock?: () => number;
}

/** A window's media: its audio, and for an audio_video session its frames bundle (a ZIP, one entry per frame). */
export interface WindowMedia {
  audio: Body;
  frames?: { body: Body; frameCount: number };
}

/** What one half's upload did. */
export interface HalfUploadResult {
  half: Half;
  s3Key: string | null;
  sizeBytes: number;
  attempts: number;
  /** The stored object's ETag, when storage exposes it (a browser reads it only if the bucket's CORS exposes it). */
  etag: string | null;
  /** Nothing was sent because the window's half was already there: a write-once grant was refused (409) with the
   * half recorded, or the PUT found the object stored (412, e.g. by an attempt whose answer was lost). */
  alreadyStored: boolean;
}

export interface WindowUploadResult {
  windowIndex: number;
  audio: HalfUploadResult;
  frames?: HalfUploadResult;
}

/** A step of one half's upload. `sentBytes` is 0 until the PUT's answer, then the size: fetch reports no upload
 * progress, and a window (about 2 MB) is the unit a session's progress is counted in. */
export interface UploadProgress {
  sessionId: string;
  windowIndex: number;
  half: Half;
  phase: "granting" | "uploading" | "uploaded" | "retrying" | "failed";
  attempt: number;
  sentBytes: number;
  totalBytes: number;
  /** For "retrying": the delay before the next attempt, and what failed. */
  retryInMs?: number;
  reason?: string;
}

export interface CallOptions {
  signal?: AbortSignal;
}

export interface UploadOptions extends CallOptions {
  onProgress?: (progress: UploadProgress) => void;
}

/** Progress of a batch: bytes of finished halves over all bytes, and the step that moved it. */
export interface BatchProgress {
  sentBytes: number;
  totalBytes: number;
  windowsDone: number;
  windowsTotal: number;
  step: UploadProgress;
}

export interface BatchOptions extends CallOptions {
  /** How many windows upload at once (default 4). */
  concurrency?: number;
  /** Skip windows the session already reports recorded (default true). */
  skipRecorded?: boolean;
  /** How many halves' grants may be asked for ahead of their PUTs, several a request (default twice `concurrency`):
   * also how many halves are read (hashed) ahead. 0 asks for each grant on its half's own route just before its PUT. */
  prefetch?: number;
  onProgress?: (progress: BatchProgress) => void;
}

export interface BatchResult {
  uploaded: number[];
  /** What each uploaded window's upload did (keys, ETags, attempts). */
  results: Map<number, WindowUploadResult>;
  skipped: number[];
  /** A window → its error; one window failing does not stop the others. */
  failed: Map<number, UploadError>;
  readonly ok: boolean;
}

/** One half of a window to upload, as the caller gave it. */
interface HalfMedia {
  windowIndex: number;
  half: Half;
  body: Body;
  frameCount?: number;
}

/** A half ready to be granted: its size, and the body of the grant request that asks for its URL (size, frame count,
 * SHA-256). */
interface PreparedHalf extends HalfMedia {
  sessionId: string;
  size: number;
  request: Record<string, unknown>;
}

/** The API's grant, when it was asked for (the client's clock) and how many ms its URL lives (`expiresIn`; forever
 * when the API did not say). */
interface Granted {
  grant: UploadGrant;
  askedAt: number;
  lifetimeMs: number;
}

/** What a grant request gave one half: its grant, or the failure its own route would have answered. */
type GrantOutcome = Granted | Attempt;

/** A half about to be uploaded, and its grant request's outcome when that was asked for ahead of time. */
type Ready = { prepared: PreparedHalf; granted?: GrantOutcome };

/** One attempt failed; `transient` says whether a fresh attempt may succeed. */
class Attempt extends Error {
  constructor(
    readonly detail: string,
    readonly status: number | null,
    readonly transient: boolean,
    readonly code: string | null = null,
  ) {
    super(detail);
  }
}

const ERROR_BODY_PREVIEW = 200;

export class UploadClient {
  readonly apiUrl: string;
  readonly putTimeoutMs: number;
  readonly apiTimeoutMs: number;
  readonly retries: number;
  readonly backoff: Backoff;
  readonly sendSha256: boolean;
  readonly grantMarginMs: number;
  private readonly clock: () => number;
  private readonly token: () => string | Promise<string>;
  private readonly fetchImpl: typeof fetch;
  private readonly sha256: Sha256;
  private readonly sleep: (ms: number, signal?: AbortSignal) => Promise<void>;

  constructor(options: UploadClientOptions) {
    if (!options.apiUrl) throw new UsageError("apiUrl is required");
    const retries = options.retries ?? 5;
    if (!Number.isInteger(retries) || retries < 0) throw new UsageError("retries must be an integer, 0 or more");
    const grantMarginMs = options.grantMarginMs ?? 30_000;
    if (!(grantMarginMs >= 0)) throw new UsageError("grantMarginMs must be 0 or more");
    const fetchImpl = options.fetch ?? (typeof fetch === "function" ? fetch.bind(globalThis) : undefined);
    if (!fetchImpl) throw new UsageError("no fetch here: pass the `fetch` option");
    const token = options.token;
    this.apiUrl = options.apiUrl.replace(/\/+$/, "");
    this.token = typeof token === "function" ? token : () => token;
    this.fetchImpl = fetchImpl;
    this.putTimeoutMs = options.putTimeoutMs ?? 60_000;
    this.apiTimeoutMs = options.apiTimeoutMs ?? 30_000;
    this.retries = retries;
    this.backoff = options.backoff instanceof Backoff ? options.backoff : new Backoff(options.backoff);
    this.sendSha256 = options.sendSha256 ?? true;
    this.sha256 = options.sha256 ?? webCryptoSha256;
    this.sleep = options.sleep ?? cancellableSleep;
    this.grantMarginMs = grantMarginMs;
    this.clock = options.clock ?? Date.now;
  }

  // -- the API ---------------------------------------------------------------------------------------------------

  /** POST /sessions. Not retried: a lost answer after the session was created would create a second one. */
  createSession(captureMode: CaptureMode = "audio_only", options: CallOptions = {}): Promise<SessionCreated> {
    return this.call("create session", "POST", "/sessions", { captureMode }, { ...options, retry: false });
  }

  /** GET /sessions/{id}: counts and window ranges. */
  status(sessionId: string, options: CallOptions = {}): Promise<SessionStatus> {
    return this.call(`status of session ${sessionId}`, "GET", `/sessions/${encodeURIComponent(sessionId)}`, undefined, options);
  }

  /** GET /sessions/{id}/windows: one page of per-window detail, in window order. */
  windows(sessionId: string, page: { from?: number; limit?: number } = {}, options: CallOptions = {}): Promise<WindowsPage> {
    const query = new URLSearchParams();
    if (page.from !== undefined) query.set("from", String(page.from));
    if (page.limit !== undefined) query.set("limit", String(page.limit));
    const suffix = query.toString() ? `?${query}` : "";
    return this.call(
      `windows of session ${sessionId}`,
      "GET",
      `/sessions/${encodeURIComponent(sessionId)}/windows${suffix}`,
      undefined,
      options,
    );
  }

  /** Every window's detail, page after page. */
  async *allWindows(sessionId: string, options: CallOptions & { pageSize?: number } = {}): AsyncGenerator<WindowDetail> {
    let from: number | null = 0;
    while (from !== null) {
      const page: WindowsPage = await this.windows(sessionId, { from, limit: options.pageSize ?? 1000 }, options);
      yield* page.windows;
      from = page.next;
    }
  }

  /**
   * POST /sessions/{id}/complete: the session becomes ready once windows 0..expected-1 are all recorded.
   * Safe to repeat. A retry whose first attempt took effect (its answer lost) meets a 409; when the session did end
   * with this very count, that is the completion asked for, and its status is returned instead of the 409.
   */
  async complete(sessionId: string, expectedWindowCount: number, options: CallOptions = {}): Promise<SessionStatus> {
    const path = `/sessions/${encodeURIComponent(sessionId)}/complete`;
    try {
      return await this.call(`complete session ${sessionId}`, "POST", path, { expectedWindowCount }, options);
    } catch (error) {
      if (!(error instanceof ApiError) || error.status !== 409) throw error;
      const status = await this.status(sessionId, options);
      if (status.expectedWindowCount !== expectedWindowCount || !["ready", "incomplete"].includes(status.status)) throw error;
      return status;
    }
  }

  /** Polls the status until it is one of `until` (default ready or incomplete). */
  async waitForStatus(
    sessionId: string,
    options: CallOptions & { until?: SessionState[]; intervalMs?: number; timeoutMs?: number } = {},
  ): Promise<SessionStatus> {
    const until = options.until ?? ["ready", "incomplete"];
    const deadline = Date.now() + (options.timeoutMs ?? 120_000);
    for (;;) {
      const status = await this.status(sessionId, options);
      if (until.includes(status.status)) return status;
      if (Date.now() >= deadline) {
        throw new ApiError(`wait for session ${sessionId}`, `still ${status.status}, not ${until.join(" or ")}`);
      }
      await this.sleep(options.intervalMs ?? 1000, options.signal);
    }
  }

  private async call<T>(
    operation: string,
    method: string,
    path: string,
    body: unknown,
    options: CallOptions & { retry?: boolean },
  ): Promise<T> {
    const retry = options.retry ?? true;
    for (let attempt = 0; ; attempt++) {
      try {
        return (await this.api(method, path, body, options.signal, operation)) as T;
      } catch (failure) {
        if (!(failure instanceof Attempt)) throw failure;
        // Only requests that are safe to repeat are retried, and only for failures that may pass.
        if (!(retry && failure.transient) || attempt >= this.retries) {
          throw new ApiError(operation, failure.detail, { status: failure.status, transient: failure.transient });
        }
        await this.wait(this.backoff.delayMs(attempt), options.signal, operation);
      }
    }
  }

  /** One API request; throws Attempt on any failure, with the server's message. */
  private async api(method: string, path: string, body: unknown, signal: AbortSignal | undefined, what: string): Promise<unknown> {
    const headers: Record<string, string> = { Authorization: `Bearer ${await this.token()}` };
    const init: RequestInit = { method, headers, credentials: "omit", cache: "no-store" };
    if (body !== undefined) {
      headers["Content-Type"] = "application/json";
      init.body = JSON.stringify(body);
    }
    const answer = await exchange(this.fetchImpl, this.apiUrl + path, init, this.apiTimeoutMs, signal, what);
    if (!("response" in answer)) {
      if (answer.kind === "timeout") {
        throw new Attempt(`cannot reach the API at ${this.apiUrl} (no answer within ${answer.seconds} s)`, null, true);
      }
      throw new Attempt(`cannot reach the API at ${this.apiUrl} (${describe(answer.error)})${corsHint("the API's CORS settings")}`, null, true);
    }
    const { response, text } = answer;
    if (!response.ok) {
      const { code, message } = errorDetail(response.status, response.statusText, text);
      throw new Attempt(message, response.status, isTransient(response.status, code, message), code);
    }
    let data: unknown;
    try {
      data = JSON.parse(text);
    } catch {
      data = undefined;
    }
    if (!data || typeof data !== "object" || Array.isArray(data)) {
      throw new Attempt(
        `the API answered with something other than a JSON object: ${text.slice(0, ERROR_BODY_PREVIEW)}`,
        response.status,
        false,
      );
    }
    return data;
  }

  // -- uploads ---------------------------------------------------------------------------------------------------

  /**
   * Upload one window: its audio, then (audio_video) its frames. Each half asks for a fresh grant on every attempt,
   * so an expired URL is cured by the retry. Throws UploadError (naming the window) or CancelledError.
   */
  async uploadWindow(
    sessionId: string,
    windowIndex: number,
    media: Body | WindowMedia,
    options: UploadOptions = {},
  ): Promise<WindowUploadResult> {
    return this.sendWindow(halvesOf(windowIndex, media), (half) => this.prepareOnly(sessionId, half), options);
  }

  /** A window's halves, in order, each taken from `take` (prepared, its grant perhaps asked for ahead) and uploaded. */
  private async sendWindow(
    halves: HalfMedia[],
    take: (half: HalfMedia) => Promise<Ready>,
    options: UploadOptions,
  ): Promise<WindowUploadResult> {
    const results: Partial<Record<Half, HalfUploadResult>> = {};
    for (const half of halves) {
      const { prepared, granted } = await take(half);
      results[half.half] = await this.uploadHalf(prepared, options, granted);
    }
    const result: WindowUploadResult = { windowIndex: halves[0]!.windowIndex, audio: results.audio! };
    if (results.frames) result.frames = results.frames;
    return result;
  }

  /** A half ready to be granted, its grant not asked for: its first attempt asks just before its PUT. */
  private async prepareOnly(sessionId: string, half: HalfMedia): Promise<Ready> {
    return { prepared: await this.prepare(sessionId, half) };
  }

  /** A half ready to be granted: its size, frame count and SHA-256 read (`early`: read ahead, null when it was not).
   * UsageError for bad input, before anything is sent. */
  private async prepare(sessionId: string, media: HalfMedia, early?: Promise<string | null>): Promise<PreparedHalf> {
    const { windowIndex, half, body, frameCount } = media;
    if (half === "frames" && !(Number.isInteger(frameCount) && frameCount! >= 1)) {
      throw new UsageError(`window ${windowIndex}: frameCount must be a positive integer`);
    }
    const size = sizeOf(body);
    const request: Record<string, unknown> = half === "frames" ? { sizeBytes: size, frameCount } : { sizeBytes: size };
    if (this.sendSha256) request["sha256"] = (await early) ?? (await this.sha256(await bytesOf(body)));
    return { ...media, sessionId, size, request };
  }

  /** One grant request on the half's own route (POST /sessions/{id}/audio or /frames); throws Attempt. */
  private async grant(upload: PreparedHalf, signal: AbortSignal | undefined): Promise<Granted> {
    const { sessionId, windowIndex, half } = upload;
    const path = `/sessions/${encodeURIComponent(sessionId)}/${half}?windowIndex=${windowIndex}`;
    const askedAt = this.clock();
    const grant = (await this.api("POST", path, upload.request, signal, halfName(windowIndex, half))) as UploadGrant;
    return granted(grant, askedAt);
  }

  private async grantOrRefusal(upload: PreparedHalf, signal: AbortSignal | undefined): Promise<GrantOutcome> {
    try {
      return await this.grant(upload, signal);
    } catch (failure) {
      if (failure instanceof Attempt) return failure;
      throw failure;
    }
  }

  /**
   * The grants of several halves of one session, in their order, asked for in one request (POST /sessions/{id}/grants):
   * each its grant, or the Attempt its own route would have thrown (a 409 for a half already recorded). When the
   * request fails for good (a 400, 404, 409; or a deployment without the route), each half is asked for on its own
   * route, so that each gets its own answer; when it may pass (a network error, 5xx, 429), that failure is each
   * half's first attempt.
   */
  private async grants(halves: PreparedHalf[], signal: AbortSignal | undefined): Promise<GrantOutcome[]> {
    if (halves.length === 1) return [await this.grantOrRefusal(halves[0]!, signal)];
    const sessionId = halves[0]!.sessionId;
    const uploads = halves.map(({ half, windowIndex, request }) => ({ half, windowIndex, ...request }));
    const askedAt = this.clock();
    let answer: Grants;
    try {
      const path = `/sessions/${encodeURIComponent(sessionId)}/grants`;
      answer = (await this.api("POST", path, { uploads }, signal, `grants of session ${sessionId}`)) as Grants;
    } catch (failure) {
      if (!(failure instanceof Attempt)) throw failure;
      if (failure.transient) return halves.map(() => failure);
      const outcomes: GrantOutcome[] = [];
      for (const upload of halves) outcomes.push(await this.grantOrRefusal(upload, signal));
      return outcomes;
    }
    const outcomes = new Map<string, GrantOutcome>();
    for (const grant of Array.isArray(answer.grants) ? answer.grants : []) {
      outcomes.set(`${grant?.windowIndex}/${grant?.half}`, granted(grant, askedAt));
    }
    for (const refused of Array.isArray(answer.refused) ? answer.refused : []) {
      // Exactly what the half's own route answers: a 409, resolved as write-once.
      const conflict = new Attempt(String(refused?.error ?? "already recorded"), 409, false);
      outcomes.set(`${refused?.windowIndex}/${refused?.half}`, conflict);
    }
    const missing = new Attempt("the API's grants answer left this half out", null, true);
    return halves.map(({ windowIndex, half }) => outcomes.get(`${windowIndex}/${half}`) ?? missing);
  }

  /**
   * Grant and PUT one half, with retries. `prefetched`: the outcome of the first attempt's grant request, asked for
   * ahead of time (by uploadWindows' prefetch): used when its URL still has `grantMarginMs` to live, else asked for
   * again; a URL that S3 refuses as expired all the same is asked for again once, at once, without spending a retry.
   */
  private async uploadHalf(
    upload: PreparedHalf,
    options: UploadOptions,
    prefetched?: GrantOutcome,
  ): Promise<HalfUploadResult> {
    const { sessionId, windowIndex, half, body, size, request } = upload;
    const what = halfName(windowIndex, half);
    const report = (phase: UploadProgress["phase"], attempt: number, more: Partial<UploadProgress> = {}) =>
      options.onProgress?.({ sessionId, windowIndex, half, phase, attempt, sentBytes: 0, totalBytes: size, ...more });

    for (let attempt = 0, retry = 0; ; attempt++) {
      const result = { half, s3Key: null as string | null, sizeBytes: size, attempts: attempt + 1, etag: null as string | null };
      let ahead = false; // this attempt PUTs to a URL granted ahead of time
      try {
        report("granting", attempt + 1);
        let grant: UploadGrant;
        try {
          const taken = prefetched;
          prefetched = undefined;
          if (taken instanceof Attempt) throw taken; // the first attempt's grant request failed ahead of time
          ahead = taken !== undefined && usable(taken, this.clock(), this.grantMarginMs);
          grant = ahead ? taken!.grant : (await this.grant(upload, options.signal)).grant;
        } catch (refused) {
          // A write-once grant refused because this half is already recorded: the upload asked for has happened.
          if (refused instanceof Attempt && refused.status === 409) {
            const recorded = await this.recordedHalf(sessionId, windowIndex, half, options.signal);
            if (recorded === null) throw refused; // not write-once: the session's state refuses the grant
            writeOnce(recorded, size, request["sha256"], half, 409);
            report("uploaded", attempt + 1, { sentBytes: size });
            return { ...result, alreadyStored: true };
          }
          throw refused;
        }
        result.s3Key = typeof grant.s3Key === "string" ? grant.s3Key : null;
        report("uploading", attempt + 1);
        const put = await this.put(grant, body, size, options.signal, what);
        if (put.alreadyStored) {
          // S3 holds an object at the key (If-None-Match: * met it): these bytes, or another writer's?
          const recorded = await this.recordedHalf(sessionId, windowIndex, half, options.signal);
          if (recorded === null && retry === 0) {
            // Stored, not recorded yet, and no earlier attempt of ours could have stored it: ask again once its
            // event is handled (or, if it fails validation, once it is moved out of the way, freeing the key).
            throw new Attempt(`the window's ${half} is stored but not recorded yet`, 412, true);
          }
          // Recorded: compare. Not recorded after an attempt of ours whose answer was lost: most likely ours.
          if (recorded !== null) writeOnce(recorded, size, request["sha256"], half, 412);
        }
        report("uploaded", attempt + 1, { sentBytes: size });
        return { ...result, etag: put.etag, alreadyStored: put.alreadyStored };
      } catch (failure) {
        if (!(failure instanceof Attempt)) {
          if (!(failure instanceof CancelledError)) report("failed", attempt + 1, { reason: describe(failure) });
          throw failure;
        }
        // It expired while waiting its turn (or the clocks disagree): not a failure of the upload.
        if (ahead && isExpired(failure.status, failure.code, failure.detail)) continue;
        if (!failure.transient || retry >= this.retries) {
          report("failed", attempt + 1, { reason: failure.detail });
          throw new UploadError(windowIndex, failure.detail, {
            half,
            status: failure.status,
            attempts: attempt + 1,
            transient: failure.transient,
          });
        }
        const delay = this.backoff.delayMs(retry++);
        report("retrying", attempt + 1, { retryInMs: delay, reason: failure.detail });
        await this.wait(delay, options.signal, what);
      }
    }
  }

  /** PUT the body to the granted URL with exactly the granted headers; throws Attempt on failure. */
  private async put(
    grant: UploadGrant,
    body: Body,
    size: number,
    signal: AbortSignal | undefined,
    what: string,
  ): Promise<{ etag: string | null; alreadyStored: boolean }> {
    if (!grant || typeof grant.url !== "string" || !grant.headers || typeof grant.headers !== "object") {
      throw new Attempt("the API's upload grant has no url or headers", null, false);
    }
    // Exactly the granted headers: the URL's signature covers them, and nothing else is ours to add. Except
    // Content-Length, which fetch derives from the body (browsers refuse to let a page set it): the body must have
    // exactly the granted length, or the signature would not match.
    const headers: Record<string, string> = {};
    for (const [name, value] of Object.entries(grant.headers)) {
      if (name.toLowerCase() === "content-length") {
        if (Number(value) !== size) throw new Attempt(`the grant is for ${value} bytes, the body has ${size}`, null, false);
        continue;
      }
      headers[name] = String(value);
    }
    const init: RequestInit = {
      method: "PUT",
      headers,
      body: body as BodyInit,
      credentials: "omit", // never the page's cookies, never the bearer token: the URL is the authorization
      cache: "no-store",
    };
    const answer = await exchange(this.fetchImpl, grant.url, init, this.putTimeoutMs, signal, what);
    if (!("response" in answer)) {
      if (answer.kind === "timeout") throw new Attempt(`upload to storage timed out after ${answer.seconds} s`, null, true);
      const sent = Object.keys(headers).map((h) => h.toLowerCase()).sort().join(", ");
      throw new Attempt(
        `upload to storage failed (${describe(answer.error)})${corsHint(`the bucket's CORS rules`, ` or a header it sends (${sent})`)}`,
        null,
        true,
      );
    }
    const { response, text } = answer;
    if (response.ok) return { etag: response.headers.get("ETag"), alreadyStored: false };
    const { code, message } = errorDetail(response.status, response.statusText, text);
    // If-None-Match: * met an existing object: this half is already stored (by an earlier attempt whose answer
    // was lost, or an earlier run): nothing more to send.
    if (response.status === 412 && (code === "PreconditionFailed" || code === null)) return { etag: null, alreadyStored: true };
    throw new Attempt(message, response.status, isTransient(response.status, code, message), code);
  }

  /** The backend's record of this half of the window (GET /sessions/{id}/windows); null while it has none. A failed
   * read throws, as any call: the attempt is retried as its status says. */
  private async recordedHalf(sessionId: string, windowIndex: number, half: Half, signal?: AbortSignal): Promise<HalfRecord | null> {
    const path = `/sessions/${encodeURIComponent(sessionId)}/windows?from=${windowIndex}&limit=1`;
    const page = (await this.api("GET", path, undefined, signal, `window ${windowIndex}`)) as WindowsPage;
    const detail = page.windows?.[0];
    if (detail?.windowIndex !== windowIndex) return null;
    const record = detail[half];
    return record !== null && typeof record === "object" ? record : null;
  }

  /**
   * Upload many windows, `concurrency` at a time, skipping those the session already reports recorded. One window
   * failing does not stop the others: its error is in the result's `failed`. Cancelling stops them all. The grants are
   * asked for ahead of the PUTs, in upload order, several halves a request (`prefetch`).
   */
  async uploadWindows(
    sessionId: string,
    windows: Iterable<[number, Body | WindowMedia]> | Map<number, Body | WindowMedia>,
    options: BatchOptions = {},
  ): Promise<BatchResult> {
    // Twice the PUTs in flight: a grants request waits for half the places to be free, and the other half keeps the
    // workers going for its round trip, which under load is about as long as a PUT's.
    const prefetch = options.prefetch ?? 2 * Math.max(1, options.concurrency ?? 4);
    if (!Number.isInteger(prefetch) || prefetch < 0) throw new UsageError("prefetch must be an integer, 0 or more");
    const all = [...windows].sort(([a], [b]) => a - b);
    const skipped: number[] = [];
    let todo = all;
    let hashed = new Map<Body, Promise<string | null>>();
    if (options.skipRecorded ?? true) {
      const answered = this.status(sessionId, options);
      if (prefetch > 0 && this.sendSha256) {
        const first = all.flatMap(([index, media]) => halvesOf(index, media)).slice(0, prefetch);
        hashed = hashUntil(answered, first.map(({ body }) => body), this.sha256);
      }
      const status = await answered;
      todo = all.filter(([index]) => !inRanges(status.recordedWindows, index));
      skipped.push(...all.filter(([index]) => inRanges(status.recordedWindows, index)).map(([index]) => index));
    }
    const halves = new Map(todo.map(([index, media]) => [index, halvesOf(index, media)]));
    const progress = batchProgress([...halves.values()], options.onProgress);
    const uploaded: number[] = [];
    const results = new Map<number, WindowUploadResult>();
    const failed = new Map<number, UploadError>();
    const grants =
      prefetch > 0 && todo.length > 0
        ? new GrantPrefetch(
            [...halves.values()].flat(),
            prefetch,
            (half) => this.prepare(sessionId, half, hashed.get(half.body)),
            (prepared) => this.grants(prepared, options.signal),
            options.signal,
          )
        : null;
    const take = (half: HalfMedia): Promise<Ready> => (grants ? grants.take(half) : this.prepareOnly(sessionId, half));
    let next = 0;
    let cancelled: CancelledError | null = null;
    const worker = async () => {
      while (next < todo.length && !cancelled) {
        const [index] = todo[next++]!;
        const windowHalves = halves.get(index)!;
        try {
          const onProgress = progress(windowHalves);
          results.set(index, await this.sendWindow(windowHalves, take, { signal: options.signal, onProgress }));
          uploaded.push(index);
        } catch (error) {
          if (error instanceof CancelledError) {
            cancelled = error;
          } else if (error instanceof UploadError) {
            failed.set(index, error);
          } else if (error instanceof ClientError) {
            failed.set(index, new UploadError(index, error.message));
          } else {
            throw error;
          }
        } finally {
          grants?.drop(index); // a window that failed sends no more halves: their grants are not waited for
        }
      }
    };
    const concurrency = Math.max(1, Math.min(options.concurrency ?? 4, todo.length || 1));
    try {
      await Promise.all(Array.from({ length: concurrency }, worker));
    } finally {
      await grants?.stop();
    }
    if (cancelled) throw cancelled;
    uploaded.sort((a, b) => a - b);
    return {
      uploaded,
      skipped,
      results,
      failed,
      get ok() {
        return failed.size === 0;
      },
    };
  }

  private async wait(ms: number, signal: AbortSignal | undefined, what: string): Promise<void> {
    try {
      await this.sleep(ms, signal);
    } catch (error) {
      if (signal?.aborted) throw new CancelledError(what, signal.reason);
      throw error;
    }
    if (signal?.aborted) throw new CancelledError(what, signal.reason);
  }
}

/** In a browser a request refused by CORS fails as any network error does (a TypeError): say it may be that. */
function corsHint(rules: string, more = ""): string {
  const inBrowser = typeof (globalThis as { document?: unknown }).document !== "undefined";
  return inBrowser ? `: the network failed, or ${rules} refused this origin${more}` : "";
}

/**
 * The SHA-256s of these bodies, read one after another until `answered` settles (null for those not read by then):
 * work that preparing their halves does after the answer, done while waiting for it. A body that cannot be read fails
 * in its own preparing, as it would without this.
 */
function hashUntil(answered: Promise<unknown>, bodies: Body[], sha256: Sha256): Map<Body, Promise<string | null>> {
  let settled = false;
  answered.then(
    () => void (settled = true),
    () => void (settled = true),
  );
  const hashed = new Map<Body, Promise<string | null>>();
  let previous: Promise<unknown> = Promise.resolve();
  for (const body of bodies) {
    if (hashed.has(body)) continue;
    const digest = previous.then(async () => (settled ? null : sha256(await bytesOf(body))));
    digest.catch(() => undefined); // awaited, and so reported, by the half's preparing
    hashed.set(body, digest);
    previous = digest.catch(() => null);
  }
  return hashed;
}

/** A window's halves to upload, in order: its audio, then its frames if it has them. */
function halvesOf(windowIndex: number, media: Body | WindowMedia): HalfMedia[] {
  const { audio, frames } = asMedia(media);
  const halves: HalfMedia[] = [{ windowIndex, half: "audio", body: audio }];
  if (frames) halves.push({ windowIndex, half: "frames", body: frames.body, frameCount: frames.frameCount });
  return halves;
}

/** A batch's progress: each window's steps (given to the function returned for its halves) added into the bytes of
 * the halves done and the windows done. */
function batchProgress(
  windows: HalfMedia[][],
  onProgress: BatchOptions["onProgress"],
): (halves: HalfMedia[]) => (step: UploadProgress) => void {
  const totalBytes = windows.flat().reduce((total, { body }) => total + sizeOf(body), 0);
  let sentBytes = 0;
  let windowsDone = 0;
  return (halves) => {
    const lastHalf = halves[halves.length - 1]!.half;
    return (step) => {
      if (step.phase === "uploaded") sentBytes += step.totalBytes;
      if ((step.phase === "uploaded" && step.half === lastHalf) || step.phase === "failed") windowsDone++;
      onProgress?.({ sentBytes, totalBytes, windowsDone, windowsTotal: windows.length, step });
    };
  };
}

function granted(grant: UploadGrant, askedAt: number): Granted {
  const expiresIn = grant?.expiresIn;
  const lifetimeMs = typeof expiresIn === "number" && expiresIn > 0 ? expiresIn * 1000 : Infinity;
  return { grant, askedAt, lifetimeMs };
}

/** Whether the URL still has more than `marginMs` to live (at most half its lifetime, so that a short-lived grant is
 * not stale as it arrives). Counted from the request: S3 counts from the signing, a little later, so the URL lives at
 * least this long. */
function usable({ askedAt, lifetimeMs }: Granted, now: number, marginMs: number): boolean {
  return now + Math.min(marginMs, lifetimeMs / 2) < askedAt + lifetimeMs;
}

function asMedia(media: Body | WindowMedia): WindowMedia {
  if (media && typeof media === "object" && "audio" in media && !(media instanceof ArrayBuffer) && !ArrayBuffer.isView(media)) {
    return media as WindowMedia;
  }
  return { audio: media as Body };
}

/** Throws (not retried) unless the half the backend recorded may be these bytes: by size, then by SHA-256 when S3
 * reported a checksum. Without one (no checksum stored), the same size is all there is to compare: the key being
 * write-once, an earlier attempt of ours whose answer was lost most likely stored it. */
function writeOnce(recorded: HalfRecord, size: number, sha256: unknown, half: Half, status: number): void {
  const checksum = recorded["checksumSha256"];
  const differs =
    recorded["sizeBytes"] !== size || (typeof checksum === "string" && checksum !== "" && typeof sha256 === "string" && checksum !== sha256);
  if (differs) {
    throw new Attempt(`the window's ${half} is already stored (uploads are write-once): the stored one has other content`, status, false);
  }
}
