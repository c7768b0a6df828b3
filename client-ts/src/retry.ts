/** Which failures are worth another attempt, and how long to wait before it (exponential backoff, full jitter). */

// S3 codes a fresh attempt can cure: a slow upload S3 timed out, throttling, S3's own failures.
const TRANSIENT_S3_CODES = new Set(["RequestTimeout", "SlowDown", "InternalError", "ServiceUnavailable"]);

/** 5xx, 429, a retryable S3 code, and an expired presigned URL (the next attempt asks for a fresh grant). */
export function isTransient(status: number, code: string | null = null, message = ""): boolean {
  if (status >= 500 || status === 429 || (code !== null && TRANSIENT_S3_CODES.has(code))) return true;
  return isExpired(status, code, message);
}

/** S3's refusal of a presigned URL past its expiry: 403 AccessDenied "Request has expired". */
export function isExpired(status: number | null, code: string | null = null, message = ""): boolean {
  return status === 403 && code === "AccessDenied" && message.toLowerCase().includes("expired");
}

export interface BackoffOptions {
  /** The ceiling of the first retry's delay, in ms (default 500). */
  baseMs?: number;
  /** No delay exceeds this, in ms (default 20,000). */
  capMs?: number;
  /** A number in [0, 1): Math.random by default; tests pin it. */
  random?: () => number;
}

/** Delay before retry n (0-based): uniform in [0, min(cap, base * 2**n)] ("full jitter"). */
export class Backoff {
  readonly baseMs: number;
  readonly capMs: number;
  private readonly random: () => number;

  constructor(options: BackoffOptions = {}) {
    this.baseMs = options.baseMs ?? 500;
    this.capMs = options.capMs ?? 20_000;
    this.random = options.random ?? Math.random;
    if (!(this.baseMs >= 0 && this.capMs >= 0)) throw new RangeError("baseMs and capMs must be 0 or more");
  }

  delayMs(retry: number): number {
    return this.random() * Math.min(this.capMs, this.baseMs * 2 ** retry);
  }
}
