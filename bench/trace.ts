/**
 * A synthetic serverless workload shaped like the Azure Functions 2019 trace
 * (Shahrad et al., "Serverless in the Wild", USENIX ATC '20), generated
 * deterministically from a seed, for the trace-driven placement benchmark.
 *
 * The trace is described in "trace time" (the platform the paper measured)
 * and replayed `speedup` times faster. The benchmark picks the speedup so
 * that its keep-alive stands for 10 minutes of trace time, the fixed
 * keep-alive the paper reports for AWS Lambda at the time (Azure's was 20):
 * "invoked less often than the keep-alive" then means the same thing in the
 * replay as in the trace. Durations are NOT compressed: an invoke sleeps its
 * real duration, so cold-start costs keep their true size relative to the
 * work. Concurrency per function is therefore `speedup` times the trace's;
 * that is what makes packing matter on a few workers, and why the top rates,
 * the longest durations and the burst sizes are capped to what a 2-core
 * machine can replay.
 *
 * Distributions (per-function parameters from one seeded PRNG in a fixed
 * order; each function's arrivals from a PRNG seeded by the seed and its
 * index):
 *
 * - Rate per function: log10(mean inter-arrival time, trace seconds) is
 *   normal with mean 3.333 and standard deviation 1.771. These two numbers
 *   put 45 % of functions at one invoke per hour or less and 81 % at one per
 *   minute or less, the paper's figures (its Figure 5 reports them for
 *   applications; here one function stands for one application), and spread
 *   rates over about ten orders of magnitude before the cap. Rates above
 *   `maxRatePerS` (replay time) are clipped to it: the machine replaying the
 *   trace sets the top of the tail (the paper's busiest functions would be
 *   thousands of invokes per second here).
 * - Trigger: timer for 16 % of functions (the paper's trigger mix), the
 *   rest event-driven. Timers fire periodically at their rate with a random
 *   phase (inter-arrival CV 0). Event-driven functions arrive in bursts:
 *   burst starts are Poisson; a burst holds a geometric number of invokes
 *   (mean `burstMean`: 1 for half of the functions, i.e. plain Poisson,
 *   log-uniform in [2, `maxBurstMean`] for the other half), spaced by
 *   exponential gaps of mean `burstGapMs`; bursts start at rate / burstMean,
 *   which keeps the function's mean rate. This gives the inter-arrival CV
 *   above 1 that the paper reports for many functions; the burst model
 *   itself is ours (the paper reports bursty arrivals, not their shape).
 *   No diurnal pattern: a replay of a few minutes covers about an hour of
 *   trace time.
 * - Duration: each function's mean execution time is log-normal with
 *   mu = -0.38, sigma = 2.36 (natural log of seconds), the paper's fit of
 *   average execution times (half of the functions run under 1 s on
 *   average); each invoke is log-normal around its function's mean
 *   (sigma 0.5). Every duration is clamped to [1 ms, `maxDurationMs`]; at
 *   the default 1 s this cuts the paper's tail (44 % of its functions average
 *   more than 1 s), to bound the number of sandboxes the replay needs.
 * - Memory (Lambda MemorySize): 128 MB for 50 % of functions, 256 MB for
 *   30 %, 512 MB for 15 %, 1024 MB for 5 %: Lambda sizes near the paper's
 *   allocated memory (half of the applications at most 170 MB, 90 % at most
 *   400 MB).
 */

/** A small, fast, seedable PRNG (mulberry32): uniform in [0, 1). Not for cryptography. */
export function prng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** Distributions over one uniform source. */
export class Random {
  readonly #u: () => number;

  constructor(seed: number) {
    this.#u = prng(seed);
  }

  uniform(): number {
    return this.#u();
  }

  /** Standard normal (Box–Muller; one of the pair is discarded, for a simple fixed draw order). */
  normal(): number {
    const u1 = 1 - this.#u(); // (0, 1]: log(0) never happens
    const u2 = this.#u();
    return Math.sqrt(-2 * Math.log(u1)) * Math.cos(2 * Math.PI * u2);
  }

  /** exp(N(mu, sigma)). */
  logNormal(mu: number, sigma: number): number {
    return Math.exp(mu + sigma * this.normal());
  }

  /** Exponential with the given mean. */
  exponential(mean: number): number {
    return -mean * Math.log(1 - this.#u());
  }

  /** Geometric on {1, 2, ...} with the given mean (>= 1). */
  geometric(mean: number): number {
    if (mean <= 1) return 1;
    const p = 1 / mean;
    return 1 + Math.floor(Math.log(1 - this.#u()) / Math.log(1 - p));
  }

  /** Picks from weighted choices. */
  pick<T>(choices: readonly (readonly [T, number])[]): T {
    const total = choices.reduce((s, [, w]) => s + w, 0);
    let x = this.#u() * total;
    for (const [value, weight] of choices) {
      x -= weight;
      if (x < 0) return value;
    }
    return choices[choices.length - 1]![0];
  }
}

export type Trigger = 'timer' | 'event';

/** One function of the trace. Rates are in replay time. */
export interface TraceFunction {
  readonly name: string;
  readonly memoryMB: number;
  readonly trigger: Trigger;
  /** Mean invokes per second of replay (after the speedup and the cap). */
  readonly ratePerS: number;
  /** Mean invokes per burst (1: plain Poisson; timers: 1). */
  readonly burstMean: number;
  /** Mean execution time of one invoke. */
  readonly meanDurationMs: number;
}

/** One invoke: when (ms from the start of the replay), which function, how long it runs. */
export interface Invocation {
  readonly atMs: number;
  readonly fn: number;
  readonly durationMs: number;
}

export interface TraceOptions {
  readonly seed: number;
  readonly functions: number;
  /** Length of the replay, seconds. */
  readonly durationS: number;
  /** Trace seconds per replay second (default 40: 15 s of replay = 10 min of trace). */
  readonly speedup?: number;
  /** The highest rate a function gets, per second of replay (default 2). */
  readonly maxRatePerS?: number;
  /** The longest an invoke runs (default 1000 ms). */
  readonly maxDurationMs?: number;
  /** The largest mean burst size of a bursty function (default 8; means are log-uniform in [2, maxBurstMean]). */
  readonly maxBurstMean?: number;
  /** Mean gap between the invokes of one burst (default 50 ms). */
  readonly burstGapMs?: number;
  /** Prefix of the function names (default "fn"). */
  readonly prefix?: string;
}

export interface Trace {
  readonly options: Required<TraceOptions>;
  readonly functions: readonly TraceFunction[];
  /** Sorted by atMs. */
  readonly invocations: readonly Invocation[];
}

/** The paper's quantiles of invocation frequency, as a normal law of log10(mean inter-arrival seconds). */
export const LOG10_IAT_MEAN = 3.333;
export const LOG10_IAT_SD = 1.771;
/** The paper's log-normal fit of average execution time (natural log of seconds). */
export const DURATION_MU = -0.38;
export const DURATION_SIGMA = 2.36;
const PER_INVOKE_SIGMA = 0.5;
const TIMER_SHARE = 0.16;
const MEMORY_MIX: readonly (readonly [number, number])[] = [
  [128, 0.5],
  [256, 0.3],
  [512, 0.15],
  [1024, 0.05],
];

/** Generates the trace. The same options give the same trace, invoke for invoke. */
export function generateTrace(options: TraceOptions): Trace {
  const o: Required<TraceOptions> = { speedup: 40, maxRatePerS: 2, maxDurationMs: 1000, maxBurstMean: 8, burstGapMs: 50, prefix: 'fn', ...options };
  if (!Number.isInteger(o.functions) || o.functions < 1) throw new RangeError(`functions must be a whole number >= 1, got ${o.functions}`);
  if (!(o.durationS > 0)) throw new RangeError(`durationS must be > 0, got ${o.durationS}`);
  const r = new Random(o.seed);
  const horizonMs = o.durationS * 1000;
  const clampDuration = (ms: number) => Math.min(o.maxDurationMs, Math.max(1, Math.round(ms)));

  // Per-function parameters first, in a fixed order, so that the number of
  // invokes one function draws never changes another function's parameters.
  const functions: TraceFunction[] = [];
  for (let i = 0; i < o.functions; i++) {
    const iatTraceS = 10 ** (LOG10_IAT_MEAN + LOG10_IAT_SD * r.normal());
    const ratePerS = Math.min(o.maxRatePerS, o.speedup / iatTraceS);
    const trigger: Trigger = r.uniform() < TIMER_SHARE ? 'timer' : 'event';
    const bursty = r.uniform() < 0.5;
    const burstMean = trigger === 'timer' || !bursty ? 1 : 2 * (o.maxBurstMean / 2) ** r.uniform(); // log-uniform in [2, maxBurstMean]
    const meanDurationMs = clampDuration(1000 * r.logNormal(DURATION_MU, DURATION_SIGMA));
    const memoryMB = r.pick(MEMORY_MIX);
    functions.push({ name: `${o.prefix}-${String(i).padStart(4, '0')}`, memoryMB, trigger, ratePerS, burstMean, meanDurationMs });
  }

  // Then each function's arrivals from a stream of its own (seeded from the
  // trace seed and its index), so one function's draws are independent of
  // the others'.
  const invocations: Invocation[] = [];
  functions.forEach((f, fn) => {
    const fr = new Random((o.seed * 0x9e3779b1 + fn * 0x85ebca6b + 1) >>> 0);
    const duration = () => clampDuration(f.meanDurationMs * fr.logNormal(-(PER_INVOKE_SIGMA ** 2) / 2, PER_INVOKE_SIGMA));
    const periodMs = 1000 / f.ratePerS;
    if (f.trigger === 'timer') {
      for (let t = fr.uniform() * periodMs; t < horizonMs; t += periodMs) invocations.push({ atMs: t, fn, durationMs: duration() });
      return;
    }
    const burstGapMs = periodMs * f.burstMean;
    for (let t = fr.exponential(burstGapMs); t < horizonMs; t += fr.exponential(burstGapMs)) {
      const size = fr.geometric(f.burstMean);
      let at = t;
      for (let k = 0; k < size && at < horizonMs; k++) {
        invocations.push({ atMs: at, fn, durationMs: duration() });
        at += fr.exponential(o.burstGapMs);
      }
    }
  });
  invocations.sort((a, b) => a.atMs - b.atMs || a.fn - b.fn);
  return { options: o, functions, invocations };
}

/** What a trace holds, for the report and the tests. */
export interface TraceSummary {
  readonly functions: number;
  /** Functions with at least one invoke in the replay. */
  readonly functionsInvoked: number;
  readonly invocations: number;
  /** Mean invokes per second over the replay. */
  readonly ratePerS: number;
  /** Highest and lowest mean rate of a function (per second of replay), before the replay window. */
  readonly maxFunctionRatePerS: number;
  readonly minFunctionRatePerS: number;
  /** Share of functions whose mean inter-arrival time is longer than `keepAliveS`. */
  readonly rarerThanKeepAlive: number;
  /** Share of the invokes that go to the busiest 10 % of functions. */
  readonly top10PercentShare: number;
  readonly durationP50Ms: number;
  readonly durationP99Ms: number;
  /** Σ durations / replay length: the mean number of invokes running at once. */
  readonly meanConcurrency: number;
  /** The most invokes running at once if every invoke ran exactly its duration. */
  readonly peakConcurrency: number;
}

export function summarize(trace: Trace, keepAliveS: number): TraceSummary {
  const { functions, invocations, options } = trace;
  const perFn = new Array<number>(functions.length).fill(0);
  let busyMs = 0;
  for (const inv of invocations) {
    perFn[inv.fn]!++;
    busyMs += inv.durationMs;
  }
  const counts = [...perFn].sort((a, b) => b - a);
  const top = counts.slice(0, Math.max(1, Math.ceil(functions.length / 10))).reduce((s, n) => s + n, 0);
  const durations = invocations.map((i) => i.durationMs).sort((a, b) => a - b);
  const q = (p: number) => durations[Math.min(durations.length - 1, Math.max(0, Math.ceil(p * durations.length) - 1))] ?? NaN;
  // Peak concurrency: sweep the starts and ends.
  const edges: [number, number][] = [];
  for (const inv of invocations) edges.push([inv.atMs, 1], [inv.atMs + inv.durationMs, -1]);
  edges.sort((a, b) => a[0] - b[0] || a[1] - b[1]);
  let running = 0;
  let peak = 0;
  for (const [, d] of edges) peak = Math.max(peak, (running += d));
  const rates = functions.map((f) => f.ratePerS);
  return {
    functions: functions.length,
    functionsInvoked: perFn.filter((n) => n > 0).length,
    invocations: invocations.length,
    ratePerS: invocations.length / options.durationS,
    maxFunctionRatePerS: Math.max(...rates),
    minFunctionRatePerS: Math.min(...rates),
    rarerThanKeepAlive: functions.filter((f) => 1 / f.ratePerS > keepAliveS).length / functions.length,
    top10PercentShare: invocations.length > 0 ? top / invocations.length : 0,
    durationP50Ms: q(0.5),
    durationP99Ms: q(0.99),
    meanConcurrency: busyMs / (options.durationS * 1000),
    peakConcurrency: peak,
  };
}
