import type { Clock } from '../shared/clock.js';
import { LambdaError } from '../shared/errors.js';

/**
 * Why an acquire was refused; the Reason field of Lambda's 429
 * (botocore lambda ThrottleReason): the account's unreserved pool is full,
 * or the function is at its reserved concurrency.
 */
export type ThrottleReason = 'ConcurrentInvocationLimitExceeded' | 'ReservedFunctionConcurrentInvocationLimitExceeded';

/** Lambda's message for every invoke throttle (recorded against AWS: localstack test_lambda.snapshot.json). */
export const THROTTLE_MESSAGE = 'Rate Exceeded.';

/**
 * The 429 TooManyRequestsException Lambda answers for a throttled invoke:
 * {"Reason": ..., "Type": "User", "message": "Rate Exceeded."}. One place, so
 * the front end (concurrency) and the worker manager (scaling rate) answer alike.
 */
export function throttled(reason: string): LambdaError {
  return new LambdaError('TooManyRequestsException', THROTTLE_MESSAGE, { Reason: reason });
}

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

/** The slots of one function: its leases (id → expiry) and its reservation. */
interface FunctionSlots {
  readonly name: string;
  readonly leases: Map<number, number>;
  /** Reserved concurrency (PutFunctionConcurrency); undefined: the function draws on the unreserved pool. */
  reserved: number | undefined;
  /** No lease of this function expires before this instant (a lower bound: it may be stale-low, never high). */
  earliestExpiry: number;
}

/**
 * How many of a function's slots count against the unreserved pool: all of
 * them without a reservation; with one, only those above it (leases taken
 * before the reservation was lowered). Counting the overflow keeps the
 * account's total at or under its limit whatever the order of reservation
 * changes and releases.
 */
function poolShare(slots: FunctionSlots): number {
  const n = slots.leases.size;
  return slots.reserved === undefined ? n : Math.max(0, n - slots.reserved);
}

/**
 * The Counting Service: concurrency slots held as leases that expire.
 *
 * Limits, as Lambda's: a function with reserved concurrency R runs at most R
 * invokes at once (R = 0 throttles every invoke) and never competes with
 * others for them; every other function shares the unreserved pool, the
 * account limit minus the sum of all reservations. Reservations are pushed in
 * by the registry (setReservation), so acquire() does no I/O and is O(1).
 *
 * Every slot carries an expiry (the invoke's deadline plus a margin), so a
 * holder that dies without releasing cannot leak the slot: expired leases are
 * reclaimed the moment a limit is reached — the function's own for a reserved
 * function, the whole pool otherwise. Releasing is idempotent, so a release
 * racing with an expiry never frees a slot twice.
 *
 * This is the embedded, in-process implementation: acquire/release are a few
 * Map operations, far under Lambda's 1.5 ms budget.
 */
export class CountingService {
  readonly #accountLimit: number;
  readonly #clock: Clock;
  /** Functions that hold a lease or have a reservation (entries are dropped when neither). */
  readonly #functions = new Map<string, FunctionSlots>();
  #totalReserved = 0;
  /** Σ poolShare over all functions: slots taken from the unreserved pool. */
  #poolInUse = 0;
  #total = 0;
  /** No lease at all expires before this instant (lower bound). */
  #earliestExpiry = Infinity;
  #nextId = 1;

  constructor(options: CountingOptions) {
    if (!Number.isSafeInteger(options.accountLimit) || options.accountLimit < 0) {
      throw new RangeError(`accountLimit must be a whole number >= 0, got ${options.accountLimit}`);
    }
    this.#accountLimit = options.accountLimit;
    this.#clock = options.clock;
  }

  get accountLimit(): number {
    return this.#accountLimit;
  }

  /** The unreserved pool: the account limit minus every reservation (never below 0). */
  get unreservedLimit(): number {
    return Math.max(0, this.#accountLimit - this.#totalReserved);
  }

  /** Slots in use now, across the account (leases past their expiry are reclaimed first). */
  get inUse(): number {
    this.#reclaimAll(this.#clock.now());
    return this.#total;
  }

  /** Slots in use now per function, for metrics (functions with none are absent). */
  inUseByFunction(): ReadonlyMap<string, number> {
    this.#reclaimAll(this.#clock.now());
    const out = new Map<string, number>();
    for (const [name, slots] of this.#functions) if (slots.leases.size > 0) out.set(name, slots.leases.size);
    return out;
  }

  /** A function's reserved concurrency; undefined when it draws on the unreserved pool. */
  reservedConcurrency(functionName: string): number | undefined {
    return this.#functions.get(functionName)?.reserved;
  }

  /**
   * Sets (a number >= 0) or removes (undefined) a function's reserved
   * concurrency. The registry calls this for every reservation when it
   * loads, and on PutFunctionConcurrency, DeleteFunctionConcurrency and
   * DeleteFunction. Leases already held stay valid: a function over a
   * lowered reservation is throttled until enough of them are released.
   */
  setReservation(functionName: string, reserved: number | undefined): void {
    if (reserved !== undefined && (!Number.isSafeInteger(reserved) || reserved < 0)) {
      throw new RangeError(`reserved concurrency must be a whole number >= 0, got ${reserved}`);
    }
    let slots = this.#functions.get(functionName);
    if (!slots) {
      if (reserved === undefined) return;
      slots = { name: functionName, leases: new Map(), reserved: undefined, earliestExpiry: Infinity };
      this.#functions.set(functionName, slots);
    }
    this.#totalReserved += (reserved ?? 0) - (slots.reserved ?? 0);
    this.#poolInUse -= poolShare(slots);
    slots.reserved = reserved;
    this.#poolInUse += poolShare(slots);
    this.#dropIfIdle(slots);
  }

  /** The reservation counting enforces for a function (undefined when it has none). */
  reservationOf(functionName: string): number | undefined {
    return this.#functions.get(functionName)?.reserved;
  }

  /**
   * Takes a slot for one invoke of `functionName` for at most `leaseMs`.
   * Returns the lease, or the reason for a throttle.
   */
  acquire(functionName: string, leaseMs: number): AcquireResult {
    const now = this.#clock.now();
    const slots = this.#functions.get(functionName);
    const reserved = slots?.reserved;
    if (slots && reserved !== undefined) {
      if (slots.leases.size >= reserved) {
        this.#reclaim(slots, now);
        if (slots.leases.size >= reserved) return { throttle: 'ReservedFunctionConcurrentInvocationLimitExceeded' };
      }
    } else if (this.#poolInUse >= this.unreservedLimit) {
      this.#reclaimAll(now);
      if (this.#poolInUse >= this.unreservedLimit) return { throttle: 'ConcurrentInvocationLimitExceeded' };
    }
    return { lease: this.#take(functionName, now + leaseMs) };
  }

  #take(functionName: string, expiresAt: number): Lease {
    let slots = this.#functions.get(functionName);
    if (!slots) {
      slots = { name: functionName, leases: new Map(), reserved: undefined, earliestExpiry: Infinity };
      this.#functions.set(functionName, slots);
    }
    const id = this.#nextId++;
    this.#poolInUse -= poolShare(slots);
    slots.leases.set(id, expiresAt);
    this.#poolInUse += poolShare(slots);
    this.#total++;
    slots.earliestExpiry = Math.min(slots.earliestExpiry, expiresAt);
    this.#earliestExpiry = Math.min(this.#earliestExpiry, expiresAt);
    return {
      release: () => {
        // The entry may be gone or replaced (all its leases expired and were
        // reclaimed): ids are never reused, so a late release is a no-op.
        const current = this.#functions.get(functionName);
        if (current?.leases.has(id)) this.#remove(current, id);
      },
    };
  }

  #remove(slots: FunctionSlots, id: number): void {
    this.#poolInUse -= poolShare(slots);
    slots.leases.delete(id);
    this.#poolInUse += poolShare(slots);
    this.#total--;
    this.#dropIfIdle(slots);
  }

  #dropIfIdle(slots: FunctionSlots): void {
    if (slots.leases.size === 0 && slots.reserved === undefined) this.#functions.delete(slots.name);
  }

  /** Reclaims one function's expired leases. Only scans when one may have expired. */
  #reclaim(slots: FunctionSlots, now: number): void {
    if (now < slots.earliestExpiry) return;
    let earliest = Infinity;
    for (const [id, expiresAt] of slots.leases) {
      if (expiresAt <= now) {
        this.#remove(slots, id);
      } else {
        earliest = Math.min(earliest, expiresAt);
      }
    }
    slots.earliestExpiry = earliest;
  }

  #reclaimAll(now: number): void {
    if (now < this.#earliestExpiry) return;
    let earliest = Infinity;
    for (const slots of [...this.#functions.values()]) {
      this.#reclaim(slots, now);
      earliest = Math.min(earliest, slots.earliestExpiry);
    }
    this.#earliestExpiry = earliest;
  }
}
