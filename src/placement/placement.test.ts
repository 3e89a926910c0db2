import { test } from 'node:test';
import assert from 'node:assert/strict';
import { NoCapacityError, Placement } from './placement.js';
import type { FleetWorker } from './placement.js';
import { ManualClock } from '../shared/clock.js';
import { FakeSandbox, fakeSpec } from '../shared/testing.js';
import type { Sandbox } from '../worker/types.js';
import type { FunctionVersionSpec } from '../shared/spec.js';

class FakeWorker implements FleetWorker {
  readonly sandboxes: FakeSandbox[] = [];
  fail = false;
  closed = false;
  lostBecause: string | undefined;
  constructor(readonly id: string) {}
  createSandbox(spec: FunctionVersionSpec): Promise<Sandbox> {
    if (this.fail) return Promise.reject(new Error('spawn failed'));
    const s = new FakeSandbox(spec);
    this.sandboxes.push(s);
    return Promise.resolve(s);
  }
  close(): Promise<void> {
    this.closed = true;
    return Promise.resolve();
  }
  lose(reason: string): void {
    this.lostBecause = reason;
    for (const s of this.sandboxes) s.crash();
  }
}

function setup(heartbeatTimeoutMs = 3000) {
  const clock = new ManualClock();
  const lost: string[] = [];
  const placement = new Placement({ clock, heartbeatTimeoutMs, onWorkerLost: (id) => lost.push(id) });
  return { clock, placement, lost };
}

const tick = () => new Promise((r) => setImmediate(r));

test('reserves memory on the chosen worker and gives it back when the sandbox exits', async () => {
  const { placement } = setup();
  const a = new FakeWorker('a');
  placement.register({ worker: a, zone: 'z1', capacityMB: 256, heartbeats: false });
  await placement.createSandbox(fakeSpec());
  await placement.createSandbox(fakeSpec());
  assert.equal(placement.workers()[0]!.usedMB, 256);
  await assert.rejects(placement.createSandbox(fakeSpec()), NoCapacityError);
  await a.sandboxes[0]!.destroy();
  await tick();
  assert.equal(placement.workers()[0]!.usedMB, 128);
  assert.deepEqual(placement.workers()[0]!.sandboxes, [{ id: a.sandboxes[1]!.id, functionName: 'f' }]);
  await placement.createSandbox(fakeSpec());
  assert.equal(a.sandboxes.length, 3);
  await placement.close();
});

test('a failed creation gives its memory back', async () => {
  const { placement } = setup();
  const a = new FakeWorker('a');
  placement.register({ worker: a, zone: 'z1', capacityMB: 128, heartbeats: false });
  a.fail = true;
  await assert.rejects(placement.createSandbox(fakeSpec()), /spawn failed/);
  assert.equal(placement.workers()[0]!.usedMB, 0);
  await placement.close();
});

test('uses the policy over the whole fleet: spreads a function across zones', async () => {
  const { placement } = setup();
  const workers = ['a1', 'a2', 'b1'].map((id) => new FakeWorker(id));
  for (const w of workers) placement.register({ worker: w, zone: w.id[0]!, capacityMB: 1024, heartbeats: false });
  await placement.createSandbox(fakeSpec());
  await placement.createSandbox(fakeSpec());
  await placement.createSandbox(fakeSpec());
  const zoneA = workers[0]!.sandboxes.length + workers[1]!.sandboxes.length;
  assert.deepEqual([zoneA, workers[2]!.sandboxes.length], [2, 1]);
  await placement.close();
});

test('a heartbeating worker that goes silent is lost: its sandboxes exit, new ones go elsewhere', async () => {
  const { clock, placement, lost } = setup(3000);
  const remote = new FakeWorker('remote');
  const local = new FakeWorker('local');
  placement.register({ worker: remote, zone: 'a', capacityMB: 1024, heartbeats: true });
  placement.register({ worker: local, zone: 'b', capacityMB: 1024, heartbeats: false });
  const s = await placement.createSandbox(fakeSpec({ functionName: 'g' }));
  const onRemote = remote.sandboxes.includes(s as FakeSandbox) ? remote : local;
  clock.advance(2000);
  assert.equal(placement.heartbeat('remote'), true);
  clock.advance(2000);
  assert.deepEqual(lost, [], 'a heartbeat 2 s ago keeps it');
  clock.advance(2000);
  assert.deepEqual(lost, ['remote']);
  assert.match(remote.lostBecause ?? '', /no heartbeat for 3000 ms/);
  assert.equal(placement.heartbeat('remote'), false, 'a lost worker must register again');
  assert.deepEqual(placement.workers().map((w) => w.id), ['local'], 'the in-process worker never expires');
  if (onRemote === remote) {
    await s.exited;
    await tick();
  }
  await placement.createSandbox(fakeSpec());
  assert.equal(local.sandboxes.length >= 1, true);
  await placement.close();
});

test('a worker registering again under its id replaces (and loses) its old self', async () => {
  const { placement, lost } = setup();
  const first = new FakeWorker('w');
  placement.register({ worker: first, zone: 'a', capacityMB: 1024, heartbeats: true });
  placement.register({ worker: new FakeWorker('w'), zone: 'a', capacityMB: 1024, heartbeats: true });
  assert.deepEqual(lost, ['w']);
  assert.equal(placement.workers().length, 1);
  await placement.close();
});

test('without workers placement has no capacity; close closes every worker', async () => {
  const { placement } = setup();
  await assert.rejects(placement.createSandbox(fakeSpec()), NoCapacityError);
  const a = new FakeWorker('a');
  placement.register({ worker: a, zone: 'a', capacityMB: 1024, heartbeats: false });
  await placement.close();
  assert.equal(a.closed, true);
});
