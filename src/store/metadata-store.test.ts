import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import Database from 'better-sqlite3';
import { METADATA_SCHEMA_VERSION, SqliteMetadataStore } from './sqlite-metadata.js';
import type { AliasRecord, EventInvokeConfigRecord, FunctionRecord, MetadataStore } from './types.js';

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

function invokeConfig(name: string, qualifier: string, extra: Partial<EventInvokeConfigRecord> = {}): EventInvokeConfigRecord {
  return {
    functionName: name,
    qualifier,
    maximumRetryAttempts: undefined,
    maximumEventAgeInSeconds: undefined,
    onSuccess: undefined,
    onFailure: undefined,
    lastModified: 1_700_000_000_123,
    ...extra,
  };
}

function alias(functionName: string, name: string, extra: Partial<AliasRecord> = {}): AliasRecord {
  return { functionName, name, functionVersion: '1', description: '', routing: undefined, revisionId: `rev-${name}`, ...extra };
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

    it('keeps EventInvokeConfigs per (function, qualifier): put replaces, unset members stay unset, delete removes', async (t) => {
      const { store, cleanup } = await impl.open();
      t.after(async () => {
        await store.close();
        await cleanup();
      });
      assert.deepEqual(await store.listEventInvokeConfigs(), []);
      const full = invokeConfig('f', '$LATEST', {
        maximumRetryAttempts: 0,
        maximumEventAgeInSeconds: 60,
        onSuccess: 'arn:aws:sqs:us-east-1:000000000000:ok',
        onFailure: 'arn:aws:lambda:us-east-1:000000000000:function:g:1',
      });
      await store.putEventInvokeConfig(full);
      await store.putEventInvokeConfig(invokeConfig('f', '1', { maximumEventAgeInSeconds: 21600 }));
      await store.putEventInvokeConfig(invokeConfig('e', '$LATEST', { maximumRetryAttempts: 2 }));
      assert.deepEqual(await store.listEventInvokeConfigs(), [
        invokeConfig('e', '$LATEST', { maximumRetryAttempts: 2 }),
        full,
        invokeConfig('f', '1', { maximumEventAgeInSeconds: 21600 }),
      ]);
      // Put replaces every member: the ones not given become unset again.
      await store.putEventInvokeConfig(invokeConfig('f', '$LATEST', { maximumRetryAttempts: 1, lastModified: 5 }));
      assert.deepEqual((await store.listEventInvokeConfigs()).find((c) => c.functionName === 'f' && c.qualifier === '$LATEST'),
        invokeConfig('f', '$LATEST', { maximumRetryAttempts: 1, lastModified: 5 }));
      await store.deleteEventInvokeConfig('f', '$LATEST');
      await store.deleteEventInvokeConfig('f', 'never-set');
      assert.deepEqual((await store.listEventInvokeConfigs()).map((c) => `${c.functionName}:${c.qualifier}`), ['e:$LATEST', 'f:1']);
    });

    it('drops a version\'s EventInvokeConfig with the version, and every one of them with the function', async (t) => {
      const { store, cleanup } = await impl.open();
      t.after(async () => {
        await store.close();
        await cleanup();
      });
      await store.putFunctions([record('f', '$LATEST'), record('f', '1'), record('f', '2'), record('g', '$LATEST')]);
      for (const q of ['$LATEST', '1', '2']) await store.putEventInvokeConfig(invokeConfig('f', q, { maximumRetryAttempts: 1 }));
      await store.putEventInvokeConfig(invokeConfig('g', '$LATEST', { maximumRetryAttempts: 0 }));
      await store.deleteFunction('f', '1');
      assert.deepEqual((await store.listEventInvokeConfigs()).map((c) => `${c.functionName}:${c.qualifier}`), ['f:$LATEST', 'f:2', 'g:$LATEST']);
      await store.deleteFunction('f', undefined);
      assert.deepEqual((await store.listEventInvokeConfigs()).map((c) => `${c.functionName}:${c.qualifier}`), ['g:$LATEST']);
    });

    it('keeps EventInvokeConfigs across a restart', async (t) => {
      const { store, reopen, cleanup } = await impl.open();
      const config = invokeConfig('f', '$LATEST', { maximumEventAgeInSeconds: 120, onFailure: 'arn:aws:sqs:us-east-1:000000000000:dlq' });
      await store.putFunction(record('f', '$LATEST'));
      await store.putEventInvokeConfig(config);
      await store.close();
      const again = await reopen();
      t.after(async () => {
        await again.close();
        await cleanup();
      });
      assert.deepEqual(await again.listEventInvokeConfigs(), [config]);
    });

    it('keeps aliases per (function, name): put replaces, routing round-trips, delete removes the alias and its EventInvokeConfig', async (t) => {
      const { store, cleanup } = await impl.open();
      t.after(async () => {
        await store.close();
        await cleanup();
      });
      assert.deepEqual(await store.listAliases(), []);
      await store.putFunctions([record('f', '$LATEST'), record('f', '1'), record('f', '2'), record('e', '$LATEST')]);
      await store.putAlias(alias('f', 'live', { routing: { version: '2', weight: 0.25 }, description: 'prod' }));
      await store.putAlias(alias('f', 'beta', { functionVersion: '$LATEST' }));
      await store.putAlias(alias('e', 'z'));
      assert.deepEqual(await store.listAliases(), [
        alias('e', 'z'),
        alias('f', 'beta', { functionVersion: '$LATEST' }),
        alias('f', 'live', { routing: { version: '2', weight: 0.25 }, description: 'prod' }),
      ]);
      await store.putAlias(alias('f', 'live', { functionVersion: '2', revisionId: 'r2' }));
      assert.deepEqual((await store.listAliases()).find((a) => a.name === 'live'), alias('f', 'live', { functionVersion: '2', revisionId: 'r2' }));
      await store.putEventInvokeConfig(invokeConfig('f', 'live', { maximumRetryAttempts: 0 }));
      await store.putEventInvokeConfig(invokeConfig('f', 'beta', { maximumRetryAttempts: 0 }));
      await store.deleteAlias('f', 'live');
      await store.deleteAlias('f', 'never-made');
      assert.deepEqual((await store.listAliases()).map((a) => `${a.functionName}:${a.name}`), ['e:z', 'f:beta']);
      assert.deepEqual((await store.listEventInvokeConfigs()).map((c) => `${c.functionName}:${c.qualifier}`), ['f:beta']);
    });

    it('drops every alias of a function with the function, not with one version', async (t) => {
      const { store, cleanup } = await impl.open();
      t.after(async () => {
        await store.close();
        await cleanup();
      });
      await store.putFunctions([record('f', '$LATEST'), record('f', '1'), record('g', '$LATEST')]);
      await store.putAlias(alias('f', 'live'));
      await store.putAlias(alias('g', 'live', { functionVersion: '$LATEST' }));
      await store.deleteFunction('f', '1');
      assert.equal((await store.listAliases()).length, 2);
      await store.deleteFunction('f', undefined);
      assert.deepEqual((await store.listAliases()).map((a) => `${a.functionName}:${a.name}`), ['g:live']);
    });

    it('keeps aliases across a restart', async (t) => {
      const { store, reopen, cleanup } = await impl.open();
      const a = alias('f', 'live', { routing: { version: '3', weight: 0.5 } });
      await store.putFunction(record('f', '$LATEST'));
      await store.putAlias(a);
      await store.close();
      const again = await reopen();
      t.after(async () => {
        await again.close();
        await cleanup();
      });
      assert.deepEqual(await again.listAliases(), [a]);
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

  it('migrates a data directory of schema 2 (functions and reservations, no EventInvokeConfigs), keeping its data', async (t) => {
    const dir = mkdtempSync(join(tmpdir(), 'kindling-meta-v2-'));
    t.after(() => rmSync(dir, { recursive: true, force: true }));
    // Schema 2 exactly as the previous Kindling release left it.
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
      CREATE TABLE function_concurrency (
        name     TEXT    NOT NULL PRIMARY KEY,
        reserved INTEGER NOT NULL CHECK (reserved >= 0)
      );
    `);
    old.prepare('INSERT INTO functions (name, version, version_order, record) VALUES (?, ?, ?, ?)').run('f', '$LATEST', 0, JSON.stringify(record('f', '$LATEST')));
    old.prepare('INSERT INTO function_concurrency (name, reserved) VALUES (?, ?)').run('f', 3);
    old.pragma('user_version = 2');
    old.close();

    const store = new SqliteMetadataStore(dir);
    assert.deepEqual(withoutUndefined(await store.getFunction('f', '$LATEST')), withoutUndefined(record('f', '$LATEST')));
    assert.deepEqual(await store.listReservedConcurrency(), new Map([['f', 3]]));
    assert.deepEqual(await store.listEventInvokeConfigs(), []);
    await store.putEventInvokeConfig(invokeConfig('f', '$LATEST', { maximumRetryAttempts: 0 }));
    await store.close();

    const check = new Database(join(dir, 'kindling.db'), { readonly: true });
    assert.equal(check.pragma('user_version', { simple: true }), METADATA_SCHEMA_VERSION);
    check.close();
    const again = new SqliteMetadataStore(dir);
    t.after(() => again.close());
    assert.deepEqual(await again.listEventInvokeConfigs(), [invokeConfig('f', '$LATEST', { maximumRetryAttempts: 0 })]);
  });

  it('refuses EventInvokeConfig values outside the API model\'s ranges at the storage level too', async (t) => {
    const dir = mkdtempSync(join(tmpdir(), 'kindling-meta-range-'));
    const store = new SqliteMetadataStore(dir);
    t.after(async () => {
      await store.close();
      rmSync(dir, { recursive: true, force: true });
    });
    await assert.rejects(store.putEventInvokeConfig(invokeConfig('f', '$LATEST', { maximumRetryAttempts: 3 })), /CHECK constraint/);
    await assert.rejects(store.putEventInvokeConfig(invokeConfig('f', '$LATEST', { maximumEventAgeInSeconds: 59 })), /CHECK constraint/);
    assert.deepEqual(await store.listEventInvokeConfigs(), []);
  });

  it('refuses alias routing weights outside 0..1 at the storage level too', async (t) => {
    const dir = mkdtempSync(join(tmpdir(), 'kindling-meta-alias-'));
    const store = new SqliteMetadataStore(dir);
    t.after(async () => {
      await store.close();
      rmSync(dir, { recursive: true, force: true });
    });
    await assert.rejects(store.putAlias(alias('f', 'a', { routing: { version: '2', weight: 1.5 } })), /CHECK constraint/);
    assert.deepEqual(await store.listAliases(), []);
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
