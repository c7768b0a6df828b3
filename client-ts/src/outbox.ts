/**
 * The outbox: windows recorded while offline are uploaded later, in the order they were recorded, after a restart
 * too. The app backs it with its own storage (an `OutboxStore`: AsyncStorage, localStorage, SQLite, a file) and
 * keeps the media where it likes (files, IndexedDB): an entry holds only what names the work to do.
 */

import type { Body } from "./body.js";
import type { UploadClient, UploadProgress, WindowMedia } from "./client.js";
import { ApiError, CancelledError, ClientError, UploadError } from "./errors.js";

/** JSON the app attaches to an entry to find its media again (a file path, a database key). */
export type EntryData = Record<string, string | number | boolean | null>;

export interface WindowEntry {
  id: string;
  kind: "window";
  sessionId: string;
  windowIndex: number;
  data?: EntryData;
}

export interface CompleteEntry {
  id: string;
  kind: "complete";
  sessionId: string;
  expectedWindowCount: number;
}

export type OutboxEntry = WindowEntry | CompleteEntry;

/** Durable storage for entries. Each method resolves once its change is durable. */
export interface OutboxStore {
  /** Store an entry after every entry already stored. */
  append(entry: OutboxEntry): Promise<void>;
  /** Every stored entry, in the order they were appended. */
  entries(): Promise<OutboxEntry[]>;
  /** Forget an entry: its work is done. */
  remove(id: string): Promise<void>;
}

export interface OutboxOptions {
  store: OutboxStore;
  /** The media of a window entry, read back from wherever the app keeps it. */
  loadMedia: (entry: WindowEntry) => Promise<Body | WindowMedia>;
  /** An entry that can never succeed (a 4xx, media gone) leaves the outbox: the app hears of it here. */
  onFailure?: (entry: OutboxEntry, error: ClientError) => void | Promise<void>;
  onProgress?: (progress: UploadProgress) => void;
}

export interface DrainResult {
  /** Entries done and removed, in order. */
  done: OutboxEntry[];
  /** Entries that can never succeed, removed (each also given to onFailure). */
  failed: { entry: OutboxEntry; error: ClientError }[];
  /** Entries still stored: the drain stopped at the first whose failure a later drain may cure (offline). */
  remaining: number;
  /** Why the drain stopped early, when it did. */
  stoppedBy: ClientError | null;
}

let sequence = 0;

function newId(): string {
  sequence = (sequence + 1) % 1_000_000;
  return `${Date.now().toString(36)}-${sequence.toString(36)}-${Math.random().toString(36).slice(2, 10)}`;
}

export class Outbox {
  private readonly client: UploadClient;
  private readonly options: OutboxOptions;
  private draining: Promise<DrainResult> | null = null;

  constructor(client: UploadClient, options: OutboxOptions) {
    this.client = client;
    this.options = options;
  }

  /** Record that a window is to be uploaded (its media already kept by the app). Resolves once durable. */
  async enqueueWindow(sessionId: string, windowIndex: number, data?: EntryData): Promise<WindowEntry> {
    const entry: WindowEntry = { id: newId(), kind: "window", sessionId, windowIndex, ...(data ? { data } : {}) };
    await this.options.store.append(entry);
    return entry;
  }

  /** Record that the session is to be completed, after every window enqueued before. */
  async enqueueComplete(sessionId: string, expectedWindowCount: number): Promise<CompleteEntry> {
    const entry: CompleteEntry = { id: newId(), kind: "complete", sessionId, expectedWindowCount };
    await this.options.store.append(entry);
    return entry;
  }

  pending(): Promise<OutboxEntry[]> {
    return this.options.store.entries();
  }

  /**
   * Work through the entries in order, one at a time, each with the client's retries. An entry is removed once done;
   * one that can never succeed is removed and reported; at the first that may succeed later (offline, 5xx) the drain
   * stops and leaves it and every later entry for the next drain. One drain at a time: a second call while one runs
   * gets the same result. Cancelling rejects with CancelledError, the current entry kept.
   */
  drain(options: { signal?: AbortSignal } = {}): Promise<DrainResult> {
    if (!this.draining) {
      this.draining = this.run(options.signal).finally(() => {
        this.draining = null;
      });
    }
    return this.draining;
  }

  private async run(signal: AbortSignal | undefined): Promise<DrainResult> {
    const { store } = this.options;
    const result: DrainResult = { done: [], failed: [], remaining: 0, stoppedBy: null };
    const entries = await store.entries();
    for (let i = 0; i < entries.length; i++) {
      const entry = entries[i]!;
      try {
        await this.perform(entry, signal);
        await store.remove(entry.id);
        result.done.push(entry);
      } catch (error) {
        if (error instanceof CancelledError || !(error instanceof ClientError)) throw error;
        if (isTransient(error)) {
          result.stoppedBy = error;
          result.remaining = entries.length - i;
          return result;
        }
        await store.remove(entry.id);
        result.failed.push({ entry, error });
        await this.options.onFailure?.(entry, error);
      }
    }
    result.remaining = (await store.entries()).length; // entries enqueued while draining wait for the next drain
    return result;
  }

  private async perform(entry: OutboxEntry, signal: AbortSignal | undefined): Promise<void> {
    if (entry.kind === "complete") {
      await this.client.complete(entry.sessionId, entry.expectedWindowCount, { signal });
      return;
    }
    let media: Body | WindowMedia;
    try {
      media = await this.options.loadMedia(entry);
    } catch (error) {
      const why = error instanceof Error ? error.message : String(error);
      throw new UploadError(entry.windowIndex, `its media cannot be read: ${why}`);
    }
    const onProgress = this.options.onProgress;
    await this.client.uploadWindow(entry.sessionId, entry.windowIndex, media, { signal, ...(onProgress ? { onProgress } : {}) });
  }
}

function isTransient(error: ClientError): boolean {
  return (error instanceof UploadError || error instanceof ApiError) && error.transient;
}

/** The part of localStorage (browsers) and AsyncStorage (React Native) an outbox needs. */
export interface KeyValueStorage {
  getItem(key: string): string | null | Promise<string | null>;
  setItem(key: string, value: string): void | Promise<void>;
}

/** An OutboxStore kept as one JSON list under `key` of a key-value storage (localStorage, AsyncStorage). Changes are
 * serialized within the process, so an enqueue during a drain loses nothing. */
export function keyValueOutboxStore(storage: KeyValueStorage, key = "session-uploads.outbox"): OutboxStore {
  let queue: Promise<unknown> = Promise.resolve();
  const serialized = <T>(work: () => Promise<T>): Promise<T> => {
    const run = queue.then(work, work);
    queue = run.catch(() => undefined);
    return run;
  };
  const read = async (): Promise<OutboxEntry[]> => {
    const text = await storage.getItem(key);
    return text ? (JSON.parse(text) as OutboxEntry[]) : [];
  };
  return {
    append: (entry) => serialized(async () => storage.setItem(key, JSON.stringify([...(await read()), entry]))),
    entries: () => serialized(read),
    remove: (id) => serialized(async () => storage.setItem(key, JSON.stringify((await read()).filter((e) => e.id !== id)))),
  };
}

/** An OutboxStore in memory: for tests, and for apps that need no restart. */
export function memoryOutboxStore(): OutboxStore & { snapshot(): OutboxEntry[] } {
  let items: OutboxEntry[] = [];
  return {
    append: async (entry) => {
      items = [...items, entry];
    },
    entries: async () => [...items],
    remove: async (id) => {
      items = items.filter((e) => e.id !== id);
    },
    snapshot: () => [...items],
  };
}
