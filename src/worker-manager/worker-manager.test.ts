import { test } from 'node:test';
import assert from 'node:assert/strict';
import { WorkerManager } from './worker-manager.js';
import { ManualClock } from '../shared/clock.js';
import { FakeProvider, fakeSpec, type FakeSandbox } from '../shared/testing.js';

function setup(keepAliveMs = 300_000) {
  const clock = new ManualClock();
  const provider = new FakeProvider();
  const manager = new WorkerManager({ provider, clock, keepAliveMs });
  return { clock, provider, manager };
}

test('a released sandbox is reused warm; the first claim is cold', async () => {
  const { provider, manager } = setup();
  const spec = fakeSpec();
  const a = await manager.claim(spec);
  assert.equal(a.cold, true);
  a.release(true);
  const b = await manager.claim(spec);
  assert.equal(b.cold, false);
  assert.equal(b.sandbox, a.sandbox);
  assert.equal(provider.created.length, 1);
  b.release(true);
  await manager.close();
});

test('concurrent claims get separate sandboxes', async () => {
  const { provider, manager } = setup();
  const [a, b] = await Promise.all([manager.claim(fakeSpec()), manager.claim(fakeSpec())]);
  assert.notEqual(a.sandbox, b.sandbox);
  assert.equal(provider.created.length, 2);
  assert.deepEqual(manager.counts().get('f'), { idle: 0, busy: 2 });
  a.release(true);
  b.release(true);
  assert.deepEqual(manager.counts().get('f'), { idle: 2, busy: 0 });
  await manager.close();
});

test('most recently used first: the sandbox released last is claimed next', async () => {
  const { manager } = setup();
  const [a, b] = await Promise.all([manager.claim(fakeSpec()), manager.claim(fakeSpec())]);
  b.release(true);
  a.release(true);
  const c = await manager.claim(fakeSpec());
  assert.equal(c.sandbox, a.sandbox);
  await manager.close();
});

test('release is idempotent and a non-reusable sandbox is destroyed', async () => {
  const { manager } = setup();
  const a = await manager.claim(fakeSpec());
  a.release(false);
  a.release(true);
  assert.equal((a.sandbox as FakeSandbox).destroyed, true);
  assert.equal(manager.counts().get('f')?.idle ?? 0, 0);
  await manager.close();
});

test('idle sandboxes are stopped after the keep-alive, busy ones are not', async () => {
  const { clock, manager } = setup(60_000);
  const [a, b] = await Promise.all([manager.claim(fakeSpec()), manager.claim(fakeSpec())]);
  a.release(true);
  clock.advance(59_000);
  assert.equal((a.sandbox as FakeSandbox).destroyed, false);
  clock.advance(2_000);
  assert.equal((a.sandbox as FakeSandbox).destroyed, true);
  assert.equal((b.sandbox as FakeSandbox).destroyed, false);
  b.release(true);
  await manager.close();
  assert.equal((b.sandbox as FakeSandbox).destroyed, true);
});

test('a new spec key retires the old sandboxes of that function version', async () => {
  const { manager } = setup();
  const old = await manager.claim(fakeSpec({ key: 'f:1' }));
  const busyOld = await manager.claim(fakeSpec({ key: 'f:1' }));
  old.release(true);
  const fresh = await manager.claim(fakeSpec({ key: 'f:2' }));
  assert.equal(fresh.cold, true);
  assert.equal((old.sandbox as FakeSandbox).destroyed, true);
  busyOld.release(true); // its invoke ends after the change: not kept
  assert.equal((busyOld.sandbox as FakeSandbox).destroyed, true);
  fresh.release(true);
  await manager.close();
});

test('retireFunction stops idle sandboxes now and busy ones on release', async () => {
  const { manager } = setup();
  const [a, b] = await Promise.all([manager.claim(fakeSpec()), manager.claim(fakeSpec())]);
  a.release(true);
  manager.retireFunction('f');
  assert.equal((a.sandbox as FakeSandbox).destroyed, true);
  assert.equal((b.sandbox as FakeSandbox).destroyed, false);
  b.release(true);
  assert.equal((b.sandbox as FakeSandbox).destroyed, true);
  const c = await manager.claim(fakeSpec());
  assert.equal(c.cold, true);
  c.release(true);
  await manager.close();
});

test('an idle sandbox that dies is never claimed again', async () => {
  const { manager } = setup();
  const a = await manager.claim(fakeSpec());
  a.release(true);
  (a.sandbox as FakeSandbox).crash();
  await new Promise((r) => setImmediate(r));
  const b = await manager.claim(fakeSpec());
  assert.notEqual(b.sandbox, a.sandbox);
  assert.equal(b.cold, true);
  b.release(true);
  await manager.close();
});

test('close destroys idle and busy sandboxes and refuses new claims', async () => {
  const { manager } = setup();
  const [a, b] = await Promise.all([manager.claim(fakeSpec()), manager.claim(fakeSpec())]);
  a.release(true);
  await manager.close();
  assert.equal((a.sandbox as FakeSandbox).destroyed, true);
  assert.equal((b.sandbox as FakeSandbox).destroyed, true);
  await assert.rejects(manager.claim(fakeSpec()));
});
