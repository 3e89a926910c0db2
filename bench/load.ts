/**
 * A small closed-loop HTTP load generator on node:http with keep-alive:
 * `concurrency` loops, each sending its next request when the previous one
 * answers. Raw HTTP on purpose: SigV4 signing in an SDK would cost more than
 * what is being measured, for both sides alike.
 */
import http from 'node:http';

export interface Target {
  /**
   * Where to send. With several URLs, loop i sends to urls[i % length]: one
   * server per connection, as sandboxes are.
   */
  readonly url: URL | readonly URL[];
  /** The request body, or a function making each one. */
  readonly body: Buffer | (() => Buffer);
  readonly headers?: Readonly<Record<string, string>>;
  /** The status that counts as success. Default 200. */
  readonly expectStatus?: number;
}

export interface LoadResult {
  readonly requests: number;
  readonly seconds: number;
  readonly latenciesMs: Float64Array;
  readonly errors: number;
}

export function percentile(sorted: Float64Array, p: number): number {
  if (sorted.length === 0) return NaN;
  const i = Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1));
  return sorted[i]!;
}

/** Sends one request; resolves with the status and body. */
export function request(agent: http.Agent, target: Target, url: URL = urlOf(target, 0)): Promise<{ status: number; body: Buffer }> {
  return new Promise((resolve, reject) => {
    const body = typeof target.body === 'function' ? target.body() : target.body;
    const req = http.request(
      url,
      { method: 'POST', agent, headers: { 'content-type': 'application/json', 'content-length': body.length, ...target.headers } },
      (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => chunks.push(c));
        res.on('end', () => resolve({ status: res.statusCode ?? 0, body: Buffer.concat(chunks) }));
        res.on('error', reject);
      },
    );
    req.on('error', reject);
    req.end(body);
  });
}

function urlOf(target: Target, loop: number): URL {
  const urls = target.url;
  return urls instanceof URL ? urls : urls[loop % urls.length]!;
}

/** Runs `concurrency` loops until `count` requests were sent or `seconds` passed, whichever first. */
export async function load(target: Target, concurrency: number, limits: { count?: number; seconds?: number }): Promise<LoadResult> {
  const agent = new http.Agent({ keepAlive: true, maxSockets: concurrency });
  const maxCount = limits.count ?? Number.MAX_SAFE_INTEGER;
  const deadline = limits.seconds === undefined ? Number.POSITIVE_INFINITY : performance.now() + limits.seconds * 1000;
  const latencies: number[] = [];
  let sent = 0;
  let errors = 0;
  const start = performance.now();
  const loop = async (i: number) => {
    const url = urlOf(target, i);
    while (sent < maxCount && performance.now() < deadline) {
      sent++;
      const t0 = performance.now();
      try {
        const res = await request(agent, target, url);
        if (res.status !== (target.expectStatus ?? 200)) errors++;
      } catch {
        errors++;
      }
      latencies.push(performance.now() - t0);
    }
  };
  await Promise.all(Array.from({ length: concurrency }, (_, i) => loop(i)));
  const seconds = (performance.now() - start) / 1000;
  agent.destroy();
  const sorted = Float64Array.from(latencies).sort();
  return { requests: latencies.length, seconds, latenciesMs: sorted, errors };
}
