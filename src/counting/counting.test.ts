import { test } from 'node:test';
import assert from 'node:assert/strict';
import { CountingService } from './counting.js';
import { ManualClock } from '../shared/clock.js';

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
