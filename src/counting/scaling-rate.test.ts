import { test } from 'node:test';
import assert from 'node:assert/strict';
import { LAMBDA_SCALING_RATE, SCALING_RATE_THROTTLE_REASON, ScalingRateLimiter } from './scaling-rate.js';
import { ManualClock } from '../shared/clock.js';

function starts(limiter: ScalingRateLimiter, fn: string, n: number): boolean[] {
  return Array.from({ length: n }, () => limiter.tryStart(fn).ok);
}

test('allows a burst of N new sandboxes per function, then refuses with the throttle Reason', () => {
  const limiter = new ScalingRateLimiter({ sandboxesPerWindow: 3, windowMs: 10_000, clock: new ManualClock() });
  assert.deepEqual(starts(limiter, 'f', 3), [true, true, true]);
  assert.deepEqual(limiter.tryStart('f'), { ok: false, reason: 'FunctionInvocationRateLimitExceeded' });
  assert.equal(limiter.available('f'), 0);
});

test('refills continuously: one more start every window / N, never more than N', () => {
  const clock = new ManualClock();
  const limiter = new ScalingRateLimiter({ sandboxesPerWindow: 2, windowMs: 10_000, clock });
  assert.deepEqual(starts(limiter, 'f', 3), [true, true, false]);
  clock.advance(4_999);
  assert.equal(limiter.tryStart('f').ok, false);
  clock.advance(1);
  assert.deepEqual(starts(limiter, 'f', 2), [true, false]);
  // Unused rate does not pile up past N (Lambda: "doesn't accumulate unused portions").
  clock.advance(60_000);
  assert.equal(limiter.available('f'), 2);
  assert.deepEqual(starts(limiter, 'f', 3), [true, true, false]);
});

test('each function scales independently of the others', () => {
  const limiter = new ScalingRateLimiter({ sandboxesPerWindow: 1, windowMs: 10_000, clock: new ManualClock() });
  assert.deepEqual(starts(limiter, 'f', 2), [true, false]);
  assert.deepEqual(starts(limiter, 'g', 2), [true, false]);
});

test('forgetting refilled functions (once per window) never forgets one still limited', () => {
  const clock = new ManualClock();
  const limiter = new ScalingRateLimiter({ sandboxesPerWindow: 2, windowMs: 1_000, clock });
  assert.deepEqual(starts(limiter, 'idle', 2), [true, true]);
  clock.advance(900);
  assert.deepEqual(starts(limiter, 'busy', 3), [true, true, false]);
  clock.advance(100);
  // This start sweeps: 'idle' has refilled and is forgotten, 'busy' has 0.2 of a start and must stay limited.
  assert.equal(limiter.tryStart('other').ok, true);
  assert.equal(limiter.tryStart('busy').ok, false);
  assert.deepEqual(starts(limiter, 'idle', 3), [true, true, false]);
});

test('Lambda\'s defaults and documented throttle reason', () => {
  assert.deepEqual(LAMBDA_SCALING_RATE, { sandboxesPerWindow: 1000, windowMs: 10_000 });
  assert.equal(SCALING_RATE_THROTTLE_REASON, 'FunctionInvocationRateLimitExceeded');
  const limiter = new ScalingRateLimiter({ ...LAMBDA_SCALING_RATE, clock: new ManualClock() });
  assert.equal(starts(limiter, 'f', 1001).filter(Boolean).length, 1000);
});

test('refuses nonsense settings', () => {
  const clock = new ManualClock();
  assert.throws(() => new ScalingRateLimiter({ sandboxesPerWindow: 0, windowMs: 10_000, clock }), RangeError);
  assert.throws(() => new ScalingRateLimiter({ sandboxesPerWindow: 1.5, windowMs: 10_000, clock }), RangeError);
  assert.throws(() => new ScalingRateLimiter({ sandboxesPerWindow: 1, windowMs: 0, clock }), RangeError);
});
