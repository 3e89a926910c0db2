import { test } from 'node:test';
import assert from 'node:assert/strict';
import { CountingService, throttled } from './counting.js';
import type { Lease } from './counting.js';
import { ManualClock } from '../shared/clock.js';

function take(counting: CountingService, fn: string, ms = 10_000): Lease {
  const r = counting.acquire(fn, ms);
  assert.ok(r.lease, `expected a lease for ${fn}, got throttle ${r.throttle}`);
  return r.lease;
}

test('throttles past the account limit and frees slots on release', () => {
  const counting = new CountingService({ accountLimit: 2, clock: new ManualClock() });
  const a = counting.acquire('f', 10_000);
  const b = counting.acquire('g', 10_000);
  assert.ok(a.lease && b.lease);
  assert.deepEqual(counting.acquire('f', 10_000), { throttle: 'ConcurrentInvocationLimitExceeded' });
  a.lease.release();
  assert.ok(counting.acquire('f', 10_000).lease);
});

test('release is idempotent: releasing twice frees one slot', () => {
  const counting = new CountingService({ accountLimit: 2, clock: new ManualClock() });
  const a = counting.acquire('f', 10_000);
  counting.acquire('f', 10_000);
  a.lease?.release();
  a.lease?.release();
  assert.equal(counting.inUse, 1);
});

test('a lease that is never released comes back once it expires', () => {
  const clock = new ManualClock();
  const counting = new CountingService({ accountLimit: 1, clock });
  assert.ok(counting.acquire('f', 5_000).lease); // the holder "dies" and never releases
  assert.equal(counting.acquire('f', 5_000).throttle, 'ConcurrentInvocationLimitExceeded');
  clock.advance(5_000);
  assert.ok(counting.acquire('f', 5_000).lease);
  assert.equal(counting.inUse, 1);
});

test('a function with reserved concurrency runs at most that many at once', () => {
  const counting = new CountingService({ accountLimit: 10, clock: new ManualClock() });
  counting.setReservation('r', 2);
  const a = take(counting, 'r');
  take(counting, 'r');
  assert.deepEqual(counting.acquire('r', 10_000), { throttle: 'ReservedFunctionConcurrentInvocationLimitExceeded' });
  a.release();
  take(counting, 'r');
  assert.deepEqual(counting.inUseByFunction(), new Map([['r', 2]]));
});

test('reserved 0 throttles every invoke of that function and only of it', () => {
  const counting = new CountingService({ accountLimit: 10, clock: new ManualClock() });
  counting.setReservation('off', 0);
  assert.deepEqual(counting.acquire('off', 10_000), { throttle: 'ReservedFunctionConcurrentInvocationLimitExceeded' });
  take(counting, 'other');
  assert.equal(counting.inUse, 1);
});

test('unreserved functions share the account limit minus every reservation', () => {
  const counting = new CountingService({ accountLimit: 5, clock: new ManualClock() });
  counting.setReservation('r', 3);
  assert.equal(counting.unreservedLimit, 2);
  take(counting, 'a');
  take(counting, 'b');
  assert.deepEqual(counting.acquire('c', 10_000), { throttle: 'ConcurrentInvocationLimitExceeded' });
  // The reserved function's slots are its own: a full pool does not touch them.
  take(counting, 'r');
  take(counting, 'r');
  take(counting, 'r');
  assert.equal(counting.acquire('r', 10_000).throttle, 'ReservedFunctionConcurrentInvocationLimitExceeded');
  // An idle reservation still holds its share of the account back.
  counting.setReservation('idle', 0);
  assert.equal(counting.unreservedLimit, 2);
  counting.setReservation('r', undefined);
  assert.equal(counting.unreservedLimit, 5);
});

test('removing a reservation returns the function to the pool with its running invokes', () => {
  const counting = new CountingService({ accountLimit: 4, clock: new ManualClock() });
  counting.setReservation('r', 3);
  take(counting, 'r');
  take(counting, 'r');
  take(counting, 'a');
  // Pool is 4 - 3 = 1 and holds 'a'. Without the reservation, r's two slots count against the pool: 3 of 4.
  counting.setReservation('r', undefined);
  take(counting, 'b');
  assert.equal(counting.acquire('c', 10_000).throttle, 'ConcurrentInvocationLimitExceeded');
  assert.equal(counting.inUse, 4);
});

test('lowering a reservation under the running invokes throttles until they drain, and never exceeds the account', () => {
  const counting = new CountingService({ accountLimit: 6, clock: new ManualClock() });
  const held = [take(counting, 'f'), take(counting, 'f'), take(counting, 'f'), take(counting, 'f')];
  counting.setReservation('f', 2);
  // f holds 4 with a reservation of 2: the 2 above it still occupy the pool (6 - 2 = 4).
  assert.equal(counting.acquire('f', 10_000).throttle, 'ReservedFunctionConcurrentInvocationLimitExceeded');
  take(counting, 'g');
  take(counting, 'g');
  assert.equal(counting.acquire('g', 10_000).throttle, 'ConcurrentInvocationLimitExceeded');
  assert.equal(counting.inUse, 6);
  held[0]!.release();
  held[1]!.release();
  assert.equal(counting.acquire('f', 10_000).throttle, 'ReservedFunctionConcurrentInvocationLimitExceeded');
  held[2]!.release();
  take(counting, 'f');
  take(counting, 'g');
  take(counting, 'g');
  assert.equal(counting.acquire('g', 10_000).throttle, 'ConcurrentInvocationLimitExceeded');
});

test('an expired lease of a reserved function is reclaimed for that function', () => {
  const clock = new ManualClock();
  const counting = new CountingService({ accountLimit: 100, clock });
  counting.setReservation('r', 1);
  take(counting, 'r', 3_000); // the holder dies
  take(counting, 'other', 60_000);
  assert.equal(counting.acquire('r', 3_000).throttle, 'ReservedFunctionConcurrentInvocationLimitExceeded');
  clock.advance(2_999);
  assert.equal(counting.acquire('r', 3_000).throttle, 'ReservedFunctionConcurrentInvocationLimitExceeded');
  clock.advance(1);
  const again = take(counting, 'r', 3_000);
  assert.deepEqual(counting.inUseByFunction(), new Map([['r', 1], ['other', 1]]));
  again.release();
  assert.deepEqual(counting.inUseByFunction(), new Map([['other', 1]]));
});

test('a release that arrives after its lease expired and was reclaimed frees nothing', () => {
  const clock = new ManualClock();
  const counting = new CountingService({ accountLimit: 1, clock });
  const late = take(counting, 'f', 1_000);
  clock.advance(1_000);
  const fresh = take(counting, 'f', 1_000); // reclaims `late`
  late.release();
  assert.equal(counting.inUse, 1);
  assert.equal(counting.acquire('g', 1_000).throttle, 'ConcurrentInvocationLimitExceeded');
  fresh.release();
  assert.equal(counting.inUse, 0);
});

test('metrics never show dead holders: expired leases are gone from inUse and inUseByFunction', () => {
  const clock = new ManualClock();
  const counting = new CountingService({ accountLimit: 10, clock });
  take(counting, 'f', 1_000);
  take(counting, 'g', 5_000);
  clock.advance(1_000);
  assert.deepEqual(counting.inUseByFunction(), new Map([['g', 1]]));
  assert.equal(counting.inUse, 1);
});

test('refuses nonsense limits', () => {
  assert.throws(() => new CountingService({ accountLimit: -1, clock: new ManualClock() }), RangeError);
  const counting = new CountingService({ accountLimit: 1, clock: new ManualClock() });
  assert.throws(() => counting.setReservation('f', 1.5), RangeError);
  assert.throws(() => counting.setReservation('f', -1), RangeError);
});

test('throttled() is Lambda\'s 429: TooManyRequestsException, "Rate Exceeded.", the Reason', () => {
  const err = throttled('ReservedFunctionConcurrentInvocationLimitExceeded');
  assert.equal(err.code, 'TooManyRequestsException');
  assert.equal(err.status, 429);
  assert.equal(err.message, 'Rate Exceeded.');
  assert.deepEqual(err.fields, { Reason: 'ReservedFunctionConcurrentInvocationLimitExceeded' });
});
