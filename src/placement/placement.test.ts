import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Placement } from './placement.js';
import { FakeSandbox, fakeSpec } from '../shared/testing.js';
import type { Sandbox, Worker } from '../worker/types.js';
import type { FunctionVersionSpec } from '../shared/spec.js';

class FakeWorker implements Worker {
  readonly sandboxes: FakeSandbox[] = [];
  fail = false;
  closed = false;
  constructor(readonly id: string) {}
  createSandbox(spec: FunctionVersionSpec): Promise<Sandbox> {
    if (this.fail) return Promise.reject(new Error('no room'));
    const s = new FakeSandbox(spec);
    this.sandboxes.push(s);
    return Promise.resolve(s);
  }
  close(): Promise<void> {
    this.closed = true;
    return Promise.resolve();
  }
}

test('places a new sandbox on the worker with the fewest live sandboxes', async () => {
  const placement = new Placement();
  const a = new FakeWorker('a');
  const b = new FakeWorker('b');
  placement.register(a);
  placement.register(b);
  await placement.createSandbox(fakeSpec());
  await placement.createSandbox(fakeSpec());
  assert.deepEqual([a.sandboxes.length, b.sandboxes.length], [1, 1]);
  await a.sandboxes[0]!.destroy();
  await new Promise((r) => setImmediate(r));
  await placement.createSandbox(fakeSpec());
  assert.deepEqual([a.sandboxes.length, b.sandboxes.length], [2, 1], 'the worker whose sandbox exited has room again');
  assert.deepEqual(placement.liveSandboxes(), new Map([['a', 1], ['b', 1]]));
});

test('a worker that fails to create a sandbox does not count it', async () => {
  const placement = new Placement();
  const a = new FakeWorker('a');
  placement.register(a);
  a.fail = true;
  await assert.rejects(placement.createSandbox(fakeSpec()), /no room/);
  assert.equal(placement.liveSandboxes().get('a'), 0);
});

test('without workers, placement answers ServiceException; close closes every worker', async () => {
  const empty = new Placement();
  await assert.rejects(empty.createSandbox(fakeSpec()), { code: 'ServiceException' });
  const placement = new Placement();
  const a = new FakeWorker('a');
  placement.register(a);
  await placement.close();
  assert.equal(a.closed, true);
});
