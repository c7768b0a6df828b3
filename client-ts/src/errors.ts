/** The failures the client reports: each `message` one line a person can act on, each typed for a program. */

/** Base of every failure the client raises. */
export class ClientError extends Error {
  override name = "ClientError";
}

/** The caller's input or configuration is wrong (no fetch, a body the grant does not fit): nothing was sent. */
export class UsageError extends ClientError {
  override name = "UsageError";
}

/** The session API refused a request or could not be reached (`status` null: no HTTP answer). */
export class ApiError extends ClientError {
  override name = "ApiError";
  /** What was being done, e.g. "complete session 1b9d…". */
  readonly operation: string;
  /** The server's message (or what went wrong on the way), without the operation and status. */
  readonly detail: string;
  readonly status: number | null;
  /** True when the last failure was one a later attempt may cure (offline, 5xx, 429): retries ran out. */
  readonly transient: boolean;

  constructor(operation: string, detail: string, options: { status?: number | null; transient?: boolean } = {}) {
    const status = options.status ?? null;
    super(`${operation}: ${withStatus(detail, status)}`);
    this.operation = operation;
    this.detail = detail;
    this.status = status;
    this.transient = options.transient ?? false;
  }
}

/** One window (one half of it) could not be uploaded; `status` is the last HTTP status (null: a network error). */
export class UploadError extends ClientError {
  override name = "UploadError";
  readonly window: number;
  readonly half: "audio" | "frames";
  readonly detail: string;
  readonly status: number | null;
  readonly attempts: number;
  /** True when the last failure was one a later attempt may cure (offline, 5xx, 429, expired URL). */
  readonly transient: boolean;

  constructor(
    window: number,
    detail: string,
    options: { half?: "audio" | "frames"; status?: number | null; attempts?: number; transient?: boolean } = {},
  ) {
    const half = options.half ?? "audio";
    const status = options.status ?? null;
    const attempts = options.attempts ?? 1;
    const tries = attempts > 1 ? ` after ${attempts} attempts` : "";
    super(`${halfName(window, half)}: ${withStatus(detail, status)}${tries}`);
    this.window = window;
    this.half = half;
    this.detail = detail;
    this.status = status;
    this.attempts = attempts;
    this.transient = options.transient ?? false;
  }
}

/** The caller's AbortSignal ended the operation; nothing more is sent. `cause` is the signal's reason. */
export class CancelledError extends ClientError {
  override name = "CancelledError";
  constructor(what: string, reason?: unknown) {
    super(`${what}: cancelled`);
    (this as { cause?: unknown }).cause = reason;
  }
}

/** "window 4" for its audio, "window 4 (frames)": how errors name a half, as the Python client words it. */
export function halfName(window: number, half: "audio" | "frames"): string {
  return half === "audio" ? `window ${window}` : `window ${window} (frames)`;
}

function withStatus(message: string, status: number | null): string {
  return status !== null ? `HTTP ${status}: ${message}` : message;
}
