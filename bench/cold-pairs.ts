/**
 * Cold starts of two backends side by side, in pairs: one `kindling up` per
 * backend (both running, no stem cells), and for each of `count` fresh no-op
 * functions, its twin deployed and invoked once on each platform, one right
 * after the other. What the machine does meanwhile (a slow minute, a noisy
 * neighbour) then falls on both sides of a pair, which `npm run bench` (one
 * backend after the other, minutes apart) cannot promise; the table reports
 * each backend's percentiles and the median of the pairs' differences.
 *
 *   npm run build && node dist/bench/cold-pairs.js [--count 60] [--backends process,namespace]
 */
import { rmSync } from 'node:fs';
import { cpus } from 'node:os';
import { launchKindling, type Kindling } from '../test/e2e/harness.js';
import { percentile } from './load.js';
import { coldStartPairs, coldStarts, pairDifferences } from './sandboxes.js';

const argv = process.argv.slice(2);
const count = argv.includes('--count') ? Number(argv[argv.indexOf('--count') + 1]) : 60;
const backendsArg = argv.includes('--backends') ? argv[argv.indexOf('--backends') + 1] : undefined;
const [base, other] = (backendsArg ?? 'process,namespace').split(',') as [string, string];
if (!(count > 0) || other === undefined) throw new Error('usage: cold-pairs.js [--count N] [--backends base,other]');
/** How long the runtime's startup snapshot may take to build once its first sandbox asked for it (see run.ts). */
const SNAPSHOT_BUILD_WAIT_MS = 3000;

const fmt = (n: number) => n.toFixed(2);

async function up(backend: string): Promise<Kindling> {
  const k = await launchKindling({ args: ['--sandbox', backend, '--stem-cells', '0', '--keep-alive', '600'] });
  // The first cold start asks for the runtime's snapshot at 128 MB; the rest start from it.
  await coldStarts(k, 'prime', 1);
  return k;
}

async function main(): Promise<void> {
  const platforms: Kindling[] = [];
  try {
    platforms.push(await up(base), await up(other));
    await new Promise((r) => setTimeout(r, SNAPSHOT_BUILD_WAIT_MS));
    const times = await coldStartPairs(platforms[0]!, platforms[1]!, 'pair', count);
    const sorted = times.map((t) => Float64Array.from(t).sort());
    const diffs = pairDifferences(times[0], times[1]);
    console.log(`# Cold starts in pairs: ${base} and ${other}\n\n${cpus().length} × ${cpus()[0]?.model ?? 'cpu'}, Node ${process.version}, ${count} pairs of fresh no-op functions (128 MB), no stem cells\n`);
    console.log('| | p10 ms | p50 ms | p90 ms | p99 ms |\n|---|---|---|---|---|');
    for (const [side, name] of [base, other].entries()) {
      const s = sorted[side]!;
      console.log(`| kindling, ${name} | ${fmt(percentile(s, 10))} | ${fmt(percentile(s, 50))} | ${fmt(percentile(s, 90))} | ${fmt(percentile(s, 99))} |`);
    }
    console.log(`| ${other} − ${base}, per pair | ${fmt(percentile(diffs, 10))} | ${fmt(percentile(diffs, 50))} | ${fmt(percentile(diffs, 90))} | ${fmt(percentile(diffs, 99))} |`);
    console.log(`\np50 of ${other} − p50 of ${base}: ${fmt(percentile(sorted[1]!, 50) - percentile(sorted[0]!, 50))} ms`);
  } finally {
    for (const k of platforms) {
      k.client.destroy();
      await k.stop();
      rmSync(k.dataDir, { recursive: true, force: true });
    }
  }
}

await main();
