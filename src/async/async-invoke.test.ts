import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { InvokeCommand, InvokeResponse } from '../frontend/types.js';
import { ManualClock } from '../shared/clock.js';
import { LambdaError } from '../shared/errors.js';
import type { NewEvent } from '../store/event-queue.js';
import { SqliteEventQueue } from '../store/sqlite-event-queue.js';
import { AsyncInvoke, EVENT_LEASE_MS } from './async-invoke.js';
import type { AsyncSettings } from './async-invoke.js';

const ARN = (name: string, v = '$LATEST') => `arn:aws:lambda:us-east-1:000000000000:function:${name}:${v}`;
const SUCCESS_QUEUE = 'arn:aws:sqs:us-east-1:000000000000:ok';
const FAILURE_QUEUE = 'arn:aws:sqs:us-east-1:000000000000:failed';
const DLQ = 'arn:aws:sqs:us-east-1:000000000000:dlq';

type Behaviour = (command: InvokeCommand, call: number) => InvokeResponse | Error;

const ok = (body: unknown): InvokeResponse => ({ statusCode: 200, executedVersion: '$LATEST', functionError: undefined, logResult: undefined, payload: Buffer.from(JSON.stringify(body)) });
const unhandled = (message: string): InvokeResponse => ({
  statusCode: 200,
  executedVersion: '$LATEST',
  functionError: 'Unhandled',
  logResult: undefined,
  payload: Buffer.from(JSON.stringify({ errorType: 'Error', errorMessage: message, trace: [] })),
});
const throttle = () => new LambdaError('TooManyRequestsException', 'Rate Exceeded.', { Reason: 'ReservedFunctionConcurrentInvocationLimitExceeded' });

function setup(t: { after(fn: () => unknown): void }, options: { settings?: Record<string, Partial<AsyncSettings>>; behaviour?: Record<string, Behaviour>; reserved?: Record<string, number>; pollerConcurrency?: number; slowMs?: number } = {}) {
  const clock = new ManualClock(Date.UTC(2026, 11, 2, 12));
  const queue = new SqliteEventQueue('', { file: ':memory:', now: clock.now() });
  const calls: { fn: string; requestId: string; at: number; payload: string }[] = [];
  const counts = new Map<string, number>();
  const service = new AsyncInvoke({
    queue,
    clock,
    pollers: 1,
    pollerConcurrency: options.pollerConcurrency ?? 8,
    functionArn: (name, version) => ARN(name, version),
    reservations: { reservedConcurrency: (fn) => options.reserved?.[fn] },
    settings: {
      asyncSettings(fn) {
        const s = options.settings?.[fn];
        if (!s) return undefined;
        return { maximumRetryAttempts: 2, maximumEventAgeInSeconds: 21_600, onSuccess: undefined, onFailure: undefined, deadLetterTarget: undefined, ...s };
      },
    },
    runner: {
      async invoke(command) {
        const n = (counts.get(command.functionName) ?? 0) + 1;
        counts.set(command.functionName, n);
        calls.push({ fn: command.functionName, requestId: command.requestId, at: clock.now(), payload: command.payload.toString() });
        if (options.slowMs) await new Promise((r) => setTimeout(r, options.slowMs));
        const behaviour = options.behaviour?.[command.functionName] ?? (() => ok({ ran: command.functionName }));
        const out = behaviour(command, n);
        if (out instanceof Error) throw out;
        return out;
      },
    },
    logger: { error: () => undefined },
  });
  service.start();
  t.after(async () => {
    await service.close();
    await queue.close();
  });
  /** Lets the event loop run, then moves time on in steps. */
  const run = async (ms: number, stepMs = 250): Promise<void> => {
    for (let elapsed = 0; ; elapsed += stepMs) {
      for (let i = 0; i < 20; i++) await new Promise((r) => setImmediate(r));
      if (elapsed >= ms) return;
      clock.advance(stepMs);
    }
  };
  let n = 0;
  const accept = (fn: string, payload: unknown = { n: ++n }, extra: Partial<NewEvent> = {}) =>
    service.accept({ id: `req-${fn}-${++n}`, functionName: fn, qualifier: undefined, payload: Buffer.from(JSON.stringify(payload)), clientContext: undefined, acceptedAt: clock.now(), ...extra });
  const messages = async (q: string) => (await queue.receive(q, 100, clock.now(), 0)).map((m) => ({ ...m, record: JSON.parse(m.body) as Record<string, unknown> }));
  return { clock, queue, service, calls, run, accept, messages };
}

describe('AsyncInvoke: delivery, retries and destinations', () => {
  it('delivers an event once and writes Lambda\'s OnSuccess record', async (t) => {
    const s = setup(t, { settings: { f: { onSuccess: SUCCESS_QUEUE } } });
    await s.accept('f', { hello: 'world' });
    await s.run(0);
    assert.equal(s.calls.length, 1);
    const [m] = await s.messages('ok');
    assert.ok(m);
    assert.deepEqual(m.record, {
      version: '1.0',
      timestamp: new Date(s.clock.now()).toISOString(),
      requestContext: { requestId: s.calls[0]!.requestId, functionArn: ARN('f'), condition: 'Success', approximateInvokeCount: 1 },
      requestPayload: { hello: 'world' },
      responseContext: { statusCode: 200, executedVersion: '$LATEST' },
      responsePayload: { ran: 'f' },
    });
    assert.equal((await s.queue.stats()).size, 0, 'the event left the queue');
  });

  it('retries a function error twice, after about one and two minutes, with the same request id; then OnFailure and the dead-letter queue', async (t) => {
    const s = setup(t, { settings: { f: { onFailure: FAILURE_QUEUE, deadLetterTarget: DLQ } }, behaviour: { f: () => unhandled('boom') } });
    const t0 = s.clock.now();
    await s.accept('f', { job: 7 });
    await s.run(59_000);
    assert.equal(s.calls.length, 1);
    await s.run(2000);
    assert.equal(s.calls.length, 2);
    await s.run(118_000);
    assert.equal(s.calls.length, 2, 'the third attempt waits two minutes');
    await s.run(3000);
    assert.equal(s.calls.length, 3);
    await s.run(600_000, 10_000);
    assert.equal(s.calls.length, 3, 'MaximumRetryAttempts 2: three attempts in all');
    assert.deepEqual(new Set(s.calls.map((c) => c.requestId)).size, 1);
    assert.ok(s.calls[1]!.at - t0 >= 60_000 && s.calls[1]!.at - t0 < 61_000);
    assert.ok(s.calls[2]!.at - s.calls[1]!.at >= 120_000 && s.calls[2]!.at - s.calls[1]!.at < 121_000);

    const [failure] = await s.messages('failed');
    assert.deepEqual(failure?.record['requestContext'], { requestId: s.calls[0]!.requestId, functionArn: ARN('f'), condition: 'RetriesExhausted', approximateInvokeCount: 3 });
    assert.deepEqual(failure?.record['responseContext'], { statusCode: 200, executedVersion: '$LATEST', functionError: 'Unhandled' });
    assert.deepEqual(failure?.record['responsePayload'], { errorType: 'Error', errorMessage: 'boom', trace: [] });
    assert.deepEqual(failure?.record['requestPayload'], { job: 7 });
    const [dead] = await s.messages('dlq');
    assert.equal(dead?.body, '{"job":7}', 'the dead-letter queue gets the event itself');
    assert.deepEqual(dead?.attributes, { RequestID: s.calls[0]!.requestId, ErrorCode: '200', ErrorMessage: 'boom' });
  });

  it('honours MaximumRetryAttempts 0 and succeeds on a retry without a failure record', async (t) => {
    const s = setup(t, {
      settings: { once: { maximumRetryAttempts: 0, onFailure: FAILURE_QUEUE }, twice: { onSuccess: SUCCESS_QUEUE, onFailure: FAILURE_QUEUE } },
      behaviour: { once: () => unhandled('no'), twice: (_c, n) => (n === 1 ? unhandled('first') : ok('second')) },
    });
    await s.accept('once');
    await s.accept('twice');
    await s.run(200_000, 5000);
    assert.equal(s.calls.filter((c) => c.fn === 'once').length, 1);
    assert.equal(s.calls.filter((c) => c.fn === 'twice').length, 2);
    const failures = await s.messages('failed');
    assert.deepEqual(failures.map((m) => (m.record['requestContext'] as { condition: string }).condition), ['RetriesExhausted']);
    const [success] = await s.messages('ok');
    assert.equal((success?.record['requestContext'] as { approximateInvokeCount: number }).approximateInvokeCount, 2);
  });

  it('backs off throttles exponentially without counting attempts, then runs the event', async (t) => {
    const s = setup(t, { settings: { f: { onSuccess: SUCCESS_QUEUE } }, behaviour: { f: (_c, n) => (n <= 4 ? throttle() : ok('finally')) } });
    const t0 = s.clock.now();
    await s.accept('f');
    await s.run(30_000, 100);
    const gaps = s.calls.slice(1).map((c, i) => c.at - s.calls[i]!.at);
    assert.equal(s.calls.length, 5);
    // 1 s, 2 s, 4 s, 8 s (within the test's 100 ms steps).
    gaps.forEach((g, i) => assert.ok(g >= 1000 * 2 ** i && g < 1000 * 2 ** i + 200, `gap ${i}: ${g}`));
    assert.ok(s.calls[0]!.at - t0 < 200);
    const [m] = await s.messages('ok');
    assert.equal((m?.record['requestContext'] as { approximateInvokeCount: number }).approximateInvokeCount, 1, 'throttles are not invocations');
  });

  it('gives up at MaximumEventAgeInSeconds: EventAgeExceeded, with no response when the function never ran', async (t) => {
    const s = setup(t, { settings: { f: { maximumEventAgeInSeconds: 60, onFailure: FAILURE_QUEUE } }, behaviour: { f: () => throttle() } });
    await s.accept('f', { old: true });
    await s.run(120_000, 500);
    const [m] = await s.messages('failed');
    assert.ok(m, 'a failure record');
    assert.deepEqual(m.record['requestContext'], { requestId: s.calls[0]!.requestId, functionArn: ARN('f'), condition: 'EventAgeExceeded', approximateInvokeCount: 0 });
    assert.equal(m.record['responseContext'], undefined);
    assert.equal(m.record['responsePayload'], undefined);
    assert.deepEqual(m.record['requestPayload'], { old: true });
    assert.equal((await s.queue.stats()).size, 0);
  });

  it('sends events of a function with reserved concurrency 0 to OnFailure without running them (ZeroReservedConcurrency)', async (t) => {
    const s = setup(t, { settings: { f: { onFailure: FAILURE_QUEUE } }, reserved: { f: 0 } });
    await s.accept('f');
    await s.run(0);
    assert.equal(s.calls.length, 0);
    const [m] = await s.messages('failed');
    assert.deepEqual(m?.record['requestContext'], { requestId: 'req-f-2', functionArn: ARN('f'), condition: 'ZeroReservedConcurrency', approximateInvokeCount: 0 });
  });

  it('invokes a function destination asynchronously with the record as its event', async (t) => {
    const s = setup(t, { settings: { f: { onFailure: 'arn:aws:lambda:us-east-1:000000000000:function:handler', maximumRetryAttempts: 0 }, handler: {} }, behaviour: { f: () => unhandled('x') } });
    await s.accept('f', { a: 1 });
    await s.run(1000);
    const delivered = s.calls.filter((c) => c.fn === 'handler');
    assert.equal(delivered.length, 1);
    const record = JSON.parse(delivered[0]!.payload) as Record<string, unknown>;
    assert.equal((record['requestContext'] as { condition: string }).condition, 'RetriesExhausted');
    assert.deepEqual(record['requestPayload'], { a: 1 });
    assert.notEqual(delivered[0]!.requestId, s.calls[0]!.requestId, 'the destination invoke has a request id of its own');
  });

  it('drops events of a function deleted meanwhile', async (t) => {
    const s = setup(t, { settings: {} });
    await s.accept('gone');
    await s.run(0);
    assert.equal(s.calls.length, 0);
    assert.equal((await s.queue.stats()).size, 0);
  });

  it('retries platform errors with backoff, not as function errors', async (t) => {
    const s = setup(t, { settings: { f: { onSuccess: SUCCESS_QUEUE, maximumRetryAttempts: 0 } }, behaviour: { f: (_c, n) => (n === 1 ? new LambdaError('ServiceException', 'worker lost') : ok('ok')) } });
    await s.accept('f');
    await s.run(2000, 100);
    assert.equal(s.calls.length, 2);
    assert.equal((await s.messages('ok')).length, 1);
  });
});

describe('AsyncInvoke: pollers, leases and fairness', () => {
  it('does not let a flooded function starve another: pollers go round the functions', async (t) => {
    const s = setup(t, { settings: { flood: {}, quiet: {} }, pollerConcurrency: 1, slowMs: 2 });
    for (let i = 0; i < 30; i++) await s.accept('flood');
    // The pollers already deliver while the flood is accepted: count from the quiet event's arrival.
    const deliveredBefore = s.calls.length;
    await s.accept('quiet');
    const deadline = Date.now() + 10_000;
    while (s.calls.length < 31 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 5));
    const quietAt = s.calls.findIndex((c) => c.fn === 'quiet') - deliveredBefore;
    // In arrival order it would run after every flood event still queued; going round the functions it runs within the first few.
    assert.ok(31 - deliveredBefore > 10, `the flood was mostly delivered before the quiet event arrived (${deliveredBefore}): the test shows nothing`);
    assert.ok(quietAt >= 0 && quietAt < 5, `the quiet function's event ran at position ${quietAt} after its arrival`);
    assert.equal(s.calls.length, 31);
  });

  it('claims no more events of a function than its reserved concurrency leaves: a backlog drains one at a time, without throttles', async (t) => {
    let ended = 0;
    let most = 0;
    const calls: { length: number }[] = [];
    const s = setup(t, {
      settings: { one: {}, free: {} },
      reserved: { one: 1 },
      slowMs: 3,
      behaviour: {
        one: () => {
          // Started so far minus ended so far: the attempts running now, this one included.
          most = Math.max(most, calls[0]!.length - ended);
          ended++;
          return ok('done');
        },
      },
    });
    calls.push({ get length() { return s.calls.filter((c) => c.fn === 'one').length; } });
    for (let i = 0; i < 10; i++) await s.accept('one');
    for (let i = 0; i < 5; i++) await s.accept('free');
    const deadline = Date.now() + 10_000;
    // No clock advance: a throttle's backoff (1 s and more) would stop the drain.
    while (s.calls.length < 15 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 5));
    assert.equal(s.calls.filter((c) => c.fn === 'one').length, 10);
    assert.equal(s.calls.filter((c) => c.fn === 'free').length, 5, 'a function held back does not hold back the others');
    assert.equal(most, 1);
  });

  it('delivers an event whose poller died once its lease runs out, and never twice while it is leased', async (t) => {
    const s = setup(t, { settings: { f: {} } });
    await s.service.close(); // this test drives the queue by hand first
    const queue = s.queue;
    await queue.enqueue([{ id: 'orphan', functionName: 'f', qualifier: undefined, payload: Buffer.from('{}'), clientContext: undefined, acceptedAt: s.clock.now() }]);
    const [claimed] = await queue.claim('f', 'a-poller-that-dies', 1, s.clock.now(), EVENT_LEASE_MS);
    assert.equal(claimed?.id, 'orphan');
    const second = new AsyncInvoke({
      queue,
      clock: s.clock,
      pollers: 1,
      functionArn: (n, v) => ARN(n, v),
      reservations: { reservedConcurrency: () => undefined },
      settings: { asyncSettings: () => ({ maximumRetryAttempts: 2, maximumEventAgeInSeconds: 21_600, onSuccess: undefined, onFailure: undefined, deadLetterTarget: undefined }) },
      runner: { invoke: (c) => (s.calls.push({ fn: c.functionName, requestId: c.requestId, at: s.clock.now(), payload: '' }), Promise.resolve(ok(1))) },
    });
    second.start();
    t.after(() => second.close());
    await s.run(EVENT_LEASE_MS - 1000, 1000);
    assert.equal(s.calls.length, 0, 'leased to the dead poller');
    await s.run(2000, 1000);
    assert.deepEqual(s.calls.map((c) => c.requestId), ['orphan']);
    assert.equal((await queue.stats()).size, 0);
  });
});
