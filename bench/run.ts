/**
 * `npm run bench`: Kindling measured side by side with its baselines in one
 * run, printed as markdown tables (bench/RESULTS.md records them with the
 * command).
 *
 * - Warm invokes: latency at concurrency 1 and throughput at 1, 8 and 32, of
 *   a no-op function on each sandbox backend, against the same handler behind
 *   a bare node:http server (the physical limit on this machine).
 * - Sandboxes, per backend: cold start (invoke to response of a new sandbox)
 *   against node's own start, creation rate, and the platform's memory per
 *   idle sandbox.
 * - Stem cells, per backend, in the same run: cold starts and creation rate
 *   again on a platform with stem cells (`--stem-cells N`; the rows above
 *   run with `--stem-cells 0`).
 * - Cold starts of each isolating backend in pairs with `process`, both
 *   platforms up at once (the margin the sequential rows cannot give).
 *
 * Throughput is measured after a warm-up of WARM_UP_PER_CONNECTION requests
 * per connection: each sandbox (and each process of the per-connection
 * baseline) sees 1/c of the traffic, so its JIT warms c times slower than one
 * server's. A warm-up in seconds would measure JIT warm-up at c=32.
 *
 *   npm run bench                    everything
 *   npm run bench -- --quick         fewer requests (a smoke run)
 *   npm run bench -- --backends process,namespace
 *   npm run bench -- --warm-only     warm latency and throughput only
 */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { cpus, tmpdir } from 'node:os';
import { join } from 'node:path';
import { launchKindling, deploy, type Kindling } from '../test/e2e/harness.js';
import { bareColdStart, bareStartRate, startBare, startRelay } from './bare.js';
import { load, percentile, type LoadResult, type Target } from './load.js';
import { coldStartPairs, coldStarts, creationRate, idleMemory, pairDifferences } from './sandboxes.js';
import { stemCellBound } from '../src/worker/stem-cells.js';

const argv = process.argv.slice(2);
const quick = argv.includes('--quick');
const warmOnly = argv.includes('--warm-only');
const backendsArg = argv[argv.indexOf('--backends') + 1];
const BACKENDS = argv.includes('--backends') && backendsArg ? backendsArg.split(',') : ['process', 'namespace', 'gvisor'];
const LATENCY_REQUESTS = quick ? 500 : 5000;
const THROUGHPUT_SECONDS = quick ? 1 : 4;
const CONCURRENCIES = [1, 8, 32] as const;
/** Requests per connection before a throughput cell is measured (see the file comment), capped at WARM_UP_MAX_SECONDS. */
const WARM_UP_PER_CONNECTION = quick ? 300 : 3000;
const WARM_UP_MAX_SECONDS = quick ? 3 : 60;
const COLD_FUNCTIONS = quick ? 10 : 30;
/** How long primeSnapshot waits for the worker to build and check a snapshot (~0.7 s of CPU here, twice that on a slow moment). */
const SNAPSHOT_BUILD_WAIT_MS = 3000;
const CREATION_BURST = quick ? 16 : 32;
const IDLE_SANDBOXES = quick ? 10 : 20;
/** Warm invokes run at one full vCPU (Lambda's 1769 MB), so the platform, not the CPU share, is measured. */
const WARM_MEMORY_MB = 1769;
/** Worker capacity the bench's platform offers: 40 sandboxes of WARM_MEMORY_MB. */
const BENCH_WORKER_CAPACITY_MB = 40 * WARM_MEMORY_MB;
/**
 * Stem-cell bounds measured per backend: the platform's default for the
 * bench's worker capacity (undefined: no --stem-cells; stemCellBound) and
 * 4, the smallest default, which a burst outgrows. gVisor's cells take
 * ~0.6 s each to start: its default pool would take a minute to refill.
 */
const STEM_CELL_BOUNDS: Readonly<Record<string, readonly (number | undefined)[]>> = { process: [undefined, 4], namespace: [undefined, 4], gvisor: [4] };
const HANDLER = `exports.handler = async () => ({ ok: true });\n`;

const fmt = (n: number, digits = 2) => (Number.isFinite(n) ? n.toFixed(digits) : 'n/a');

interface Summary {
  readonly p50: number;
  readonly p90: number;
  readonly p99: number;
  readonly rps: number;
  readonly errors: number;
}

function summary(r: LoadResult): Summary {
  return { p50: percentile(r.latenciesMs, 50), p90: percentile(r.latenciesMs, 90), p99: percentile(r.latenciesMs, 99), rps: r.requests / r.seconds, errors: r.errors };
}

async function throughputAt(target: Target, c: number): Promise<Summary> {
  // Warm-up: at c, kindling starts c sandboxes, and each one's JIT warms.
  await load(target, c, { count: c * WARM_UP_PER_CONNECTION, seconds: WARM_UP_MAX_SECONDS });
  return summary(await load(target, c, { seconds: THROUGHPUT_SECONDS }));
}

/** Throughput at every concurrency of the table. */
async function throughputs(target: Target): Promise<Map<number, Summary>> {
  const throughput = new Map<number, Summary>();
  for (const c of CONCURRENCIES) throughput.set(c, await throughputAt(target, c));
  return throughput;
}

async function warm(target: Target): Promise<{ latency: Summary; throughput: Map<number, Summary> }> {
  await load(target, 1, { count: 300 }); // warm-up: sandbox started, JIT warm
  const latency = summary(await load(target, 1, { count: LATENCY_REQUESTS }));
  return { latency, throughput: await throughputs(target) };
}

/**
 * The Lambda model's own limit: one bare server process per connection, as
 * there is one sandbox per concurrent invoke. At c=1 it is the bare server.
 */
async function perConnectionBaseline(handlerFile: string): Promise<Map<number, Summary>> {
  const servers = await Promise.all(Array.from({ length: Math.max(...CONCURRENCIES) }, () => startBare(handlerFile)));
  try {
    const throughput = new Map<number, Summary>();
    for (const c of CONCURRENCIES) {
      if (c === 1) continue;
      throughput.set(c, await throughputAt({ url: servers.slice(0, c).map((s) => s.url), body: Buffer.from('{}') }, c));
    }
    return throughput;
  } finally {
    for (const s of servers) s.stop();
  }
}

/**
 * The floor of one process per concurrent invoke: a node:http server that
 * relays each request to one child process per connection
 * (bench/relay-server.ts), with nothing of a platform's work.
 */
async function relayBaseline(handlerFile: string): Promise<Map<number, Summary>> {
  const relay = await startRelay(handlerFile);
  try {
    return await throughputs({ url: relay.url, body: Buffer.from('{}') });
  } finally {
    relay.stop();
  }
}

/** `kindling up` on `backend` for the bench; stemCells undefined leaves the bound to the platform's default. */
async function tryLaunch(backend: string, stemCells: number | undefined, extraArgs: readonly string[] = []): Promise<Kindling | string> {
  try {
    // 32 warm sandboxes of 1769 MB hold 56 GB of MemorySize, more than this
    // host's default worker capacity (90% of its memory): placement would
    // refuse the 13th ("No worker has room"). The no-op uses ~50 MB each, so
    // the bench offers room for them all; it measures the invoke path, not packing.
    const cells = stemCells === undefined ? [] : ['--stem-cells', String(stemCells)];
    return await launchKindling({ args: ['--sandbox', backend, '--keep-alive', '600', ...cells, '--worker-capacity', String(BENCH_WORKER_CAPACITY_MB), ...extraArgs] });
  } catch (err) {
    const lines = String((err as Error).message).split('\n').filter((l) => l.startsWith('kindling:'));
    return lines.at(-1) ?? (err as Error).message.split('\n')[0]!;
  }
}

/**
 * The first nodejs sandbox of a MemorySize after `kindling up` starts without
 * the runtime's startup snapshot and has the worker build it (about a second
 * of CPU): one cold start of a 128 MB function, then a pause for the build,
 * so that the measured cold starts find the platform as it runs from then on.
 */
async function primeSnapshot(k: Kindling): Promise<void> {
  await coldStarts(k, 'prime', 1);
  await new Promise((r) => setTimeout(r, SNAPSHOT_BUILD_WAIT_MS));
}

async function main(): Promise<void> {
  const dir = mkdtempSync(join(tmpdir(), 'kindling-bench-'));
  const handlerFile = join(dir, 'index.js');
  writeFileSync(handlerFile, HANDLER);
  const bare = await startBare(handlerFile);
  const bareWarm = await warm({ url: bare.url, body: Buffer.from('{}') });
  bare.stop();
  const perConnection = await perConnectionBaseline(handlerFile);
  const relayed = await relayBaseline(handlerFile);
  const coldFloor: number[] = [];
  if (!warmOnly) for (let i = 0; i < COLD_FUNCTIONS; i++) coldFloor.push(await bareColdStart(handlerFile));
  const startCeiling = warmOnly ? 0 : await bareStartRate(handlerFile, CREATION_BURST);

  const warmBy = new Map<string, Awaited<ReturnType<typeof warm>>>();
  const coldBy = new Map<string, Float64Array>();
  const rateBy = new Map<string, number>();
  const memoryBy = new Map<string, Awaited<ReturnType<typeof idleMemory>>>();
  /** `<backend>, N stem cells` → cold starts; creation rate of a first burst and of a second one once the pool has grown. */
  const cellColdBy = new Map<string, Float64Array>();
  const cellRateBy = new Map<string, { first: number; second: number }>();
  const skipped = new Map<string, string>();
  for (const backend of BACKENDS) {
    const k = await tryLaunch(backend, 0);
    if (typeof k === 'string') {
      skipped.set(backend, k);
      continue;
    }
    try {
      await deploy(k.client, 'noop', { 'index.js': HANDLER }, { MemorySize: WARM_MEMORY_MB });
      warmBy.set(backend, await warm({ url: new URL('/2015-03-31/functions/noop/invocations', k.url), body: Buffer.from('{}') }));
      if (warmOnly) continue; // (after finally: no stem-cell rows either)
      await primeSnapshot(k);
      coldBy.set(backend, await coldStarts(k, 'cold', COLD_FUNCTIONS));
      rateBy.set(backend, await creationRate(k, 'burst', CREATION_BURST));
    } finally {
      k.client.destroy();
      await k.stop();
      rmSync(k.dataDir, { recursive: true, force: true });
    }
    if (!warmOnly) {
      // Memory per idle sandbox on a platform of its own: the runtimes of the
      // rows above are still warm, and would be counted with the idle ones.
      const km = await tryLaunch(backend, 0);
      if (typeof km !== 'string') {
        try {
          await primeSnapshot(km);
          memoryBy.set(backend, await idleMemory(km, 'idle', IDLE_SANDBOXES, 1));
        } finally {
          km.client.destroy();
          await km.stop();
          rmSync(km.dataDir, { recursive: true, force: true });
        }
      }
      // The same cold starts with every sandbox's node started as a script (the baseline of the snapshot).
      const label = `${backend}, --no-runtime-snapshots`;
      const kn = await tryLaunch(backend, 0, ['--no-runtime-snapshots']);
      if (typeof kn === 'string') skipped.set(label, kn);
      else {
        try {
          coldBy.set(label, await coldStarts(kn, 'cold', COLD_FUNCTIONS));
        } finally {
          kn.client.destroy();
          await kn.stop();
          rmSync(kn.dataDir, { recursive: true, force: true });
        }
      }
    }
    for (const option of STEM_CELL_BOUNDS[backend] ?? [4]) {
      const bound = option ?? stemCellBound(BENCH_WORKER_CAPACITY_MB);
      const label = option === undefined ? `${backend}, default stem cells (at most ${bound})` : `${backend}, at most ${bound} stem cells`;
      const kc = await tryLaunch(backend, option);
      if (typeof kc === 'string') {
        skipped.set(label, kc);
        continue;
      }
      try {
        // The seeded cell (128 MB nodejs) is started with the platform, and
        // then again from the snapshot once it is built.
        await primeSnapshot(kc);
        await new Promise((r) => setTimeout(r, refillWaitMs(backend, 1)));
        cellColdBy.set(label, await coldStarts(kc, 'cold', COLD_FUNCTIONS));
        // The same, each cold start after the pool's refill: what one finds when cold starts come no faster than cells start.
        const gap = refillWaitMs(backend, 1);
        cellColdBy.set(`${label}, each ${(gap / 1000).toFixed(2)} s after the last`, await coldStarts(kc, 'spaced', COLD_FUNCTIONS, 128, gap));
        await new Promise((r) => setTimeout(r, refillWaitMs(backend, 1)));
        const first = await creationRate(kc, 'burst', CREATION_BURST);
        // The burst's misses grew the pool to its bound: let it refill.
        await new Promise((r) => setTimeout(r, refillWaitMs(backend, bound)));
        const second = await creationRate(kc, 'burst2', CREATION_BURST);
        cellRateBy.set(label, { first, second });
      } finally {
        kc.client.destroy();
        await kc.stop();
        rmSync(kc.dataDir, { recursive: true, force: true });
      }
    }
  }
  rmSync(dir, { recursive: true, force: true });
  const pairsBy = warmOnly ? new Map<string, [number[], number[]]>() : await pairsAgainstProcess(skipped);

  const b = bareWarm.latency;
  console.log(`# Kindling benchmark\n\n${cpus().length} × ${cpus()[0]?.model ?? 'cpu'}, Node ${process.version}${quick ? ', --quick' : ''}\n`);
  for (const [backend, reason] of skipped) console.log(`- ${backend} backend skipped: ${reason}`);
  if (skipped.size > 0) console.log('');

  console.log(`## Warm invoke latency, concurrency 1 (${LATENCY_REQUESTS} requests; functions at ${WARM_MEMORY_MB} MB)\n`);
  console.log('| | p50 ms | p90 ms | p99 ms | p50 − bare | p99 − bare |\n|---|---|---|---|---|---|');
  console.log(`| bare node:http | ${fmt(b.p50, 3)} | ${fmt(b.p90, 3)} | ${fmt(b.p99, 3)} | | |`);
  for (const [backend, w] of warmBy) {
    const l = w.latency;
    console.log(`| kindling, ${backend} | ${fmt(l.p50, 3)} | ${fmt(l.p90, 3)} | ${fmt(l.p99, 3)} | ${fmt(l.p50 - b.p50, 3)} | ${fmt(l.p99 - b.p99, 3)} |`);
  }

  console.log(`\n## Warm throughput (${THROUGHPUT_SECONDS} s per cell, after ${WARM_UP_PER_CONNECTION} requests per connection or ${WARM_UP_MAX_SECONDS} s)\n`);
  console.log(
    '"bare" is one node:http server; "bare ×c" is c of them, one connection each, as there is one sandbox per concurrent invoke; ' +
      '"relay" is one node:http server relaying each request to one child process per connection (bench/relay-server.ts), the floor of one process per concurrent invoke. "÷" columns divide by each.\n',
  );
  const names = [...warmBy.keys()];
  console.log(`| concurrency | bare req/s | bare ×c req/s | relay req/s | ${names.map((n) => `${n} req/s | ÷ bare | ÷ bare ×c | ÷ relay | p99 ms`).join(' | ')} |`);
  console.log(`|---|---|---|---|${names.map(() => '---|---|---|---|---').join('|')}|`);
  for (const c of CONCURRENCIES) {
    const rb = bareWarm.throughput.get(c)!;
    const rc = perConnection.get(c) ?? rb;
    const rr = relayed.get(c)!;
    const cells = names.map((n) => {
      const r = warmBy.get(n)!.throughput.get(c)!;
      return `${fmt(r.rps, 0)}${r.errors ? ` (${r.errors} errors)` : ''} | ${fmt(r.rps / rb.rps)} | ${fmt(r.rps / rc.rps)} | ${fmt(r.rps / rr.rps)} | ${fmt(r.p99, 1)}`;
    });
    console.log(`| ${c} | ${fmt(rb.rps, 0)} | ${fmt(rc.rps, 0)} | ${fmt(rr.rps, 0)} | ${cells.join(' | ')} |`);
  }
  if (warmOnly) return;

  const floor = Float64Array.from(coldFloor).sort();
  console.log(`\n## Cold start: invoke to response of a new sandbox (${COLD_FUNCTIONS} fresh no-op functions, 128 MB)\n`);
  console.log('Each function is deployed, then invoked once, one function after another. With stem cells that asks for cells faster than a pool can start them (~70 ms each for namespace here); the rows "each N s after the last" wait for the refill before each invoke.\n');
  console.log('| | p50 ms | p99 ms |\n|---|---|---|');
  console.log(`| node start + handler, no platform (floor) | ${fmt(percentile(floor, 50))} | ${fmt(percentile(floor, 99))} |`);
  for (const [backend, c] of coldBy) console.log(`| kindling, ${backend} | ${fmt(percentile(c, 50))} | ${fmt(percentile(c, 99))} |`);
  for (const [label, c] of cellColdBy) console.log(`| kindling, ${label} | ${fmt(percentile(c, 50))} | ${fmt(percentile(c, 99))} |`);

  if (pairsBy.size > 0) {
    console.log(`\n## Cold start in pairs: each backend against process (${COLD_FUNCTIONS} pairs of fresh no-op functions, 128 MB, no stem cells)\n`);
    console.log('The rows above measure one backend after another, minutes apart, while the machine\'s speed drifts. Here both platforms run at once, and each function\'s twin is invoked on each, one right after the other (bench/sandboxes.ts, coldStartPairs; `npm run bench:cold` runs more pairs).\n');
    console.log('| backend | process p50 ms | backend p50 ms | backend − process per pair: p10 ms | p50 ms | p90 ms |\n|---|---|---|---|---|---|');
    for (const [backend, [base, other]] of pairsBy) {
      const diffs = pairDifferences(base, other);
      const p50 = (t: number[]) => percentile(Float64Array.from(t).sort(), 50);
      console.log(`| ${backend} | ${fmt(p50(base))} | ${fmt(p50(other))} | ${fmt(percentile(diffs, 10))} | ${fmt(percentile(diffs, 50))} | ${fmt(percentile(diffs, 90))} |`);
    }
  }

  console.log(`\n## Sandboxes: creation rate (${CREATION_BURST} concurrent cold invokes) and memory per idle sandbox (${IDLE_SANDBOXES} idle)\n`);
  console.log('| backend | sandboxes created / s | platform MB per idle sandbox | runtime MB per idle sandbox (node + function, for scale) |\n|---|---|---|---|');
  console.log(`| ${CREATION_BURST} node starts at once, no platform (ceiling without pre-started runtimes) | ${fmt(startCeiling, 0)} | | |`);
  for (const backend of rateBy.keys()) {
    const m = memoryBy.get(backend)!;
    // Under gVisor the runtime is not a host process (it runs on the sandbox's
    // own kernel, inside runsc-sandbox): the split is not measurable, the sum is.
    const split = m.runtimeMbPerSandbox > 0;
    const platform = split ? fmt(m.platformMbPerSandbox) : `${fmt(m.platformMbPerSandbox)} (runtime included)`;
    console.log(`| ${backend} | ${fmt(rateBy.get(backend)!, 0)} | ${platform} | ${split ? fmt(m.runtimeMbPerSandbox, 1) : 'inside the line before'} |`);
  }

  if (cellRateBy.size > 0) {
    console.log(`\n## Stem cells: creation rate (${CREATION_BURST} concurrent cold invokes of a new 128 MB function)\n`);
    console.log('The first burst finds the pool as cold starts one at a time left it (one cell of the 128 MB shape); its misses grow the pool by one each (up to its bound), and the second burst, after the refill, finds a cell for each invoke the pool could grow for.\n');
    console.log('| | first burst, sandboxes / s | second burst, sandboxes / s |\n|---|---|---|');
    for (const [backend, r] of rateBy) console.log(`| ${backend}, no stem cells | ${fmt(r, 0)} | |`);
    for (const [label, r] of cellRateBy) console.log(`| ${label} | ${fmt(r.first, 0)} | ${fmt(r.second, 0)} |`);
  }
}

/**
 * Cold starts of each isolating backend measured in pairs with `process`
 * (coldStartPairs): both platforms up at once, without stem cells.
 */
async function pairsAgainstProcess(skipped: Map<string, string>): Promise<Map<string, [number[], number[]]>> {
  const pairsBy = new Map<string, [number[], number[]]>();
  if (!BACKENDS.includes('process') || skipped.has('process')) return pairsBy;
  for (const backend of BACKENDS.filter((b) => b !== 'process' && !skipped.has(b))) {
    const platforms: Kindling[] = [];
    try {
      for (const side of ['process', backend]) {
        const k = await tryLaunch(side, 0);
        if (typeof k === 'string') throw new Error(`${side}: ${k}`);
        platforms.push(k);
        await coldStarts(k, 'prime', 1);
      }
      await new Promise((r) => setTimeout(r, SNAPSHOT_BUILD_WAIT_MS));
      pairsBy.set(backend, await coldStartPairs(platforms[0]!, platforms[1]!, 'pair', COLD_FUNCTIONS));
    } catch (err) {
      skipped.set(`${backend} against process, in pairs`, (err as Error).message);
    } finally {
      for (const k of platforms) {
        k.client.destroy();
        await k.stop();
        rmSync(k.dataDir, { recursive: true, force: true });
      }
    }
  }
  return pairsBy;
}

/** Time for a pool to start `cells` cells in the background, one at a time (gVisor's start is ~0.6 s). */
function refillWaitMs(backend: string, cells: number): number {
  return 1000 + cells * (backend === 'gvisor' ? 1500 : 150);
}

await main();


