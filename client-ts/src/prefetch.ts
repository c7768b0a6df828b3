/**
 * GrantPrefetch: uploadWindows' grants asked for ahead of its PUTs, several halves a request, so that a grant's round
 * trip overlaps the PUTs in flight instead of delaying the PUT after it, and the API's cost of a grant (the request,
 * the token check, the session's read) is shared by the halves of a request. The semantics are the Python client's
 * `_GrantPrefetch` (client/uploader.py).
 *
 * The halves are asked for in upload order, a window's audio before its frames. At most `ahead` halves are being
 * asked for, or granted and not yet taken by a worker, so the reading (hashing) ahead is bounded too; a request is
 * sent once half of those places are free (or as many as halves are left), so the grants come several at a time, not
 * one as each PUT starts.
 *
 * Why it never stalls: a worker waits for a half being asked for (its answer comes), or for one not yet asked for.
 * Every half held was asked for before the latter, so it is of a window no later than the waiting worker's: a window
 * a worker has started (the workers take the windows in the same order) and will take the half of, or one dropped
 * (its halves released). So the places held come free, and the half waited for is asked for.
 */

import { type Half, MAX_GRANTS_PER_REQUEST } from "./contract.js";
import { CancelledError, halfName } from "./errors.js";

/** What the prefetch needs to know of a half: which it is. */
export interface HalfKey {
  windowIndex: number;
  half: Half;
}

/** A half taken from the prefetch: its prepared form (the grant request's body computed), and what its grant request
 * gave (a grant, or the failure its worker treats as its first attempt's). */
export interface Taken<P, G> {
  prepared: P;
  granted: G;
}

type Outcome<P, G> = ({ ok: true } & Taken<P, G>) | { ok: false; error: unknown };

// One request being answered while the next is asked for.
const REQUESTS_AT_ONCE = 2;
const HALVES: readonly Half[] = ["audio", "frames"];

export class GrantPrefetch<H extends HalfKey, P, G> {
  /** The free places a request waits for. */
  private readonly batch: number;
  /** The position in `halves` of the next half to ask for. */
  private next = 0;
  /** Halves being asked for, or granted and not yet taken. */
  private held = 0;
  private readonly ready = new Map<string, Outcome<P, G>>();
  private readonly waiting = new Map<string, { half: H; deliver: (outcome: Outcome<P, G>) => void }>();
  /** Windows whose halves no worker will take any more. */
  private readonly dropped = new Set<number>();
  private readonly requests = new Set<Promise<void>>();
  /** Once stopped (or cancelled): why a half not yet delivered never will be. */
  private stoppedBy: ((half: H) => unknown) | null = null;

  /**
   * `halves` in upload order; `prepare` computes a half's grant request body (reading and hashing it), `grant` asks
   * for the grants of several prepared halves in one request, one outcome each, in their order. `signal` cancels.
   */
  constructor(
    private readonly halves: readonly H[],
    private readonly ahead: number,
    private readonly prepare: (half: H) => Promise<P>,
    private readonly grant: (prepared: P[]) => Promise<G[]>,
    private readonly signal?: AbortSignal,
  ) {
    this.batch = Math.max(1, Math.min(Math.floor(ahead / 2), MAX_GRANTS_PER_REQUEST));
    if (signal?.aborted) this.cancel();
    signal?.addEventListener("abort", this.cancel);
    this.pump();
  }

  /** This half, prepared, and its grant request's outcome, once asked for and answered. Rejects with what
   * preparing it or asking for it threw, or with CancelledError when cancelled first. */
  async take(half: H): Promise<Taken<P, G>> {
    const key = keyOf(half);
    let outcome = this.ready.get(key);
    if (outcome) {
      this.ready.delete(key);
      this.held--;
      this.pump();
    } else if (this.stoppedBy) {
      throw this.stoppedBy(half);
    } else {
      outcome = await new Promise<Outcome<P, G>>((deliver) => this.waiting.set(key, { half, deliver }));
    }
    if (!outcome.ok) throw outcome.error;
    return { prepared: outcome.prepared, granted: outcome.granted };
  }

  /** No worker will take this window's halves any more: forget their outcomes and ask for no more of them. */
  drop(windowIndex: number): void {
    this.dropped.add(windowIndex);
    for (const half of HALVES) {
      if (this.ready.delete(keyOf({ windowIndex, half }))) this.held--;
    }
    this.pump();
  }

  /** Ask for no more grants; resolves once the requests in flight are answered. */
  async stop(): Promise<void> {
    this.close(() => new Error("the grant prefetch has stopped"));
    this.signal?.removeEventListener("abort", this.cancel);
    await Promise.all(this.requests);
  }

  private readonly cancel = (): void => {
    this.close((half) => new CancelledError(halfName(half.windowIndex, half.half), this.signal?.reason));
  };

  /** No more requests; a worker waiting for a half gets `why` at once. */
  private close(why: (half: H) => unknown): void {
    this.stoppedBy ??= why;
    for (const { half, deliver } of this.waiting.values()) deliver({ ok: false, error: this.stoppedBy(half) });
    this.waiting.clear();
  }

  /** Sends the requests there are places for. */
  private pump(): void {
    while (!this.stoppedBy && this.requests.size < REQUESTS_AT_ONCE) {
      const free = this.ahead - this.held;
      const left = this.left();
      if (left === 0 || free < Math.min(this.batch, left)) return;
      const batch: H[] = [];
      while (this.left() && batch.length < Math.min(free, MAX_GRANTS_PER_REQUEST)) batch.push(this.halves[this.next++]!);
      this.held += batch.length;
      const request = this.ask(batch).finally(() => {
        this.requests.delete(request);
        this.pump();
      });
      this.requests.add(request);
    }
  }

  /** The halves not yet asked for, past those of dropped windows (skipped: no worker will take them). */
  private left(): number {
    while (this.next < this.halves.length && this.dropped.has(this.halves[this.next]!.windowIndex)) this.next++;
    return this.halves.length - this.next;
  }

  /** Each half prepared and its grant asked for, all in one request; a half that cannot be prepared is left out of
   * the request, its outcome the error. Never rejects: every half gets an outcome. */
  private async ask(batch: H[]): Promise<void> {
    const outcomes = new Map<H, Outcome<P, G>>();
    const asking: { half: H; prepared: P }[] = [];
    for (const half of batch) {
      try {
        asking.push({ half, prepared: await this.prepare(half) });
      } catch (error) {
        outcomes.set(half, { ok: false, error });
      }
    }
    if (asking.length) {
      try {
        const granted = await this.grant(asking.map(({ prepared }) => prepared));
        asking.forEach(({ half, prepared }, i) => outcomes.set(half, { ok: true, prepared, granted: granted[i]! }));
      } catch (error) {
        for (const { half } of asking) outcomes.set(half, { ok: false, error });
      }
    }
    for (const half of batch) this.settle(half, outcomes.get(half)!);
  }

  /** A half's outcome, to its waiting worker, or kept until taken; released at once if its window was dropped. */
  private settle(half: H, outcome: Outcome<P, G>): void {
    const key = keyOf(half);
    const waiter = this.waiting.get(key);
    if (this.dropped.has(half.windowIndex)) {
      this.held--;
    } else if (waiter) {
      this.waiting.delete(key);
      this.held--;
      waiter.deliver(outcome);
    } else {
      this.ready.set(key, outcome);
    }
  }
}

function keyOf({ windowIndex, half }: HalfKey): string {
  return `${windowIndex}/${half}`;
}
