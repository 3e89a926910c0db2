/**
 * Counting Service micro-benchmark: the latency and throughput of one
 * acquire + release of the in-process CountingService, side by side with a
 * bare Map set + delete driven by the same loop (the floor: what any
 * in-memory bookkeeping costs at least), in one run.
 *
 * Workload: 1000 functions whose popularity follows the placement trace's
 * heavy-tailed rate law (bench/trace.ts), 5 % of them with a reserved
 * concurrency, and a ring of in-flight leases: every step releases the
 * oldest lease in the ring and acquires a new one for the next function of
 * a pre-drawn sequence, so the account holds a steady number of slots, near
 * its limit. Throttled acquires count as operations (the service did the
 * work of refusing) and are reported.
 *
 * Timing, two ways: each step timed alone with process.hrtime.bigint (the
 * cost of the two timer reads is measured too and reported, not
 * subtracted), and batches of steps timed together, whose mean per step is
 * below the timer's cost and resolution floor. Throughput is steps over the
 * wall time of the batches.
 */
import { CountingService, type Lease } from '../src/counting/counting.js';
import { systemClock } from '../src/shared/clock.js';
import { LOG10_IAT_MEAN, LOG10_IAT_SD, Random } from './trace.js';

export interface CountingBenchOptions {
  readonly seed: number;
  readonly functions: number;
  readonly accountLimit: number;
  /** Leases held at once (the ring). */
  readonly inFlight: number;
  /** Steps timed one by one, per round. */
  readonly singleOps: number;
  /** Steps per timed batch, and batches per round. */
  readonly batchSize: number;
  readonly batches: number;
  /** Rounds per subject; the subjects alternate round by round. */
  readonly rounds: number;
}

export const DEFAULT_COUNTING_OPTIONS: CountingBenchOptions = {
  seed: 42,
  functions: 1000,
  accountLimit: 1000,
  inFlight: 600,
  singleOps: 200_000,
  batchSize: 1000,
  batches: 1000,
  rounds: 5,
};

/** Lambda's figure for its Counting Service (re:Invent, "under 1.5 ms"). */
export const LAMBDA_COUNTING_BUDGET_MS = 1.5;

export interface Percentiles {
  readonly p50: number;
  readonly p99: number;
  readonly p999: number;
}

export interface SubjectResult {
  readonly name: string;
  /** Per step, timed alone (µs, the two timer reads included). */
  readonly single: Percentiles;
  /** Mean per step within a batch (µs). */
  readonly batched: Percentiles;
  readonly opsPerS: number;
  /** Share of acquires refused (CountingService only). */
  readonly throttled: number;
}

export interface CountingBenchResult {
  readonly options: CountingBenchOptions;
  /** Reserved functions and the sum of their reservations. */
  readonly reservedFunctions: number;
  readonly totalReserved: number;
  /** Two back-to-back hrtime.bigint() reads (µs): the floor of a single-op timing. */
  readonly timer: Percentiles;
  readonly baseline: SubjectResult;
  readonly counting: SubjectResult;
  readonly throttleReasons: Readonly<Record<string, number>>;
}

/** One step of the loop: release the ring's oldest, acquire for function `fn`. */
interface Subject {
  readonly name: string;
  step(fn: number): void;
  throttledShare(): number;
}

const LEASE_MS = 60_000;

function percentiles(values: Float64Array): Percentiles {
  const sorted = Float64Array.from(values).sort();
  const q = (p: number) => sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil(p * sorted.length) - 1))] ?? NaN;
  return { p50: q(0.5), p99: q(0.99), p999: q(0.999) };
}

/** The picks: function indices drawn by popularity (weights ∝ 1 / mean inter-arrival time). */
function drawSequence(r: Random, functions: number, length: number): Int32Array {
  const cumulative = new Float64Array(functions);
  let total = 0;
  for (let i = 0; i < functions; i++) {
    total += 1 / 10 ** (LOG10_IAT_MEAN + LOG10_IAT_SD * r.normal());
    cumulative[i] = total;
  }
  const seq = new Int32Array(length);
  for (let k = 0; k < length; k++) {
    const x = r.uniform() * total;
    let lo = 0;
    let hi = functions - 1;
    while (lo < hi) {
      const mid = (lo + hi) >>> 1;
      if (cumulative[mid]! > x) hi = mid;
      else lo = mid + 1;
    }
    seq[k] = lo;
  }
  return seq;
}

function countingSubject(names: readonly string[], reservations: ReadonlyMap<number, number>, o: CountingBenchOptions, reasons: Record<string, number>): Subject {
  const service = new CountingService({ accountLimit: o.accountLimit, clock: systemClock });
  for (const [fn, reserved] of reservations) service.setReservation(names[fn]!, reserved);
  const ring: (Lease | undefined)[] = new Array<Lease | undefined>(o.inFlight).fill(undefined);
  let pos = 0;
  let acquires = 0;
  let throttles = 0;
  return {
    name: 'CountingService acquire + release',
    step(fn) {
      ring[pos]?.release();
      const r = service.acquire(names[fn]!, LEASE_MS);
      ring[pos] = r.lease;
      acquires++;
      if (r.throttle !== undefined) {
        throttles++;
        reasons[r.throttle] = (reasons[r.throttle] ?? 0) + 1;
      }
      pos = pos + 1 === ring.length ? 0 : pos + 1;
    },
    throttledShare: () => (acquires > 0 ? throttles / acquires : 0),
  };
}

function baselineSubject(o: CountingBenchOptions): Subject {
  const map = new Map<number, number>();
  const ring = new Float64Array(o.inFlight).fill(-1);
  let pos = 0;
  let id = 0;
  return {
    name: 'bare Map set + delete',
    step(fn) {
      const old = ring[pos]!;
      if (old >= 0) map.delete(old);
      map.set(++id, fn);
      ring[pos] = id;
      pos = pos + 1 === ring.length ? 0 : pos + 1;
    },
    throttledShare: () => 0,
  };
}

interface Samples {
  single: number[];
  batched: number[];
  ops: number;
  ns: bigint;
}

function round(subject: Subject, seq: Int32Array, start: number, o: CountingBenchOptions, into: Samples): number {
  let k = start;
  const next = () => {
    const fn = seq[k]!;
    k = k + 1 === seq.length ? 0 : k + 1;
    return fn;
  };
  for (let i = 0; i < o.singleOps; i++) {
    const fn = next();
    const t0 = process.hrtime.bigint();
    subject.step(fn);
    into.single.push(Number(process.hrtime.bigint() - t0) / 1000);
  }
  for (let b = 0; b < o.batches; b++) {
    const t0 = process.hrtime.bigint();
    for (let i = 0; i < o.batchSize; i++) subject.step(next());
    const ns = process.hrtime.bigint() - t0;
    into.ns += ns;
    into.ops += o.batchSize;
    into.batched.push(Number(ns) / 1000 / o.batchSize);
  }
  return k;
}

function timerCost(n: number): Percentiles {
  const out = new Float64Array(n);
  for (let i = 0; i < n; i++) {
    const t0 = process.hrtime.bigint();
    out[i] = Number(process.hrtime.bigint() - t0) / 1000;
  }
  return percentiles(out);
}

/** Runs the benchmark (synchronous: a few seconds of CPU). */
export function benchCounting(o: CountingBenchOptions = DEFAULT_COUNTING_OPTIONS): CountingBenchResult {
  const r = new Random(o.seed);
  const names = Array.from({ length: o.functions }, (_, i) => `fn-${String(i).padStart(4, '0')}`);
  // 5 % of the functions reserve concurrency, as many accounts do for a few
  // critical or noisy functions; Lambda keeps at least 100 unreserved.
  const reservations = new Map<number, number>();
  let totalReserved = 0;
  for (let i = 0; i < o.functions; i++) {
    if (r.uniform() >= 0.05) continue;
    const reserved = r.pick<number>([[1, 2], [2, 2], [5, 2], [10, 2], [20, 1]]);
    if (totalReserved + reserved > o.accountLimit - 100) continue;
    reservations.set(i, reserved);
    totalReserved += reserved;
  }
  const seq = drawSequence(r, o.functions, 1 << 20);

  const reasons: Record<string, number> = {};
  const subjects = [baselineSubject(o), countingSubject(names, reservations, o, reasons)];
  const samples = subjects.map((): Samples => ({ single: [], batched: [], ops: 0, ns: 0n }));
  // Warm-up: the JIT compiles both loops before anything is recorded.
  for (const s of subjects) round(s, seq, 0, { ...o, singleOps: 20_000, batches: 100 }, { single: [], batched: [], ops: 0, ns: 0n });
  for (const key of Object.keys(reasons)) delete reasons[key];
  const positions = subjects.map(() => 0);
  for (let i = 0; i < o.rounds; i++) {
    subjects.forEach((s, j) => (positions[j] = round(s, seq, positions[j]!, o, samples[j]!)));
  }
  const results = subjects.map((s, j): SubjectResult => {
    const x = samples[j]!;
    return {
      name: s.name,
      single: percentiles(Float64Array.from(x.single)),
      batched: percentiles(Float64Array.from(x.batched)),
      opsPerS: x.ops / (Number(x.ns) / 1e9),
      throttled: s.throttledShare(),
    };
  });
  return {
    options: o,
    reservedFunctions: reservations.size,
    totalReserved,
    timer: timerCost(200_000),
    baseline: results[0]!,
    counting: results[1]!,
    throttleReasons: reasons,
  };
}

const us = (n: number) => (n < 10 ? n.toFixed(3) : n.toFixed(1));

/** The markdown section for bench/RESULTS.md. */
export function formatCounting(res: CountingBenchResult): string {
  const o = res.options;
  const lines: string[] = [];
  lines.push(
    `${o.functions} functions (popularity heavy-tailed as in the placement trace), ${res.reservedFunctions} with reserved concurrency (${res.totalReserved} reserved in all), account limit ${o.accountLimit}, ${o.inFlight} leases held; one step = release the oldest lease + acquire a new one. ${o.rounds} rounds per subject, alternating; per round ${o.singleOps} steps timed one by one and ${o.batches} batches of ${o.batchSize}.\n`,
  );
  lines.push('| | p50 µs, one step | p99 µs, one step | p99.9 µs, one step | p50 µs, batch mean | p99 µs, batch mean | steps / s | ÷ bare |');
  lines.push('|---|---|---|---|---|---|---|---|');
  lines.push(`| two hrtime.bigint() reads (timer floor) | ${us(res.timer.p50)} | ${us(res.timer.p99)} | ${us(res.timer.p999)} | | | | |`);
  for (const s of [res.baseline, res.counting]) {
    lines.push(
      `| ${s.name} | ${us(s.single.p50)} | ${us(s.single.p99)} | ${us(s.single.p999)} | ${us(s.batched.p50)} | ${us(s.batched.p99)} | ${Math.round(s.opsPerS).toLocaleString('en-US')} | ${(s.opsPerS / res.baseline.opsPerS).toFixed(2)} |`,
    );
  }
  const budgetUs = LAMBDA_COUNTING_BUDGET_MS * 1000;
  const reasons = Object.entries(res.throttleReasons)
    .map(([k, v]) => `${k} ${v}`)
    .join(', ');
  lines.push('');
  lines.push(
    `Throttled acquires: ${(100 * res.counting.throttled).toFixed(2)} %${reasons ? ` (${reasons})` : ''}. ` +
      `Against Lambda's 1.5 ms per acquire: p99 of one step ${us(res.counting.single.p99)} µs = ${(res.counting.single.p99 / budgetUs).toExponential(1)} of the budget ` +
      `(1/${Math.round(budgetUs / res.counting.single.p99).toLocaleString('en-US')}), p99.9 ${us(res.counting.single.p999)} µs = 1/${Math.round(budgetUs / res.counting.single.p999).toLocaleString('en-US')}.`,
  );
  return lines.join('\n');
}
