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
 * writes the buffer in one transaction as one row per stream (a chunk: the
 * stream's events of that flush, packed as JSON; an invoke's START, END and
 * REPORT lines were three indexed rows before, a tenth of the platform's
 * time per warm invoke under load), in WAL mode with synchronous=NORMAL,
 * i.e. one write() to the WAL and no fsync per commit (SQLite fsyncs at
 * checkpoints). An invoke never waits for it. What a crash of the platform
 * can lose is the last FLUSH_MS of lines, never a committed one, and the
 * database stays consistent (WAL). It is its own file, apart from
 * metadata.db, so log traffic never contends with the control plane's writes.
 *
 * Ordering: every event gets the next sequence number of its group (seq).
 * Within a group, events are stored in non-decreasing timestamp order. An
 * event whose timestamp is earlier than the group's latest (lines of two
 * sandboxes that reached the store out of order, a worker's clock behind the
 * platform's) is stored with the group's latest timestamp. So the
 * (timestamp, seq) order is the seq order, which is the order of appends,
 * and a token — the (timestamp, seq) of the last event returned — lets a
 * follower see every later event exactly once.
 *
 * Chunks: each flush is a batch, named by the group's last seq after it
 * (batch_end). A batch's chunks (one per stream) hold interleaved seqs, and
 * every seq of a batch is above every seq of the batch before. So a read
 * takes chunks in batch_end order and sorts only within a batch; retention
 * drops whole batches, and unpacks only the one batch its bound falls in.
 */
import type Database from 'better-sqlite3';
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
  // 1 → 2: events in chunks (one row per stream per flush); each stored event becomes a chunk of its own.
  `CREATE TABLE log_chunks (
     id        INTEGER PRIMARY KEY,
     group_id  INTEGER NOT NULL,
     stream_id INTEGER NOT NULL,
     -- the group's last seq after the flush that wrote it: orders the batches
     batch_end INTEGER NOT NULL,
     first_ts  INTEGER NOT NULL,
     last_ts   INTEGER NOT NULL,
     bytes     INTEGER NOT NULL,
     -- JSON [[seq, timestamp, ingestion time, message], ...] in seq order (last: it is the large one)
     events    TEXT    NOT NULL
   );
   INSERT INTO log_chunks (group_id, stream_id, batch_end, first_ts, last_ts, bytes, events)
     SELECT group_id, stream_id, seq, ts, ts, bytes, json_array(json_array(seq, ts, ingested, message)) FROM log_events ORDER BY seq;
   DROP TABLE log_events;
   CREATE INDEX log_chunks_by_group ON log_chunks (group_id, batch_end);
   CREATE INDEX log_chunks_by_stream ON log_chunks (stream_id, batch_end);`,
  // 2 → 3: where a time range starts (last_ts never decreases from batch to batch within a group).
  `CREATE INDEX log_chunks_by_time ON log_chunks (group_id, last_ts, batch_end);`,
];

/** How long appended events wait in memory before they are written. */
export const FLUSH_MS = 200;
/** This many buffered events are written without waiting for the timer. */
const FLUSH_EVENTS = 4096;
/** Most events kept in memory while writes fail. */
const MAX_PENDING = 200_000;
/** How often retention by age runs (at most; less with a short retention). */
const SWEEP_MS = 60_000;
/** Most events in one chunk: a stream's events of one flush past this take several rows (bounded JSON, bounded unpacking per page). */
const CHUNK_EVENTS = 1000;
/** Batches looked at per step while dropping a group's oldest events. */
const DROP_STEP = 100;

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

/** One event in a chunk: [seq, timestamp, ingestion time, message]. */
type Packed = [number, number, number, string];

interface ChunkRow {
  id: number;
  stream_id: number;
  batch_end: number;
  bytes: number;
  events: string;
}

interface ReadRow {
  batch_end: number;
  first_ts: number;
  events: string;
  stream: string;
}

/** What a chunk being written holds so far. */
interface NewChunk {
  /** Its group: the group's lastSeq once the batch is read is the chunk's batch_end. */
  readonly group: GroupState;
  readonly streamId: number;
  readonly events: Packed[];
  firstTs: number;
  lastTs: number;
  bytes: number;
}

/** Where dropping a group's oldest events stops: once `bytes` are gone, or at the first event at or after `beforeTs`. */
type DropBound = { readonly bytes: number } | { readonly beforeTs: number };

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
      insertChunk: db.prepare<[number, number, number, number, number, number, string]>(
        'INSERT INTO log_chunks (group_id, stream_id, batch_end, first_ts, last_ts, bytes, events) VALUES (?, ?, ?, ?, ?, ?, ?)',
      ),
      // The oldest batches after batch_end ?: their size, their time span.
      batches: db.prepare<[number, number], { batch_end: number; bytes: number; first_ts: number; last_ts: number }>(
        `SELECT batch_end, SUM(bytes) AS bytes, MIN(first_ts) AS first_ts, MAX(last_ts) AS last_ts FROM log_chunks
          WHERE group_id = ? AND batch_end > ? GROUP BY batch_end ORDER BY batch_end LIMIT ${DROP_STEP}`,
      ),
      batchChunks: db.prepare<[number, number], ChunkRow>('SELECT id, stream_id, batch_end, bytes, events FROM log_chunks WHERE group_id = ? AND batch_end = ?'),
      removedUpTo: db.prepare<[number, number], { stream_id: number; bytes: number }>(
        'SELECT stream_id, SUM(bytes) AS bytes FROM log_chunks WHERE group_id = ? AND batch_end <= ? GROUP BY stream_id',
      ),
      deleteUpTo: db.prepare<[number, number]>('DELETE FROM log_chunks WHERE group_id = ? AND batch_end <= ?'),
      deleteChunk: db.prepare<[number]>('DELETE FROM log_chunks WHERE id = ?'),
      rewriteChunk: db.prepare<[number, number, string, number]>('UPDATE log_chunks SET first_ts = ?, bytes = ?, events = ? WHERE id = ?'),
      // After a delete: the stream's bytes less what went, its first event now (NULL: none left).
      subtractFromStream: db.prepare<[number, number, number, number]>(
        `UPDATE log_streams SET stored_bytes = stored_bytes - ?,
           first_ts = (SELECT first_ts FROM log_chunks WHERE stream_id = ? ORDER BY batch_end LIMIT 1),
           last_ts = COALESCE((SELECT last_ts FROM log_chunks WHERE stream_id = ? ORDER BY batch_end DESC LIMIT 1), last_ts)
         WHERE id = ?`,
      ),
      expiredStreams: db.prepare<[number, number], { id: number; name: string }>(
        'SELECT id, name FROM log_streams WHERE group_id = ? AND first_ts IS NULL AND COALESCE(last_ts, created_at) < ?',
      ),
      deleteStream: db.prepare<[number]>('DELETE FROM log_streams WHERE id = ?'),
      // Chunks that may hold events after seq ? at or after ?: batches in order.
      readGroup: db.prepare<[number, number, number], ReadRow>(
        `SELECT c.batch_end, c.first_ts, c.events, s.name AS stream FROM log_chunks c JOIN log_streams s ON s.id = c.stream_id
          WHERE c.group_id = ? AND c.batch_end > ? AND c.last_ts >= ? ORDER BY c.batch_end, c.id`,
      ),
      readStream: db.prepare<[number, number, number], ReadRow>(
        `SELECT c.batch_end, c.first_ts, c.events, s.name AS stream FROM log_chunks c JOIN log_streams s ON s.id = c.stream_id
          WHERE c.stream_id = ? AND c.batch_end > ? AND c.last_ts >= ? ORDER BY c.batch_end, c.id`,
      ),
      // The first batch that can hold an event at or after ?: batches before it end earlier.
      startOf: db.prepare<[number, number], { batch_end: number }>(
        'SELECT batch_end FROM log_chunks WHERE group_id = ? AND last_ts >= ? ORDER BY last_ts, batch_end LIMIT 1',
      ),
      groupBytes: db.prepare<[number], { b: number | null }>('SELECT SUM(bytes) AS b FROM log_chunks WHERE group_id = ?'),
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
      // Every chunk of the batch in the order begun; per stream, the one being filled.
      const chunks: NewChunk[] = [];
      const filling = new Map<number, NewChunk>();
      for (const p of batch) {
        const group = this.#group(p.group, p.ingested, true)!;
        const streamId = this.#stream(group, p.stream, p.ingested);
        const ts = Math.max(p.ts, group.lastTs);
        const bytes = Buffer.byteLength(p.message, 'utf8');
        group.lastTs = ts;
        group.lastSeq++;
        group.bytes += bytes;
        touched.add(group);
        let chunk = filling.get(streamId);
        if (chunk === undefined || chunk.events.length >= CHUNK_EVENTS) {
          chunk = { group, streamId, events: [], firstTs: ts, lastTs: ts, bytes: 0 };
          chunks.push(chunk);
          filling.set(streamId, chunk);
        }
        chunk.events.push([group.lastSeq, ts, p.ingested, p.message]);
        chunk.lastTs = ts;
        chunk.bytes += bytes;
      }
      for (const c of chunks) {
        this.#stmt.insertChunk.run(c.group.id, c.streamId, c.group.lastSeq, c.firstTs, c.lastTs, c.bytes, JSON.stringify(c.events));
        this.#stmt.addToStream.run(c.firstTs, c.lastTs, c.bytes, c.streamId);
      }
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
    this.#dropOldest(g, { bytes: g.bytes - Math.floor(this.#retention.maxBytesPerGroup * 0.9) });
  }

  /**
   * Drops a group's oldest events up to `bound` (call inside a transaction):
   * whole batches as long as the bound lies beyond them, then, from the batch
   * it falls in, the events before it (its chunks rewritten). Then takes
   * what went off the streams' figures and the group's bytes.
   */
  #dropOldest(g: GroupState, bound: DropBound): void {
    let excess = 'bytes' in bound ? bound.bytes : Number.POSITIVE_INFINITY;
    const before = 'beforeTs' in bound ? bound.beforeTs : Number.POSITIVE_INFINITY;
    let wholeUpTo = 0; // batch_end of the last batch that goes entirely
    let partial: number | undefined; // batch_end of the batch the bound falls in
    scan: for (;;) {
      const batches = this.#stmt.batches.all(g.id, wholeUpTo);
      for (const b of batches) {
        if (excess <= 0 || b.first_ts >= before) break scan;
        if (b.bytes <= excess && b.last_ts < before) {
          wholeUpTo = b.batch_end;
          excess -= b.bytes;
        } else {
          partial = b.batch_end;
          break scan;
        }
      }
      if (batches.length < DROP_STEP) break;
    }
    const removed = new Map<number, number>(); // stream id → bytes
    if (wholeUpTo > 0) {
      for (const r of this.#stmt.removedUpTo.all(g.id, wholeUpTo)) removed.set(r.stream_id, r.bytes);
      this.#stmt.deleteUpTo.run(g.id, wholeUpTo);
    }
    if (partial !== undefined) {
      const chunks = this.#stmt.batchChunks.all(g.id, partial);
      const unpacked = chunks.map((c) => ({ row: c, events: JSON.parse(c.events) as Packed[] }));
      // The batch's events in seq order: the oldest go first, across streams.
      const order = unpacked.flatMap((u) => u.events).sort((x, y) => x[0] - y[0]);
      let cutoff = 0; // the last seq that goes
      for (const e of order) {
        if (e[1] >= before || excess <= 0) break;
        excess -= Buffer.byteLength(e[3], 'utf8');
        cutoff = e[0];
      }
      for (const { row, events } of unpacked) {
        const kept = events.filter((e) => e[0] > cutoff);
        if (kept.length === events.length) continue;
        const keptBytes = kept.reduce((n, e) => n + Buffer.byteLength(e[3], 'utf8'), 0);
        if (kept.length === 0) this.#stmt.deleteChunk.run(row.id);
        else this.#stmt.rewriteChunk.run(kept[0]![1], keptBytes, JSON.stringify(kept), row.id);
        removed.set(row.stream_id, (removed.get(row.stream_id) ?? 0) + row.bytes - keptBytes);
      }
    }
    if (removed.size === 0) return;
    for (const [id, bytes] of removed) this.#stmt.subtractFromStream.run(bytes, id, id, id);
    g.bytes = this.#stmt.groupBytes.get(g.id)?.b ?? 0;
  }

  /** Retention by age: events older than maxAgeMs go, then streams left empty and as old. Reschedules itself. */
  #sweep(): void {
    this.#sweepTimer = undefined;
    if (this.#closed) return;
    try {
      this.flush();
      const cutoff = this.#clock.now() - this.#retention.maxAgeMs;
      this.#db.transaction(() => {
        for (const { name } of this.#stmt.allGroups.all()) {
          const g = this.#group(name, 0, false)!;
          this.#dropOldest(g, { beforeTs: cutoff });
          for (const s of this.#stmt.expiredStreams.all(g.id, cutoff)) {
            this.#stmt.deleteStream.run(s.id);
            this.#streams.delete(`${g.id}\u0000${s.name}`);
          }
          this.#stmt.updateGroup.run(g.lastTs, g.lastSeq, g.bytes, g.id);
        }
      })();
    } catch (err) {
      // Rolled back: what the groups and streams hold in memory may be ahead of the database.
      this.#groups.clear();
      this.#streams.clear();
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
    let streamId: number | undefined;
    if (query.logStreamName !== undefined) {
      streamId = this.#stmt.stream.get(g.id, query.logStreamName)?.id;
      if (streamId === undefined) throw new LogStreamNotFoundError('The specified log stream does not exist.');
    }
    // Within a group (ts, seq) order is seq order (see the top of this
    // file), so "after the token" is "seq above the token's".
    const events: LogEvent[] = [];
    let last: Packed | undefined;
    let batch: { end: number; events: { e: Packed; stream: string }[] } | undefined;
    const take = (): boolean => {
      if (!batch) return true;
      batch.events.sort((x, y) => x.e[0] - y.e[0]);
      for (const { e, stream } of batch.events) {
        if (e[0] <= after.seq || e[1] < start || e[1] >= end) continue;
        if (events.length === query.limit) return false;
        events.push({ logStreamName: stream, timestamp: e[1], message: e[3], ingestionTime: e[2] });
        last = e;
      }
      batch = undefined;
      return events.length < query.limit;
    };
    // Batches before startTime's are skipped by index (last_ts never
    // decreases from batch to batch), and the scan ends with the batch in
    // which an event at or after endTime shows (every later one is later).
    let from = after.seq;
    if (start > 0) {
      const first = this.#stmt.startOf.get(g.id, start);
      if (first === undefined) from = Number.MAX_SAFE_INTEGER;
      else from = Math.max(from, first.batch_end - 1);
    }
    let ended = false;
    const rows = streamId === undefined ? this.#stmt.readGroup.iterate(g.id, from, start) : this.#stmt.readStream.iterate(streamId, from, start);
    for (const row of rows) {
      if (batch && batch.end !== row.batch_end && (ended || !take())) break;
      if (row.first_ts >= end) ended = true;
      batch ??= { end: row.batch_end, events: [] };
      for (const e of JSON.parse(row.events) as Packed[]) batch.events.push({ e, stream: row.stream });
    }
    take();
    let next: string;
    if (last) next = token(last[1], last[0]);
    else if (query.nextToken !== undefined) next = query.nextToken;
    // Nothing matched: every later event sorts after the group's end.
    else next = token(g.lastTs, g.lastSeq);
    return { events, nextToken: next };
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
