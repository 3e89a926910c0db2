/**
 * The embedded log store: SQLite in the data directory (`logs.db`).
 *
 * Why SQLite rather than segment files: the reads the API serves — a time
 * range across every stream of a group in timestamp order, one stream,
 * pagination and follow tokens, per-stream figures — are an index lookup in
 * SQLite, where segment files would need an index, a merge across streams
 * and a compactor of their own; retention by age and by bytes is a DELETE of
 * a key range. The hot path stays cheap: append() only pushes onto an
 * in-memory buffer; a timer (every FLUSH_MS, or sooner past FLUSH_EVENTS)
 * writes the buffer in one transaction, in WAL mode with synchronous=NORMAL,
 * i.e. one write() to the WAL and no fsync per commit (SQLite fsyncs at
 * checkpoints). An invoke never waits for it. What a crash of the platform
 * can lose is the last FLUSH_MS of lines, never a committed one, and the
 * database stays consistent (WAL). It is its own file, apart from
 * metadata.db, so log traffic never contends with the control plane's writes.
 *
 * Ordering: within a group, events are stored in non-decreasing timestamp
 * order. An event whose timestamp is earlier than the group's latest (lines
 * of two sandboxes that reached the store out of order, a worker's clock
 * behind the platform's) is stored with the group's latest timestamp. So the
 * (timestamp, seq) order is the order of appends, and a token — the
 * (timestamp, seq) of the last event returned — lets a follower see every
 * later event exactly once.
 */
import Database from 'better-sqlite3';
import { systemClock } from '../shared/clock.js';
import type { Clock, Timer } from '../shared/clock.js';
import { InvalidTokenError, LogStreamNotFoundError } from './log-store.js';
import type { LogAppender, LogEvent, LogPage, LogQuery, LogReader, LogRetention, LogStreamInfo, NewLogEvent } from './log-store.js';
import { openSqlite } from './sqlite-schema.js';

const SCHEMA: readonly string[] = [
  // 0 → 1: groups, streams, events.
  `CREATE TABLE log_groups (
     id           INTEGER PRIMARY KEY,
     name         TEXT    NOT NULL UNIQUE,
     created_at   INTEGER NOT NULL,
     stored_bytes INTEGER NOT NULL DEFAULT 0,
     -- the latest (timestamp, seq) stored: no later event sorts before it
     last_ts      INTEGER NOT NULL DEFAULT 0,
     last_seq     INTEGER NOT NULL DEFAULT 0
   );
   CREATE TABLE log_streams (
     id           INTEGER PRIMARY KEY,
     group_id     INTEGER NOT NULL,
     name         TEXT    NOT NULL,
     created_at   INTEGER NOT NULL,
     first_ts     INTEGER,
     last_ts      INTEGER,
     stored_bytes INTEGER NOT NULL DEFAULT 0,
     UNIQUE (group_id, name)
   );
   CREATE TABLE log_events (
     seq       INTEGER PRIMARY KEY AUTOINCREMENT,
     group_id  INTEGER NOT NULL,
     stream_id INTEGER NOT NULL,
     ts        INTEGER NOT NULL,
     ingested  INTEGER NOT NULL,
     bytes     INTEGER NOT NULL,
     message   TEXT    NOT NULL
   );
   CREATE INDEX log_events_by_time ON log_events (group_id, ts, seq);
   CREATE INDEX log_events_by_stream ON log_events (stream_id, ts, seq);`,
];

/** How long appended events wait in memory before they are written. */
export const FLUSH_MS = 200;
/** This many buffered events are written without waiting for the timer. */
const FLUSH_EVENTS = 4096;
/** Most events kept in memory while writes fail. */
const MAX_PENDING = 200_000;
/** How often retention by age runs (at most; less with a short retention). */
const SWEEP_MS = 60_000;
/** Events fetched per step while trimming a group to its byte bound. */
const TRIM_BATCH = 1000;

export interface SqliteLogStoreOptions {
  readonly retention: LogRetention;
  readonly clock?: Clock;
  /** Its file name in dataDir (':memory:' for a private in-memory one). Default logs.db. */
  readonly file?: string;
  /** Told when a background flush or sweep fails (the events stay buffered for the next one). */
  readonly onError?: (err: unknown) => void;
}

interface Pending {
  readonly group: string;
  readonly stream: string;
  readonly ts: number;
  readonly ingested: number;
  readonly message: string;
}

interface GroupState {
  readonly id: number;
  lastTs: number;
  lastSeq: number;
  bytes: number;
}

interface EventRow {
  seq: number;
  ts: number;
  ingested: number;
  message: string;
  stream: string;
}

interface StreamRow {
  name: string;
  created_at: number;
  first_ts: number | null;
  last_ts: number | null;
  stored_bytes: number;
}

/** A token is `f/<timestamp>/<seq>`: the position after which the next page starts. */
function token(ts: number, seq: number): string {
  return `f/${ts}/${seq}`;
}

function parseToken(t: string): { ts: number; seq: number } {
  const m = /^f\/(\d{1,16})\/(\d{1,16})$/.exec(t);
  if (!m) throw new InvalidTokenError('The specified nextToken is invalid.');
  return { ts: Number(m[1]), seq: Number(m[2]) };
}

export class SqliteLogStore implements LogAppender, LogReader {
  readonly #db: Database.Database;
  readonly #clock: Clock;
  readonly #retention: LogRetention;
  readonly #onError: (err: unknown) => void;
  readonly #groups = new Map<string, GroupState>();
  /** `<group id>\0<stream name>` → stream id. */
  readonly #streams = new Map<string, number>();
  #pending: Pending[] = [];
  #flushTimer: Timer | undefined;
  #sweepTimer: Timer | undefined;
  #closed = false;
  readonly #stmt;

  constructor(dataDir: string, options: SqliteLogStoreOptions) {
    this.#clock = options.clock ?? systemClock;
    this.#retention = options.retention;
    this.#onError = options.onError ?? ((err) => console.error('kindling: log store:', err));
    this.#db = openSqlite(dataDir, options.file ?? 'logs.db', 'log store', SCHEMA);
    const db = this.#db;
    this.#stmt = {
      group: db.prepare<[string], { id: number; last_ts: number; last_seq: number; stored_bytes: number }>('SELECT id, last_ts, last_seq, stored_bytes FROM log_groups WHERE name = ?'),
      insertGroup: db.prepare<[string, number]>('INSERT INTO log_groups (name, created_at) VALUES (?, ?)'),
      updateGroup: db.prepare<[number, number, number, number]>('UPDATE log_groups SET last_ts = ?, last_seq = ?, stored_bytes = ? WHERE id = ?'),
      stream: db.prepare<[number, string], { id: number }>('SELECT id FROM log_streams WHERE group_id = ? AND name = ?'),
      insertStream: db.prepare<[number, string, number]>('INSERT INTO log_streams (group_id, name, created_at) VALUES (?, ?, ?)'),
      addToStream: db.prepare<[number, number, number, number]>(
        'UPDATE log_streams SET first_ts = COALESCE(first_ts, ?), last_ts = ?, stored_bytes = stored_bytes + ? WHERE id = ?',
      ),
      insertEvent: db.prepare<[number, number, number, number, number, string]>(
        'INSERT INTO log_events (group_id, stream_id, ts, ingested, bytes, message) VALUES (?, ?, ?, ?, ?, ?)',
      ),
      oldest: db.prepare<[number, number], { seq: number; bytes: number }>('SELECT seq, bytes FROM log_events WHERE group_id = ? AND seq > ? ORDER BY seq LIMIT ' + TRIM_BATCH),
      deleteUpTo: db.prepare<[number, number]>('DELETE FROM log_events WHERE group_id = ? AND seq <= ?'),
      deleteOlder: db.prepare<[number, number]>('DELETE FROM log_events WHERE group_id = ? AND ts < ?'),
      removedUpTo: db.prepare<[number, number], { stream_id: number; bytes: number }>(
        'SELECT stream_id, SUM(bytes) AS bytes FROM log_events WHERE group_id = ? AND seq <= ? GROUP BY stream_id',
      ),
      removedOlder: db.prepare<[number, number], { stream_id: number; bytes: number }>(
        'SELECT stream_id, SUM(bytes) AS bytes FROM log_events WHERE group_id = ? AND ts < ? GROUP BY stream_id',
      ),
      // After a delete: the stream's bytes less what went, its first event now (NULL: none left).
      subtractFromStream: db.prepare<[number, number, number, number]>(
        `UPDATE log_streams SET stored_bytes = stored_bytes - ?,
           first_ts = (SELECT ts FROM log_events WHERE stream_id = ? ORDER BY ts, seq LIMIT 1),
           last_ts = COALESCE((SELECT ts FROM log_events WHERE stream_id = ? ORDER BY ts DESC, seq DESC LIMIT 1), last_ts)
         WHERE id = ?`,
      ),
      expiredStreams: db.prepare<[number, number], { id: number; name: string }>(
        'SELECT id, name FROM log_streams WHERE group_id = ? AND first_ts IS NULL AND COALESCE(last_ts, created_at) < ?',
      ),
      deleteStream: db.prepare<[number]>('DELETE FROM log_streams WHERE id = ?'),
      groupBytes: db.prepare<[number], { b: number | null }>('SELECT SUM(bytes) AS b FROM log_events WHERE group_id = ?'),
      allGroups: db.prepare<[], { id: number; name: string }>('SELECT id, name FROM log_groups'),
      streamsOf: db.prepare<[number], StreamRow>(
        'SELECT name, created_at, first_ts, last_ts, stored_bytes FROM log_streams WHERE group_id = ? ORDER BY COALESCE(last_ts, created_at) DESC, id DESC',
      ),
    };
    this.#sweep();
  }

  // ---- LogAppender ----

  append(logGroupName: string, logStreamName: string, events: readonly NewLogEvent[]): void {
    if (this.#closed || events.length === 0) return;
    const ingested = this.#clock.now();
    for (const e of events) this.#pending.push({ group: logGroupName, stream: logStreamName, ts: e.timestamp, ingested, message: e.message });
    if (this.#pending.length > MAX_PENDING) {
      // Writes have been failing for a while (a full disk): memory is bounded too, the oldest lines go.
      const dropped = this.#pending.length - MAX_PENDING;
      this.#pending.splice(0, dropped);
      this.#onError(new Error(`${dropped} function log lines were dropped: the log store could not write them`));
    }
    if (this.#pending.length >= FLUSH_EVENTS) {
      // Soon, but not inside the caller's turn (an invoke's hot path).
      if (this.#flushTimer) this.#clock.clearTimeout(this.#flushTimer);
      this.#flushTimer = this.#clock.setTimeout(() => this.#backgroundFlush(), 0);
    } else {
      this.#flushTimer ??= this.#clock.setTimeout(() => this.#backgroundFlush(), FLUSH_MS);
    }
  }

  /** Writes every buffered event now (one transaction), then applies the byte bound to the groups written. */
  flush(): void {
    if (this.#flushTimer) {
      this.#clock.clearTimeout(this.#flushTimer);
      this.#flushTimer = undefined;
    }
    if (this.#pending.length === 0) return;
    const batch = this.#pending;
    this.#pending = [];
    const touched = new Set<GroupState>();
    const write = this.#db.transaction(() => {
      const perStream = new Map<number, { first: number; last: number; bytes: number }>();
      for (const p of batch) {
        const group = this.#group(p.group, p.ingested, true)!;
        const streamId = this.#stream(group, p.stream, p.ingested);
        const ts = Math.max(p.ts, group.lastTs);
        const bytes = Buffer.byteLength(p.message, 'utf8');
        const seq = Number(this.#stmt.insertEvent.run(group.id, streamId, ts, p.ingested, bytes, p.message).lastInsertRowid);
        group.lastTs = ts;
        group.lastSeq = seq;
        group.bytes += bytes;
        touched.add(group);
        const s = perStream.get(streamId);
        if (s) {
          s.last = ts;
          s.bytes += bytes;
        } else perStream.set(streamId, { first: ts, last: ts, bytes });
      }
      for (const [id, s] of perStream) this.#stmt.addToStream.run(s.first, s.last, s.bytes, id);
      for (const g of touched) {
        if (g.bytes > this.#retention.maxBytesPerGroup) this.#trim(g);
        this.#stmt.updateGroup.run(g.lastTs, g.lastSeq, g.bytes, g.id);
      }
    });
    try {
      write();
    } catch (err) {
      // Nothing of the batch was written (the transaction rolled back): keep it for the next flush.
      this.#pending = batch.concat(this.#pending);
      this.#groups.clear();
      this.#streams.clear();
      throw err;
    }
  }

  #backgroundFlush(): void {
    this.#flushTimer = undefined;
    try {
      this.flush();
    } catch (err) {
      this.#onError(err);
      if (!this.#closed && this.#pending.length > 0) this.#flushTimer ??= this.#clock.setTimeout(() => this.#backgroundFlush(), FLUSH_MS * 10);
    }
  }

  /** The group's state, created when `create` (else undefined when it does not exist). */
  #group(name: string, now: number, create: boolean): GroupState | undefined {
    let g = this.#groups.get(name);
    if (g) return g;
    let row = this.#stmt.group.get(name);
    if (!row) {
      if (!create) return undefined;
      this.#stmt.insertGroup.run(name, now);
      row = this.#stmt.group.get(name)!;
    }
    g = { id: row.id, lastTs: row.last_ts, lastSeq: row.last_seq, bytes: row.stored_bytes };
    this.#groups.set(name, g);
    return g;
  }

  #stream(group: GroupState, name: string, now: number): number {
    const key = `${group.id}\u0000${name}`;
    let id = this.#streams.get(key);
    if (id !== undefined) return id;
    id = this.#stmt.stream.get(group.id, name)?.id;
    if (id === undefined) id = Number(this.#stmt.insertStream.run(group.id, name, now).lastInsertRowid);
    this.#streams.set(key, id);
    return id;
  }

  /**
   * Drops a group's oldest events until it holds at most 90% of
   * maxBytesPerGroup (inside flush's transaction; the slack spares the next
   * flushes a trim each).
   */
  #trim(g: GroupState): void {
    let excess = g.bytes - Math.floor(this.#retention.maxBytesPerGroup * 0.9);
    let cutoff = 0;
    while (excess > 0) {
      const rows = this.#stmt.oldest.all(g.id, cutoff);
      if (rows.length === 0) break;
      for (const r of rows) {
        cutoff = r.seq;
        excess -= r.bytes;
        if (excess <= 0) break;
      }
    }
    if (cutoff === 0) return;
    this.#remove(this.#stmt.removedUpTo.all(g.id, cutoff), () => this.#stmt.deleteUpTo.run(g.id, cutoff));
    g.bytes = this.#stmt.groupBytes.get(g.id)?.b ?? 0;
  }

  /** Deletes events (`del`) and takes what they held off their streams' figures. */
  #remove(removed: readonly { stream_id: number; bytes: number }[], del: () => unknown): void {
    del();
    for (const r of removed) this.#stmt.subtractFromStream.run(r.bytes, r.stream_id, r.stream_id, r.stream_id);
  }

  /** Retention by age: events older than maxAgeMs go, then streams left empty and as old. Reschedules itself. */
  #sweep(): void {
    this.#sweepTimer = undefined;
    if (this.#closed) return;
    try {
      this.flush();
      const cutoff = this.#clock.now() - this.#retention.maxAgeMs;
      this.#db.transaction(() => {
        for (const { id, name } of this.#stmt.allGroups.all()) {
          const removed = this.#stmt.removedOlder.all(id, cutoff);
          if (removed.length === 0) continue;
          this.#remove(removed, () => this.#stmt.deleteOlder.run(id, cutoff));
          for (const s of this.#stmt.expiredStreams.all(id, cutoff)) {
            this.#stmt.deleteStream.run(s.id);
            this.#streams.delete(`${id}\u0000${s.name}`);
          }
          const g = this.#group(name, 0, false);
          if (g) {
            g.bytes = this.#stmt.groupBytes.get(id)?.b ?? 0;
            this.#stmt.updateGroup.run(g.lastTs, g.lastSeq, g.bytes, g.id);
          }
        }
      })();
    } catch (err) {
      this.#onError(err);
    }
    this.#sweepTimer = this.#clock.setTimeout(() => this.#sweep(), Math.max(1000, Math.min(SWEEP_MS, this.#retention.maxAgeMs / 10)));
  }

  /** Runs retention by age now (tests; the store runs it by itself on a timer). */
  sweep(): void {
    if (this.#sweepTimer) this.#clock.clearTimeout(this.#sweepTimer);
    this.#sweep();
  }

  // ---- LogReader ----

  read(logGroupName: string, query: LogQuery): LogPage | undefined {
    this.flush();
    const g = this.#group(logGroupName, 0, false);
    if (!g) return undefined;
    const after = query.nextToken === undefined ? { ts: -1, seq: 0 } : parseToken(query.nextToken);
    const start = query.startTime ?? 0;
    const end = query.endTime ?? Number.MAX_SAFE_INTEGER;
    let streamFilter = '';
    const params: (number | string)[] = [g.id, start, end, after.ts, after.seq];
    if (query.logStreamName !== undefined) {
      if (this.#stmt.stream.get(g.id, query.logStreamName) === undefined) throw new LogStreamNotFoundError('The specified log stream does not exist.');
      streamFilter = ' AND s.name = ?';
      params.push(query.logStreamName);
    }
    params.push(query.limit);
    const rows = this.#readStatement(streamFilter).all(...params);
    const events: LogEvent[] = rows.map((r) => ({ logStreamName: r.stream, timestamp: r.ts, message: r.message, ingestionTime: r.ingested }));
    const last = rows.at(-1);
    let next: string;
    if (last) next = token(last.ts, last.seq);
    else if (query.nextToken !== undefined) next = query.nextToken;
    // Nothing matched: every later event sorts after the group's end.
    else next = token(g.lastTs, g.lastSeq);
    return { events, nextToken: next };
  }

  readonly #reads = new Map<string, Database.Statement<(number | string)[], EventRow>>();

  #readStatement(streamFilter: string): Database.Statement<(number | string)[], EventRow> {
    let st = this.#reads.get(streamFilter);
    if (!st) {
      // (ts, seq) row values: the index (group_id, ts, seq) serves both the range and the order.
      st = this.#db.prepare<(number | string)[], EventRow>(
        `SELECT e.seq, e.ts, e.ingested, e.message, s.name AS stream
           FROM log_events e JOIN log_streams s ON s.id = e.stream_id
          WHERE e.group_id = ? AND e.ts >= ? AND e.ts < ? AND (e.ts, e.seq) > (?, ?)${streamFilter}
          ORDER BY e.ts, e.seq LIMIT ?`,
      );
      this.#reads.set(streamFilter, st);
    }
    return st;
  }

  streams(logGroupName: string): readonly LogStreamInfo[] | undefined {
    this.flush();
    const g = this.#group(logGroupName, 0, false);
    if (!g) return undefined;
    return this.#stmt.streamsOf.all(g.id).map((r) => ({
      logStreamName: r.name,
      creationTime: r.created_at,
      firstEventTimestamp: r.first_ts ?? undefined,
      lastEventTimestamp: r.first_ts === null ? undefined : (r.last_ts ?? undefined),
      storedBytes: r.stored_bytes,
    }));
  }

  /** Writes what is buffered and closes the database. Idempotent. */
  close(): void {
    if (this.#closed) return;
    try {
      this.flush();
    } finally {
      this.#closed = true;
      if (this.#sweepTimer) this.#clock.clearTimeout(this.#sweepTimer);
      this.#db.close();
    }
  }
}
