import type { Clock } from '../shared/clock.js';

/** Why an acquire was refused; the Reason field of Lambda's 429. */
export type ThrottleReason = 'ConcurrentInvocationLimitExceeded' | 'ReservedFunctionConcurrentInvocationLimitExceeded';

/** A held concurrency slot. release() is idempotent. */
export interface Lease {
  release(): void;
}

export type AcquireResult = { readonly lease: Lease; readonly throttle?: undefined } | { readonly lease?: undefined; readonly throttle: ThrottleReason };

export interface CountingOptions {
  /** Account-wide concurrent executions (Lambda's default: 1000). */
  readonly accountLimit: number;
  readonly clock: Clock;
}

interface Held {
  readonly functionName: string;
  readonly expiresAt: number;
}

/**
 * The Counting Service: concurrency slots held as leases that expire.
 *
 * Every slot carries an expiry (the invoke's deadline plus a margin), so a
 * holder that dies without releasing cannot leak the slot: expired leases are
 * reclaimed the moment the limit is reached. Releasing is idempotent, so a
 * release racing with an expiry never frees a slot twice.
 *
 * This is the embedded, in-process implementation: acquire/release are a Map
 * operation each, far under Lambda's 1.5 ms budget.
 */
export class CountingService {
  readonly #accountLimit: number;
  readonly #clock: Clock;
  readonly #held = new Map<number, Held>();
  #nextId = 1;

  constructor(options: CountingOptions) {
    this.#accountLimit = options.accountLimit;
    this.#clock = options.clock;
  }

  /** Slots in use now, across the account. */
  get inUse(): number {
    return this.#held.size;
  }

  get accountLimit(): number {
    return this.#accountLimit;
  }

  /**
   * Takes a slot for one invoke of `functionName` for at most `leaseMs`.
   * Returns the lease, or the reason for a throttle.
   */
  acquire(functionName: string, leaseMs: number): AcquireResult {
    if (this.#held.size >= this.#accountLimit) {
      this.#reclaimExpired();
      if (this.#held.size >= this.#accountLimit) return { throttle: 'ConcurrentInvocationLimitExceeded' };
    }
    const id = this.#nextId++;
    this.#held.set(id, { functionName, expiresAt: this.#clock.now() + leaseMs });
    const held = this.#held;
    return {
      lease: {
        release() {
          held.delete(id);
        },
      },
    };
  }

  #reclaimExpired(): void {
    const now = this.#clock.now();
    for (const [id, h] of this.#held) {
      if (h.expiresAt <= now) this.#held.delete(id);
    }
  }
}
