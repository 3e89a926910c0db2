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

test('a sandbox past its lease is retired when idle and replaced on the next claim', async () => {
  const clock = new ManualClock();
  const provider = new FakeProvider();
  const manager = new WorkerManager({ provider, clock, keepAliveMs: 3_600_000, maxLifetimeMs: 60_000 });
  const a = await manager.claim(fakeSpec());
  clock.advance(30_000);
  a.release(true);
  const b = await manager.claim(fakeSpec());
  assert.equal(b.sandbox, a.sandbox, 'within its lease it is reused');
  clock.advance(40_000);
  b.release(true);
  assert.equal((a.sandbox as FakeSandbox).destroyed, true, 'released after its lease ended: retired');
  const c = await manager.claim(fakeSpec());
  assert.equal(c.cold, true);
  assert.notEqual(c.sandbox, a.sandbox);
  c.release(true);
  await manager.close();
});

test('an idle sandbox whose lease ends is retired by the sweep', async () => {
  const clock = new ManualClock();
  const manager = new WorkerManager({ provider: new FakeProvider(), clock, keepAliveMs: 3_600_000, maxLifetimeMs: 60_000 });
  const a = await manager.claim(fakeSpec());
  a.release(true);
  clock.advance(61_000);
  assert.equal((a.sandbox as FakeSandbox).destroyed, true);
  assert.equal(manager.counts().get('f')?.idle ?? 0, 0);
  await manager.close();
});

test('when no worker has room, the idle sandbox unused for longest is stopped to make some', async () => {
  const clock = new ManualClock();
  const provider = new FakeProvider(2);
  const manager = new WorkerManager({ provider, clock, keepAliveMs: 3_600_000 });
  const a = await manager.claim(fakeSpec({ functionName: 'a', key: 'a' }));
  const b = await manager.claim(fakeSpec({ functionName: 'b', key: 'b' }));
  a.release(true);
  clock.advance(10);
  b.release(true);
  const c = await manager.claim(fakeSpec({ functionName: 'c', key: 'c' }));
  assert.equal(c.cold, true);
  assert.equal((a.sandbox as FakeSandbox).destroyed, true, 'a was idle longest');
  assert.equal((b.sandbox as FakeSandbox).destroyed, false);
  c.release(true);
  await manager.close();
});

test('when every sandbox is busy and no worker has room, the claim fails with a ServiceException', async () => {
  const manager = new WorkerManager({ provider: new FakeProvider(1), clock: new ManualClock(), keepAliveMs: 1000 });
  const a = await manager.claim(fakeSpec({ functionName: 'a', key: 'a' }));
  await assert.rejects(manager.claim(fakeSpec({ functionName: 'b', key: 'b' })), (err: Error & { code?: string }) => {
    assert.equal(err.code, 'ServiceException');
    assert.match(err.message, /No worker has room for a 128 MB sandbox/);
    return true;
  });
  a.release(true);
  await manager.close();
});

test('least-recently-used routing spreads invokes over the warm sandboxes', async () => {
  const manager = new WorkerManager({ provider: new FakeProvider(), clock: new ManualClock(), keepAliveMs: 1000, routing: 'least-recently-used' });
  const [a, b] = await Promise.all([manager.claim(fakeSpec()), manager.claim(fakeSpec())]);
  a.release(true);
  b.release(true);
  const c = await manager.claim(fakeSpec());
  assert.equal(c.sandbox, a.sandbox, 'the one idle longest serves next');
  c.release(true);
  const d = await manager.claim(fakeSpec());
  assert.equal(d.sandbox, b.sandbox);
  d.release(true);
  await manager.close();
});

test('the scaling rate refuses a cold start with its throttle reason, never a warm one', async () => {
  let tokens = 1;
  const scaling = {
    tryStart: () => (tokens-- > 0 ? { ok: true as const } : { ok: false as const, reason: 'FunctionInvocationRateLimitExceeded' }),
  };
  const manager = new WorkerManager({ provider: new FakeProvider(), clock: new ManualClock(), keepAliveMs: 1000, scaling });
  const a = await manager.claim(fakeSpec());
  await assert.rejects(manager.claim(fakeSpec()), (err: Error & { code?: string; fields?: Record<string, unknown> }) => {
    assert.equal(err.code, 'TooManyRequestsException');
    assert.equal(err.message, 'Rate Exceeded.');
    assert.deepEqual(err.fields, { Reason: 'FunctionInvocationRateLimitExceeded' });
    return true;
  });
  a.release(true);
  const b = await manager.claim(fakeSpec());
  assert.equal(b.cold, false);
  b.release(true);
  await manager.close();
});
