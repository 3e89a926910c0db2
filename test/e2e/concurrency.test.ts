/**
 * Reserved and account concurrency on a real `kindling up`, through the real
 * AWS SDK: PutFunctionConcurrency / GetFunctionConcurrency /
 * DeleteFunctionConcurrency, GetAccountSettings, and the 429s of Invoke.
 * The harness client has maxAttempts 1, so a 429 reaches the test as is
 * (the SDK would otherwise retry throttles).
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import {
  DeleteFunctionCommand,
  DeleteFunctionConcurrencyCommand,
  GetAccountSettingsCommand,
  GetFunctionCommand,
  GetFunctionConcurrencyCommand,
  InvokeCommand,
  LambdaServiceException,
  PutFunctionConcurrencyCommand,
  TooManyRequestsException,
} from '@aws-sdk/client-lambda';
import type { InvokeCommandOutput, LambdaClient } from '@aws-sdk/client-lambda';
import { deploy, eventually, json, sandboxesOf, startKindling } from './harness.js';

const ARN = (name: string, q?: string) => `arn:aws:lambda:us-east-1:000000000000:function:${name}${q ? `:${q}` : ''}`;
const ECHO = { 'index.js': 'exports.handler = async (e) => e;' };
/** Holds its invoke (and so its concurrency slot) for a while; long enough for the test to invoke again meanwhile. */
const SLOW = { 'index.js': 'exports.handler = async (e) => { await new Promise((r) => setTimeout(r, 3000)); return e; };' };

/** Asserts an SDK call fails with this error name, HTTP status and message. */
async function rejects(p: Promise<unknown>, name: string, status: number, message: string | RegExp): Promise<void> {
  await assert.rejects(p, (err: unknown) => {
    assert.ok(err instanceof LambdaServiceException, String(err));
    assert.equal(err.name, name, `${err.name}: ${err.message}`);
    assert.equal(err.$metadata.httpStatusCode, status);
    if (typeof message === 'string') assert.equal(err.message, message);
    else assert.match(err.message, message);
    return true;
  });
}

/** Asserts an invoke is throttled: 429 TooManyRequestsException, "Rate Exceeded.", this Reason. */
async function throttled(client: LambdaClient, functionName: string, reason: string): Promise<void> {
  await assert.rejects(client.send(new InvokeCommand({ FunctionName: functionName, Payload: Buffer.from('{}') })), (err: unknown) => {
    assert.ok(err instanceof TooManyRequestsException, String(err));
    assert.equal(err.$metadata.httpStatusCode, 429);
    assert.equal(err.message, 'Rate Exceeded.');
    assert.equal(err.Reason, reason);
    assert.equal(err.Type, 'User');
    return true;
  });
}

/**
 * Starts an invoke of a SLOW function and resolves once it holds its slot:
 * counting hands out the slot before a sandbox is asked for, so the
 * function's sandbox process existing proves the slot is taken.
 */
async function inFlight(client: LambdaClient, functionName: string): Promise<{ readonly done: Promise<InvokeCommandOutput> }> {
  const done = client.send(new InvokeCommand({ FunctionName: functionName, Payload: Buffer.from('{"slow":true}') }));
  // Notice a failed invoke while waiting for its sandbox (the test awaits `done` itself later).
  let failed: unknown;
  void done.catch((err: unknown) => {
    failed = err;
  });
  await eventually(() => failed !== undefined || sandboxesOf(functionName).length > 0, 30_000, `a sandbox of ${functionName}`);
  if (failed !== undefined) await done; // rethrows the invoke's own error
  // Wrapped: an async function returning the promise itself would wait for it.
  return { done };
}

test('PutFunctionConcurrency, GetFunctionConcurrency, DeleteFunctionConcurrency round trip; GetFunction and GetAccountSettings follow', async (t) => {
  const k = await startKindling(t);
  await deploy(k.client, 'reserve-me', ECHO);

  const none = await k.client.send(new GetFunctionConcurrencyCommand({ FunctionName: 'reserve-me' }));
  assert.equal(none.$metadata.httpStatusCode, 200);
  assert.equal(none.ReservedConcurrentExecutions, undefined);

  const put = await k.client.send(new PutFunctionConcurrencyCommand({ FunctionName: 'reserve-me', ReservedConcurrentExecutions: 40 }));
  assert.equal(put.$metadata.httpStatusCode, 200);
  assert.equal(put.ReservedConcurrentExecutions, 40);
  assert.equal((await k.client.send(new GetFunctionConcurrencyCommand({ FunctionName: ARN('reserve-me') }))).ReservedConcurrentExecutions, 40);
  assert.deepEqual((await k.client.send(new GetFunctionCommand({ FunctionName: 'reserve-me' }))).Concurrency, { ReservedConcurrentExecutions: 40 });
  const settings = await k.client.send(new GetAccountSettingsCommand({}));
  assert.equal(settings.AccountLimit?.ConcurrentExecutions, 1000);
  assert.equal(settings.AccountLimit?.UnreservedConcurrentExecutions, 960);
  // A reserved function still runs (up to its reservation).
  const res = await k.client.send(new InvokeCommand({ FunctionName: 'reserve-me', Payload: Buffer.from('{"a":1}') }));
  assert.deepEqual(json(res.Payload), { a: 1 });

  const del = await k.client.send(new DeleteFunctionConcurrencyCommand({ FunctionName: 'reserve-me' }));
  assert.equal(del.$metadata.httpStatusCode, 204);
  assert.equal((await k.client.send(new GetFunctionConcurrencyCommand({ FunctionName: 'reserve-me' }))).ReservedConcurrentExecutions, undefined);
  assert.equal((await k.client.send(new GetFunctionCommand({ FunctionName: 'reserve-me' }))).Concurrency, undefined);
  assert.equal((await k.client.send(new GetAccountSettingsCommand({}))).AccountLimit?.UnreservedConcurrentExecutions, 1000);
});

test('every validation error in Lambda\'s words', async (t) => {
  const k = await startKindling(t);
  await deploy(k.client, 'valid', ECHO);
  const functionsOnly =
    'This operation is permitted on Lambda functions only. Aliases and versions do not support this operation. Please specify either a function name or an unqualified function ARN.';
  await rejects(k.client.send(new PutFunctionConcurrencyCommand({ FunctionName: ARN('valid', '$LATEST'), ReservedConcurrentExecutions: 0 })),
    'InvalidParameterValueException', 400, functionsOnly);
  await rejects(k.client.send(new GetFunctionConcurrencyCommand({ FunctionName: 'valid:1' })), 'InvalidParameterValueException', 400, functionsOnly);
  await rejects(k.client.send(new DeleteFunctionConcurrencyCommand({ FunctionName: 'valid:$LATEST' })), 'InvalidParameterValueException', 400, functionsOnly);
  await rejects(k.client.send(new PutFunctionConcurrencyCommand({ FunctionName: 'doesnotexist', ReservedConcurrentExecutions: 1 })),
    'ResourceNotFoundException', 404, `Function not found: ${ARN('doesnotexist', '$LATEST')}`);
  await rejects(k.client.send(new PutFunctionConcurrencyCommand({ FunctionName: 'valid', ReservedConcurrentExecutions: -1 })),
    'ValidationException', 400,
    "1 validation error detected: Value '-1' at 'reservedConcurrentExecutions' failed to satisfy constraint: Member must have value greater than or equal to 0");
  const below = "Specified ReservedConcurrentExecutions for function decreases account's UnreservedConcurrentExecution below its minimum value of [100].";
  await rejects(k.client.send(new PutFunctionConcurrencyCommand({ FunctionName: 'valid', ReservedConcurrentExecutions: 901 })),
    'InvalidParameterValueException', 400, below);
  await rejects(k.client.send(new PutFunctionConcurrencyCommand({ FunctionName: 'valid', ReservedConcurrentExecutions: 1001 })),
    'InvalidParameterValueException', 400, below);
  assert.equal((await k.client.send(new PutFunctionConcurrencyCommand({ FunctionName: 'valid', ReservedConcurrentExecutions: 900 }))).ReservedConcurrentExecutions, 900);
  assert.equal((await k.client.send(new GetAccountSettingsCommand({}))).AccountLimit?.UnreservedConcurrentExecutions, 100);
});

test('reserved 0 throttles every invoke with ReservedFunctionConcurrentInvocationLimitExceeded; deleting it lets invokes through', async (t) => {
  const k = await startKindling(t);
  await deploy(k.client, 'stopped', ECHO);
  await k.client.send(new PutFunctionConcurrencyCommand({ FunctionName: 'stopped', ReservedConcurrentExecutions: 0 }));
  await throttled(k.client, 'stopped', 'ReservedFunctionConcurrentInvocationLimitExceeded');
  await throttled(k.client, 'stopped', 'ReservedFunctionConcurrentInvocationLimitExceeded');
  await k.client.send(new DeleteFunctionConcurrencyCommand({ FunctionName: 'stopped' }));
  const res = await k.client.send(new InvokeCommand({ FunctionName: 'stopped', Payload: Buffer.from('{"ok":true}') }));
  assert.deepEqual(json(res.Payload), { ok: true });
});

test('reserved 1: a second invoke while one is running gets 429; once it finishes the next runs', async (t) => {
  const k = await startKindling(t);
  await deploy(k.client, 'single', SLOW, { Timeout: 30 });
  await k.client.send(new PutFunctionConcurrencyCommand({ FunctionName: 'single', ReservedConcurrentExecutions: 1 }));
  const first = await inFlight(k.client, 'single');
  await throttled(k.client, 'single', 'ReservedFunctionConcurrentInvocationLimitExceeded');
  // Other functions are not limited by this reservation.
  await deploy(k.client, 'bystander', ECHO);
  assert.deepEqual(json((await k.client.send(new InvokeCommand({ FunctionName: 'bystander', Payload: Buffer.from('{"b":1}') }))).Payload), { b: 1 });
  assert.deepEqual(json((await first.done).Payload), { slow: true });
  const next = await k.client.send(new InvokeCommand({ FunctionName: 'single', Payload: Buffer.from('{"n":2}') }));
  assert.deepEqual(json(next.Payload), { n: 2 });
});

test('--concurrency is the account limit: past it, ConcurrentInvocationLimitExceeded', async (t) => {
  const k = await startKindling(t, { args: ['--concurrency', '1'] });
  await deploy(k.client, 'hog', SLOW, { Timeout: 30 });
  await deploy(k.client, 'other', ECHO);
  const settings = await k.client.send(new GetAccountSettingsCommand({}));
  assert.equal(settings.AccountLimit?.ConcurrentExecutions, 1);
  assert.equal(settings.AccountLimit?.UnreservedConcurrentExecutions, 1);
  // An account this small keeps all of it unreserved.
  await rejects(k.client.send(new PutFunctionConcurrencyCommand({ FunctionName: 'other', ReservedConcurrentExecutions: 1 })), 'InvalidParameterValueException', 400,
    "Specified ReservedConcurrentExecutions for function decreases account's UnreservedConcurrentExecution below its minimum value of [1].");

  const hog = await inFlight(k.client, 'hog');
  await throttled(k.client, 'other', 'ConcurrentInvocationLimitExceeded');
  await throttled(k.client, 'hog', 'ConcurrentInvocationLimitExceeded');
  await hog.done;
  assert.deepEqual(json((await k.client.send(new InvokeCommand({ FunctionName: 'other', Payload: Buffer.from('{"o":1}') }))).Payload), { o: 1 });
});

test('reservations survive a restart and are enforced at once; DeleteFunction drops them', async (t) => {
  const dataDir = mkdtempSync(join(tmpdir(), 'kindling-concurrency-restart-'));
  t.after(() => rmSync(dataDir, { recursive: true, force: true }));
  const first = await startKindling(t, { dataDir });
  await deploy(first.client, 'kept', ECHO);
  await deploy(first.client, 'dropped', ECHO);
  await first.client.send(new PutFunctionConcurrencyCommand({ FunctionName: 'kept', ReservedConcurrentExecutions: 0 }));
  await first.client.send(new PutFunctionConcurrencyCommand({ FunctionName: 'dropped', ReservedConcurrentExecutions: 30 }));
  assert.equal(await first.stop('SIGTERM'), 0);

  const second = await startKindling(t, { dataDir });
  assert.equal((await second.client.send(new GetFunctionConcurrencyCommand({ FunctionName: 'kept' }))).ReservedConcurrentExecutions, 0);
  assert.equal((await second.client.send(new GetAccountSettingsCommand({}))).AccountLimit?.UnreservedConcurrentExecutions, 970);
  await throttled(second.client, 'kept', 'ReservedFunctionConcurrentInvocationLimitExceeded');

  await second.client.send(new DeleteFunctionCommand({ FunctionName: 'dropped' }));
  assert.equal((await second.client.send(new GetAccountSettingsCommand({}))).AccountLimit?.UnreservedConcurrentExecutions, 1000);
  await deploy(second.client, 'dropped', ECHO);
  assert.equal((await second.client.send(new GetFunctionConcurrencyCommand({ FunctionName: 'dropped' }))).ReservedConcurrentExecutions, undefined);
});
