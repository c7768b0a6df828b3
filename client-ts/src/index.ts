/** @session-uploads/client: the session-uploads upload client for browsers, React Native and Node 18+. */

export { Backoff, type BackoffOptions, isExpired, isTransient } from "./retry.js";
export { type Body, type Sha256, base64, webCryptoSha256 } from "./body.js";
export {
  type CaptureMode,
  CONTENT_TYPES,
  expandRanges,
  type Grants,
  type GrantsRequest,
  type Half,
  type HalfGrant,
  type HalfRecord,
  type HalfUpload,
  inRanges,
  MAX_GRANTS_PER_REQUEST,
  MAX_WINDOW_INDEX,
  type RefusedHalf,
  type SessionCounts,
  type SessionCreated,
  type SessionState,
  type SessionStatus,
  type UploadGrant,
  type WindowDetail,
  type WindowRange,
  type WindowsPage,
} from "./contract.js";
export { ApiError, CancelledError, ClientError, UploadError, UsageError } from "./errors.js";
export { errorDetail } from "./http.js";
export {
  type BatchOptions,
  type BatchProgress,
  type BatchResult,
  type CallOptions,
  type HalfUploadResult,
  UploadClient,
  type UploadClientOptions,
  type UploadOptions,
  type UploadProgress,
  type WindowMedia,
  type WindowUploadResult,
} from "./client.js";
export {
  type CompleteEntry,
  type DrainResult,
  type EntryData,
  type KeyValueStorage,
  keyValueOutboxStore,
  memoryOutboxStore,
  Outbox,
  type OutboxEntry,
  type OutboxOptions,
  type OutboxStore,
  type WindowEntry,
} from "./outbox.js";
