/** The session API's bodies (DESIGN.md v2, docs/openapi.yaml) and helpers over them. */

export type CaptureMode = "audio_only" | "audio_video";
export type SessionState = "recording" | "finalizing" | "ready" | "incomplete";
/** A window's two halves: the WAV audio, and for audio_video sessions a ZIP of the window's frames. */
export type Half = "audio" | "frames";

/** The content types the grants bind (the PUT sends what the grant says; these are for apps building bodies). */
export const CONTENT_TYPES: Readonly<Record<Half, string>> = { audio: "audio/wav", frames: "application/zip" };

/** Window indexes run from 0 to this (DESIGN v2). */
export const MAX_WINDOW_INDEX = 99_999;

/** `POST /sessions` → 201. */
export interface SessionCreated {
  sessionId: string;
  captureMode: CaptureMode;
  status: SessionState;
  createdAt: string;
}

/** An inclusive range of window indexes: `[0, 11]` is windows 0 to 11. */
export type WindowRange = [first: number, last: number];

export interface SessionCounts {
  audio: number;
  frames: number;
  recorded: number;
  ingested: number;
  invalid: number;
}

/** `GET /sessions/{id}` and `POST /sessions/{id}/complete`: its size does not grow with the windows recorded. */
export interface SessionStatus extends SessionCreated {
  expectedWindowCount: number | null;
  counts: SessionCounts;
  /** Windows whose every needed half arrived valid (the audio, and for audio_video the frames too). */
  recordedWindows: WindowRange[];
  ingestedWindows: WindowRange[];
  /** Windows below expectedWindowCount not (fully) recorded. */
  missingWindows: WindowRange[];
  invalidWindows: WindowRange[];
  /** Windows recorded at or above expectedWindowCount. */
  unexpectedWindows: WindowRange[];
}

/** One half of a window as the backend recorded it (size, etag, checksum as S3 reports it, recordedAt, the WAV
 * format or the frame count): typed loosely, the fields are the server's. */
export type HalfRecord = Record<string, unknown>;

export interface WindowDetail {
  windowIndex: number;
  audio: HalfRecord | null;
  frames: HalfRecord | null;
  ingested: boolean;
  invalid: string | null;
}

/** `GET /sessions/{id}/windows?from=N&limit=M`. */
export interface WindowsPage {
  windows: WindowDetail[];
  /** The `from` of the next page; null on the last one. */
  next: number | null;
}

/** `POST /sessions/{id}/audio|frames?windowIndex=N` → 200: a presigned PUT. */
export interface UploadGrant {
  url: string;
  s3Key: string;
  windowIndex: number;
  expiresIn: number;
  /** Every header the PUT must carry, exactly as given. */
  headers: Record<string, string>;
}

/** The most halves one `POST /sessions/{id}/grants` asks for. */
export const MAX_GRANTS_PER_REQUEST = 32;

/** One half asked for in `POST /sessions/{id}/grants`: the body its own route takes, with its window and half. */
export interface HalfUpload {
  half: Half;
  windowIndex: number;
  sizeBytes: number;
  /** Base64 SHA-256 of the bytes: S3 then verifies it on PUT. */
  sha256?: string;
  /** Frames only: how many frames the bundle holds. */
  frameCount?: number;
}

/** `POST /sessions/{id}/grants` (1 to MAX_GRANTS_PER_REQUEST halves, each once). */
export interface GrantsRequest {
  uploads: HalfUpload[];
}

/** One half's grant in a `Grants` answer. */
export interface HalfGrant extends UploadGrant {
  half: Half;
}

/** A half a grants request did not grant because it is already recorded: what its own route answers with a 409. */
export interface RefusedHalf {
  windowIndex: number;
  half: Half;
  error: string;
}

/** `POST /sessions/{id}/grants` → 200. Any half's bad input, or the session's state, refuses the whole request
 * (400, 404, 409) as the half's own route would. */
export interface Grants {
  /** The halves granted, in the order asked for. */
  grants: HalfGrant[];
  refused: RefusedHalf[];
}

/** Whether `index` is in a sorted list of inclusive ranges. */
export function inRanges(ranges: readonly WindowRange[] | undefined, index: number): boolean {
  for (const [first, last] of ranges ?? []) {
    if (index < first) return false;
    if (index <= last) return true;
  }
  return false;
}

/** Every index of a list of inclusive ranges, in order. */
export function* expandRanges(ranges: readonly WindowRange[] | undefined): Generator<number> {
  for (const [first, last] of ranges ?? []) for (let i = first; i <= last; i++) yield i;
}
