/**
 * Asynchronous invocation: how fast Kindling accepts Event invokes (durably,
 * before each 202) and how long an accepted event takes to be delivered,
 * side by side with baselines in the same run:
 *  - accepting: a bare node:http server answering 202 at once (the limit of
 *    accepting anything over HTTP here), and one that first writes each
 *    request to SQLite with an fsync of its own (the naive durable accept);
 *  - delivering: the same no-op function invoked synchronously at the same
 *    concurrency (the invoke path the pollers drive).
 *
 *   npm run bench:async        (builds first)
 */
import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { PutFunctionEventInvokeConfigCommand } from '@aws-sdk/client-lambda';
import { deploy, launchKindling, type Kindling } from '../test/e2e/harness.js';
import { load, percentile, type LoadResult } from './load.js';

const SECONDS = 5;
const ACCEPT_CONCURRENCY = [1, 8, 32];
/** Offered load for the delivery latency: senders in a closed loop, each pausing between events. */
const DELIVERY_SENDERS = 4;
const DELIVERY_EVENTS = 2000;
const HANDLER = 'export const handler = async () => ({ ok: true });';

function startBaseline(mode: 'bare' | 'fsync', dir: string): Promise<{ url: URL; stop: () => void }> {
  const script = fileURLToPath(new URL('./accept-baseline.js', import.meta.url));
  const child = spawn(process.execPath, [script, mode, dir], { stdio: ['ignore', 'pipe', 'inherit'], env: {} });
  return new Promise((resolve, reject) => {
    child.stdout.setEncoding('utf8').on('data', (d: string) => {
      const m = /listening (\d+)/.exec(d);
      if (m) resolve({ url: new URL(`http://127.0.0.1:${m[1]}/`), stop: () => child.kill('SIGKILL') });
    });
    child.once('exit', (code) => reject(new Error(`baseline ${mode} exited with ${code}`)));
  });
}

const fmt = (n: number, d = 2) => (Number.isFinite(n) ? n.toFixed(d) : '-');
const rate = (r: LoadResult) => r.requests / r.seconds;

async function queueCount(k: Kindling, queue: string): Promise<number> {
  const res = await fetch(`${k.url}/kindling/v1/queues`);
  const out = (await res.json()) as { Queues: { Name: string; Messages: number }[] };
  return out.Queues.find((q) => q.Name === queue)?.Messages ?? 0;
}

async function main(): Promise<void> {
  const dir = mkdtempSync(join(tmpdir(), 'kindling-bench-async-'));
  const k = await launchKindling({ args: ['--keep-alive', '600'] });
  try {
    await deploy(k.client, 'noop', { 'index.mjs': HANDLER }, { MemorySize: 512 });
    await k.client.send(new PutFunctionEventInvokeConfigCommand({ FunctionName: 'noop', DestinationConfig: { OnSuccess: { Destination: 'arn:aws:sqs:us-east-1:000000000000:bench-done' } } }));
    const invokeUrl = new URL(`${k.url}/2015-03-31/functions/noop/invocations`);
    const event = { url: invokeUrl, body: Buffer.from('{}'), headers: { 'x-amz-invocation-type': 'Event' }, expectStatus: 202 };

    console.log(`\n## Accepting Event invokes (${SECONDS} s per cell; 202 once durable)\n`);
    console.log('| concurrency | bare 202 req/s | fsync per request req/s | kindling req/s | ÷ bare | ÷ fsync | kindling p50 ms | p99 ms | errors |');
    console.log('|---|---|---|---|---|---|---|---|---|');
    const bare = await startBaseline('bare', dir);
    const fsync = await startBaseline('fsync', dir);
    let accepted = 0;
    for (const c of ACCEPT_CONCURRENCY) {
      const b = await load({ url: bare.url, body: Buffer.from('{}'), expectStatus: 202 }, c, { seconds: SECONDS });
      const f = await load({ url: fsync.url, body: Buffer.from('{}'), expectStatus: 202 }, c, { seconds: SECONDS });
      const kr = await load(event, c, { seconds: SECONDS });
      accepted += kr.requests - kr.errors;
      console.log(`| ${c} | ${fmt(rate(b), 0)} | ${fmt(rate(f), 0)} | ${fmt(rate(kr), 0)} | ${fmt(rate(kr) / rate(b))} | ${fmt(rate(kr) / rate(f))} | ${fmt(percentile(kr.latenciesMs, 50), 3)} | ${fmt(percentile(kr.latenciesMs, 99), 3)} | ${kr.errors} |`);
    }
    bare.stop();
    fsync.stop();

    // Drain what was accepted: the pollers' delivery rate, against sync invokes of the same function.
    const drainStart = performance.now();
    while ((await queueCount(k, 'bench-done')) < accepted && performance.now() - drainStart < 600_000) await new Promise((r) => setTimeout(r, 100));
    const drained = await queueCount(k, 'bench-done');
    const drainSeconds = (performance.now() - drainStart) / 1000;
    const sync = await load({ url: invokeUrl, body: Buffer.from('{}') }, 64, { seconds: SECONDS });
    console.log(`\n## Delivering the backlog\n`);
    console.log('| | events | seconds | events/s |');
    console.log('|---|---|---|---|');
    console.log(`| pollers draining the accepted backlog (2 pollers × 32) | ${drained} of ${accepted} | ${fmt(drainSeconds, 1)} | ${fmt(drained / drainSeconds, 0)} |`);
    console.log(`| baseline: synchronous invokes of the same function, concurrency 64 | ${sync.requests} | ${fmt(sync.seconds, 1)} | ${fmt(rate(sync), 0)} |`);

    // End-to-end latency at a load the pollers keep up with: each event carries its send time.
    const latencyQueue = 'bench-latency';
    await k.client.send(new PutFunctionEventInvokeConfigCommand({ FunctionName: 'noop', DestinationConfig: { OnSuccess: { Destination: `arn:aws:sqs:us-east-1:000000000000:${latencyQueue}` } } }));
    // The backlog is gone when no event of the function is left in the queue.
    while (/kindling_async_queue_depth\{function="noop"\} [1-9]/.test(await fetch(`${k.url}/metrics`).then((r) => r.text()))) await new Promise((r) => setTimeout(r, 200));
    const sent = await load({ ...event, body: () => Buffer.from(JSON.stringify({ sentAt: Date.now() })) }, DELIVERY_SENDERS, { count: DELIVERY_EVENTS });
    const end = performance.now() + 120_000;
    while ((await queueCount(k, latencyQueue)) < sent.requests - sent.errors && performance.now() < end) await new Promise((r) => setTimeout(r, 100));
    // Receive them all, hiding each batch so that the next receive gets the next one.
    const latencies: number[] = [];
    for (;;) {
      const more = await fetch(`${k.url}/kindling/v1/queues/${latencyQueue}/receive`, { method: 'POST', body: JSON.stringify({ MaxNumberOfMessages: 100, VisibilityTimeout: 600 }) });
      const messages = ((await more.json()) as { Messages: { Body: string }[] }).Messages;
      if (messages.length === 0) break;
      for (const m of messages) {
        const r = JSON.parse(m.Body) as { timestamp: string; requestPayload: { sentAt: number } };
        latencies.push(Date.parse(r.timestamp) - r.requestPayload.sentAt);
      }
    }
    const sorted = Float64Array.from(latencies).sort();
    console.log(`\n## End-to-end delivery latency: accept → the function ran → OnSuccess record (${sent.requests} events from ${DELIVERY_SENDERS} senders, ${fmt(rate(sent), 0)} events/s offered)\n`);
    console.log('| p50 ms | p90 ms | p99 ms | max ms | records |');
    console.log('|---|---|---|---|---|');
    console.log(`| ${fmt(percentile(sorted, 50), 1)} | ${fmt(percentile(sorted, 90), 1)} | ${fmt(percentile(sorted, 99), 1)} | ${fmt(sorted[sorted.length - 1] ?? NaN, 1)} | ${sorted.length} |`);
    console.log('\n(record timestamps have millisecond resolution)');
  } finally {
    k.client.destroy();
    await k.stop();
    rmSync(k.dataDir, { recursive: true, force: true });
    rmSync(dir, { recursive: true, force: true });
  }
}

await main();
