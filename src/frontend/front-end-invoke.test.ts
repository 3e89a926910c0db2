import { test } from 'node:test';
import assert from 'node:assert/strict';
import { FrontEndInvoke, logTail, type FunctionResolver } from './front-end-invoke.js';
import { CountingService } from '../counting/counting.js';
import { WorkerManager } from '../worker-manager/worker-manager.js';
import { ManualClock } from '../shared/clock.js';
import { LambdaError } from '../shared/errors.js';
import { FakeProvider, fakeSpec } from '../shared/testing.js';
import type { InvokeCommand } from './types.js';
import type { NewEvent } from '../store/event-queue.js';
import { SandboxUnreachableError } from '../worker/types.js';

const spec = fakeSpec();
const resolver: FunctionResolver = {
  resolveForInvoke(name, qualifier) {
    if (name !== 'f') throw new LambdaError('ResourceNotFoundException', `Function not found: ${name}`);
    return { spec, executedVersion: qualifier ?? '$LATEST', invokedFunctionArn: spec.functionArn, qualifier };
  },
};

function command(overrides: Partial<InvokeCommand> = {}): InvokeCommand {
  return {
    requestId: 'req-1',
    functionName: 'f',
    qualifier: undefined,
    invocationType: 'RequestResponse',
    logType: 'None',
    clientContext: undefined,
    payload: Buffer.from('{"a":1}'),
    ...overrides,
  };
}

function setup(accountLimit = 10) {
  const clock = new ManualClock();
  const counting = new CountingService({ accountLimit, clock });
  const provider = new FakeProvider();
  const sandboxes = new WorkerManager({ provider, clock, keepAliveMs: 60_000 });
  const frontend = new FrontEndInvoke({ functions: resolver, counting, sandboxes });
  return { counting, provider, sandboxes, frontend };
}

test('runs the event in a sandbox and returns its result with the executed version', async () => {
  const { frontend, provider, counting, sandboxes } = setup();
  const res = await frontend.invoke(command());
  assert.equal(res.statusCode, 200);
  assert.equal(res.executedVersion, '$LATEST');
  assert.equal(res.payload.toString(), 'null');
  const seen = provider.created[0]!.invokes[0]!;
  assert.equal(seen.requestId, 'req-1');
  assert.equal(seen.payload.toString(), '{"a":1}');
  assert.equal(counting.inUse, 0);
  await sandboxes.close();
});

test('DryRun answers 204 without running anything', async () => {
  const { frontend, provider } = setup();
  const res = await frontend.invoke(command({ invocationType: 'DryRun' }));
  assert.equal(res.statusCode, 204);
  assert.equal(provider.created.length, 0);
});

test('an unknown function is the resolver\'s 404, and takes no slot', async () => {
  const { frontend, counting } = setup();
  await assert.rejects(frontend.invoke(command({ functionName: 'nope' })), { code: 'ResourceNotFoundException' });
  assert.equal(counting.inUse, 0);
});

test('over the account limit: 429 TooManyRequestsException with Reason', async () => {
  const { frontend, counting } = setup(1);
  const held = counting.acquire('other', 10_000);
  await assert.rejects(frontend.invoke(command()), (err: LambdaError) => {
    assert.equal(err.code, 'TooManyRequestsException');
    assert.equal(err.message, 'Rate Exceeded.');
    assert.deepEqual(err.fields, { Reason: 'ConcurrentInvocationLimitExceeded' });
    return true;
  });
  held.lease?.release();
});

test('over its reserved concurrency: 429 with Reason ReservedFunctionConcurrentInvocationLimitExceeded; reserved 0 always', async () => {
  const { frontend, counting, sandboxes } = setup(10);
  counting.setReservation('f', 0);
  await assert.rejects(frontend.invoke(command()), (err: LambdaError) => {
    assert.equal(err.code, 'TooManyRequestsException');
    assert.equal(err.message, 'Rate Exceeded.');
    assert.deepEqual(err.fields, { Reason: 'ReservedFunctionConcurrentInvocationLimitExceeded' });
    return true;
  });
  counting.setReservation('f', 1);
  const held = counting.acquire('f', 10_000);
  await assert.rejects(frontend.invoke(command()), { code: 'TooManyRequestsException', fields: { Reason: 'ReservedFunctionConcurrentInvocationLimitExceeded' } });
  held.lease?.release();
  assert.equal((await frontend.invoke(command())).statusCode, 200);
  assert.equal(counting.inUse, 0);
  await sandboxes.close();
});

test('a function error keeps X-Amz-Function-Error and the Tail log is the last 4 KB in base64', async () => {
  const { frontend, provider, sandboxes } = setup();
  await frontend.invoke(command());
  const logs = 'x'.repeat(5000) + 'END';
  provider.created[0]!.respond = () => ({ functionError: 'Unhandled', payload: Buffer.from('{"errorType":"Error"}'), logs });
  const res = await frontend.invoke(command({ logType: 'Tail' }));
  assert.equal(res.functionError, 'Unhandled');
  const tail = Buffer.from(res.logResult!, 'base64').toString();
  assert.equal(tail.length, 4096);
  assert.ok(tail.endsWith('END'));
  await sandboxes.close();
});

test('a sandbox that is not reusable (timeout, crash) is discarded and the slot released', async () => {
  const { frontend, provider, counting, sandboxes } = setup();
  await frontend.invoke(command());
  const first = provider.created[0]!;
  first.respond = () => ({ reusable: false, functionError: 'Unhandled' });
  await frontend.invoke(command());
  assert.equal(first.destroyed, true);
  await frontend.invoke(command());
  assert.equal(provider.created.length, 2);
  assert.equal(counting.inUse, 0);
  await sandboxes.close();
});

test('a platform failure propagates (api/ answers ServiceException) and leaks neither slot nor sandbox', async () => {
  const { frontend, provider, counting, sandboxes } = setup();
  await frontend.invoke(command());
  const sandbox = provider.created[0]!;
  sandbox.invoke = () => Promise.reject(new Error('channel broke'));
  await assert.rejects(frontend.invoke(command()), /channel broke/);
  assert.equal(sandbox.destroyed, true);
  assert.equal(counting.inUse, 0);
  await sandboxes.close();
});

test('logTail keeps short logs whole', () => {
  assert.equal(Buffer.from(logTail('abc'), 'base64').toString(), 'abc');
});

test('an event that never reached its sandbox (worker gone) goes to another; after 5 tries a ServiceException', async () => {
  const { provider, sandboxes, frontend, counting } = setup();
  let unreachable = 1;
  provider.configure = (s) => {
    if (unreachable-- > 0) s.fail = new SandboxUnreachableError('Worker w1 is unreachable: it refuses connections.');
  };
  const ok = await frontend.invoke(command());
  assert.equal(ok.statusCode, 200);
  assert.equal(provider.created.length, 2, 'the second sandbox served');
  assert.equal(provider.created[0]!.destroyed, true, 'the unreachable one is dropped');

  unreachable = 5;
  provider.created[1]!.fail = new SandboxUnreachableError('Worker w1 is unreachable: it refuses connections.');
  await assert.rejects(frontend.invoke(command()), (err: LambdaError) => {
    assert.equal(err.code, 'ServiceException');
    assert.equal(err.message, 'Worker w1 is unreachable: it refuses connections.');
    return true;
  });
  assert.equal(counting.inUse, 0, 'no slot leaks');
  await sandboxes.close();
});

test('any other platform failure is not retried: the function may have run', async () => {
  const { provider, sandboxes, frontend } = setup();
  provider.configure = (s) => (s.fail = new Error('connection reset mid-invoke'));
  await assert.rejects(frontend.invoke(command()), /connection reset mid-invoke/);
  assert.equal(provider.created.length, 1);
  await sandboxes.close();
});

test('an Event invoke is handed to the async path (durable, then 202) and runs nothing now', async () => {
  const clock = new ManualClock(5000);
  const counting = new CountingService({ accountLimit: 10, clock });
  const provider = new FakeProvider();
  const sandboxes = new WorkerManager({ provider, clock, keepAliveMs: 60_000 });
  const accepted: NewEvent[] = [];
  const frontend = new FrontEndInvoke({ functions: resolver, counting, sandboxes, events: { accept: (e) => (accepted.push(e), Promise.resolve()) }, now: () => clock.now() });
  const out = await frontend.invoke(command({ invocationType: 'Event', qualifier: '2', clientContext: '{"c":1}' }));
  assert.equal(out.statusCode, 202);
  assert.equal(out.payload.length, 0);
  assert.equal(out.executedVersion, undefined);
  assert.deepEqual(accepted, [{ id: 'req-1', functionName: spec.functionName, qualifier: '2', payload: Buffer.from('{"a":1}'), clientContext: '{"c":1}', acceptedAt: 5000 }]);
  assert.equal(provider.created.length, 0, 'no sandbox now');
  assert.equal(counting.inUse, 0, 'no slot now');
  await assert.rejects(frontend.invoke(command({ invocationType: 'Event', functionName: 'nope' })), { code: 'ResourceNotFoundException' });
  assert.equal(accepted.length, 1, 'an unknown function is refused before anything is accepted');

  const { frontend: withoutAsync } = setup();
  await assert.rejects(withoutAsync.invoke(command({ invocationType: 'Event' })), { code: 'ServiceException' });
  await sandboxes.close();
});
