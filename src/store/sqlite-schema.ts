import type Database from 'better-sqlite3';

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
