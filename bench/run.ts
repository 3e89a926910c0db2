/**
 * `npm run bench`: warm invoke latency and throughput, and cold starts, of
 * Kindling side by side with the same handler behind a bare node:http server
 * (the physical limit on this machine), in one run. Prints markdown tables;
 * bench/RESULTS.md records them with the command.
 *
 *   npm run bench                    everything
 *   npm run bench -- --quick         fewer requests (a smoke run)
 */
import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import http from 'node:http';
import { cpus, tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { launchKindling, deploy } from '../test/e2e/harness.js';
import { load, percentile, request, type LoadResult, type Target } from './load.js';

const quick = process.argv.includes('--quick');
const LATENCY_REQUESTS = quick ? 500 : 5000;
const THROUGHPUT_SECONDS = quick ? 1 : 4;
const COLD_FUNCTIONS = quick ? 10 : 40;
const HANDLER = `exports.handler = async () => ({ ok: true });\n`;
const BARE = fileURLToPath(new URL('./bare-server.js', import.meta.url));
const CLEAN_ENV = { PATH: '/usr/local/bin:/usr/bin:/bin' };

const fmt = (n: number, digits = 2) => (Number.isFinite(n) ? n.toFixed(digits) : 'n/a');

async function startBare(handlerFile: string): Promise<{ url: URL; stop(): void }> {
  const child = spawn(process.execPath, [BARE, handlerFile], { env: CLEAN_ENV, stdio: ['ignore', 'pipe', 'inherit'] });
  const port = await new Promise<number>((resolve, reject) => {
    let out = '';
    child.stdout.setEncoding('utf8').on('data', (d: string) => {
      out += d;
      const m = /listening (\d+)/.exec(out);
      if (m) resolve(Number(m[1]));
    });
    child.once('exit', (code) => reject(new Error(`bare server exited ${code}`)));
  });
  return { url: new URL(`http://127.0.0.1:${port}/`), stop: () => child.kill('SIGKILL') };
}

/** Time from spawning `node` (cleared environment) to the handler's first result: the floor of a cold start. */
function bareColdStart(handlerFile: string): Promise<number> {
  return new Promise((resolve, reject) => {
    const t0 = performance.now();
    const child = spawn(process.execPath, [BARE, handlerFile, '--once'], { env: CLEAN_ENV, stdio: ['ignore', 'pipe', 'inherit'] });
    child.stdout.once('data', () => resolve(performance.now() - t0));
    child.once('error', reject);
  });
}

function summary(r: LoadResult) {
  return { p50: percentile(r.latenciesMs, 50), p90: percentile(r.latenciesMs, 90), p99: percentile(r.latenciesMs, 99), rps: r.requests / r.seconds, errors: r.errors };
}

async function main(): Promise<void> {
  const dir = mkdtempSync(join(tmpdir(), 'kindling-bench-'));
  const handlerFile = join(dir, 'index.js');
  writeFileSync(handlerFile, HANDLER);
  const kindling = await launchKindling({ args: ['--keep-alive', '600'] });
  const bare = await startBare(handlerFile);
  try {
    await deploy(kindling.client, 'noop', { 'index.js': HANDLER });
    const targets: Record<'bare' | 'kindling', Target> = {
      bare: { url: bare.url, body: Buffer.from('{}') },
      kindling: { url: new URL('/2015-03-31/functions/noop/invocations', kindling.url), body: Buffer.from('{}') },
    };

    console.log(`# Kindling benchmark\n\n${cpus().length} × ${cpus()[0]?.model ?? 'cpu'}, Node ${process.version}, sandbox backend: process${quick ? ', --quick' : ''}\n`);

    // Warm latency, one request at a time.
    const latency: Record<string, ReturnType<typeof summary>> = {};
    for (const side of ['bare', 'kindling'] as const) {
      await load(targets[side], 1, { count: 300 }); // warm-up: sandbox started, JIT warm
      latency[side] = summary(await load(targets[side], 1, { count: LATENCY_REQUESTS }));
    }
    const b = latency.bare!;
    const k = latency.kindling!;
    console.log(`## Warm invoke latency, concurrency 1 (${LATENCY_REQUESTS} requests)\n`);
    console.log('| | p50 ms | p90 ms | p99 ms |\n|---|---|---|---|');
    console.log(`| bare node:http | ${fmt(b.p50, 3)} | ${fmt(b.p90, 3)} | ${fmt(b.p99, 3)} |`);
    console.log(`| kindling | ${fmt(k.p50, 3)} | ${fmt(k.p90, 3)} | ${fmt(k.p99, 3)} |`);
    console.log(`| kindling − bare | ${fmt(k.p50 - b.p50, 3)} | ${fmt(k.p90 - b.p90, 3)} | ${fmt(k.p99 - b.p99, 3)} |`);
    console.log(`| kindling ÷ bare | ${fmt(k.p50 / b.p50)} | ${fmt(k.p90 / b.p90)} | ${fmt(k.p99 / b.p99)} |\n`);

    // Throughput at several concurrencies.
    console.log(`## Warm throughput (${THROUGHPUT_SECONDS} s per cell, after a warm-up)\n`);
    console.log('| concurrency | bare req/s | kindling req/s | kindling ÷ bare | kindling p50 ms | kindling p99 ms | errors |\n|---|---|---|---|---|---|---|');
    for (const c of [1, 8, 32]) {
      const row: Record<string, ReturnType<typeof summary>> = {};
      for (const side of ['bare', 'kindling'] as const) {
        await load(targets[side], c, { seconds: 1 }); // warm-up: at c, kindling starts c sandboxes
        row[side] = summary(await load(targets[side], c, { seconds: THROUGHPUT_SECONDS }));
      }
      const rb = row.bare!;
      const rk = row.kindling!;
      console.log(`| ${c} | ${fmt(rb.rps, 0)} | ${fmt(rk.rps, 0)} | ${fmt(rk.rps / rb.rps)} | ${fmt(rk.p50, 3)} | ${fmt(rk.p99, 3)} | ${rb.errors + rk.errors} |`);
    }

    // Cold starts: the first invoke of fresh functions, against node's own start.
    const coldK: number[] = [];
    const coldB: number[] = [];
    const agent = new http.Agent({ keepAlive: true });
    for (let i = 0; i < COLD_FUNCTIONS; i++) {
      await deploy(kindling.client, `cold-${i}`, { 'index.js': HANDLER });
      const t0 = performance.now();
      const res = await request(agent, { url: new URL(`/2015-03-31/functions/cold-${i}/invocations`, kindling.url), body: Buffer.from('{}') });
      coldK.push(performance.now() - t0);
      if (res.status !== 200) throw new Error(`cold invoke failed: ${res.status} ${res.body.toString()}`);
      coldB.push(await bareColdStart(handlerFile));
    }
    agent.destroy();
    const ck = Float64Array.from(coldK).sort();
    const cb = Float64Array.from(coldB).sort();
    console.log(`\n## Cold start: invoke to response for a new sandbox (${COLD_FUNCTIONS} fresh functions)\n`);
    console.log('| | p50 ms | p99 ms |\n|---|---|---|');
    console.log(`| node start + handler, no platform (floor) | ${fmt(percentile(cb, 50))} | ${fmt(percentile(cb, 99))} |`);
    console.log(`| kindling, process backend | ${fmt(percentile(ck, 50))} | ${fmt(percentile(ck, 99))} |`);
  } finally {
    bare.stop();
    kindling.client.destroy();
    await kindling.stop();
    rmSync(kindling.dataDir, { recursive: true, force: true });
    rmSync(dir, { recursive: true, force: true });
  }
}

await main();
