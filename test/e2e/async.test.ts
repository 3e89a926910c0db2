/**
 * Asynchronous invocation end to end: the real `kindling up` (with
 * --async-time-scale, so Lambda's one- and two-minute retries take a
 * fraction of a second), the real AWS SDK, real sandboxes, and Kindling's
 * named queues as destinations, read through their HTTP API and the CLI.
 */
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { rmSync } from 'node:fs';
import { after, before, describe, it } from 'node:test';
import { promisify } from 'node:util';
import {
  DeleteFunctionConcurrencyCommand,
  InvokeCommand,
  PutFunctionConcurrencyCommand,
  PutFunctionEventInvokeConfigCommand,
  type LambdaClient,
} from '@aws-sdk/client-lambda';
import { CLI, deploy, json, launchKindling, type Kindling } from './harness.js';

const run = promisify(execFile);
const SCALE = '0.01';
const queueArn = (name: string) => `arn:aws:sqs:us-east-1:000000000000:${name}`;
const fnArn = (name: string, q = '$LATEST') => `arn:aws:lambda:us-east-1:000000000000:function:${name}:${q}`;

/** A function that returns what it got, fails when asked, and sleeps when asked. */
const ECHO = {
  'index.mjs': `export const handler = async (event, context) => {
    if (event.sleepMs) await new Promise((r) => setTimeout(r, event.sleepMs));
    if (event.fail) throw new Error('failing on purpose: ' + event.tag);
    return { tag: event.tag, requestId: context.awsRequestId };
  };`,
};

interface Message {
  MessageId: string;
  Body: string;
  Attributes: Record<string, string>;
  SourceFunction: string;
}
type DestinationRecord = {
  requestContext: { requestId: string; functionArn: string; condition: string; approximateInvokeCount: number };
  requestPayload: Record<string, unknown>;
  responseContext?: { statusCode: number; executedVersion: string; functionError?: string };
  responsePayload?: Record<string, unknown>;
};

async function peek(url: string, queue: string): Promise<Message[]> {
  const res = await fetch(`${url}/kindling/v1/queues/${queue}/receive`, { method: 'POST', body: JSON.stringify({ MaxNumberOfMessages: 100, VisibilityTimeout: 0 }) });
  assert.equal(res.status, 200);
  return ((await res.json()) as { Messages: Message[] }).Messages;
}

/** Polls a queue until `done` holds for its messages (bounded). */
async function waitFor(url: string, queue: string, done: (m: Message[]) => boolean, ms = 30_000): Promise<Message[]> {
  const end = Date.now() + ms;
  for (;;) {
    const messages = await peek(url, queue);
    if (done(messages)) return messages;
    if (Date.now() > end) throw new Error(`queue ${queue} did not fill as expected; it holds ${JSON.stringify(messages.map((m) => m.Body))}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

const records = (messages: Message[]) => messages.map((m) => JSON.parse(m.Body) as DestinationRecord);

async function event(client: LambdaClient, name: string, payload: unknown): Promise<string> {
  const out = await client.send(new InvokeCommand({ FunctionName: name, InvocationType: 'Event', Payload: JSON.stringify(payload) }));
  assert.equal(out.StatusCode, 202);
  assert.equal(Buffer.from(out.Payload ?? []).length, 0, 'a 202 has an empty body');
  assert.equal(out.ExecutedVersion, undefined);
  assert.ok(out.$metadata.requestId);
  return out.$metadata.requestId;
}

async function withDestinations(client: LambdaClient, name: string, extra: { retries?: number; onSuccess?: string; onFailure?: string } = {}): Promise<void> {
  await client.send(
    new PutFunctionEventInvokeConfigCommand({
      FunctionName: name,
      ...(extra.retries !== undefined ? { MaximumRetryAttempts: extra.retries } : {}),
      DestinationConfig: {
        ...(extra.onSuccess ? { OnSuccess: { Destination: extra.onSuccess } } : {}),
        ...(extra.onFailure ? { OnFailure: { Destination: extra.onFailure } } : {}),
      },
    }),
  );
}

describe('asynchronous invocation', () => {
  let k: Kindling;
  before(async () => {
    k = await launchKindling({ args: ['--async-time-scale', SCALE] });
  });
  after(async () => {
    k.client.destroy();
    await k.stop();
    rmSync(k.dataDir, { recursive: true, force: true });
  });

  it('accepts an Event invoke with 202 and runs it with the same request id; OnSuccess gets Lambda\'s record', async () => {
    await deploy(k.client, 'async-ok', ECHO);
    await withDestinations(k.client, 'async-ok', { onSuccess: queueArn('async-ok-success') });
    const requestId = await event(k.client, 'async-ok', { tag: 'one' });
    const [record] = records(await waitFor(k.url, 'async-ok-success', (m) => m.length === 1));
    assert.deepEqual(record?.requestContext, { requestId, functionArn: fnArn('async-ok'), condition: 'Success', approximateInvokeCount: 1 });
    assert.deepEqual(record?.requestPayload, { tag: 'one' });
    assert.deepEqual(record?.responseContext, { statusCode: 200, executedVersion: '$LATEST' });
    assert.deepEqual(record?.responsePayload, { tag: 'one', requestId });
  });

  it('refuses what Lambda refuses: a payload over 1 MB (413), an unknown function (404), invalid JSON (400)', async () => {
    await assert.rejects(k.client.send(new InvokeCommand({ FunctionName: 'async-ok', InvocationType: 'Event', Payload: JSON.stringify({ big: 'x'.repeat(1_048_576) }) })), (err: Error) => {
      assert.equal(err.name, 'RequestEntityTooLargeException');
      assert.match(err.message, /^1048586 byte payload is too large for the Event invocation type \(limit 1048576 bytes\)$/);
      return true;
    });
    await assert.rejects(k.client.send(new InvokeCommand({ FunctionName: 'no-such-function', InvocationType: 'Event', Payload: '{}' })), { name: 'ResourceNotFoundException' });
    await assert.rejects(k.client.send(new InvokeCommand({ FunctionName: 'async-ok', InvocationType: 'Event', Payload: '{nope' })), { name: 'InvalidRequestContentException' });
  });

  it('retries a failing event twice with the same request id, then sends it to OnFailure and to the dead-letter queue', async () => {
    await deploy(k.client, 'async-fail', ECHO, { DeadLetterConfig: { TargetArn: queueArn('async-fail-dlq') } });
    await withDestinations(k.client, 'async-fail', { onFailure: queueArn('async-fail-failure') });
    const requestId = await event(k.client, 'async-fail', { tag: 'bad', fail: true });
    const [record] = records(await waitFor(k.url, 'async-fail-failure', (m) => m.length === 1));
    assert.deepEqual(record?.requestContext, { requestId, functionArn: fnArn('async-fail'), condition: 'RetriesExhausted', approximateInvokeCount: 3 });
    assert.deepEqual(record?.responseContext, { statusCode: 200, executedVersion: '$LATEST', functionError: 'Unhandled' });
    assert.equal(record?.responsePayload?.['errorMessage'], 'failing on purpose: bad');
    const [dead] = await waitFor(k.url, 'async-fail-dlq', (m) => m.length === 1);
    assert.deepEqual(JSON.parse(dead!.Body), { tag: 'bad', fail: true });
    assert.deepEqual(dead!.Attributes, { RequestID: requestId, ErrorCode: '200', ErrorMessage: 'failing on purpose: bad' });

    const metrics = await (await fetch(`${k.url}/metrics`)).text();
    assert.match(metrics, /kindling_async_attempts_total\{function="async-fail",outcome="function_error"\} 3/);
    assert.match(metrics, /kindling_async_retries_total\{function="async-fail",reason="function_error"\} 2/);
    assert.match(metrics, /kindling_async_events_total\{function="async-fail",condition="RetriesExhausted"\} 1/);
  });

  it('MaximumRetryAttempts 0 runs a failing event once', async () => {
    await deploy(k.client, 'async-once', ECHO);
    await withDestinations(k.client, 'async-once', { retries: 0, onFailure: queueArn('async-once-failure') });
    await event(k.client, 'async-once', { tag: 'once', fail: true });
    const [record] = records(await waitFor(k.url, 'async-once-failure', (m) => m.length === 1));
    assert.equal(record?.requestContext.approximateInvokeCount, 1);
  });

  it('reserved concurrency 0: the event is not run and goes to OnFailure as ZeroReservedConcurrency', async () => {
    await deploy(k.client, 'async-zero', ECHO);
    await withDestinations(k.client, 'async-zero', { onFailure: queueArn('async-zero-failure') });
    await k.client.send(new PutFunctionConcurrencyCommand({ FunctionName: 'async-zero', ReservedConcurrentExecutions: 0 }));
    const requestId = await event(k.client, 'async-zero', { tag: 'never' });
    const [record] = records(await waitFor(k.url, 'async-zero-failure', (m) => m.length === 1));
    assert.deepEqual(record?.requestContext, { requestId, functionArn: fnArn('async-zero'), condition: 'ZeroReservedConcurrency', approximateInvokeCount: 0 });
    assert.equal(record?.responseContext, undefined);
    await k.client.send(new DeleteFunctionConcurrencyCommand({ FunctionName: 'async-zero' }));
  });

  it('reserved concurrency 1 with an async invoke running: a sync invoke is throttled, the second event waits and runs later', async () => {
    await deploy(k.client, 'async-one', ECHO);
    await withDestinations(k.client, 'async-one', { onSuccess: queueArn('async-one-success') });
    await k.client.send(new PutFunctionConcurrencyCommand({ FunctionName: 'async-one', ReservedConcurrentExecutions: 1 }));
    await event(k.client, 'async-one', { tag: 'first', sleepMs: 1500 });
    await event(k.client, 'async-one', { tag: 'second', sleepMs: 1500 });
    // Let the first start, then a synchronous invoke finds the only slot taken.
    await new Promise((r) => setTimeout(r, 500));
    await assert.rejects(k.client.send(new InvokeCommand({ FunctionName: 'async-one', Payload: '{"tag":"sync"}' })), (err: Error & { Reason?: string }) => {
      assert.equal(err.name, 'TooManyRequestsException');
      assert.equal(err.Reason, 'ReservedFunctionConcurrentInvocationLimitExceeded');
      return true;
    });
    const done = records(await waitFor(k.url, 'async-one-success', (m) => m.length === 2));
    assert.deepEqual(done.map((r) => r.requestPayload['tag']).sort(), ['first', 'second']);
    assert.ok(done.every((r) => r.requestContext.approximateInvokeCount === 1), 'throttles are not attempts');
  });

  it('an event throttled past MaximumEventAgeInSeconds goes to OnFailure as EventAgeExceeded, never having run', async () => {
    await deploy(k.client, 'async-age', ECHO);
    await k.client.send(new PutFunctionEventInvokeConfigCommand({
      FunctionName: 'async-age',
      MaximumEventAgeInSeconds: 60, // × 0.01: 0.6 s here
      DestinationConfig: { OnFailure: { Destination: queueArn('async-age-failure') } },
    }));
    await k.client.send(new PutFunctionConcurrencyCommand({ FunctionName: 'async-age', ReservedConcurrentExecutions: 1 }));
    // A synchronous invoke holds the only slot for 3 s: the event is throttled until it is too old.
    const busy = k.client.send(new InvokeCommand({ FunctionName: 'async-age', Payload: JSON.stringify({ tag: 'busy', sleepMs: 3000 }) }));
    await new Promise((r) => setTimeout(r, 300));
    const requestId = await event(k.client, 'async-age', { tag: 'late' });
    const [record] = records(await waitFor(k.url, 'async-age-failure', (m) => m.length === 1));
    assert.deepEqual(record?.requestContext, { requestId, functionArn: fnArn('async-age'), condition: 'EventAgeExceeded', approximateInvokeCount: 0 });
    assert.deepEqual(record?.requestPayload, { tag: 'late' });
    assert.equal(record?.responseContext, undefined, 'the function never ran');
    await busy;
    const metrics = await (await fetch(`${k.url}/metrics`)).text();
    assert.match(metrics, /kindling_async_attempts_total\{function="async-age",outcome="throttled"\} [1-9]/);
    assert.match(metrics, /kindling_async_events_total\{function="async-age",condition="EventAgeExceeded"\} 1/);
  });

  it('a function destination is invoked asynchronously with the record as its event', async () => {
    await deploy(k.client, 'async-source', ECHO);
    await deploy(k.client, 'async-handler', { 'index.mjs': 'export const handler = async (record) => ({ got: record.requestContext.condition, payload: record.requestPayload });' });
    await withDestinations(k.client, 'async-source', { retries: 0, onFailure: 'arn:aws:lambda:us-east-1:000000000000:function:async-handler' });
    await withDestinations(k.client, 'async-handler', { onSuccess: queueArn('async-handler-success') });
    await event(k.client, 'async-source', { tag: 'chain', fail: true });
    const [record] = records(await waitFor(k.url, 'async-handler-success', (m) => m.length === 1));
    assert.deepEqual(record?.responsePayload, { got: 'RetriesExhausted', payload: { tag: 'chain', fail: true } });
    assert.equal(record?.requestContext.functionArn, fnArn('async-handler'));
  });

  it('kindling queue ls / receive / redrive: failed events can be inspected and replayed', async () => {
    await deploy(k.client, 'async-replay', { 'index.mjs': `export const handler = async (event) => { if (process.env.FIXED !== '1') throw new Error('not yet'); return 'fixed ' + event.tag; };` });
    await withDestinations(k.client, 'async-replay', { retries: 0, onFailure: queueArn('async-replay-failed') });
    await event(k.client, 'async-replay', { tag: 'r1' });
    await waitFor(k.url, 'async-replay-failed', (m) => m.length === 1);
    const cli = (...args: string[]) => run(process.execPath, [CLI, 'queue', ...args, '--endpoint', k.url]);
    assert.match((await cli('ls')).stdout, /async-replay-failed\s+1\s+arn:aws:sqs:us-east-1:000000000000:async-replay-failed/);
    const received = (await cli('receive', 'async-replay-failed')).stdout;
    assert.match(received, /from async-replay/);
    assert.match(received, /"condition": "RetriesExhausted"/);

    // Fix the function, replay: the original event runs again and succeeds.
    const { UpdateFunctionConfigurationCommand, waitUntilFunctionUpdatedV2 } = await import('@aws-sdk/client-lambda');
    await k.client.send(new UpdateFunctionConfigurationCommand({ FunctionName: 'async-replay', Environment: { Variables: { FIXED: '1' } } }));
    await waitUntilFunctionUpdatedV2({ client: k.client, maxWaitTime: 30 }, { FunctionName: 'async-replay' });
    await withDestinations(k.client, 'async-replay', { retries: 0, onSuccess: queueArn('async-replay-ok'), onFailure: queueArn('async-replay-failed') });
    assert.match((await cli('redrive', 'async-replay-failed')).stdout, /^1 message\(s\) of async-replay-failed sent back/);
    const [ok] = records(await waitFor(k.url, 'async-replay-ok', (m) => m.length === 1));
    assert.deepEqual(ok?.requestPayload, { tag: 'r1' });
    assert.equal(ok?.responsePayload, 'fixed r1');
    assert.deepEqual(await peek(k.url, 'async-replay-failed'), []);
  });
});

describe('asynchronous invocation survives kill -9', () => {
  it('every accepted event is delivered after a kill -9 and a restart, queued and in flight alike', async (t) => {
    const first = await launchKindling({ args: ['--async-time-scale', SCALE] });
    t.after(() => rmSync(first.dataDir, { recursive: true, force: true }));
    await deploy(first.client, 'async-durable', ECHO);
    // One at a time, so that most events are still queued when the platform dies.
    await first.client.send(new PutFunctionConcurrencyCommand({ FunctionName: 'async-durable', ReservedConcurrentExecutions: 1 }));
    await withDestinations(first.client, 'async-durable', { onSuccess: queueArn('durable-done') });
    const accepted: string[] = [];
    for (let i = 0; i < 20; i++) accepted.push(await event(first.client, 'async-durable', { tag: `e${i}`, sleepMs: 300 }));
    await new Promise((r) => setTimeout(r, 400)); // the first is in flight
    first.client.destroy();
    await first.stop('SIGKILL');

    const second = await launchKindling({ dataDir: first.dataDir, args: ['--async-time-scale', SCALE] });
    t.after(async () => {
      second.client.destroy();
      await second.stop();
    });
    const done = records(await waitFor(second.url, 'durable-done', (m) => new Set(records(m).map((r) => r.requestContext.requestId)).size === 20, 60_000));
    // At least once: every accepted request id has a success record (the one in flight at the kill may have two).
    assert.deepEqual([...new Set(done.map((r) => r.requestContext.requestId))].sort(), [...accepted].sort());
    assert.ok(done.length <= 21, `${done.length} records for 20 events`);
    const out = json((await second.client.send(new InvokeCommand({ FunctionName: 'async-durable', Payload: '{"tag":"sync"}' }))).Payload);
    assert.equal((out as { tag: string }).tag, 'sync', 'and the platform serves');
  });
});
