/** A window's bytes: their size and base64 SHA-256 (WebCrypto), whatever form the app holds them in. */

import { UsageError } from "./errors.js";

/** What a window half may be given as: bytes in memory, or a Blob (a browser File, a React Native blob). */
export type Body = Uint8Array | ArrayBuffer | Blob;

/** Computes the base64 SHA-256 of some bytes: the client's default uses WebCrypto (`crypto.subtle`). */
export type Sha256 = (bytes: Uint8Array) => Promise<string>;

export function sizeOf(body: Body): number {
  if (body instanceof Uint8Array || body instanceof ArrayBuffer) return body.byteLength;
  if (typeof Blob !== "undefined" && body instanceof Blob) return body.size;
  if (ArrayBuffer.isView(body)) return (body as ArrayBufferView).byteLength;
  throw new UsageError("a window body must be a Uint8Array, an ArrayBuffer or a Blob");
}

export async function bytesOf(body: Body): Promise<Uint8Array> {
  if (body instanceof Uint8Array) return body;
  if (body instanceof ArrayBuffer) return new Uint8Array(body);
  const blob = body as Blob;
  if (typeof blob.arrayBuffer !== "function") {
    // React Native's Blob cannot be read back: the app passes bytes, or its own `sha256`, or `sendSha256: false`.
    throw new UsageError("this Blob cannot be read to compute its SHA-256: pass bytes, a `sha256` option, or sendSha256: false");
  }
  return new Uint8Array(await blob.arrayBuffer());
}

/** WebCrypto's SHA-256 (browsers, React Native with a WebCrypto polyfill, Node 19+; Node 18 needs the `sha256` option). */
export const webCryptoSha256: Sha256 = async (bytes) => {
  const subtle = (globalThis as { crypto?: { subtle?: SubtleCrypto } }).crypto?.subtle;
  if (!subtle) {
    throw new UsageError("no WebCrypto here (crypto.subtle) to compute SHA-256: pass a `sha256` option, or sendSha256: false");
  }
  return base64(new Uint8Array(await subtle.digest("SHA-256", bytes as unknown as ArrayBuffer)));
};

const ALPHABET = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

/** Standard base64 with padding, as S3 expects in x-amz-checksum-sha256 (btoa is missing on some runtimes). */
export function base64(bytes: Uint8Array): string {
  let out = "";
  for (let i = 0; i < bytes.length; i += 3) {
    const a = bytes[i]!;
    const b = i + 1 < bytes.length ? bytes[i + 1]! : 0;
    const c = i + 2 < bytes.length ? bytes[i + 2]! : 0;
    const n = (a << 16) | (b << 8) | c;
    out += ALPHABET[(n >> 18) & 63]! + ALPHABET[(n >> 12) & 63]!;
    out += i + 1 < bytes.length ? ALPHABET[(n >> 6) & 63]! : "=";
    out += i + 2 < bytes.length ? ALPHABET[n & 63]! : "=";
  }
  return out;
}
