/**
 * The contract of EventQueue and MessageQueues (event-queue.ts), as tests
 * that every implementation runs: the embedded SQLite one now
 * (sqlite-event-queue.test.ts), the distributed one when it exists.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { EventQueue, MessageQueues, NewEvent, NewMessage } from './event-queue.js';

export interface QueueUnderTest {
  readonly queue: EventQueue & MessageQueues;
  /** Closes this handle and opens the same store again (a restart). */
  reopen(now: number): Promise<QueueUnderTest>;
  close(): Promise<void>;
}

const T0 = Date.UTC(2026, 11, 2);
let seq = 0;
const event = (functionName: string, extra: Partial<NewEvent> = {}): NewEvent => ({
  id: `req-${++seq}`,
  functionName,
  qualifier: undefined,
  payload: Buffer.from(`{"n":${seq}}`),
  clientContext: undefined,
  acceptedAt: T0,
  ...extra,
});
const message = (queue: string, body: string): NewMessage => ({
  queue,
  body,
  attributes: { RequestID: 'r' },
  sourceFunction: 'src',
  sourceQualifier: undefined,
  redrivePayload: '{"again":true}',
});

export function eventQueueContract(name: string, open: () => Promise<QueueUnderTest>): void {
  describe(`EventQueue contract: ${name}`, () => {
    it('keeps every field of an event, and nothing is ready before notBefore', async (t) => {
      const q = await open();
      t.after(() => q.close());
      const e = event('f', { qualifier: '3', clientContext: '{"a":1}', notBefore: T0 + 1000 });
      await q.queue.enqueue([e]);
      assert.deepEqual(await q.queue.readyFunctions(T0), []);
      assert.equal(await q.queue.nextReadyAt(), T0 + 1000);
      assert.deepEqual(await q.queue.claim('f', 'p1', 10, T0, 5000), []);
      const [got] = await q.queue.claim('f', 'p1', 10, T0 + 1000, 5000);
      assert.ok(got);
      assert.equal(got.id, e.id);
      assert.equal(got.qualifier, '3');
      assert.equal(got.clientContext, '{"a":1}');
      assert.equal(got.payload.toString(), e.payload.toString());
      assert.equal(got.acceptedAt, T0);
      assert.equal(got.attempts, 0);
      assert.equal(got.deferrals, 0);
    });

    it('leases: a claimed event is hidden until its lease runs out, then another poller gets it; the first can no longer settle it', async (t) => {
      const q = await open();
      t.after(() => q.close());
      const e = event('f');
      await q.queue.enqueue([e]);
      assert.equal((await q.queue.claim('f', 'p1', 10, T0, 5000)).length, 1);
      assert.deepEqual(await q.queue.claim('f', 'p2', 10, T0 + 4999, 5000), []);
      assert.deepEqual(await q.queue.readyFunctions(T0 + 4999), []);
      // p1 died: its lease ends, p2 takes over.
      const [again] = await q.queue.claim('f', 'p2', 10, T0 + 5000, 5000);
      assert.equal(again?.id, e.id);
      assert.equal(await q.queue.settle(e.id, 'p1', { kind: 'done' }, T0 + 5001), false, 'p1 lost its lease');
      assert.equal(await q.queue.renew(e.id, 'p1', T0 + 20_000), false);
      assert.equal(await q.queue.renew(e.id, 'p2', T0 + 20_000), true);
      assert.deepEqual(await q.queue.claim('f', 'p3', 10, T0 + 19_999, 5000), [], 'renewed');
      assert.equal(await q.queue.settle(e.id, 'p2', { kind: 'done' }, T0 + 6000), true);
      assert.equal(await q.queue.nextReadyAt(), undefined);
    });

    it('retry: the event comes back at notBefore with its counters', async (t) => {
      const q = await open();
      t.after(() => q.close());
      const e = event('f');
      await q.queue.enqueue([e]);
      await q.queue.claim('f', 'p1', 1, T0, 5000);
      assert.equal(await q.queue.settle(e.id, 'p1', { kind: 'retry', notBefore: T0 + 60_000, attempts: 1, deferrals: 2 }, T0), true);
      assert.deepEqual(await q.queue.claim('f', 'p1', 1, T0 + 59_999, 5000), []);
      const [back] = await q.queue.claim('f', 'p1', 1, T0 + 60_000, 5000);
      assert.equal(back?.id, e.id);
      assert.equal(back?.attempts, 1);
      assert.equal(back?.deferrals, 2);
    });

    it('lists the functions with ready events, so pollers can go round them', async (t) => {
      const q = await open();
      t.after(() => q.close());
      await q.queue.enqueue(Array.from({ length: 50 }, () => event('flood')));
      await q.queue.enqueue([event('b'), event('a', { notBefore: T0 + 10 })]);
      assert.deepEqual(await q.queue.readyFunctions(T0), ['b', 'flood']);
      assert.deepEqual(await q.queue.readyFunctions(T0 + 10), ['a', 'b', 'flood']);
      const claimed = await q.queue.claim('flood', 'p', 20, T0, 1000);
      assert.equal(claimed.length, 20);
      assert.deepEqual(claimed.map((e) => e.id), [...claimed].sort((x, y) => x.acceptedAt - y.acceptedAt).map((e) => e.id));
      const stats = await q.queue.stats();
      assert.deepEqual(stats.get('flood'), { depth: 50, oldestAcceptedAt: T0 });
      assert.deepEqual(stats.get('a'), { depth: 1, oldestAcceptedAt: T0 });
    });

    it('settles with follow-ups in one step: messages for queues and events for functions', async (t) => {
      const q = await open();
      t.after(() => q.close());
      const e = event('f');
      await q.queue.enqueue([e]);
      await q.queue.claim('f', 'p', 1, T0, 1000);
      const next = event('destination-fn');
      await q.queue.settle(e.id, 'p', { kind: 'done', then: { messages: [message('failed', '{"record":1}')], events: [next] } }, T0 + 5);
      assert.deepEqual(await q.queue.readyFunctions(T0 + 5), ['destination-fn']);
      const [m] = await q.queue.receive('failed', 10, T0 + 5, 0);
      assert.equal(m?.body, '{"record":1}');
      assert.deepEqual(m?.attributes, { RequestID: 'r' });
      assert.equal(m?.sentAt, T0 + 5);
      assert.equal(m?.sourceFunction, 'src');
    });

    it('is durable: accepted events and messages survive a restart, and leases of the previous process end at once', async (t) => {
      let q = await open();
      t.after(() => q.close());
      const waiting = event('f');
      const inFlight = event('f');
      await q.queue.enqueue([inFlight]);
      await q.queue.claim('f', 'dead-poller', 1, T0, 900_000);
      await q.queue.enqueue([waiting]);
      await q.queue.send([message('dlq', 'x')], T0);
      q = await q.reopen(T0 + 1);
      const ids = (await q.queue.claim('f', 'new', 10, T0 + 1, 1000)).map((e) => e.id).sort();
      assert.deepEqual(ids, [waiting.id, inFlight.id].sort());
      assert.deepEqual(await q.queue.list(), [{ name: 'dlq', messages: 1 }]);
    });

    it('enqueues made together are all durable when each resolves', async (t) => {
      const q = await open();
      t.after(() => q.close());
      await Promise.all(Array.from({ length: 100 }, () => q.queue.enqueue([event('g')])));
      assert.equal((await q.queue.stats()).get('g')?.depth, 100);
    });
  });

  describe(`MessageQueues contract: ${name}`, () => {
    it('receives oldest first, hides received messages for the visibility timeout, peeks with 0, deletes', async (t) => {
      const q = await open();
      t.after(() => q.close());
      await q.queue.send([message('q', 'one'), message('q', 'two'), message('other', 'x')], T0);
      const peek = await q.queue.receive('q', 10, T0, 0);
      assert.deepEqual(peek.map((m) => m.body), ['one', 'two']);
      assert.ok(peek.every((m) => m.receiveCount === 0));
      const [first] = await q.queue.receive('q', 1, T0, 30_000);
      assert.equal(first?.body, 'one');
      assert.equal(first?.receiveCount, 1);
      assert.deepEqual((await q.queue.receive('q', 10, T0 + 1, 0)).map((m) => m.body), ['two']);
      assert.deepEqual((await q.queue.receive('q', 10, T0 + 30_000, 0)).map((m) => m.body), ['one', 'two'], 'visible again');
      assert.equal(await q.queue.delete('q', first.messageId), true);
      assert.equal(await q.queue.delete('q', first.messageId), false);
      assert.deepEqual(await q.queue.list(), [{ name: 'other', messages: 1 }, { name: 'q', messages: 1 }]);
    });

    it('redrives every message back onto the event queue as a new event of its source function', async (t) => {
      const q = await open();
      t.after(() => q.close());
      await q.queue.send([message('dlq', 'a'), { ...message('dlq', 'b'), sourceFunction: 'other', sourceQualifier: '2' }], T0);
      let n = 0;
      assert.equal(await q.queue.redrive('dlq', T0 + 7, () => `redriven-${++n}`), 2);
      assert.deepEqual(await q.queue.list(), []);
      assert.deepEqual(await q.queue.readyFunctions(T0 + 7), ['other', 'src']);
      const [e] = await q.queue.claim('other', 'p', 10, T0 + 7, 1000);
      assert.equal(e?.qualifier, '2');
      assert.equal(e?.payload.toString(), '{"again":true}');
      assert.equal(e?.acceptedAt, T0 + 7);
      assert.match(e?.id ?? '', /^redriven-/);
    });
  });
}
