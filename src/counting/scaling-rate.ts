import type { Clock } from '../shared/clock.js';

/**
 * The Reason of the 429 when a function scales faster than its scaling rate.
 *
 * Lambda's API model lists the throttle reasons (botocore lambda ThrottleReason)
 * without saying which limit answers which; AWS documents none for the
 * scaling rate. FunctionInvocationRateLimitExceeded is the one that names a
 * per-function rate limit, which the scaling rate is ("a function-level
 * limit", Lambda developer guide, "Lambda scaling behavior"). The message is
 * the same "Rate Exceeded." as every invoke throttle (see throttled()).
 */
export const SCALING_RATE_THROTTLE_REASON = 'FunctionInvocationRateLimitExceeded';

/** tryStart()'s answer: go ahead, or the throttle Reason for the 429. */
export type ScalingDecision = { readonly ok: true } | { readonly ok: false; readonly reason: typeof SCALING_RATE_THROTTLE_REASON };

const GO: ScalingDecision = Object.freeze({ ok: true });
const THROTTLED: ScalingDecision = Object.freeze({ ok: false, reason: SCALING_RATE_THROTTLE_REASON });

export interface ScalingRateOptions {
  /** New sandboxes a function may start per window (Lambda: 1000). */
  readonly sandboxesPerWindow: number;
  /** The window in milliseconds (Lambda: 10 s). */
  readonly windowMs: number;
  readonly clock: Clock;
}

/** Lambda's concurrency scaling rate: 1,000 execution environments every 10 seconds, per function. */
export const LAMBDA_SCALING_RATE = { sandboxesPerWindow: 1000, windowMs: 10_000 } as const;

interface Bucket {
  tokens: number;
  /** When `tokens` was last brought up to date. */
  at: number;
}

/**
 * The per-function scaling-rate limit: at most N new sandboxes per window
 * per function. Warm invokes never consult it; the worker manager asks
 * tryStart() on the cold path only, before it has a sandbox created.
 *
 * A token bucket per function, as the Lambda developer guide describes the
 * limit ("Lambda scaling behavior"): the rate is refilled continuously rather
 * than all at once every window, and unused rate does not accumulate beyond
 * N. So a burst of N starts is allowed at once, then one more every
 * windowMs / N. Functions are independent of each other.
 */
export class ScalingRateLimiter {
  readonly #capacity: number;
  readonly #windowMs: number;
  readonly #clock: Clock;
  readonly #buckets = new Map<string, Bucket>();
  #lastSweep: number;

  constructor(options: ScalingRateOptions) {
    if (!Number.isSafeInteger(options.sandboxesPerWindow) || options.sandboxesPerWindow < 1) {
      throw new RangeError(`sandboxesPerWindow must be a whole number >= 1, got ${options.sandboxesPerWindow}`);
    }
    if (!Number.isFinite(options.windowMs) || options.windowMs <= 0) {
      throw new RangeError(`windowMs must be > 0, got ${options.windowMs}`);
    }
    this.#capacity = options.sandboxesPerWindow;
    this.#windowMs = options.windowMs;
    this.#clock = options.clock;
    this.#lastSweep = options.clock.now();
  }

  /**
   * Takes the right to start one new sandbox of `functionName`. Not ok: the
   * function is scaling faster than its rate; the caller answers 429 with
   * the reason (counting's throttled(reason) builds Lambda's error).
   */
  tryStart(functionName: string): ScalingDecision {
    const now = this.#clock.now();
    this.#sweep(now);
    const bucket = this.#buckets.get(functionName);
    if (!bucket) {
      this.#buckets.set(functionName, { tokens: this.#capacity - 1, at: now });
      return GO;
    }
    this.#refill(bucket, now);
    if (bucket.tokens < 1) return THROTTLED;
    bucket.tokens -= 1;
    return GO;
  }

  /** Sandboxes `functionName` may start right now (whole ones). */
  available(functionName: string): number {
    const bucket = this.#buckets.get(functionName);
    if (!bucket) return this.#capacity;
    this.#refill(bucket, this.#clock.now());
    return Math.floor(bucket.tokens);
  }

  #refill(bucket: Bucket, now: number): void {
    const elapsed = Math.max(0, now - bucket.at);
    bucket.tokens = Math.min(this.#capacity, bucket.tokens + (elapsed * this.#capacity) / this.#windowMs);
    bucket.at = now;
  }

  /**
   * A full bucket is the same as no bucket: once per window, forget the
   * functions whose rate has fully refilled, so functions that stopped
   * scaling (or were deleted) cost nothing.
   */
  #sweep(now: number): void {
    if (now - this.#lastSweep < this.#windowMs) return;
    this.#lastSweep = now;
    for (const [name, bucket] of this.#buckets) {
      this.#refill(bucket, now);
      if (bucket.tokens >= this.#capacity) this.#buckets.delete(name);
    }
  }
}
