/** A fake session API and S3 behind an injected `fetch`, scripted per test, recording every request the client makes. */

import { createHash, randomUUID } from "node:crypto";

export const API = "https://api.test";
export const S3 = "https://s3.test";
export const TOKEN = "good-token";

export const EXPIRED: Step = {
  status: 403,
  body: "<?xml version='1.0' encoding='UTF-8'?>\n<Error><Code>AccessDenied</Code><Message>Request has expired</Message></Error>",
};
export const BAD_SIGNATURE: Step = {
  status: 403,
  body: "<Error><Code>SignatureDoesNotMatch</Code><Message>The request signature we calculated does not match</Message></Error>",
};

/** An answer (status and body: an object is sent as JSON), a connection cut ("drop"), or no answer at all ("hang"). */
export type Step = { status: number; body?: unknown; headers?: Record<string, string> } | "drop" | "hang";
/** The usual answer once `hold` resolves: a request in flight until the test lets it go. */
type Hold = { hold: () => Promise<void> };
/** "grant" is a half's own route (POST /sessions/{id}/audio|frames), "grants" the batched one. */
export type Route = "create" | "status" | "windows" | "grant" | "grants" | "complete" | "put";
type Half = "audio" | "frames";

export interface Recorded {
  route: Route;
  method: string;
  url: URL;
  headers: Record<string, string>; // lower-case names
  body: Uint8Array;
}

export function b64sha(bytes: Uint8Array): string {
  return createHash("sha256").update(bytes).digest("base64");
}

export class FakeService {
  readonly requests: Recorded[] = [];
  /** Session → window → halves stored. */
  readonly sessions = new Map<string, Map<number, Set<string>>>();
  /** What the windows route says of a half stored (`session/window/half`): its size and checksum. */
  private readonly records = new Map<string, Record<string, unknown>>();
  private readonly scripts = new Map<Route, (Step | Hold)[]>();
  /** A half's refusal (`refuse`): `window/half` → its answer. */
  private readonly refusals = new Map<string, { status: number; body: unknown }>();
  /** Each grant issued, on either route, in order: its window, half and URL signature. */
  readonly issued: { window: number; half: Half; signature: string }[] = [];
  /** How long the grants say their URLs live, in seconds. */
  expiresIn = 300;

  script(route: Route, ...steps: Step[]): void {
    this.scripts.set(route, [...(this.scripts.get(route) ?? []), ...steps]);
  }

  /** The route's next request is answered as usual once `wait` resolves. */
  hold(route: Route, wait: () => Promise<void>): void {
    this.scripts.set(route, [...(this.scripts.get(route) ?? []), { hold: wait }]);
  }

  newSession(recorded: number[] = []): string {
    const id = randomUUID();
    this.sessions.set(id, new Map(recorded.map((w) => [w, new Set(["audio"])])));
    return id;
  }

  /** A half stored and recorded with these bytes (another run's upload, or another writer's). */
  recordHalf(sessionId: string, window: number, half: "audio" | "frames", bytes: Uint8Array): void {
    const session = this.sessions.get(sessionId)!;
    session.set(window, new Set([...(session.get(window) ?? []), half]));
    this.records.set(`${sessionId}/${window}/${half}`, { sizeBytes: bytes.length, checksumSha256: b64sha(bytes) });
  }

  /** Every grant of this half answers this refusal on its own route. A grants request asking for it lists it as
   * refused when the status is 409 (already recorded), and is refused as a whole with any other status, as the API
   * refuses a half's bad input. */
  refuse(window: number, half: Half, status: number, body: unknown): void {
    this.refusals.set(`${window}/${half}`, { status, body });
  }

  /** The (window, half) pairs of each grants request, in the order they arrived. */
  batches(): [number, Half][][] {
    return this.of("grants").map((r) => {
      const { uploads } = JSON.parse(new TextDecoder().decode(r.body)) as { uploads: { windowIndex: number; half: Half }[] };
      return uploads.map((u): [number, Half] => [u.windowIndex, u.half]);
    });
  }

  /** Whether each window half's PUT went to the URL of the last grant issued for it. */
  putWithLastGrant(): boolean {
    const last = new Map(this.issued.map(({ window, half, signature }) => [`${window}/${half}`, signature]));
    const put = new Map(this.of("put").map((r) => [halfOfKey(r.url), r.url.searchParams.get("X-Amz-Signature")]));
    return put.size === last.size && [...last].every(([key, signature]) => put.get(key) === signature);
  }

  of(route: Route): Recorded[] {
    return this.requests.filter((r) => r.route === route);
  }

  readonly fetch: typeof fetch = async (input, init = {}) => {
    const url = new URL(String(input));
    const method = (init.method ?? "GET").toUpperCase();
    const headers: Record<string, string> = {};
    for (const [name, value] of new Headers(init.headers as HeadersInit | undefined)) headers[name] = value;
    const body = await bodyBytes(init.body);
    const route = this.route(method, url);
    this.requests.push({ route, method, url, headers, body });
    const step = this.scripts.get(route)?.shift();
    const signal = init.signal ?? undefined;
    if (typeof step === "object" && "hold" in step) {
      await step.hold();
      return this.answer(route, method, url, headers, body);
    }
    if (step === "drop") throw new TypeError("fetch failed");
    if (step === "hang") {
      return new Promise<Response>((_, reject) => {
        const abort = () => reject(signal?.reason ?? new DOMException("aborted", "AbortError"));
        if (signal?.aborted) abort();
        signal?.addEventListener("abort", abort);
      });
    }
    if (step) return respond(step.status, step.body, step.headers);
    return this.answer(route, method, url, headers, body);
  };

  private route(method: string, url: URL): Route {
    if (url.origin === S3) return "put";
    const path = url.pathname;
    if (method === "POST" && path === "/sessions") return "create";
    if (method === "POST" && /\/(audio|frames)$/.test(path)) return "grant";
    if (method === "POST" && path.endsWith("/grants")) return "grants";
    if (method === "POST" && path.endsWith("/complete")) return "complete";
    if (method === "GET" && path.endsWith("/windows")) return "windows";
    return "status";
  }

  private answer(route: Route, method: string, url: URL, headers: Record<string, string>, body: Uint8Array): Response {
    if (route !== "put" && headers["authorization"] !== `Bearer ${TOKEN}`) return respond(401, { message: "Unauthorized" });
    const parts = url.pathname.split("/").filter(Boolean);
    switch (route) {
      case "create": {
        const { captureMode } = JSON.parse(new TextDecoder().decode(body));
        const sessionId = this.newSession();
        return respond(201, { sessionId, captureMode, status: "recording", createdAt: new Date().toISOString() });
      }
      case "status":
      case "complete": {
        const session = this.sessions.get(parts[1]!);
        if (!session) return respond(404, { error: "session not found" });
        return respond(route === "complete" ? 202 : 200, this.statusBody(parts[1]!));
      }
      case "windows": {
        const session = this.sessions.get(parts[1]!);
        if (!session) return respond(404, { error: "session not found" });
        const from = Number(url.searchParams.get("from") ?? 0);
        const windows = [...session.entries()]
          .filter(([w]) => w >= from)
          .sort(([a], [b]) => a - b)
          .slice(0, Number(url.searchParams.get("limit") ?? 100))
          .map(([w, halves]) => ({
            windowIndex: w,
            audio: halves.has("audio") ? (this.records.get(`${parts[1]}/${w}/audio`) ?? { sizeBytes: 1 }) : null,
            frames: halves.has("frames") ? (this.records.get(`${parts[1]}/${w}/frames`) ?? { sizeBytes: 1 }) : null,
            ingested: false,
            invalid: null,
          }));
        return respond(200, { windows, next: null });
      }
      case "grant": {
        const [, sessionId, half] = parts as [string, string, Half];
        if (!this.sessions.has(sessionId)) return respond(404, { error: "session not found" });
        const window = Number(url.searchParams.get("windowIndex"));
        const refusal = this.refusals.get(`${window}/${half}`);
        if (refusal) return respond(refusal.status, refusal.body);
        return respond(200, this.issue(sessionId, window, half, JSON.parse(new TextDecoder().decode(body))));
      }
      case "grants": {
        const sessionId = parts[1]!;
        if (!this.sessions.has(sessionId)) return respond(404, { error: "session not found" });
        const grants: Record<string, unknown>[] = [];
        const refused: Record<string, unknown>[] = [];
        for (const { half, windowIndex, ...request } of JSON.parse(new TextDecoder().decode(body)).uploads) {
          const refusal = this.refusals.get(`${windowIndex}/${half}`);
          if (refusal?.status === 409) refused.push({ windowIndex, half, error: (refusal.body as { error: string }).error });
          else if (refusal) return respond(refusal.status, refusal.body);
          else grants.push({ ...this.issue(sessionId, windowIndex, half, request), half });
        }
        return respond(200, { grants, refused });
      }
      case "put": {
        const [, , sessionId, windowDir, file] = parts as [string, string, string, string, string];
        const window = Number(windowDir.slice("window_".length));
        const half = file.startsWith("audio") ? "audio" : "frames";
        const session = this.sessions.get(sessionId)!;
        if (session.get(window)?.has(half)) {
          return respond(412, "<Error><Code>PreconditionFailed</Code><Message>At least one of the pre-conditions you specified did not hold</Message></Error>");
        }
        if (headers["x-amz-checksum-sha256"] && headers["x-amz-checksum-sha256"] !== b64sha(body)) {
          return respond(400, "<Error><Code>BadDigest</Code><Message>The SHA256 you specified did not match the calculated checksum.</Message></Error>");
        }
        session.set(window, new Set([...(session.get(window) ?? []), half]));
        this.records.set(`${sessionId}/${window}/${half}`, { sizeBytes: body.length, checksumSha256: b64sha(body) });
        return respond(200, "", { ETag: `"${createHash("md5").update(body).digest("hex")}"` });
      }
    }
  }

  /** A grant as both grant routes answer it: a URL whose signature tells it apart, and the headers it binds. */
  private issue(
    sessionId: string,
    window: number,
    half: Half,
    request: { sizeBytes: number; sha256?: string; frameCount?: number },
  ): Record<string, unknown> {
    const headers: Record<string, string> = {
      "Content-Type": half === "audio" ? "audio/wav" : "application/zip",
      "Content-Length": String(request.sizeBytes),
      "If-None-Match": "*",
    };
    if (request.sha256) headers["x-amz-checksum-sha256"] = request.sha256;
    if (half === "frames") headers["x-amz-meta-frame-count"] = String(request.frameCount);
    const key = `sessions/${sessionId}/window_${String(window).padStart(3, "0")}/${half === "audio" ? "audio.wav" : "frames.zip"}`;
    const signature = `sig${this.issued.length + 1}`;
    this.issued.push({ window, half, signature });
    const url = `${S3}/bucket/${key}?X-Amz-Signature=${signature}`;
    return { url, s3Key: key, windowIndex: window, expiresIn: this.expiresIn, headers };
  }

  statusBody(sessionId: string): Record<string, unknown> {
    const windows = [...this.sessions.get(sessionId)!.keys()].sort((a, b) => a - b);
    return {
      sessionId,
      captureMode: "audio_only",
      status: "recording",
      createdAt: "2026-01-01T00:00:00Z",
      expectedWindowCount: null,
      counts: { audio: windows.length, frames: 0, recorded: windows.length, ingested: 0, invalid: 0 },
      recordedWindows: windows.map((w) => [w, w]),
      ingestedWindows: [],
      missingWindows: [],
      invalidWindows: [],
      unexpectedWindows: [],
    };
  }
}

/** "window/half" of a PUT's URL (…/window_003/frames.zip → "3/frames"). */
function halfOfKey(url: URL): string {
  const [, window, file] = /window_(\d+)\/(\w+)\./.exec(url.pathname)!;
  return `${Number(window)}/${file === "audio" ? "audio" : "frames"}`;
}

function respond(status: number, body: unknown, headers: Record<string, string> = {}): Response {
  const text = typeof body === "string" ? body : body === undefined ? "" : JSON.stringify(body);
  const type = typeof body === "string" ? (text.startsWith("<") ? "application/xml" : "text/plain") : "application/json";
  return new Response(status === 204 ? null : text, { status, headers: { "Content-Type": type, ...headers } });
}

async function bodyBytes(body: unknown): Promise<Uint8Array> {
  if (body === undefined || body === null) return new Uint8Array();
  if (typeof body === "string") return new TextEncoder().encode(body);
  if (body instanceof Uint8Array) return body;
  if (body instanceof ArrayBuffer) return new Uint8Array(body);
  if (body instanceof Blob) return new Uint8Array(await body.arrayBuffer());
  throw new Error(`fake fetch: unexpected body ${Object.prototype.toString.call(body)}`);
}
