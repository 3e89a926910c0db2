/**
 * Trace-driven placement benchmark: one synthetic trace (bench/trace.ts)
 * replayed open-loop against the real platform — `kindling up --workers N
 * --zones …`, worker processes, real sandboxes — once per placement policy,
 * on a fresh platform each time, in one run.
 *
 * Measured per policy:
 * - sandboxes created (cold starts) and the cold-start rate, from the
 *   platform's own counter (kindling_sandbox_claims_total), over the whole
 *   replay and after the first keep-alive interval (when every function's
 *   first invoke, cold under any policy, is behind);
 * - from /kindling/v1/status sampled while replaying: the busy fraction of
 *   the live sandboxes (busy / (idle + busy), averaged over samples), live
 *   sandboxes, workers in use (usedMB > 0), and how full the workers in use
 *   are (memory used / their capacity);
 * - client-side invoke latency, and its overhead (latency minus the time the
 *   handler was asked to sleep), split into warm and cold invokes (a cold
 *   one has "Init Duration" in its REPORT line, read from the log tail);
 * - errors (non-200 answers, function errors, transport errors).
 */
import http from 'node:http';
import { rmSync } from 'node:fs';
import { CreateFunctionCommand, GetFunctionConfigurationCommand, type LambdaClient } from '@aws-sdk/client-lambda';
import { launchKindling, ROLE, zip, type Kindling } from '../test/e2e/harness.js';
import type { FleetStatus } from '../src/placement/fleet-api.js';
import { percentile } from './load.js';
import type { Trace } from './trace.js';

export type PolicyName = 'pack' | 'round-robin';

export interface FleetOptions {
  readonly workers: number;
  readonly zones: readonly string[];
  readonly workerCapacityMB: number;
  readonly keepAliveS: number;
  /** Sandbox backend (process, namespace, gvisor). */
  readonly sandbox: string;
  /** How often status is sampled while replaying. */
  readonly sampleMs: number;
}

export interface Spread {
  readonly mean: number;
  readonly max: number;
}

export interface LatencySummary {
  readonly count: number;
  readonly p50: number;
  readonly p99: number;
}

export interface PlacementResult {
  readonly policy: PolicyName;
  readonly invocations: number;
  readonly ok: number;
  /** Failures by kind ("429", "500 ServiceException", "function error", "transport: …"). */
  readonly errors: Readonly<Record<string, number>>;
  /** From kindling_sandbox_claims_total. */
  readonly coldStarts: number;
  readonly warmStarts: number;
  readonly coldStartsAfterWarmup: number;
  readonly warmStartsAfterWarmup: number;
  /** Invokes whose REPORT line had Init Duration (the client's view of cold starts). */
  readonly coldSeenByClient: number;
  readonly busyFraction: number;
  readonly sandboxes: Spread;
  readonly workersInUse: Spread;
  /** Memory used / capacity of the workers in use, averaged over samples. */
  readonly fillOfWorkersInUse: number;
  readonly latencyMs: LatencySummary;
  readonly overheadWarmMs: LatencySummary;
  readonly overheadColdMs: LatencySummary;
  /** How late the replay sent invokes against the trace's times (p99, ms). */
  readonly dispatchLagP99Ms: number;
  readonly replaySeconds: number;
  readonly samples: number;
}

const HANDLER = `exports.handler = async (event) => {
  await new Promise((resolve) => setTimeout(resolve, event.ms));
  return { ok: true };
};
`;
/** Enough for the longest duration plus a cold start under load. */
const FUNCTION_TIMEOUT_S = 30;
const DEPLOY_PARALLEL = 16;

interface Answer {
  readonly status: number;
  readonly functionError: string | undefined;
  readonly errorType: string | undefined;
  readonly log: string;
}

function invoke(agent: http.Agent, url: URL, body: Buffer): Promise<Answer> {
  return new Promise((resolve, reject) => {
    const req = http.request(
      url,
      {
        method: 'POST',
        agent,
        headers: { 'content-type': 'application/json', 'content-length': body.length, 'x-amz-log-type': 'Tail' },
      },
      (res) => {
        res.resume();
        res.on('end', () => {
          const header = (name: string) => {
            const v = res.headers[name];
            return Array.isArray(v) ? v[0] : v;
          };
          resolve({
            status: res.statusCode ?? 0,
            functionError: header('x-amz-function-error'),
            errorType: header('x-amzn-errortype')?.split(':')[0],
            log: Buffer.from(header('x-amz-log-result') ?? '', 'base64').toString('utf8'),
          });
        });
        res.on('error', reject);
      },
    );
    req.on('error', reject);
    req.end(body);
  });
}

/** Creates the functions the trace invokes, `DEPLOY_PARALLEL` at a time, and waits until each is Active. */
async function deployAll(client: LambdaClient, functions: readonly { name: string; memoryMB: number }[]): Promise<void> {
  const code = await zip({ 'index.js': HANDLER });
  let next = 0;
  const worker = async () => {
    while (next < functions.length) {
      const f = functions[next++]!;
      await client.send(
        new CreateFunctionCommand({
          FunctionName: f.name,
          Runtime: 'nodejs20.x',
          Handler: 'index.handler',
          Role: ROLE,
          Code: { ZipFile: code },
          MemorySize: f.memoryMB,
          Timeout: FUNCTION_TIMEOUT_S,
        }),
      );
      // Polled here rather than with the SDK's waiter, whose 1 s minimum
      // delay would make deploying a few hundred functions take minutes.
      for (let i = 0; ; i++) {
        const c = await client.send(new GetFunctionConfigurationCommand({ FunctionName: f.name }));
        if (c.State === 'Active') break;
        if (c.State === 'Failed' || i > 1000) throw new Error(`${f.name} did not become Active: ${c.State} ${c.StateReason ?? ''}`);
        await sleep(10);
      }
    }
  };
  await Promise.all(Array.from({ length: DEPLOY_PARALLEL }, worker));
}

const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));

/** Sums kindling_sandbox_claims_total by start (cold/warm). */
async function claims(k: Kindling): Promise<{ cold: number; warm: number }> {
  const text = await (await fetch(`${k.url}/metrics`)).text();
  const out = { cold: 0, warm: 0 };
  for (const m of text.matchAll(/^kindling_sandbox_claims_total\{[^}]*start="(cold|warm)"[^}]*\} (\S+)$/gm)) {
    out[m[1] as 'cold' | 'warm'] += Number(m[2]);
  }
  return out;
}

function summary(values: number[]): LatencySummary {
  const sorted = Float64Array.from(values).sort();
  return { count: sorted.length, p50: percentile(sorted, 50), p99: percentile(sorted, 99) };
}

/**
 * Replays `trace` against a fresh `kindling up` with `policy`; stops the
 * platform and removes its data directory before returning.
 */
export async function replay(trace: Trace, policy: PolicyName, fleet: FleetOptions, log: (m: string) => void = () => {}): Promise<PlacementResult> {
  const k = await launchKindling({
    args: [
      '--sandbox', fleet.sandbox,
      '--workers', String(fleet.workers),
      '--zones', fleet.zones.join(','),
      '--worker-capacity', String(fleet.workerCapacityMB),
      '--keep-alive', String(fleet.keepAliveS),
      '--placement', policy,
    ],
  });
  try {
    const invoked = new Set(trace.invocations.map((i) => i.fn));
    const functions = trace.functions.filter((_, i) => invoked.has(i));
    log(`${policy}: deploying ${functions.length} functions`);
    await deployAll(k.client, functions);
    log(`${policy}: replaying ${trace.invocations.length} invokes over ${trace.options.durationS} s`);
    return await run(k, trace, policy, fleet);
  } finally {
    k.client.destroy();
    await k.stop();
    rmSync(k.dataDir, { recursive: true, force: true });
  }
}

async function run(k: Kindling, trace: Trace, policy: PolicyName, fleet: FleetOptions): Promise<PlacementResult> {
  const agent = new http.Agent({ keepAlive: true, maxSockets: Infinity });
  const urls = trace.functions.map((f) => new URL(`/2015-03-31/functions/${f.name}/invocations`, k.url));
  const errors: Record<string, number> = {};
  const fail = (kind: string) => (errors[kind] = (errors[kind] ?? 0) + 1);
  const latency: number[] = [];
  const overheadWarm: number[] = [];
  const overheadCold: number[] = [];
  const lags: number[] = [];
  let ok = 0;
  let coldSeen = 0;

  // Status sampler: one request at a time, every sampleMs.
  const samples: { busy: number; live: number; inUse: number; fill: number }[] = [];
  let sampling = true;
  const sampler = (async () => {
    while (sampling) {
      const res = await fetch(`${k.url}/kindling/v1/status`);
      const status = (await res.json()) as FleetStatus;
      let busy = 0;
      let live = 0;
      let used = 0;
      let capacityInUse = 0;
      let inUse = 0;
      for (const w of status.workers) {
        busy += w.busy;
        live += w.idle + w.busy;
        if (w.usedMB > 0) {
          inUse++;
          used += w.usedMB;
          capacityInUse += w.capacityMB;
        }
      }
      samples.push({ busy, live, inUse, fill: capacityInUse > 0 ? used / capacityInUse : 0 });
      await sleep(fleet.sampleMs);
    }
  })();

  // The counters at the end of the first keep-alive, read without holding up the replay.
  let warmupClaims: Promise<{ cold: number; warm: number }> | undefined;
  const warmupMs = fleet.keepAliveS * 1000;
  const inflight = new Set<Promise<void>>();
  const t0 = performance.now();
  let i = 0;
  const invocations = trace.invocations;
  while (i < invocations.length) {
    const now = performance.now() - t0;
    if (!warmupClaims && now >= warmupMs) warmupClaims = claims(k);
    while (i < invocations.length && invocations[i]!.atMs <= now) {
      const inv = invocations[i++]!;
      lags.push(now - inv.atMs);
      const sent = performance.now();
      const p = invoke(agent, urls[inv.fn]!, Buffer.from(`{"ms":${inv.durationMs}}`)).then(
        (a) => {
          const ms = performance.now() - sent;
          latency.push(ms);
          if (a.status !== 200) return void fail(`${a.status} ${a.errorType ?? ''}`.trim());
          if (a.functionError) return void fail(`function error (${a.functionError})`);
          ok++;
          const cold = a.log.includes('Init Duration:');
          if (cold) coldSeen++;
          (cold ? overheadCold : overheadWarm).push(ms - inv.durationMs);
        },
        (err: unknown) => void fail(`transport: ${err instanceof Error ? err.message : String(err)}`),
      );
      inflight.add(p);
      void p.finally(() => inflight.delete(p));
    }
    if (i < invocations.length) await sleep(Math.max(0, invocations[i]!.atMs - (performance.now() - t0)));
  }
  await Promise.all(inflight);
  const replaySeconds = (performance.now() - t0) / 1000;
  sampling = false;
  await sampler;
  agent.destroy();
  const end = await claims(k);
  const atWarmup = (await warmupClaims) ?? { cold: 0, warm: 0 };

  const meanOf = (xs: number[]) => (xs.length > 0 ? xs.reduce((a, b) => a + b, 0) / xs.length : NaN);
  const withLive = samples.filter((s) => s.live > 0);
  const withWorkers = samples.filter((s) => s.inUse > 0);
  return {
    policy,
    invocations: invocations.length,
    ok,
    errors,
    coldStarts: end.cold,
    warmStarts: end.warm,
    coldStartsAfterWarmup: end.cold - atWarmup.cold,
    warmStartsAfterWarmup: end.warm - atWarmup.warm,
    coldSeenByClient: coldSeen,
    busyFraction: meanOf(withLive.map((s) => s.busy / s.live)),
    sandboxes: { mean: meanOf(samples.map((s) => s.live)), max: Math.max(0, ...samples.map((s) => s.live)) },
    workersInUse: { mean: meanOf(samples.map((s) => s.inUse)), max: Math.max(0, ...samples.map((s) => s.inUse)) },
    fillOfWorkersInUse: meanOf(withWorkers.map((s) => s.fill)),
    latencyMs: summary(latency),
    overheadWarmMs: summary(overheadWarm),
    overheadColdMs: summary(overheadCold),
    dispatchLagP99Ms: summary(lags).p99,
    replaySeconds,
    samples: samples.length,
  };
}

const f1 = (n: number) => (Number.isFinite(n) ? n.toFixed(1) : 'n/a');
const f2 = (n: number) => (Number.isFinite(n) ? n.toFixed(2) : 'n/a');
const pct = (part: number, whole: number) => (whole > 0 ? `${((100 * part) / whole).toFixed(1)} %` : 'n/a');

/** The markdown table comparing the policies, one column each. */
export function formatPlacement(results: readonly PlacementResult[]): string {
  const rows: [string, (r: PlacementResult) => string][] = [
    ['invokes (ok)', (r) => `${r.invocations} (${r.ok})`],
    ['errors', (r) => (Object.keys(r.errors).length === 0 ? '0' : Object.entries(r.errors).map(([k, v]) => `${v} × ${k}`).join(', '))],
    ['sandboxes created (cold starts)', (r) => String(r.coldStarts)],
    ['cold-start rate, whole replay', (r) => pct(r.coldStarts, r.coldStarts + r.warmStarts)],
    ['cold-start rate after the first keep-alive', (r) => pct(r.coldStartsAfterWarmup, r.coldStartsAfterWarmup + r.warmStartsAfterWarmup)],
    ['busy fraction of live sandboxes (mean of samples)', (r) => pct(r.busyFraction, 1)],
    ['live sandboxes, mean / max', (r) => `${f1(r.sandboxes.mean)} / ${r.sandboxes.max}`],
    ['workers in use, mean / max', (r) => `${f2(r.workersInUse.mean)} / ${r.workersInUse.max}`],
    ['memory used / capacity of the workers in use (mean)', (r) => pct(r.fillOfWorkersInUse, 1)],
    ['invoke latency p50 / p99 ms (incl. the handler\'s sleep)', (r) => `${f1(r.latencyMs.p50)} / ${f1(r.latencyMs.p99)}`],
    ['overhead p50 / p99 ms, warm invokes', (r) => `${f2(r.overheadWarmMs.p50)} / ${f1(r.overheadWarmMs.p99)} (${r.overheadWarmMs.count})`],
    ['overhead p50 / p99 ms, cold invokes', (r) => `${f1(r.overheadColdMs.p50)} / ${f1(r.overheadColdMs.p99)} (${r.overheadColdMs.count})`],
    ['replay lag p99 ms (load generator behind the trace)', (r) => f1(r.dispatchLagP99Ms)],
  ];
  const lines = [`| | ${results.map((r) => r.policy).join(' | ')} |`, `|---|${results.map(() => '---|').join('')}`];
  for (const [label, cell] of rows) lines.push(`| ${label} | ${results.map(cell).join(' | ')} |`);
  return lines.join('\n');
}
