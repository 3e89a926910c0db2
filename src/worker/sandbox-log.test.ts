import assert from 'node:assert/strict';
import { after, describe, it } from 'node:test';
import { ManualClock } from '../shared/clock.js';
import { LocalWorker } from './local-worker.js';
import { MAX_EVENT_CHARS, SandboxLog } from './sandbox-log.js';
import { codeDirs, testRequest, testSpec } from './testing.js';
import type { LogSink, LogSinkEvent } from './types.js';

/** A sink that keeps what it was given, per stream. */
class MemorySink implements LogSink {
  readonly events: { group: string; stream: string; event: LogSinkEvent }[] = [];
  append(group: string, stream: string, events: readonly LogSinkEvent[]): void {
    for (const event of events) this.events.push({ group, stream, event });
  }
  messages(stream?: string): string[] {
    return this.events.filter((e) => stream === undefined || e.stream === stream).map((e) => e.event.message);
  }
}

function makeLog() {
  const sink = new MemorySink();
  const clock = new ManualClock();
  const log = new SandboxLog({ sink, logGroupName: '/aws/lambda/fn', logStreamName: 'S', clock });
  return { sink, clock, log };
}

describe('SandboxLog', () => {
  it('one event per line; a console call with inner newlines (runtime writes \\r) stays one event; CRLF loses its \\r', () => {
    const { sink, log } = makeLog();
    log.text(0, 'first\nsec');
    log.text(0, 'ond\r\nmulti\rline\rmessage\n\n');
    assert.deepEqual(sink.messages(), ['first', 'second', 'multi\nline\nmessage']);
    assert.deepEqual(sink.events[0]!.group, '/aws/lambda/fn');
  });

  it('platform lines go out in one append, after the function\'s unterminated lines; empty ones are skipped', () => {
    const { sink, log } = makeLog();
    const appends: number[] = [];
    const append = sink.append.bind(sink);
    sink.append = (group, stream, events) => {
      appends.push(events.length);
      append(group, stream, events);
    };
    log.platform('START r1');
    log.text(1, 'half');
    log.platform('', 'END r1', 'REPORT r1\t');
    assert.deepEqual(sink.messages(), ['START r1', 'half', 'END r1', 'REPORT r1\t']);
    assert.deepEqual(appends, [1, 1, 2]);
  });

  it('an unterminated line is kept: before a platform line, when its stream ends, and at close', () => {
    const { sink, log } = makeLog();
    log.platform('START r1');
    log.text(0, 'no newline');
    log.text(1, 'err partial');
    log.end(0);
    log.end(1);
    assert.deepEqual(sink.messages(), ['START r1', 'no newline', 'err partial']);
    log.platform('r1 fault\nRuntime.ExitError\n', 'END r1');
    assert.deepEqual(sink.messages().slice(3), ['r1 fault\nRuntime.ExitError', 'END r1']);

    const second = makeLog();
    second.log.text(0, 'between invokes, unterminated');
    second.log.platform('START r2');
    second.log.text(0, 'dying mid-wr');
    second.log.close();
    assert.deepEqual(second.sink.messages(), ['between invokes, unterminated', 'START r2', 'dying mid-wr']);
    second.log.text(0, 'ite, drained later\n');
    assert.equal(second.sink.messages().at(-1), 'ite, drained later');
  });
});

const codeDir = codeDirs('kindling-sandbox-log-test-');

describe('LocalWorker keeps every sandbox log line (built-in nodejs runtime)', () => {
  const sink = new MemorySink();
  const worker = new LocalWorker({ stemCells: 0, logSink: sink });
  after(() => worker.close());
  const nodeSpec = (code: string, timeout = 3) =>
    codeDir({ 'index.js': code }).then((dir) => testSpec(dir, { runtime: 'nodejs20.x', handler: 'index.handler', timeout }));

  it('INIT_START, init output, START, console lines, END, REPORT and lines written after the response, in one stream named as AWS_LAMBDA_LOG_STREAM_NAME', async () => {
    const sb = await worker.createSandbox(
      await nodeSpec(`console.log('at init');
exports.handler = async (event) => {
  console.log('in the handler\\nsecond line');
  if (event.later) setTimeout(() => console.log('after the response'), 10);
  return process.env.AWS_LAMBDA_LOG_STREAM_NAME;
};`),
    );
    const r1 = testRequest('{"later":true}', false);
    const out = await sb.invoke(r1);
    const stream = JSON.parse(out.payload.toString()) as string;
    assert.match(stream, /^\d{4}\/\d\d\/\d\d\/\[\$LATEST\][0-9a-f]{32}$/);
    for (let i = 0; i < 200 && !sink.messages(stream).some((l) => l.endsWith('after the response')); i++) await new Promise((r) => setTimeout(r, 10));
    const r2 = testRequest('{}', false);
    await sb.invoke(r2);
    await sb.destroy();
    const lines = sink.messages(stream);
    assert.match(lines[0]!, /^INIT_START Runtime Version: nodejs:20\.v[\d.]+\tRuntime Version ARN: arn:aws:lambda:us-east-1::runtime:kindling-nodejs20\.x$/);
    assert.match(lines[1]!, /^\S+\tundefined\tINFO\tat init$/);
    assert.equal(lines[2], `START RequestId: ${r1.requestId} Version: $LATEST`);
    assert.match(lines[3]!, new RegExp(`^\\S+\\t${r1.requestId}\\tINFO\\tin the handler\\nsecond line$`));
    assert.equal(lines[4], `END RequestId: ${r1.requestId}`);
    assert.match(lines[5]!, /^REPORT RequestId: \S+\tDuration: [\d.]+ ms\tBilled Duration: \d+ ms\tMemory Size: 128 MB\tMax Memory Used: \d+ MB\tInit Duration: [\d.]+ ms\t$/);
    assert.ok(lines.slice(6).some((l) => l.endsWith('\tINFO\tafter the response')), lines.join('\n'));
    assert.equal(lines.at(-1)?.startsWith(`REPORT RequestId: ${r2.requestId}\t`), true);
    assert.ok(sink.events.filter((e) => e.stream === stream).every((e) => e.group === '/aws/lambda/fn'));
  });

  it('a sandbox that dies mid-write leaves its unterminated line, then the fault, END and REPORT', async () => {
    const sb = await worker.createSandbox(await nodeSpec(`exports.handler = async () => { process.stdout.write('partial line'); process.exit(3); };`));
    const r = testRequest('{}', false);
    const out = await sb.invoke(r);
    assert.equal(out.errorType, 'Runtime.ExitError');
    await sb.exited;
    const lines = sink.messages().slice(sink.messages().indexOf(`START RequestId: ${r.requestId} Version: $LATEST`));
    assert.deepEqual(lines.slice(0, 4), [
      `START RequestId: ${r.requestId} Version: $LATEST`,
      'partial line',
      `RequestId: ${r.requestId} Error: Runtime exited with error: exit status 3\nRuntime.ExitError`,
      `END RequestId: ${r.requestId}`,
    ]);
    assert.match(lines[4]!, /^REPORT RequestId: /);
  });

  it('a timed-out sandbox killed mid-write keeps its partial line and the "Task timed out" line', async () => {
    const sb = await worker.createSandbox(await nodeSpec(`exports.handler = async () => { process.stdout.write('half a li'); await new Promise(() => setInterval(() => {}, 1000)); };`, 1));
    const r = testRequest('{}', false);
    const out = await sb.invoke(r);
    assert.equal(out.errorType, 'Sandbox.Timedout');
    await sb.exited;
    const lines = sink.messages().slice(sink.messages().indexOf(`START RequestId: ${r.requestId} Version: $LATEST`));
    assert.equal(lines[1], 'half a li');
    assert.match(lines[2]!, new RegExp(`^\\d{4}-\\d\\d-\\d\\dT\\S+Z ${r.requestId} Task timed out after 1\\.\\d\\d seconds$`));
    assert.equal(lines[3], `END RequestId: ${r.requestId}`);
  });
});

describe('SandboxLog with long lines', () => {
  it('splits a line past CloudWatch Logs\' event size, and writes out an unterminated one as it grows', () => {
    const { sink, log } = makeLog();
    log.text(0, `${'a'.repeat(MAX_EVENT_CHARS + 5)}\n`);
    assert.deepEqual(sink.messages().map((m) => m.length), [MAX_EVENT_CHARS, 5]);
    for (let i = 0; i < 3; i++) log.text(1, 'b'.repeat(MAX_EVENT_CHARS));
    assert.deepEqual(sink.messages().slice(2).map((m) => m.length), [MAX_EVENT_CHARS, MAX_EVENT_CHARS], 'no newline yet: the third part waits');
    log.end(1);
    assert.equal(sink.messages().length, 5);
    assert.ok(sink.messages().every((m) => Buffer.byteLength(m) <= 256 * 1024));
  });
});
