import { test } from 'node:test';
import assert from 'node:assert/strict';
import { generateTrace, prng, summarize } from './trace.js';

const base = { seed: 7, functions: 300, durationS: 120 } as const;

test('the same seed gives the same trace; another seed another one', () => {
  const a = generateTrace(base);
  const b = generateTrace(base);
  assert.deepEqual(a.invocations, b.invocations);
  assert.deepEqual(a.functions, b.functions);
  const c = generateTrace({ ...base, seed: 8 });
  assert.notDeepEqual(c.invocations, a.invocations);
});

test('the PRNG is uniform in [0, 1) and depends on its seed only', () => {
  const r = prng(123);
  const xs = Array.from({ length: 10_000 }, () => r());
  assert.ok(xs.every((x) => x >= 0 && x < 1));
  const mean = xs.reduce((s, x) => s + x, 0) / xs.length;
  assert.ok(Math.abs(mean - 0.5) < 0.02, `mean ${mean}`);
  const again = prng(123);
  assert.deepEqual(Array.from({ length: 5 }, () => again()), xs.slice(0, 5));
});

test('invokes are sorted, inside the replay, and durations within the bounds', () => {
  const t = generateTrace({ ...base, maxDurationMs: 1500 });
  for (let i = 1; i < t.invocations.length; i++) assert.ok(t.invocations[i - 1]!.atMs <= t.invocations[i]!.atMs);
  assert.ok(t.invocations.every((inv) => inv.atMs >= 0 && inv.atMs < 120_000));
  assert.ok(t.invocations.every((inv) => inv.durationMs >= 1 && inv.durationMs <= 1500 && Number.isInteger(inv.durationMs)));
  assert.ok(t.functions.every((f) => [128, 256, 512, 1024].includes(f.memoryMB)));
});

test('heavy-tailed: most functions are rare, a few get most invokes, no function beyond the cap', () => {
  const t = generateTrace({ ...base, maxRatePerS: 3 });
  const s = summarize(t, 15);
  assert.ok(s.rarerThanKeepAlive > 0.5, `${s.rarerThanKeepAlive} of functions rarer than the keep-alive`);
  assert.ok(s.top10PercentShare > 0.4, `busiest 10 % get ${s.top10PercentShare}`);
  assert.ok(s.maxFunctionRatePerS <= 3);
  // Rates span many orders of magnitude before the replay window cuts them off.
  assert.ok(Math.log10(s.maxFunctionRatePerS / s.minFunctionRatePerS) > 6);
});

test('timer functions fire periodically; bursty functions arrive in clusters', () => {
  const t = generateTrace({ ...base, functions: 400, speedup: 2000, maxRatePerS: 2, maxBurstMean: 16 });
  const gaps = (fn: number) => {
    const at = t.invocations.filter((i) => i.fn === fn).map((i) => i.atMs);
    return at.slice(1).map((x, k) => x - at[k]!);
  };
  const cv = (xs: number[]) => {
    const m = xs.reduce((s, x) => s + x, 0) / xs.length;
    return Math.sqrt(xs.reduce((s, x) => s + (x - m) ** 2, 0) / xs.length) / m;
  };
  const busy = (want: (f: (typeof t.functions)[number]) => boolean) =>
    t.functions.map((f, fn) => ({ f, fn })).filter(({ f }) => want(f) && f.ratePerS === 2).map(({ fn }) => fn);
  const timer = busy((f) => f.trigger === 'timer')[0];
  const bursty = busy((f) => f.trigger === 'event' && f.burstMean > 8)[0];
  assert.ok(timer !== undefined && bursty !== undefined, 'the trace has a busy timer and a busy bursty function');
  assert.ok(cv(gaps(timer)) < 0.01, 'timer inter-arrivals are constant');
  assert.ok(cv(gaps(bursty)) > 1.5, 'bursty inter-arrivals vary more than Poisson');
});
