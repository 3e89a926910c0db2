import Database from 'better-sqlite3';
import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import type { FunctionRecord, FunctionVersionName, ListFunctionsQuery, MetadataStore } from './types.js';
import { LATEST } from './types.js';

/**
 * Sort key of a version inside one function: $LATEST first, then published
 * versions numerically (Lambda lists "1", "2", ..., "10", not "1", "10", "2").
 */
function versionOrder(version: FunctionVersionName): number {
  if (version === LATEST) return 0;
  const n = Number(version);
  if (!Number.isSafeInteger(n) || n < 1) throw new Error(`invalid function version: ${version}`);
  return n;
}

interface Row {
  record: string;
}

/**
 * MetadataStore on SQLite (better-sqlite3), one file in the data directory.
 * WAL mode: readers never block the writer, and a crash loses at most the
 * transaction in flight. Records are JSON documents keyed by (name, version).
 */
export class SqliteMetadataStore implements MetadataStore {
  readonly #db: Database.Database;
  readonly #get: Database.Statement<[string, string], Row>;
  readonly #put: Database.Statement<[string, string, number, string]>;
  readonly #deleteOne: Database.Statement<[string, string]>;
  readonly #deleteAll: Database.Statement<[string]>;
  readonly #putMany: (records: readonly FunctionRecord[]) => void;

  /** Opens (creating if needed) `<dataDir>/kindling.db`; pass ':memory:' as file for a private in-memory DB. */
  constructor(dataDir: string, file = 'kindling.db') {
    let location = file;
    if (file !== ':memory:') {
      mkdirSync(dataDir, { recursive: true });
      location = join(dataDir, file);
    }
    this.#db = new Database(location);
    this.#db.pragma('journal_mode = WAL');
    // NORMAL is durable across application crashes in WAL mode; only an OS
    // crash / power loss can lose the last transactions.
    this.#db.pragma('synchronous = NORMAL');
    this.#db.pragma('busy_timeout = 5000');
    this.#db.exec(`
      CREATE TABLE IF NOT EXISTS functions (
        name          TEXT    NOT NULL,
        version       TEXT    NOT NULL,
        version_order INTEGER NOT NULL,
        record        TEXT    NOT NULL,
        PRIMARY KEY (name, version)
      );
      CREATE UNIQUE INDEX IF NOT EXISTS functions_list_order ON functions (name, version_order);
    `);
    this.#get = this.#db.prepare('SELECT record FROM functions WHERE name = ? AND version = ?');
    this.#put = this.#db.prepare(
      `INSERT INTO functions (name, version, version_order, record) VALUES (?, ?, ?, ?)
       ON CONFLICT (name, version) DO UPDATE SET record = excluded.record`,
    );
    this.#deleteOne = this.#db.prepare('DELETE FROM functions WHERE name = ? AND version = ?');
    this.#deleteAll = this.#db.prepare('DELETE FROM functions WHERE name = ?');
    this.#putMany = this.#db.transaction((records: readonly FunctionRecord[]) => {
      for (const r of records) this.#put.run(r.name, r.version, versionOrder(r.version), JSON.stringify(r));
    });
  }

  async getFunction(name: string, version: FunctionVersionName): Promise<FunctionRecord | undefined> {
    const row = this.#get.get(name, version);
    return row ? (JSON.parse(row.record) as FunctionRecord) : undefined;
  }

  async putFunction(record: FunctionRecord): Promise<void> {
    this.#put.run(record.name, record.version, versionOrder(record.version), JSON.stringify(record));
  }

  async putFunctions(records: readonly FunctionRecord[]): Promise<void> {
    this.#putMany(records);
  }

  async deleteFunction(name: string, version: FunctionVersionName | undefined): Promise<void> {
    if (version === undefined) this.#deleteAll.run(name);
    else this.#deleteOne.run(name, version);
  }

  async listFunctions(query: ListFunctionsQuery): Promise<FunctionRecord[]> {
    const where: string[] = [];
    const params: (string | number)[] = [];
    if (query.latestOnly) where.push('version_order = 0');
    if (query.after) {
      where.push('(name > ? OR (name = ? AND version_order > ?))');
      params.push(query.after.name, query.after.name, versionOrder(query.after.version));
    }
    const sql =
      `SELECT record FROM functions ${where.length ? `WHERE ${where.join(' AND ')}` : ''} ` +
      'ORDER BY name, version_order LIMIT ?';
    params.push(query.limit);
    const rows = this.#db.prepare<(string | number)[], Row>(sql).all(...params);
    return rows.map((r) => JSON.parse(r.record) as FunctionRecord);
  }

  async close(): Promise<void> {
    if (this.#db.open) this.#db.close();
  }
}
