/**
 * `npm run bench:cpu`: where a warm invoke's CPU goes. Runs the no-op at
 * concurrency c against a bare node:http server, against a relay to one
 * child process per connection (bench/relay-server.ts: the floor of one
 * process per concurrent invoke) and against Kindling, and
 * divides each process group's CPU time (/proc/<pid>/stat, user + system) by
 * the requests served: the server (or the platform), the sandboxes, and this
 * process, the load generator.
 *
 * The load generator does the same work per request in every row, so the
 * columns "÷ loadgen" compare runs on a machine whose speed drifts (it does,
 * by up to 2× within minutes, on shared hardware): a change to the platform
 * shows as a change of its ÷ loadgen, whatever the machine did meanwhile.
 *
 *   npm run bench:cpu                                  namespace, c=32, 5 s
 *   npm run bench:cpu -- --backend process -c 8 --seconds 10 --rounds 3
 *   npm run bench:cpu -- --profile DIR                 the platform under --cpu-prof, profiles in DIR
 *   npm run bench:cpu -- --perf FILE                   `perf record -a -g` over each measured window of
 *                                                      Kindling (the platform with --perf-basic-prof):
 *                                                      `perf report -i FILE --sort comm,dso,sym`
 */
import { spawn } from 'node:child_process';
import { readFileSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { parseArgs } from 'node:util';
import { deploy, launchKindling } from '../test/e2e/harness.js';
import { startBare, startRelay } from './bare.js';
import { load, type Target } from './load.js';
import { descendants } from './sandboxes.js';

const { values: opts } = parseArgs({
  options: {
    backend: { type: 'string', default: 'namespace' },
    concurrency: { type: 'string', short: 'c', default: '32' },
    seconds: { type: 'string', default: '5' },
    warm: { type: 'string', default: '3000' },
    rounds: { type: 'string', default: '1' },
    profile: { type: 'string' },
    perf: { type: 'string' },
  },
});
const C = Number(opts.concurrency);
const SECONDS = Number(opts.seconds);
/** Requests per connection before measuring: each sandbox's JIT sees 1/c of the traffic (see bench/run.ts). */
const WARM_PER_CONNECTION = Number(opts.warm);
const ROUNDS = Number(opts.rounds);
const HANDLER = `exports.handler = async () => ({ ok: true });\n`;
const TICK_US = 1e6 / 100; // USER_HZ: /proc/<pid>/stat counts in 1/100 s on Linux

/** User + system CPU of `pids`, in µs (processes gone meanwhile count as 0). */
function cpuUs(pids: readonly number[]): number {
  let ticks = 0;
  for (const pid of pids) {
    try {
      const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
      const f = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
      ticks += Number(f[11]) + Number(f[12]); // utime, stime (fields 14 and 15)
    } catch {
      // exited
    }
  }
  return ticks * TICK_US;
}

interface Row {
  readonly name: string;
  readonly rps: number;
  readonly errors: number;
  readonly serverUs: number;
  readonly sandboxUs: number;
  readonly loadgenUs: number;
}

/** One measured window: `server` is the process that answers HTTP; the sandboxes are its descendants. */
async function measure(name: string, target: Target, server: number, perfFile?: string): Promise<Row> {
  await load(target, C, { count: C * WARM_PER_CONNECTION, seconds: 60 });
  const perf = perfFile ? spawn('perf', ['record', '-q', '-a', '-g', '-o', perfFile, '--', 'sleep', String(SECONDS)], { stdio: 'inherit' }) : undefined;
  const sandboxes = descendants(server);
  const s0 = cpuUs([server]);
  const b0 = cpuUs(sandboxes);
  const l0 = process.cpuUsage();
  const r = await load(target, C, { seconds: SECONDS });
  const l = process.cpuUsage(l0);
  if (perf) await new Promise((done) => perf.once('exit', done));
  const n = r.requests;
  return {
    name,
    rps: n / r.seconds,
    errors: r.errors,
    serverUs: (cpuUs([server]) - s0) / n,
    sandboxUs: (cpuUs(sandboxes) - b0) / n,
    loadgenUs: (l.user + l.system) / n,
  };
}

function print(rows: readonly Row[]): void {
  const f = (x: number, d = 0) => x.toFixed(d);
  console.log(`| c=${C}, ${SECONDS} s | req/s | server or platform µs / invoke | sandboxes µs / invoke | load generator µs / request | platform ÷ loadgen | sandboxes ÷ loadgen |`);
  console.log('|---|---|---|---|---|---|---|');
  for (const r of rows) {
    const errors = r.errors ? ` (${r.errors} errors)` : '';
    console.log(`| ${r.name} | ${f(r.rps)}${errors} | ${f(r.serverUs)} | ${r.sandboxUs ? f(r.sandboxUs) : ''} | ${f(r.loadgenUs)} | ${f(r.serverUs / r.loadgenUs, 2)} | ${r.sandboxUs ? f(r.sandboxUs / r.loadgenUs, 2) : ''} |`);
  }
}

async function main(): Promise<void> {
  const dir = mkdtempSync(join(tmpdir(), 'kindling-bench-cpu-'));
  const handlerFile = join(dir, 'index.js');
  writeFileSync(handlerFile, HANDLER);
  const nodeArgs = opts.profile ? ['--cpu-prof', `--cpu-prof-dir=${resolve(opts.profile)}`] : [];
  if (opts.perf) nodeArgs.push('--perf-basic-prof');
  const k = await launchKindling({ args: ['--sandbox', opts.backend, '--keep-alive', '600', '--stem-cells', '0', '--worker-capacity', String(64 * 1769)], nodeArgs });
  const rows: Row[] = [];
  try {
    await deploy(k.client, 'noop', { 'index.js': HANDLER }, { MemorySize: 1769 });
    const fn: Target = { url: new URL('/2015-03-31/functions/noop/invocations', k.url), body: Buffer.from('{}') };
    for (let i = 0; i < ROUNDS; i++) {
      const bare = await startBare(handlerFile);
      try {
        rows.push(await measure('bare node:http', { url: bare.url, body: Buffer.from('{}') }, bare.pid));
      } finally {
        bare.stop();
      }
      const relay = await startRelay(handlerFile);
      try {
        rows.push(await measure('relay: node:http + a child process per connection', { url: relay.url, body: Buffer.from('{}') }, relay.pid));
      } finally {
        relay.stop();
      }
      rows.push(await measure(`kindling, ${opts.backend}`, fn, k.process.pid!, opts.perf && (ROUNDS > 1 ? `${opts.perf}.${i}` : opts.perf)));
    }
  } finally {
    k.client.destroy();
    await k.stop('SIGINT');
    rmSync(k.dataDir, { recursive: true, force: true });
    rmSync(dir, { recursive: true, force: true });
  }
  print(rows);
}

await main();
