import type Database from 'better-sqlite3';
import { randomUUID } from 'node:crypto';
import type { EventQueue, Message, MessageQueues, NewEvent, NewMessage, PartitionStats, QueuedEvent, Settlement } from './event-queue.js';
import { openSqlite } from './sqlite-schema.js';

const SCHEMA: readonly string[] = [
  // 0 → 1: the event queue and the named message queues.
  `CREATE TABLE events (
     id             TEXT    NOT NULL PRIMARY KEY,
     function_name  TEXT    NOT NULL,
     qualifier      TEXT,
     payload        BLOB    NOT NULL,
     client_context TEXT,
     accepted_at    INTEGER NOT NULL,
     -- not before this (a retry's delay), or, while leased, the lease's end
     visible_at     INTEGER NOT NULL,
     owner          TEXT,
     attempts       INTEGER NOT NULL DEFAULT 0,
     deferrals      INTEGER NOT NULL DEFAULT 0
   );
   CREATE INDEX events_ready ON events (function_name, visible_at);
   CREATE INDEX events_visible ON events (visible_at);
   CREATE TABLE messages (
     seq              INTEGER PRIMARY KEY AUTOINCREMENT,
     message_id       TEXT    NOT NULL UNIQUE,
     queue            TEXT    NOT NULL,
     body             TEXT    NOT NULL,
     attributes       TEXT    NOT NULL,
     source_function  TEXT    NOT NULL,
     source_qualifier TEXT,
     redrive_payload  TEXT    NOT NULL,
     sent_at          INTEGER NOT NULL,
     visible_at       INTEGER NOT NULL,
     receive_count    INTEGER NOT NULL DEFAULT 0
   );
   CREATE INDEX messages_by_queue ON messages (queue, visible_at, seq);`,
];

interface PendingWrite {
  readonly durable: boolean;
  readonly apply: () => unknown;
  readonly resolve: (value: unknown) => void;
  readonly reject: (err: unknown) => void;
}

interface EventRow {
  id: string;
  function_name: string;
  qualifier: string | null;
  payload: Buffer;
  client_context: string | null;
  accepted_at: number;
  visible_at: number;
  attempts: number;
  deferrals: number;
}

interface MessageRow {
  message_id: string;
  queue: string;
  body: string;
  attributes: string;
  source_function: string;
  source_qualifier: string | null;
  redrive_payload: string;
  sent_at: number;
  receive_count: number;
}

function toEvent(r: EventRow): QueuedEvent {
  return {
    id: r.id,
    functionName: r.function_name,
    qualifier: r.qualifier ?? undefined,
    payload: r.payload,
    clientContext: r.client_context ?? undefined,
    acceptedAt: r.accepted_at,
    notBefore: r.visible_at,
    attempts: r.attempts,
    deferrals: r.deferrals,
  };
}

function toMessage(r: MessageRow): Message {
  return {
    messageId: r.message_id,
    queue: r.queue,
    body: r.body,
    attributes: JSON.parse(r.attributes) as Record<string, string>,
    sourceFunction: r.source_function,
    sourceQualifier: r.source_qualifier ?? undefined,
    redrivePayload: r.redrive_payload,
    sentAt: r.sent_at,
    receiveCount: r.receive_count,
  };
}

/**
 * The embedded EventQueue and MessageQueues: one SQLite file in the data
 * directory (queue.db), apart from the metadata so that its write rate and
 * its fsyncs never stand in the control plane's way.
 *
 * Durability: WAL mode. What must survive an OS crash is what was
 * acknowledged: accepted events (the 202), messages sent and redrives. Those
 * transactions run with synchronous=FULL (the WAL is fsynced at commit, which
 * makes every earlier commit durable too: the WAL is written in order). An
 * fsync costs ~0.5 ms here, so writes are group-committed: every enqueue()
 * and settle() made in one turn of the event loop is written by one
 * transaction, and all of them resolve once it is committed (on disk, when
 * an enqueue is among them). Claims, renewals and settlements run
 * with synchronous=NORMAL (no fsync of their own; durable against a crash of
 * Kindling, and against an OS crash from the next FULL commit or
 * checkpoint): losing one to a power cut only makes an event visible again,
 * and it is delivered again with its follow-ups, which its settlement
 * carries in the same transaction — at least once, as documented.
 *
 * The embedded store belongs to one platform process: open() ends every
 * lease left by a previous process (it is gone), so events it had in flight
 * are delivered again at once rather than after their leases run out.
 */
export class SqliteEventQueue implements EventQueue, MessageQueues {
  readonly #db: Database.Database;
  readonly #insertEvent: Database.Statement;
  readonly #insertMessage: Database.Statement;
  /** Writes waiting for this turn's group commit. */
  readonly #pending: PendingWrite[] = [];
  #flushScheduled = false;
  #closed = false;
  readonly #statements: Record<string, Database.Statement>;
  readonly #claim: Database.Transaction<(functionName: string, owner: string, limit: number, now: number, until: number) => EventRow[]>;

  /** Opens (creating if needed) `<dataDir>/queue.db`; ':memory:' as file for a private in-memory one. */
  constructor(dataDir: string, options: { file?: string; now?: number } = {}) {
    const file = options.file ?? 'queue.db';
    this.#db = openSqlite(dataDir, file, 'queue', SCHEMA);
    this.#insertEvent = this.#db.prepare(
      `INSERT INTO events (id, function_name, qualifier, payload, client_context, accepted_at, visible_at)
       VALUES (?, ?, ?, ?, ?, ?, ?)`,
    );
    this.#insertMessage = this.#db.prepare(
      `INSERT INTO messages (message_id, queue, body, attributes, source_function, source_qualifier, redrive_payload, sent_at, visible_at)
       VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)`,
    );
    const p = (sql: string) => this.#db.prepare(sql);
    this.#statements = {
      ready: p(`WITH RECURSIVE f(name) AS (
                  SELECT MIN(function_name) FROM events
                  UNION ALL
                  SELECT (SELECT MIN(function_name) FROM events WHERE function_name > f.name) FROM f WHERE f.name IS NOT NULL
                )
                SELECT name FROM f
                WHERE name IS NOT NULL AND EXISTS (SELECT 1 FROM events WHERE function_name = f.name AND visible_at <= ?)`),
      // A SELECT then UPDATEs by key in one transaction: UPDATE ... RETURNING
      // costs ~4 times as much per claim in this SQLite build.
      claimable: p('SELECT * FROM events WHERE function_name = ? AND visible_at <= ? ORDER BY visible_at LIMIT ?'),
      lease: p('UPDATE events SET owner = ?, visible_at = ? WHERE id = ?'),
      renew: p('UPDATE events SET visible_at = ? WHERE id = ? AND owner = ?'),
      held: p('SELECT 1 FROM events WHERE id = ? AND owner = ?'),
      remove: p('DELETE FROM events WHERE id = ?'),
      retry: p('UPDATE events SET owner = NULL, visible_at = ?, attempts = ?, deferrals = ? WHERE id = ?'),
      next: p('SELECT MIN(visible_at) AS at FROM events'),
      stats: p('SELECT function_name AS name, COUNT(*) AS depth, MIN(accepted_at) AS oldest FROM events GROUP BY function_name'),
      releaseAll: p('UPDATE events SET owner = NULL, visible_at = ? WHERE owner IS NOT NULL'),
      receive: p('SELECT * FROM messages WHERE queue = ? AND visible_at <= ? ORDER BY seq LIMIT ?'),
      hide: p('UPDATE messages SET visible_at = ?, receive_count = receive_count + 1 WHERE message_id = ?'),
      deleteMessage: p('DELETE FROM messages WHERE queue = ? AND message_id = ?'),
      queueMessages: p('SELECT * FROM messages WHERE queue = ? ORDER BY seq'),
      listQueues: p('SELECT queue AS name, COUNT(*) AS messages FROM messages GROUP BY queue ORDER BY queue'),
    };
    this.#claim = this.#db.transaction((functionName: string, owner: string, limit: number, now: number, until: number): EventRow[] => {
      const rows = this.#statements['claimable']!.all(functionName, now, limit) as EventRow[];
      for (const r of rows) this.#statements['lease']!.run(owner, until, r.id);
      return rows;
    });
    this.#statements['releaseAll']!.run(options.now ?? Date.now());
  }

  // ---------------------------------------------------------------- EventQueue

  enqueue(events: readonly NewEvent[]): Promise<void> {
    if (events.length === 0) return Promise.resolve();
    return this.#write(true, () => {
      for (const e of events) this.#insert(e);
    });
  }

  /**
   * Group commit: queues `apply` for one transaction with every other write
   * of this turn of the event loop (each in a savepoint of its own, so one
   * that throws rejects alone), durable (synchronous=FULL) when any of them
   * must be. Resolves with what `apply` returned, once committed.
   */
  #write<T>(durable: boolean, apply: () => T): Promise<T> {
    if (this.#closed) return Promise.reject(new Error('the event queue is closed'));
    return new Promise<T>((resolve, reject) => {
      this.#pending.push({ durable, apply, resolve: resolve as (v: unknown) => void, reject });
      if (!this.#flushScheduled) {
        this.#flushScheduled = true;
        setImmediate(() => this.#flush());
      }
    });
  }

  #flush(): void {
    this.#flushScheduled = false;
    const batch = this.#pending.splice(0);
    if (batch.length === 0) return;
    const results: ({ ok: true; value: unknown } | { ok: false; err: unknown })[] = [];
    const all = () => {
      for (const w of batch) {
        try {
          results.push({ ok: true, value: this.#db.transaction(w.apply)() });
        } catch (err) {
          results.push({ ok: false, err });
        }
      }
    };
    try {
      if (batch.some((w) => w.durable)) this.#durably(all);
      else this.#db.transaction(all).immediate();
    } catch (err) {
      for (const w of batch) w.reject(err);
      return;
    }
    batch.forEach((w, i) => {
      const r = results[i]!;
      if (r.ok) w.resolve(r.value);
      else w.reject(r.err);
    });
  }

  /** Runs `fn` in an IMMEDIATE transaction that is on disk when it returns (synchronous=FULL for it alone). */
  #durably<T>(fn: () => T): T {
    this.#db.pragma('synchronous = FULL');
    try {
      return this.#db.transaction(fn).immediate();
    } finally {
      this.#db.pragma('synchronous = NORMAL');
    }
  }

  #insert(e: NewEvent): void {
    this.#insertEvent.run(e.id, e.functionName, e.qualifier ?? null, e.payload, e.clientContext ?? null, e.acceptedAt, e.notBefore ?? e.acceptedAt);
  }

  readyFunctions(now: number): Promise<string[]> {
    return Promise.resolve((this.#statements['ready']!.all(now) as { name: string }[]).map((r) => r.name));
  }

  claim(functionName: string, owner: string, limit: number, now: number, leaseMs: number): Promise<QueuedEvent[]> {
    const rows = this.#claim.immediate(functionName, owner, limit, now, now + leaseMs);
    return Promise.resolve(rows.map(toEvent).sort((a, b) => a.acceptedAt - b.acceptedAt));
  }

  renew(id: string, owner: string, until: number): Promise<boolean> {
    return Promise.resolve(this.#statements['renew']!.run(until, id, owner).changes === 1);
  }

  settle(id: string, owner: string, settlement: Settlement, now: number): Promise<boolean> {
    return this.#write(false, (): boolean => {
      if (!this.#statements['held']!.get(id, owner)) return false;
      if (settlement.kind === 'retry') {
        this.#statements['retry']!.run(settlement.notBefore, settlement.attempts, settlement.deferrals, id);
        return true;
      }
      this.#statements['remove']!.run(id);
      for (const m of settlement.then?.messages ?? []) this.#insertMessageRow(m, now);
      for (const e of settlement.then?.events ?? []) this.#insert(e);
      return true;
    });
  }

  nextReadyAt(): Promise<number | undefined> {
    const row = this.#statements['next']!.get() as { at: number | null };
    return Promise.resolve(row.at ?? undefined);
  }

  stats(): Promise<Map<string, PartitionStats>> {
    const rows = this.#statements['stats']!.all() as { name: string; depth: number; oldest: number }[];
    return Promise.resolve(new Map(rows.map((r) => [r.name, { depth: r.depth, oldestAcceptedAt: r.oldest }])));
  }

  // ---------------------------------------------------------------- MessageQueues

  #insertMessageRow(m: NewMessage, now: number): void {
    this.#insertMessage.run(randomUUID(), m.queue, m.body, JSON.stringify(m.attributes), m.sourceFunction, m.sourceQualifier ?? null, m.redrivePayload, now, now);
  }

  send(messages: readonly NewMessage[], now: number): Promise<void> {
    this.#durably(() => {
      for (const m of messages) this.#insertMessageRow(m, now);
    });
    return Promise.resolve();
  }

  receive(queue: string, max: number, now: number, visibilityMs: number): Promise<Message[]> {
    const run = this.#db.transaction((): Message[] => {
      const rows = this.#statements['receive']!.all(queue, now, max) as MessageRow[];
      if (visibilityMs > 0) for (const r of rows) this.#statements['hide']!.run(now + visibilityMs, r.message_id);
      return rows.map((r) => ({ ...toMessage(r), receiveCount: r.receive_count + (visibilityMs > 0 ? 1 : 0) }));
    });
    return Promise.resolve(run.immediate());
  }

  delete(queue: string, messageId: string): Promise<boolean> {
    return Promise.resolve(this.#statements['deleteMessage']!.run(queue, messageId).changes === 1);
  }

  redrive(queue: string, now: number, newId: () => string): Promise<number> {
    return Promise.resolve(this.#durably((): number => {
      const rows = this.#statements['queueMessages']!.all(queue) as MessageRow[];
      for (const r of rows) {
        this.#insert({
          id: newId(),
          functionName: r.source_function,
          qualifier: r.source_qualifier ?? undefined,
          payload: Buffer.from(r.redrive_payload),
          clientContext: undefined,
          acceptedAt: now,
        });
        this.#statements['deleteMessage']!.run(queue, r.message_id);
      }
      return rows.length;
    }));
  }

  list(): Promise<{ name: string; messages: number }[]> {
    return Promise.resolve(this.#statements['listQueues']!.all() as { name: string; messages: number }[]);
  }

  /** Writes what is pending, then closes the file. */
  close(): Promise<void> {
    this.#flush();
    this.#closed = true;
    this.#db.close();
    return Promise.resolve();
  }
}
