import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import Database from 'better-sqlite3';
import { METADATA_SCHEMA_VERSION, SqliteMetadataStore } from './sqlite-metadata.js';
import type { FunctionRecord, MetadataStore } from './types.js';

/**
 * Contract suite for MetadataStore. Every implementation is listed here and
 * must pass the same tests; `reopen` gives a second store over the same
 * durable state (to check that records survive a restart).
 */
interface Implementation {
  readonly name: string;
  open(): Promise<{ store: MetadataStore; reopen(): Promise<MetadataStore>; cleanup(): Promise<void> }>;
}

const implementations: Implementation[] = [
  {
    name: 'SqliteMetadataStore',
    async open() {
      const dir = mkdtempSync(join(tmpdir(), 'kindling-meta-'));
      return {
        store: new SqliteMetadataStore(dir),
        reopen: async () => new SqliteMetadataStore(dir),
        cleanup: async () => rmSync(dir, { recursive: true, force: true }),
      };
    },
  },
];

function record(name: string, version: string, extra: Partial<FunctionRecord> = {}): FunctionRecord {
  return {
    name,
    version,
    config: {
      runtime: 'nodejs20.x',
      handler: 'index.handler',
      role: 'arn:aws:iam::000000000000:role/r',
      description: '',
      timeout: 3,
      memorySize: 128,
      ephemeralStorageSize: 512,
      architectures: ['x86_64'],
      environment: { A: '1' },
      codeSha256Hex: 'a'.repeat(64),
      codeSize: 10,
    },
    deployed: undefined,
    state: 'Pending',
    stateReason: 'The function is being created.',
    stateReasonCode: 'Creating',
    lastUpdateStatus: undefined,
    lastUpdateStatusReason: undefined,
    lastUpdateStatusReasonCode: undefined,
    revisionId: `rev-${name}-${version}`,
    lastModified: 1_700_000_000_000,
    lastPublishedVersion: 0,
    tags: undefined,
    ...extra,
  };
}

/** Fields whose value is undefined may come back absent (JSON documents): compare without them. */
function withoutUndefined(r: FunctionRecord | undefined): unknown {
  return r === undefined ? undefined : JSON.parse(JSON.stringify(r));
}

for (const impl of implementations) {
  describe(`MetadataStore contract: ${impl.name}`, () => {
    it('stores, replaces and reads records by (name, version)', async (t) => {
      const { store, cleanup } = await impl.open();
      t.after(async () => {
        await store.close();
        await cleanup();
      });
      assert.equal(await store.getFunction('f', '$LATEST'), undefined);
      await store.putFunction(record('f', '$LATEST'));
      await store.putFunction(record('f', '1', { state: 'Active' }));
      assert.deepEqual(withoutUndefined(await store.getFunction('f', '$LATEST')), withoutUndefined(record('f', '$LATEST')));
      assert.equal((await store.getFunction('f', '1'))?.state, 'Active');
      await store.putFunction(record('f', '$LATEST', { state: 'Failed', revisionId: 'r2' }));
      const got = await store.getFunction('f', '$LATEST');
      assert.equal(got?.state, 'Failed');
      assert.equal(got?.revisionId, 'r2');
      assert.equal(await store.getFunction('g', '$LATEST'), undefined);
    });

    it('keeps optional fields that are undefined absent after a round trip', async (t) => {
      const { store, cleanup } = await impl.open();
      t.after(async () => {
        await store.close();
        await cleanup();
      });
      await store.putFunction(record('f', '$LATEST', { tags: { k: 'v' } }));
      const got = await store.getFunction('f', '$LATEST');
      assert.deepEqual(got?.tags, { k: 'v' });
      assert.equal(got?.stateReason, 'The function is being created.');
      assert.equal(got?.lastUpdateStatus, undefined);
    });

    it('lists by name, then $LATEST before versions in numeric order, paging with after/limit', async (t) => {
      const { store, cleanup } = await impl.open();
      t.after(async () => {
        await store.close();
        await cleanup();
      });
      await store.putFunctions([
        record('b', '$LATEST'),
        record('a', '10'),
        record('a', '$LATEST'),
        record('a', '2'),
        record('c', '$LATEST'),
      ]);
      const all = await store.listFunctions({ after: undefined, limit: 100, latestOnly: false });
      assert.deepEqual(
        all.map((r) => `${r.name}:${r.version}`),
        ['a:$LATEST', 'a:2', 'a:10', 'b:$LATEST', 'c:$LATEST'],
      );
      const latest = await store.listFunctions({ after: undefined, limit: 100, latestOnly: true });
      assert.deepEqual(latest.map((r) => r.name), ['a', 'b', 'c']);

      const page1 = await store.listFunctions({ after: undefined, limit: 2, latestOnly: false });
      assert.deepEqual(page1.map((r) => `${r.name}:${r.version}`), ['a:$LATEST', 'a:2']);
      const page2 = await store.listFunctions({ after: { name: 'a', version: '2' }, limit: 2, latestOnly: false });
      assert.deepEqual(page2.map((r) => `${r.name}:${r.version}`), ['a:10', 'b:$LATEST']);
      const page3 = await store.listFunctions({ after: { name: 'b', version: '$LATEST' }, limit: 2, latestOnly: true });
      assert.deepEqual(page3.map((r) => r.name), ['c']);
      const end = await store.listFunctions({ after: { name: 'c', version: '$LATEST' }, limit: 2, latestOnly: false });
      assert.deepEqual(end, []);
    });

    it('deletes one version or every version of a function', async (t) => {
      const { store, cleanup } = await impl.open();
      t.after(async () => {
        await store.close();
        await cleanup();
      });
      await store.putFunctions([record('f', '$LATEST'), record('f', '1'), record('f', '2'), record('g', '$LATEST')]);
      await store.deleteFunction('f', '1');
      assert.equal(await store.getFunction('f', '1'), undefined);
      assert.ok(await store.getFunction('f', '2'));
      await store.deleteFunction('f', undefined);
      assert.deepEqual(
        (await store.listFunctions({ after: undefined, limit: 10, latestOnly: false })).map((r) => r.name),
        ['g'],
      );
    });

    it('writes a batch atomically: a failing batch leaves nothing behind', async (t) => {
      const { store, cleanup } = await impl.open();
      t.after(async () => {
        await store.close();
        await cleanup();
      });
      await assert.rejects(store.putFunctions([record('f', '$LATEST'), record('f', 'not-a-version')]));
      assert.equal(await store.getFunction('f', '$LATEST'), undefined);
    });

    it('keeps reserved concurrency per function: put replaces, delete removes', async (t) => {
      const { store, cleanup } = await impl.open();
      t.after(async () => {
        await store.close();
        await cleanup();
      });
      assert.deepEqual(await store.listReservedConcurrency(), new Map());
      await store.putReservedConcurrency('f', 5);
      await store.putReservedConcurrency('g', 0);
      await store.putReservedConcurrency('f', 7);
      assert.deepEqual(await store.listReservedConcurrency(), new Map([['f', 7], ['g', 0]]));
      await store.deleteReservedConcurrency('g');
      await store.deleteReservedConcurrency('never-set');
      assert.deepEqual(await store.listReservedConcurrency(), new Map([['f', 7]]));
      await assert.rejects(store.putReservedConcurrency('f', -1));
      assert.deepEqual(await store.listReservedConcurrency(), new Map([['f', 7]]));
    });

    it('drops the reservation with the whole function, not with one version', async (t) => {
      const { store, cleanup } = await impl.open();
      t.after(async () => {
        await store.close();
        await cleanup();
      });
      await store.putFunctions([record('f', '$LATEST'), record('f', '1'), record('g', '$LATEST')]);
      await store.putReservedConcurrency('f', 3);
      await store.putReservedConcurrency('g', 4);
      await store.deleteFunction('f', '1');
      assert.deepEqual(await store.listReservedConcurrency(), new Map([['f', 3], ['g', 4]]));
      await store.deleteFunction('f', undefined);
      assert.deepEqual(await store.listReservedConcurrency(), new Map([['g', 4]]));
    });

    it('keeps records across a restart', async (t) => {
      const { store, reopen, cleanup } = await impl.open();
      await store.putFunctions([record('f', '$LATEST'), record('f', '1')]);
      await store.close();
      const again = await reopen();
      t.after(async () => {
        await again.close();
        await cleanup();
      });
      assert.deepEqual(withoutUndefined(await again.getFunction('f', '1')), withoutUndefined(record('f', '1')));
    });

    it('keeps reserved concurrency across a restart', async (t) => {
      const { store, reopen, cleanup } = await impl.open();
      await store.putFunction(record('f', '$LATEST'));
      await store.putReservedConcurrency('f', 12);
      await store.close();
      const again = await reopen();
      t.after(async () => {
        await again.close();
        await cleanup();
      });
      assert.deepEqual(await again.listReservedConcurrency(), new Map([['f', 12]]));
    });
  });
}

describe('SqliteMetadataStore: schema migrations', () => {
  it('opens a data directory written before schema versions existed, keeping its records', async (t) => {
    const dir = mkdtempSync(join(tmpdir(), 'kindling-meta-old-'));
    t.after(() => rmSync(dir, { recursive: true, force: true }));
    // The database exactly as the first Kindling releases created it: no user_version, no concurrency table.
    const old = new Database(join(dir, 'kindling.db'));
    old.pragma('journal_mode = WAL');
    old.exec(`
      CREATE TABLE IF NOT EXISTS functions (
        name          TEXT    NOT NULL,
        version       TEXT    NOT NULL,
        version_order INTEGER NOT NULL,
        record        TEXT    NOT NULL,
        PRIMARY KEY (name, version)
      );
      CREATE UNIQUE INDEX IF NOT EXISTS functions_list_order ON functions (name, version_order);
    `);
    old.prepare('INSERT INTO functions (name, version, version_order, record) VALUES (?, ?, ?, ?)').run('f', '$LATEST', 0, JSON.stringify(record('f', '$LATEST')));
    assert.equal(old.pragma('user_version', { simple: true }), 0);
    old.close();

    const store = new SqliteMetadataStore(dir);
    t.after(() => store.close());
    assert.deepEqual(withoutUndefined(await store.getFunction('f', '$LATEST')), withoutUndefined(record('f', '$LATEST')));
    assert.deepEqual(await store.listReservedConcurrency(), new Map());
    await store.putReservedConcurrency('f', 2);
    assert.deepEqual(await store.listReservedConcurrency(), new Map([['f', 2]]));
    await store.close();

    const check = new Database(join(dir, 'kindling.db'), { readonly: true });
    assert.equal(check.pragma('user_version', { simple: true }), METADATA_SCHEMA_VERSION);
    check.close();
    // Opening an up-to-date directory again changes nothing.
    const again = new SqliteMetadataStore(dir);
    assert.deepEqual(await again.listReservedConcurrency(), new Map([['f', 2]]));
    await again.close();
  });

  it('refuses a data directory written by a newer Kindling instead of misreading it', (t) => {
    const dir = mkdtempSync(join(tmpdir(), 'kindling-meta-new-'));
    t.after(() => rmSync(dir, { recursive: true, force: true }));
    const newer = new Database(join(dir, 'kindling.db'));
    newer.pragma(`user_version = ${METADATA_SCHEMA_VERSION + 1}`);
    newer.close();
    assert.throws(() => new SqliteMetadataStore(dir), /written by a newer Kindling/);
  });
});
