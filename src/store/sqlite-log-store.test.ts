import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import type { TestContext } from 'node:test';
import Database from 'better-sqlite3';
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

test('retention by age within one flush: the older events of a chunk go, the newer stay, with the streams\' figures', (t) => {
  const { store, clock } = open(t, { maxAgeMs: HOUR, maxBytesPerGroup: 1e9 });
  const t0 = clock.now();
  // One flush, so one batch: two streams, events on both sides of the cutoff to come.
  store.append(G, 'a', [{ timestamp: t0, message: 'a old' }]);
  store.append(G, 'b', [{ timestamp: t0, message: 'b old' }]);
  store.append(G, 'a', [{ timestamp: t0 + HOUR / 2, message: 'a new' }]);
  store.flush();
  clock.advance(HOUR + 61_000); // the sweep runs: t0 is past the bound, t0 + HOUR/2 is not
  assert.deepEqual(messages(store.read(G, { limit: 10 })), ['a new']);
  assert.deepEqual(store.streams(G)!.map((s) => [s.logStreamName, s.storedBytes, s.firstEventTimestamp]), [['a', 5, t0 + HOUR / 2]]);
});

test('reads across many flushes and streams: seq order, a time range, a stream, and pages that end inside a flush', (t) => {
  const { store, clock } = open(t);
  const t0 = clock.now();
  const all: string[] = [];
  for (let f = 0; f < 6; f++) {
    for (let i = 0; i < 7; i++) {
      const m = `f${f}e${i}`;
      all.push(m);
      store.append(G, `s${(f + i) % 3}`, [{ timestamp: t0 + f * 100 + i, message: m }]);
    }
    store.flush();
  }
  assert.deepEqual(messages(store.read(G, { limit: 1000 })), all);
  const paged: string[] = [];
  let token: string | undefined;
  for (let n = 0; n < 20; n++) {
    const page = store.read(G, { limit: 5, ...(token === undefined ? {} : { nextToken: token }) })!;
    paged.push(...messages(page));
    token = page.nextToken;
  }
  assert.deepEqual(paged, all);
  assert.deepEqual(messages(store.read(G, { limit: 1000, startTime: t0 + 203, endTime: t0 + 402 })), all.slice(17, 30));
  assert.deepEqual(messages(store.read(G, { limit: 1000, logStreamName: 's1' })), all.filter((_, k) => (Math.floor(k / 7) + (k % 7)) % 3 === 1));
});

test('a log store written before chunks (schema 1) is read after the upgrade: events, order, tokens and figures', (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'kindling-logs-v1-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  // What schema 1 held: one row per event, seq global across groups.
  const db = new Database(join(dir, 'logs.db'));
  db.exec(`CREATE TABLE log_groups (id INTEGER PRIMARY KEY, name TEXT NOT NULL UNIQUE, created_at INTEGER NOT NULL,
             stored_bytes INTEGER NOT NULL DEFAULT 0, last_ts INTEGER NOT NULL DEFAULT 0, last_seq INTEGER NOT NULL DEFAULT 0);
           CREATE TABLE log_streams (id INTEGER PRIMARY KEY, group_id INTEGER NOT NULL, name TEXT NOT NULL, created_at INTEGER NOT NULL,
             first_ts INTEGER, last_ts INTEGER, stored_bytes INTEGER NOT NULL DEFAULT 0, UNIQUE (group_id, name));
           CREATE TABLE log_events (seq INTEGER PRIMARY KEY AUTOINCREMENT, group_id INTEGER NOT NULL, stream_id INTEGER NOT NULL,
             ts INTEGER NOT NULL, ingested INTEGER NOT NULL, bytes INTEGER NOT NULL, message TEXT NOT NULL);
           CREATE INDEX log_events_by_time ON log_events (group_id, ts, seq);
           CREATE INDEX log_events_by_stream ON log_events (stream_id, ts, seq);
           INSERT INTO log_groups VALUES (1, '${G}', 1000, 10, 30, 4), (2, '/aws/lambda/other', 1000, 1, 20, 2);
           INSERT INTO log_streams VALUES (1, 1, 's1', 1000, 10, 30, 7), (2, 2, 'o', 1000, 20, 20, 1), (3, 1, 's2', 1000, 25, 25, 3);
           INSERT INTO log_events VALUES (1, 1, 1, 10, 11, 3, 'one'), (2, 2, 2, 20, 21, 1, 'o'), (3, 1, 3, 25, 26, 3, 'two'), (4, 1, 1, 30, 31, 4, 'thré');
           PRAGMA user_version = 1;`);
  db.close();
  const clock = new ManualClock(100); // the fixture's times are recent to it
  const store = new SqliteLogStore(dir, { retention: BIG, clock });
  t.after(() => store.close());
  const page = store.read(G, { limit: 2 })!;
  assert.deepEqual(page.events, [
    { logStreamName: 's1', timestamp: 10, message: 'one', ingestionTime: 11 },
    { logStreamName: 's2', timestamp: 25, message: 'two', ingestionTime: 26 },
  ]);
  assert.equal(page.nextToken, 'f/25/3', 'a token of before the upgrade names the same place');
  store.append(G, 's2', [{ timestamp: 40, message: 'after' }]);
  assert.deepEqual(messages(store.read(G, { limit: 10, nextToken: page.nextToken })), ['thré', 'after']);
  assert.deepEqual(messages(store.read('/aws/lambda/other', { limit: 10 })), ['o']);
  assert.deepEqual(store.streams(G)!.map((s) => [s.logStreamName, s.storedBytes, s.firstEventTimestamp, s.lastEventTimestamp]), [
    ['s2', 8, 25, 40],
    ['s1', 7, 10, 30],
  ]);
});

test('a stream with thousands of events in one flush takes several chunks; reads, pages and trims see one sequence', (t) => {
  const { store, clock } = open(t, { maxAgeMs: 7 * 24 * HOUR, maxBytesPerGroup: 1e9 });
  const t0 = clock.now();
  const all = Array.from({ length: 2500 }, (_, i) => `e${i}`);
  store.append(G, 'big', all.slice(0, 1200).map((message, i) => ({ timestamp: t0 + i, message })));
  store.append(G, 'small', [{ timestamp: t0 + 1200, message: 'other' }]);
  store.append(G, 'big', all.slice(1200).map((message, i) => ({ timestamp: t0 + 1201 + i, message })));
  store.flush();
  const expected = [...all.slice(0, 1200), 'other', ...all.slice(1200)];
  assert.deepEqual(messages(store.read(G, { limit: 10_000 })), expected);
  assert.deepEqual(messages(store.read(G, { limit: 10_000, logStreamName: 'big' })), all);
  const page = store.read(G, { limit: 999 })!;
  assert.deepEqual(messages(store.read(G, { limit: 5, nextToken: page.nextToken })), expected.slice(999, 1004));
  assert.deepEqual(messages(store.read(G, { limit: 3, startTime: t0 + 1199, endTime: t0 + 1202 })), ['e1199', 'other', 'e1200']);
  assert.equal(store.streams(G)!.find((s) => s.logStreamName === 'big')!.storedBytes, all.reduce((n, m) => n + m.length, 0));
});
