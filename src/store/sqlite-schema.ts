import Database from 'better-sqlite3';
import { mkdirSync } from 'node:fs';
import { join } from 'node:path';

/**
 * Opens one of the embedded store's SQLite files, `<dataDir>/<file>` (created
 * if needed; ':memory:' for a private in-memory database), and brings its
 * schema up to date. WAL: readers never block the writer. synchronous NORMAL
 * is durable across application crashes in WAL mode (only an OS crash or
 * power loss can lose the last transactions); a store that acknowledges
 * writes switches to FULL around them itself (see sqlite-event-queue.ts).
 */
export function openSqlite(dataDir: string, file: string, what: string, steps: readonly string[]): Database.Database {
  let location = file;
  if (file !== ':memory:') {
    mkdirSync(dataDir, { recursive: true });
    location = join(dataDir, file);
  }
  const db = new Database(location);
  try {
    db.pragma('journal_mode = WAL');
    db.pragma('synchronous = NORMAL');
    db.pragma('busy_timeout = 5000');
    migrateSchema(db, location, what, steps);
  } catch (err) {
    db.close();
    throw err;
  }
  return db;
}

/**
 * Brings a SQLite database's schema up to date. `steps[i]` takes it from
 * `PRAGMA user_version` i to i + 1, each step in its own IMMEDIATE
 * transaction (the write lock is taken before user_version is read, so two
 * processes opening one file at once run each step once). Steps are only
 * ever appended, never edited: a released step may already have run on
 * someone's data directory. A file written by a newer Kindling is refused.
 */
export function migrateSchema(db: Database.Database, location: string, what: string, steps: readonly string[]): void {
  const version = (): number => db.pragma('user_version', { simple: true }) as number;
  const step = db.transaction(() => {
    const current = version();
    if (current >= steps.length) return false;
    db.exec(steps[current]!);
    db.pragma(`user_version = ${current + 1}`);
    return true;
  });
  const found = version();
  if (found > steps.length) {
    throw new Error(
      `${location} was written by a newer Kindling (${what} schema ${found}; this version reads up to ${steps.length}): upgrade Kindling, or use another --data-dir`,
    );
  }
  while (step.immediate()) {
    // one step per transaction
  }
}
