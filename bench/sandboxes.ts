/**
 * Sandbox-level measurements for one backend, against a running `kindling up`:
 * cold starts, sandbox creation rate, and the platform's memory per idle
 * sandbox (beyond the language runtime itself).
 */
import http from 'node:http';
import { readFileSync, readdirSync } from 'node:fs';
import { deploy, type Kindling } from '../test/e2e/harness.js';
import { percentile, request } from './load.js';

const NOOP = `exports.handler = async () => ({ ok: true });\n`;
const WAIT = `exports.handler = async (e) => { await new Promise((r) => setTimeout(r, e.ms ?? 0)); return { ok: true }; };\n`;

function invokeUrl(k: Kindling, name: string): URL {
  return new URL(`/2015-03-31/functions/${name}/invocations`, k.url);
}

/**
 * Invoke-to-response times of the first invoke of `count` fresh functions,
 * one after another; with `gapMs`, each invoke waits that long after its
 * function's deploy (time for a stem-cell pool to refill).
 */
export async function coldStarts(k: Kindling, prefix: string, count: number, memorySize = 128, gapMs = 0): Promise<Float64Array> {
  const agent = new http.Agent({ keepAlive: true });
  const times: number[] = [];
  for (let i = 0; i < count; i++) {
    const name = `${prefix}-${i}`;
    await deploy(k.client, name, { 'index.js': NOOP }, { MemorySize: memorySize });
    if (gapMs > 0) await new Promise((r) => setTimeout(r, gapMs));
    const t0 = performance.now();
    const res = await request(agent, { url: invokeUrl(k, name), body: Buffer.from('{}') });
    times.push(performance.now() - t0);
    if (res.status !== 200 || res.body.toString() !== '{"ok":true}') throw new Error(`cold invoke of ${name} failed: ${res.status} ${res.body.toString()}`);
  }
  agent.destroy();
  return Float64Array.from(times).sort();
}

/**
 * Cold starts of two platforms side by side: for each of `count` fresh
 * functions, its twin deployed and invoked once on each platform, one right
 * after the other, the side that goes first alternating. What the machine
 * does meanwhile (a slow minute, a noisy neighbour) then falls on both sides
 * of a pair. Returns each side's times in pair order (unsorted).
 */
export async function coldStartPairs(a: Kindling, b: Kindling, prefix: string, count: number): Promise<[number[], number[]]> {
  const platforms = [a, b] as const;
  const times: [number[], number[]] = [[], []];
  for (let i = 0; i < count; i++) {
    for (const side of i % 2 === 0 ? [0, 1] : [1, 0]) times[side as 0 | 1].push((await coldStarts(platforms[side as 0 | 1], `${prefix}-${i}`, 1))[0]!);
  }
  return times;
}

/** Each pair's `other` time minus its `base` time (coldStartPairs' order), sorted. */
export function pairDifferences(base: readonly number[], other: readonly number[]): Float64Array {
  return Float64Array.from(other.map((t, i) => t - base[i]!)).sort();
}

/**
 * Sandboxes created per second: `count` concurrent invokes of a new function
 * whose handler waits `holdMs`, so each needs a sandbox of its own; the rate
 * is count / (time until the last answer − holdMs).
 */
export async function creationRate(k: Kindling, name: string, count: number, holdMs = 200): Promise<number> {
  await deploy(k.client, name, { 'index.js': WAIT });
  const agent = new http.Agent({ keepAlive: true, maxSockets: count });
  const body = Buffer.from(JSON.stringify({ ms: holdMs }));
  const t0 = performance.now();
  const results = await Promise.all(Array.from({ length: count }, () => request(agent, { url: invokeUrl(k, name), body })));
  const elapsed = performance.now() - t0 - holdMs;
  agent.destroy();
  const failed = results.filter((r) => r.status !== 200 || r.body.toString() !== '{"ok":true}');
  if (failed.length > 0) throw new Error(`${failed.length} of ${count} invokes failed: ${failed[0]!.body.toString()}`);
  return count / (elapsed / 1000);
}

/** Proportional set size (kB) of a process: its fair share of shared pages. */
function pssKb(pid: number): number {
  try {
    const m = /^Pss:\s+(\d+) kB$/m.exec(readFileSync(`/proc/${pid}/smaps_rollup`, 'utf8'));
    return m ? Number(m[1]) : 0;
  } catch {
    return 0;
  }
}

/** Every process below `root`, children first. */
export function descendants(root: number): number[] {
  const children = new Map<number, number[]>();
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      const stat = readFileSync(`/proc/${entry}/stat`, 'utf8');
      const ppid = Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]);
      const list = children.get(ppid) ?? [];
      list.push(Number(entry));
      children.set(ppid, list);
    } catch {
      // gone
    }
  }
  const out: number[] = [];
  const walk = (p: number) => {
    for (const c of children.get(p) ?? []) {
      out.push(c);
      walk(c);
    }
  };
  walk(root);
  return out;
}

/**
 * A language runtime: a process whose environment names its function, or a
 * stem cell still waiting for one (its marker variable; a cell that took a
 * function shows the function's environment, see src/runtime/nodejs/stem-cell.ts).
 */
function isRuntime(pid: number): boolean {
  try {
    const env = readFileSync(`/proc/${pid}/environ`, 'latin1');
    return env.includes('AWS_LAMBDA_FUNCTION_NAME=') || /(^|\0)_KINDLING_STEM_CELL=1/.test(env);
  } catch {
    return false;
  }
}

export interface IdleMemory {
  /** Platform's share per idle sandbox: its own growth plus every helper process of the sandbox (bwrap, relays), in MB. */
  readonly platformMbPerSandbox: number;
  /** The language runtime's own PSS per sandbox (node with the function loaded), in MB, for scale. */
  readonly runtimeMbPerSandbox: number;
}

/**
 * Starts `count` sandboxes of one function, lets them go idle, and measures
 * memory: of every sandbox of the platform, so `k` must hold no other
 * sandboxes than the `existing` ones (started before, idle too).
 */
export async function idleMemory(k: Kindling, name: string, count: number, existing = 0): Promise<IdleMemory> {
  const platformPid = k.process.pid!;
  await deploy(k.client, name, { 'index.js': WAIT });
  await creationRate(k, `${name}-x`, 1); // the platform's one-time costs (first sandbox ever) out of the figure
  const baseline = pssKb(platformPid);
  const agent = new http.Agent({ keepAlive: true, maxSockets: count });
  await Promise.all(Array.from({ length: count }, () => request(agent, { url: invokeUrl(k, name), body: Buffer.from('{"ms":300}') })));
  agent.destroy();
  await new Promise((r) => setTimeout(r, 500));
  const procs = descendants(platformPid);
  const runtimes = procs.filter(isRuntime);
  const helpers = procs.filter((p) => !runtimes.includes(p));
  const sandboxes = count + 1 + existing;
  const platformGrowth = Math.max(0, pssKb(platformPid) - baseline);
  const helperKb = helpers.reduce((sum, p) => sum + pssKb(p), 0);
  const runtimeKb = runtimes.reduce((sum, p) => sum + pssKb(p), 0);
  return {
    platformMbPerSandbox: (platformGrowth / count + helperKb / sandboxes) / 1024,
    runtimeMbPerSandbox: runtimeKb / sandboxes / 1024,
  };
}

export { percentile };
