/**
 * `npm run bench:fleet`: the benchmarks of issue 4, printed as markdown
 * (bench/RESULTS.md records them with the command).
 *
 * - Counting: acquire + release latency and throughput of the in-process
 *   CountingService against a bare Map (bench/counting.ts).
 * - Placement: one synthetic Azure-shaped trace (bench/trace.ts) replayed
 *   against the real platform with 4 worker processes in 2 zones, once with
 *   --placement pack and once with --placement round-robin
 *   (bench/placement.ts).
 *
 *   npm run bench:fleet                      both, ~4 minutes
 *   npm run bench:fleet -- --quick           a 30 s trace, keep-alive 8 s (~1 minute)
 *   npm run bench:fleet -- --only counting   (or placement)
 *   npm run bench:fleet -- --seed 7 --duration 120 --functions 100 --keep-alive 15
 *     --sandbox process --workers 4 --zones a,b --worker-capacity 20480
 *     --max-rate 2 --max-duration 1000 --max-burst 8 --policies pack,round-robin
 *
 * The trace's speedup defaults to 600 / keep-alive, so that the keep-alive
 * stands for 10 minutes of trace time (see bench/trace.ts).
 */
import { cpus } from 'node:os';
import { parseArgs } from 'node:util';
import { benchCounting, DEFAULT_COUNTING_OPTIONS, formatCounting } from './counting.js';
import { formatPlacement, replay, type PlacementResult } from './placement.js';
import { generateTrace, summarize } from './trace.js';

const { values: flags } = parseArgs({
  options: {
    quick: { type: 'boolean', default: false },
    only: { type: 'string' },
    seed: { type: 'string', default: '7' },
    duration: { type: 'string' },
    functions: { type: 'string' },
    'max-rate': { type: 'string' },
    'max-duration': { type: 'string' },
    'max-burst': { type: 'string' },
    speedup: { type: 'string' },
    sandbox: { type: 'string', default: 'process' },
    workers: { type: 'string' },
    zones: { type: 'string', default: 'a,b' },
    'worker-capacity': { type: 'string' },
    'keep-alive': { type: 'string' },
    policies: { type: 'string', default: 'pack,round-robin' },
  },
});

function num(name: string, value: string | undefined, fallback: number): number {
  if (value === undefined) return fallback;
  const n = Number(value);
  if (!Number.isFinite(n) || n <= 0) throw new Error(`--${name} must be a positive number, got ${value}`);
  return n;
}

const quick = flags.quick === true;
const only = flags.only;
if (only !== undefined && only !== 'counting' && only !== 'placement') throw new Error(`--only must be counting or placement, got ${only}`);
const policies = flags.policies.split(',').map((p) => {
  if (p !== 'pack' && p !== 'round-robin') throw new Error(`unknown policy ${p} (pack, round-robin)`);
  return p;
});

const log = (m: string) => console.error(`[bench:fleet] ${m}`);

async function main(): Promise<void> {
  console.log(`# Kindling fleet benchmark\n\n${cpus().length} × ${cpus()[0]?.model ?? 'cpu'}, Node ${process.version}${quick ? ', --quick' : ''}\n`);

  if (only !== 'placement') {
    log('counting');
    const options = quick ? { ...DEFAULT_COUNTING_OPTIONS, singleOps: 50_000, batches: 300, rounds: 3 } : DEFAULT_COUNTING_OPTIONS;
    console.log('## Counting service: acquire + release\n');
    console.log(formatCounting(benchCounting(options)));
    console.log('');
  }

  if (only !== 'counting') {
    const keepAliveS = num('keep-alive', flags['keep-alive'], quick ? 8 : 15);
    const trace = generateTrace({
      seed: num('seed', flags.seed, 7),
      functions: num('functions', flags.functions, quick ? 60 : 100),
      durationS: num('duration', flags.duration, quick ? 30 : 120),
      speedup: num('speedup', flags.speedup, 600 / keepAliveS),
      maxRatePerS: num('max-rate', flags['max-rate'], 2),
      maxDurationMs: num('max-duration', flags['max-duration'], 1000),
      maxBurstMean: num('max-burst', flags['max-burst'], 8),
    });
    const fleet = {
      workers: num('workers', flags.workers, 4),
      zones: flags.zones.split(','),
      // The default trace peaks near 50 GB of MemorySize in live sandboxes
      // (round-robin keeps more): 4 × 20 GB holds it spread out, and packed
      // it needs 2 to 3 of the 4 workers.
      workerCapacityMB: num('worker-capacity', flags['worker-capacity'], 20480),
      keepAliveS,
      sandbox: flags.sandbox,
      sampleMs: 500,
    };
    const s = summarize(trace, keepAliveS);
    const o = trace.options;
    console.log('## Placement (trace-driven)\n');
    console.log(
      `Trace: seed ${o.seed}, ${s.functions} functions (${s.functionsInvoked} invoked in the replay, the only ones deployed), ${s.invocations} invokes over ${o.durationS} s ` +
        `(${s.ratePerS.toFixed(1)}/s), speedup ${o.speedup.toFixed(0)} (keep-alive ${keepAliveS} s = ${((keepAliveS * o.speedup) / 60).toFixed(0)} min of trace time), ` +
        `function rates ${s.minFunctionRatePerS.toExponential(1)}–${s.maxFunctionRatePerS}/s (capped at ${o.maxRatePerS}/s), bursts of mean size up to ${o.maxBurstMean}, ` +
        `${(100 * s.rarerThanKeepAlive).toFixed(0)} % of functions invoked less often than once per keep-alive, busiest 10 % of functions get ${(100 * s.top10PercentShare).toFixed(0)} % of invokes; ` +
        `durations p50 ${s.durationP50Ms} ms, p99 ${s.durationP99Ms} ms (capped at ${o.maxDurationMs}); offered concurrency mean ${s.meanConcurrency.toFixed(1)}, peak ${s.peakConcurrency}.\n`,
    );
    console.log(
      `Fleet: ${fleet.workers} worker processes in zones ${fleet.zones.join(',')}, ${fleet.workerCapacityMB} MB each, keep-alive ${keepAliveS} s, --sandbox ${fleet.sandbox}; status sampled every ${fleet.sampleMs} ms.\n`,
    );
    const results: PlacementResult[] = [];
    for (const policy of policies) results.push(await replay(trace, policy, fleet, log));
    console.log(formatPlacement(results));
  }
}

await main();
