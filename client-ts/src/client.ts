/**
 * UploadClient: sessions and window uploads against the session API, each upload a presigned PUT straight to S3.
 * The semantics are the Python client's (client/uploader.py): a fresh grant per attempt, exactly the granted headers,
 * a PUT timeout, retries with exponential backoff and full jitter on network errors, 5xx, 429 and expired URLs, and
 * any other 4xx failing at once with an error naming the window and the server's message.
 */

import { type Body, type Sha256, bytesOf, sizeOf, webCryptoSha256 } from "./body.js";
import {
  type CaptureMode,
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
import { ApiError, CancelledError, ClientError, UploadError, UsageError } from "./errors.js";
import { describe, errorDetail, exchange, sleep as cancellableSleep } from "./http.js";
import { Backoff, type BackoffOptions, isTransient } from "./retry.js";

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
  private readonly token: () => string | Promise<string>;
  private readonly fetchImpl: typeof fetch;
  private readonly sha256: Sha256;
  private readonly sleep: (ms: number, signal?: AbortSignal) => Promise<void>;

  constructor(options: UploadClientOptions) {
    if (!options.apiUrl) throw new UsageError("apiUrl is required");
    const retries = options.retries ?? 5;
    if (!Number.isInteger(retries) || retries < 0) throw new UsageError("retries must be an integer, 0 or more");
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
    const { audio, frames } = asMedia(media);
    const result: WindowUploadResult = {
      windowIndex,
      audio: await this.uploadHalf(sessionId, windowIndex, "audio", audio, {}, options),
    };
    if (frames) {
      if (!Number.isInteger(frames.frameCount) || frames.frameCount < 1) {
        throw new UsageError(`window ${windowIndex}: frameCount must be a positive integer`);
      }
      result.frames = await this.uploadHalf(sessionId, windowIndex, "frames", frames.body, { frameCount: frames.frameCount }, options);
    }
    return result;
  }

  private async uploadHalf(
    sessionId: string,
    windowIndex: number,
    half: Half,
    body: Body,
    extra: Record<string, number>,
    options: UploadOptions,
  ): Promise<HalfUploadResult> {
    const size = sizeOf(body);
    const request: Record<string, unknown> = { sizeBytes: size, ...extra };
    if (this.sendSha256) request["sha256"] = await this.sha256(await bytesOf(body));
    const path = `/sessions/${encodeURIComponent(sessionId)}/${half}?windowIndex=${windowIndex}`;
    const what = half === "audio" ? `window ${windowIndex}` : `window ${windowIndex} (frames)`;
    const report = (phase: UploadProgress["phase"], attempt: number, more: Partial<UploadProgress> = {}) =>
      options.onProgress?.({ sessionId, windowIndex, half, phase, attempt, sentBytes: 0, totalBytes: size, ...more });

    for (let attempt = 0; ; attempt++) {
      const result = { half, s3Key: null as string | null, sizeBytes: size, attempts: attempt + 1, etag: null as string | null };
      try {
        report("granting", attempt + 1);
        let grant: UploadGrant;
        try {
          grant = (await this.api("POST", path, request, options.signal, what)) as UploadGrant;
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
          if (recorded === null && attempt === 0) {
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
        if (!failure.transient || attempt >= this.retries) {
          report("failed", attempt + 1, { reason: failure.detail });
          throw new UploadError(windowIndex, failure.detail, {
            half,
            status: failure.status,
            attempts: attempt + 1,
            transient: failure.transient,
          });
        }
        const delay = this.backoff.delayMs(attempt);
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
   * failing does not stop the others: its error is in the result's `failed`. Cancelling stops them all.
   */
  async uploadWindows(
    sessionId: string,
    windows: Iterable<[number, Body | WindowMedia]> | Map<number, Body | WindowMedia>,
    options: BatchOptions = {},
  ): Promise<BatchResult> {
    const all = [...windows].sort(([a], [b]) => a - b);
    const skipped: number[] = [];
    let todo = all;
    if (options.skipRecorded ?? true) {
      const status = await this.status(sessionId, options);
      todo = all.filter(([index]) => !inRanges(status.recordedWindows, index));
      skipped.push(...all.filter(([index]) => inRanges(status.recordedWindows, index)).map(([index]) => index));
    }
    const sizes = new Map<number, number>();
    for (const [index, media] of todo) {
      const { audio, frames } = asMedia(media);
      sizes.set(index, sizeOf(audio) + (frames ? sizeOf(frames.body) : 0));
    }
    const totalBytes = [...sizes.values()].reduce((a, b) => a + b, 0);
    const uploaded: number[] = [];
    const results = new Map<number, WindowUploadResult>();
    const failed = new Map<number, UploadError>();
    let sentBytes = 0;
    let windowsDone = 0;
    const progressOf = (media: Body | WindowMedia) => {
      const lastHalf: Half = asMedia(media).frames ? "frames" : "audio";
      return (step: UploadProgress) => {
        if (step.phase === "uploaded") sentBytes += step.totalBytes;
        if ((step.phase === "uploaded" && step.half === lastHalf) || step.phase === "failed") windowsDone++;
        options.onProgress?.({ sentBytes, totalBytes, windowsDone, windowsTotal: todo.length, step });
      };
    };
    let next = 0;
    let cancelled: CancelledError | null = null;
    const worker = async () => {
      while (next < todo.length && !cancelled) {
        const [index, media] = todo[next++]!;
        try {
          const onProgress = progressOf(media);
          results.set(index, await this.uploadWindow(sessionId, index, media, { signal: options.signal, onProgress }));
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
        }
      }
    };
    const concurrency = Math.max(1, Math.min(options.concurrency ?? 4, todo.length || 1));
    await Promise.all(Array.from({ length: concurrency }, worker));
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
