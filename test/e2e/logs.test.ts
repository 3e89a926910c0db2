/**
 * Function logs: every sandbox's lines kept in the function's log group
 * (one stream per sandbox, named as its AWS_LAMBDA_LOG_STREAM_NAME), read
 * through GET /kindling/v1/logs/{FunctionName}, followed with nextToken,
 * kept across a restart and after DeleteFunction.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { DeleteFunctionCommand, InvokeCommand } from '@aws-sdk/client-lambda';
import { deploy, json, startKindling } from './harness.js';
import type { Kindling } from './harness.js';

interface LogEventView {
  logStreamName: string;
  timestamp: number;
  message: string;
  ingestionTime: number;
}
interface EventsPage {
  logGroupName: string;
  events: LogEventView[];
  nextToken: string;
}
interface StreamsPage {
  logGroupName: string;
  logStreams: { logStreamName: string; firstEventTimestamp?: number; lastEventTimestamp?: number; storedBytes: number }[];
}

async function get<T>(url: string): Promise<{ status: number; errorType: string | null; body: T }> {
  const res = await fetch(url);
  return { status: res.status, errorType: res.headers.get('x-amzn-errortype'), body: (await res.json()) as T };
}

/** Reads pages until `until` holds of everything read (the platform writes END/REPORT just after the invoke returns). */
async function readUntil(base: string, fn: string, until: (events: LogEventView[]) => boolean, query = ''): Promise<{ events: LogEventView[]; nextToken: string }> {
  const deadline = Date.now() + 10_000;
  let events: LogEventView[] = [];
  let token: string | undefined;
  for (;;) {
    const q = new URLSearchParams(query);
    if (token !== undefined) q.set('nextToken', token);
    q.set('limit', '3'); // small pages: the tokens page as well as follow
    const page = await get<EventsPage>(`${base}/kindling/v1/logs/${fn}?${q.toString()}`);
    if (page.status === 404 && events.length === 0 && Date.now() < deadline) {
      // A worker process sends its lines every 200 ms: the group appears with the first batch.
      await new Promise((r) => setTimeout(r, 100));
      continue;
    }
    assert.equal(page.status, 200, JSON.stringify(page.body));
    assert.equal(page.body.logGroupName, `/aws/lambda/${fn}`);
    assert.equal(typeof page.body.nextToken, 'string');
    events = events.concat(page.body.events);
    token = page.body.nextToken;
    if (page.body.events.length === 0) {
      if (until(events)) return { events, nextToken: token };
      if (Date.now() > deadline) assert.fail(`logs never held what was expected; got:\n${events.map((e) => e.message).join('\n')}`);
      await new Promise((r) => setTimeout(r, 100));
    }
  }
}

const FN = `console.log('init line');
exports.handler = async (event) => {
  console.log('event', JSON.stringify(event));
  if (event.wait) await new Promise((r) => setTimeout(r, event.wait));
  if (event.hang) { process.stdout.write('unterminated'); await new Promise(() => setInterval(() => {}, 1000)); }
  return process.env.AWS_LAMBDA_LOG_STREAM_NAME;
};`;

test('logs API: every line of every sandbox, per stream, in order; follow with nextToken; timeouts; restart; DeleteFunction keeps them', async (t) => {
  const dataDir = mkdtempSync(join(tmpdir(), 'kindling-logs-e2e-'));
  const running: Kindling[] = [];
  // After every platform using it has stopped (stop() is idempotent).
  t.after(async () => {
    for (const p of running) await p.stop();
    rmSync(dataDir, { recursive: true, force: true });
  });
  const k = await startKindling(t, { dataDir });
  running.push(k);
  const base = k.url;

  // Never invoked: no log group yet, as on Lambda.
  const missing = await get<Record<string, string>>(`${base}/kindling/v1/logs/nobody`);
  assert.equal(missing.status, 404);
  assert.equal(missing.errorType, 'ResourceNotFoundException');
  assert.equal(missing.body['Message'], 'The specified log group does not exist.');

  await deploy(k.client, 'talker', { 'index.js': FN }, { Timeout: 1 });
  const invoke = async (event: object) => {
    const res = await k.client.send(new InvokeCommand({ FunctionName: 'talker', Payload: Buffer.from(JSON.stringify(event)) }));
    return { stream: json(res.Payload) as string, requestId: res.$metadata.requestId!, error: res.FunctionError };
  };

  // Two invokes one after the other (one warm sandbox), then two at once (a second sandbox).
  const a = await invoke({ n: 1 });
  const b = await invoke({ n: 2 });
  assert.equal(a.stream, b.stream);
  const [c, d] = await Promise.all([invoke({ n: 3, wait: 400 }), invoke({ n: 4, wait: 400 })]);
  const streams = new Set([a.stream, c.stream, d.stream]);
  assert.equal(streams.size, 2, 'two sandboxes');

  const reports = (events: LogEventView[]) => events.filter((e) => e.message.startsWith('REPORT RequestId: '));
  const { events, nextToken } = await readUntil(base, 'talker', (ev) => reports(ev).length === 4);
  // Timestamp order across the two streams.
  for (let i = 1; i < events.length; i++) assert.ok(events[i]!.timestamp >= events[i - 1]!.timestamp, 'in timestamp order');
  assert.deepEqual(new Set(events.map((e) => e.logStreamName)), streams, 'the streams are the sandboxes\' AWS_LAMBDA_LOG_STREAM_NAME');
  for (const { stream, requestId, n } of [
    { ...a, n: 1 },
    { ...b, n: 2 },
    { ...c, n: 3 },
    { ...d, n: 4 },
  ]) {
    const own = events.filter((e) => e.logStreamName === stream).map((e) => e.message);
    const start = own.indexOf(`START RequestId: ${requestId} Version: $LATEST`);
    assert.ok(start >= 0, `START of ${requestId} in ${stream}:\n${own.join('\n')}`);
    assert.match(own[start + 1]!, new RegExp(`^\\S+Z\\t${requestId}\\tINFO\\tevent \\{"n":${n}`));
    assert.equal(own[start + 2], `END RequestId: ${requestId}`);
    assert.match(own[start + 3]!, new RegExp(`^REPORT RequestId: ${requestId}\\tDuration: [\\d.]+ ms\\tBilled Duration: \\d+ ms\\tMemory Size: 128 MB\\tMax Memory Used: \\d+ MB\\t`));
  }
  for (const stream of streams) {
    const own = events.filter((e) => e.logStreamName === stream).map((e) => e.message);
    assert.match(own[0]!, /^INIT_START Runtime Version: /, 'each stream starts with INIT_START');
    assert.match(own[1]!, /\tundefined\tINFO\tinit line$/, 'then the init output');
  }
  assert.ok(events.every((e) => e.ingestionTime >= e.timestamp - 5000 && e.message.length > 0 && !e.message.endsWith('\n')));

  // The streams list.
  const list = await get<StreamsPage>(`${base}/kindling/v1/logs/talker/streams`);
  assert.equal(list.status, 200);
  assert.deepEqual(new Set(list.body.logStreams.map((s) => s.logStreamName)), streams);
  for (const s of list.body.logStreams) {
    assert.ok(s.storedBytes > 0 && s.firstEventTimestamp! <= s.lastEventTimestamp!);
    assert.match(s.logStreamName, /^\d{4}\/\d\d\/\d\d\/\[\$LATEST\][0-9a-f]{32}$/);
  }
  const oneStream = await get<EventsPage>(`${base}/kindling/v1/logs/talker?logStreamName=${encodeURIComponent(a.stream)}`);
  assert.ok(oneStream.body.events.length > 0 && oneStream.body.events.every((e) => e.logStreamName === a.stream));

  // Follow: the token of the last read gives only what comes after it.
  const e = await invoke({ n: 5 });
  const followed = await readUntil(base, 'talker', (ev) => reports(ev).length === 1, `nextToken=${encodeURIComponent(nextToken)}`);
  assert.ok(followed.events.length > 0);
  assert.equal(followed.events[0]!.message, `START RequestId: ${e.requestId} Version: $LATEST`, 'nothing already read comes again');

  // A timeout: the unterminated line and Lambda's "Task timed out" line are kept.
  const timedOut = await invoke({ hang: true });
  assert.equal(timedOut.error, 'Unhandled');
  const afterTimeout = await readUntil(base, 'talker', (ev) => reports(ev).length === 1, `nextToken=${encodeURIComponent(followed.nextToken)}`);
  const msgs = afterTimeout.events.map((x) => x.message);
  const i = msgs.indexOf('unterminated');
  assert.ok(i > 0, msgs.join('\n'));
  assert.match(msgs[i + 1]!, new RegExp(`^\\S+Z ${timedOut.requestId} Task timed out after 1\\.\\d\\d seconds$`));
  assert.equal(msgs[i + 2], `END RequestId: ${timedOut.requestId}`);

  // Bad parameters are refused in CloudWatch Logs' words.
  const bad = await get<Record<string, string>>(`${base}/kindling/v1/logs/talker?limit=10001`);
  assert.equal(bad.status, 400);
  assert.equal(bad.body['message'], "1 validation error detected: Value '10001' at 'limit' failed to satisfy constraint: Member must have value less than or equal to 10000");
  const badToken = await get<Record<string, string>>(`${base}/kindling/v1/logs/talker?nextToken=nope`);
  assert.equal(badToken.errorType, 'InvalidParameterException');

  // Deleting the function keeps its log group (as on Lambda), and a restart keeps every line.
  await k.client.send(new DeleteFunctionCommand({ FunctionName: 'talker' }));
  assert.equal(await k.stop('SIGTERM'), 0);
  const k2 = await startKindling(t, { dataDir });
  running.push(k2);
  const again = await get<EventsPage>(`${k2.url}/kindling/v1/logs/talker?limit=10000`);
  assert.equal(again.status, 200);
  const before = events.length + followed.events.length + afterTimeout.events.length;
  assert.ok(again.body.events.length >= before, `${again.body.events.length} events after the restart, ${before} before`);
  assert.deepEqual(
    again.body.events.slice(0, events.length).map((x) => [x.logStreamName, x.message]),
    events.map((x) => [x.logStreamName, x.message]),
  );
});

test('with worker processes (--workers 1), the sandboxes\' lines reach the platform\'s log store over the worker channel', async (t) => {
  const k = await startKindling(t, { args: ['--workers', '1'] });
  await deploy(k.client, 'remote', { 'index.js': FN });
  const res = await k.client.send(new InvokeCommand({ FunctionName: 'remote', Payload: Buffer.from('{"n":7}') }));
  const stream = json(res.Payload) as string;
  const requestId = res.$metadata.requestId!;
  const { events } = await readUntil(k.url, 'remote', (ev) => ev.some((e) => e.message.startsWith(`REPORT RequestId: ${requestId}`)));
  const own = events.filter((e) => e.logStreamName === stream).map((e) => e.message);
  const start = own.indexOf(`START RequestId: ${requestId} Version: $LATEST`);
  assert.ok(start > 0, own.join('\n'));
  assert.match(own[0]!, /^INIT_START /);
  assert.match(own[start + 1]!, /\tINFO\tevent \{"n":7\}$/);
  assert.equal(own[start + 2], `END RequestId: ${requestId}`);
});
