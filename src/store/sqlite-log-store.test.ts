import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import type { TestContext } from 'node:test';
import { ManualClock } from '../shared/clock.js';
import { InvalidTokenError, LogStreamNotFoundError } from './log-store.js';
import type { LogRetention } from './log-store.js';
import { FLUSH_MS, SqliteLogStore } from './sqlite-log-store.js';

const G = '/aws/lambda/fn';
const HOUR = 3_600_000;
const BIG: LogRetention = { maxAgeMs: 7 * 24 * HOUR, maxBytesPerGroup: 100 * 1024 * 1024 };

function open(t: TestContext, retention: LogRetention = BIG, clock = new ManualClock()) {
  const dir = mkdtempSync(join(tmpdir(), 'kindling-logs-'));
  let store = new SqliteLogStore(dir, { retention, clock });
  t.after(() => {
    store.close();
    rmSync(dir, { recursive: true, force: true });
  });
  return {
    clock,
    get store() {
      return store;
    },
    reopen() {
      store.close();
      store = new SqliteLogStore(dir, { retention, clock });
      return store;
    },
  };
}

const messages = (page: { events: readonly { message: string }[] } | undefined): string[] => (page?.events ?? []).map((e) => e.message);

test('events of several streams read back in timestamp order, with stream names and ingestion times', (t) => {
  const { store, clock } = open(t);
  const t0 = clock.now();
  store.append(G, 's1', [{ timestamp: t0 + 1, message: 'a1' }, { timestamp: t0 + 5, message: 'a2' }]);
  store.append(G, 's2', [{ timestamp: t0 + 6, message: 'b1' }]);
  store.append(G, 's1', [{ timestamp: t0 + 7, message: 'a3' }]);
  store.append('/aws/lambda/other', 's9', [{ timestamp: t0 + 2, message: 'x' }]);
  const page = store.read(G, { limit: 100 })!;
  assert.deepEqual(messages(page), ['a1', 'a2', 'b1', 'a3']);
  assert.deepEqual(page.events.map((e) => e.logStreamName), ['s1', 's1', 's2', 's1']);
  assert.deepEqual(page.events[0], { logStreamName: 's1', timestamp: t0 + 1, message: 'a1', ingestionTime: t0 });
  assert.deepEqual(messages(store.read(G, { limit: 100, logStreamName: 's2' })), ['b1']);
  assert.deepEqual(messages(store.read('/aws/lambda/other', { limit: 100 })), ['x']);
});

test('a line that reaches the store after a later one of another stream keeps the append order (timestamp raised)', (t) => {
  const { store, clock } = open(t);
  const t0 = clock.now();
  store.append(G, 's1', [{ timestamp: t0 + 10, message: 'first appended' }]);
  store.append(G, 's2', [{ timestamp: t0 + 3, message: 'older, appended later' }]);
  const page = store.read(G, { limit: 10 })!;
  assert.deepEqual(messages(page), ['first appended', 'older, appended later']);
  assert.equal(page.events[1]!.timestamp, t0 + 10);
});

test('time range, limit and nextToken pages; the token follows: polling with it gets only newer events', (t) => {
  const { store, clock } = open(t);
  const t0 = clock.now();
  store.append(G, 's1', Array.from({ length: 10 }, (_, i) => ({ timestamp: t0 + i * 10, message: `m${i}` })));
  assert.deepEqual(messages(store.read(G, { limit: 100, startTime: t0 + 20, endTime: t0 + 50 })), ['m2', 'm3', 'm4']);
  const p1 = store.read(G, { limit: 4 })!;
  assert.deepEqual(messages(p1), ['m0', 'm1', 'm2', 'm3']);
  const p2 = store.read(G, { limit: 4, nextToken: p1.nextToken })!;
  assert.deepEqual(messages(p2), ['m4', 'm5', 'm6', 'm7']);
  const p3 = store.read(G, { limit: 4, nextToken: p2.nextToken })!;
  assert.deepEqual(messages(p3), ['m8', 'm9']);
  const p4 = store.read(G, { limit: 4, nextToken: p3.nextToken })!;
  assert.deepEqual(messages(p4), []);
  assert.equal(p4.nextToken, p3.nextToken);
  // New events, one with the same timestamp as the last one read: only they come.
  store.append(G, 's2', [{ timestamp: t0 + 90, message: 'same ts' }, { timestamp: t0 + 95, message: 'later' }]);
  assert.deepEqual(messages(store.read(G, { limit: 10, nextToken: p4.nextToken })), ['same ts', 'later']);
});

test('with no event in range and no token, the token is the group end: a follower sees only what comes next', (t) => {
  const { store, clock } = open(t);
  const t0 = clock.now();
  store.append(G, 's1', [{ timestamp: t0, message: 'old' }]);
  const empty = store.read(G, { limit: 10, startTime: t0 + 1000 })!;
  assert.deepEqual(empty.events, []);
  store.append(G, 's1', [{ timestamp: t0 + 2000, message: 'new' }]);
  assert.deepEqual(messages(store.read(G, { limit: 10, nextToken: empty.nextToken })), ['new']);
});

test('an unknown group is undefined, a bad token and an unknown stream are refused', (t) => {
  const { store, clock } = open(t);
  assert.equal(store.read(G, { limit: 10 }), undefined);
  assert.equal(store.streams(G), undefined);
  store.append(G, 's1', [{ timestamp: clock.now(), message: 'x' }]);
  assert.throws(() => store.read(G, { limit: 10, nextToken: 'garbage' }), InvalidTokenError);
  assert.throws(() => store.read(G, { limit: 10, logStreamName: 'nope' }), LogStreamNotFoundError);
});

test('streams: first and last event timestamps and stored bytes, most recent first', (t) => {
  const { store, clock } = open(t);
  const t0 = clock.now();
  store.append(G, 's1', [{ timestamp: t0 + 1, message: 'héllo' }, { timestamp: t0 + 4, message: 'abc' }]);
  store.append(G, 's2', [{ timestamp: t0 + 9, message: 'z' }]);
  assert.deepEqual(store.streams(G), [
    { logStreamName: 's2', creationTime: t0, firstEventTimestamp: t0 + 9, lastEventTimestamp: t0 + 9, storedBytes: 1 },
    { logStreamName: 's1', creationTime: t0, firstEventTimestamp: t0 + 1, lastEventTimestamp: t0 + 4, storedBytes: 9 },
  ]);
});

test('retention by age: events older than the bound go, then streams left empty; the group stays', (t) => {
  const { store, clock } = open(t, { maxAgeMs: HOUR, maxBytesPerGroup: 1e9 });
  const t0 = clock.now();
  store.append(G, 'old', [{ timestamp: t0, message: 'old line' }]);
  store.append(G, 'mixed', [{ timestamp: t0, message: 'mixed old' }]);
  clock.advance(HOUR / 2);
  store.append(G, 'mixed', [{ timestamp: clock.now(), message: 'mixed new' }]);
  clock.advance(HOUR / 2 + 61_000); // the sweep runs by itself on the clock
  assert.deepEqual(messages(store.read(G, { limit: 10 })), ['mixed new']);
  const streams = store.streams(G)!;
  assert.deepEqual(streams.map((s) => [s.logStreamName, s.storedBytes, s.firstEventTimestamp]), [['mixed', 9, t0 + HOUR / 2]]);
  clock.advance(HOUR);
  assert.deepEqual(store.read(G, { limit: 10 })?.events, []);
  assert.deepEqual(store.streams(G), []);
});

test('retention by bytes: a group past its bound loses its oldest events first, across streams', (t) => {
  const { store, clock } = open(t, { maxAgeMs: 7 * 24 * HOUR, maxBytesPerGroup: 1000 });
  const t0 = clock.now();
  const line = (i: number) => `${String(i).padStart(3, '0')}${'x'.repeat(97)}`; // 100 bytes
  for (let i = 0; i < 15; i++) store.append(G, i % 2 === 0 ? 'even' : 'odd', [{ timestamp: t0 + i, message: line(i) }]);
  store.append('/aws/lambda/small', 's', [{ timestamp: t0, message: 'kept' }]);
  const kept = messages(store.read(G, { limit: 100 }));
  // Trimmed to 90% of the bound: the newest 9 stay.
  assert.deepEqual(kept, Array.from({ length: 9 }, (_, i) => line(i + 6)));
  const bytes = store.streams(G)!.reduce((n, s) => n + s.storedBytes, 0);
  assert.equal(bytes, 900);
  assert.deepEqual(messages(store.read('/aws/lambda/small', { limit: 10 })), ['kept']);
});

test('appends are buffered and written by a timer; readers see them at once; reopen keeps everything and the order', (t) => {
  const h = open(t);
  const t0 = h.clock.now();
  h.store.append(G, 's1', [{ timestamp: t0, message: 'one' }]);
  h.clock.advance(FLUSH_MS);
  h.store.append(G, 's1', [{ timestamp: t0 + 1, message: 'two' }]);
  const before = h.store.read(G, { limit: 10 })!;
  assert.deepEqual(messages(before), ['one', 'two']);
  h.store.append(G, 's2', [{ timestamp: t0 + 2, message: 'three' }]); // still buffered: close() writes it
  const store = h.reopen();
  assert.deepEqual(messages(store.read(G, { limit: 10 })), ['one', 'two', 'three']);
  // The token of before the restart still follows, and ordering resumes after the stored end.
  store.append(G, 's3', [{ timestamp: t0 - 100, message: 'four' }]);
  assert.deepEqual(messages(store.read(G, { limit: 10, nextToken: before.nextToken })), ['three', 'four']);
  assert.deepEqual(store.streams(G)!.map((s) => s.logStreamName).sort(), ['s1', 's2', 's3']);
});
