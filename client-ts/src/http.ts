/** What a failed response says, one request with a deadline and the caller's signal, and a cancellable sleep. */

import { CancelledError } from "./errors.js";

const MAX_ERROR_BODY = 64 * 1024; // error bodies are small; never parse a huge one

/** (S3 error code or null, a human-readable message) of a failed response: our API's {"error"}, API Gateway's
 * {"message"}, or S3's XML <Code>/<Message>. */
export function errorDetail(status: number, statusText: string, body: string): { code: string | null; message: string } {
  const text = body.slice(0, MAX_ERROR_BODY).trim();
  if (text.startsWith("{")) {
    try {
      const data: unknown = JSON.parse(text);
      if (data && typeof data === "object") {
        for (const field of ["error", "message"]) {
          const value = (data as Record<string, unknown>)[field];
          if (typeof value === "string") return { code: null, message: value };
        }
      }
    } catch {
      // not JSON after all: fall through
    }
  }
  if (text.startsWith("<") && /<Error>/.test(text)) {
    // No DOMParser in React Native or Node: S3's error document is flat enough for two expressions.
    const code = xmlText(text, "Code");
    const message = xmlText(text, "Message");
    if (code) return { code, message: message ? `${code}: ${message}` : code };
  }
  return { code: null, message: statusText || `HTTP ${status}` };
}

function xmlText(xml: string, tag: string): string | null {
  const match = new RegExp(`<${tag}>([\\s\\S]*?)</${tag}>`).exec(xml);
  if (!match) return null;
  return match[1]!
    .replace(/&lt;/g, "<")
    .replace(/&gt;/g, ">")
    .replace(/&quot;/g, '"')
    .replace(/&apos;/g, "'")
    .replace(/&amp;/g, "&");
}

/** How one request ended without an HTTP answer. */
export type NoAnswer =
  | { kind: "timeout"; seconds: number }
  | { kind: "network"; error: unknown };

export interface Answer {
  response: Response;
  /** The body as text (what the error needs; success bodies here are small JSON). */
  text: string;
}

/**
 * One request, ended after `timeoutMs` (the whole exchange, body included) or when `signal` aborts. Resolves with
 * the answer or with why there was none; rejects only with CancelledError (the caller's signal).
 */
export async function exchange(
  fetchImpl: typeof fetch,
  url: string,
  init: RequestInit,
  timeoutMs: number,
  signal: AbortSignal | undefined,
  what: string,
): Promise<Answer | NoAnswer> {
  if (signal?.aborted) throw new CancelledError(what, signal.reason);
  const controller = new AbortController();
  let timedOut = false;
  const timer = setTimeout(() => {
    timedOut = true;
    controller.abort();
  }, timeoutMs);
  const onAbort = () => controller.abort();
  signal?.addEventListener("abort", onAbort);
  try {
    const response = await fetchImpl(url, { ...init, signal: controller.signal });
    const text = await response.text();
    return { response, text };
  } catch (error) {
    if (signal?.aborted) throw new CancelledError(what, signal.reason);
    if (timedOut) return { kind: "timeout", seconds: timeoutMs / 1000 };
    return { kind: "network", error };
  } finally {
    clearTimeout(timer);
    signal?.removeEventListener("abort", onAbort);
  }
}

/** Waits `ms`, or rejects with CancelledError as soon as `signal` aborts. */
export function sleep(ms: number, signal?: AbortSignal, what = "wait"): Promise<void> {
  return new Promise((resolve, reject) => {
    if (signal?.aborted) return reject(new CancelledError(what, signal.reason));
    const onAbort = () => {
      clearTimeout(timer);
      reject(new CancelledError(what, signal!.reason));
    };
    const timer = setTimeout(() => {
      signal?.removeEventListener("abort", onAbort);
      resolve();
    }, ms);
    signal?.addEventListener("abort", onAbort, { once: true });
  });
}

/** One line for an error of unknown shape (a fetch TypeError, a DOMException). */
export function describe(error: unknown): string {
  if (error instanceof Error) {
    const cause = (error as { cause?: unknown }).cause;
    const why = cause instanceof Error ? ` (${cause.message})` : "";
    return `${error.name}: ${error.message}${why}`;
  }
  return String(error);
}
