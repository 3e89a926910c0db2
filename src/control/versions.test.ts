import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { ManualClock } from '../shared/clock.js';
import { FileBlobStore } from '../store/file-blobs.js';
import { SqliteMetadataStore } from '../store/sqlite-metadata.js';
import { FunctionRegistry } from './registry.js';
import { handlerZip, ManualPreparer, rejectsWith } from './testing.js';
import { canonicalJson } from './versions.js';

const partition = { region: 'us-east-1', accountId: '000000000000' };
const ROLE = 'arn:aws:iam::000000000000:role/lambda-role';
const ARN = (name: string, q?: string) => `arn:aws:lambda:us-east-1:000000000000:function:${name}${q ? `:${q}` : ''}`;

interface Setup {
  registry: FunctionRegistry;
  preparer: ManualPreparer;
  reopen(): Promise<FunctionRegistry>;
}

async function setup(t: { after(fn: () => unknown): void }): Promise<Setup> {
  const dir = mkdtempSync(join(tmpdir(), 'kindling-versions-'));
  const stores: SqliteMetadataStore[] = [];
  const registries: FunctionRegistry[] = [];
  const preparer = new ManualPreparer();
  const open = async (auto = false) => {
    const metadata = new SqliteMetadataStore(dir);
    stores.push(metadata);
    const registry = await FunctionRegistry.open({
      metadata,
      blobs: new FileBlobStore(dir),
      // After a restart the registry unpacks deployed code again before it answers: prepared at once.
      preparer: auto ? { prepare: async (hex: string) => `/tmp/kindling-test-task-root/${hex}` } : preparer,
      clock: new ManualClock(Date.UTC(2026, 10, 23, 7, 30)),
      partition,
      hostArchitecture: 'x86_64',
      logger: { error: () => {} },
    });
    registries.push(registry);
    return registry;
  };
  const registry = await open();
  t.after(async () => {
    for (const r of registries) r.close();
    for (const m of stores) await m.close();
    rmSync(dir, { recursive: true, force: true });
  });
  return {
    registry,
    preparer,
    reopen: async () => {
      registries.at(-1)!.close();
      await stores.at(-1)!.close();
      return open(true);
    },
  };
}

async function createActive(s: Setup, name: string, extra: Record<string, unknown> = {}): Promise<void> {
  await s.registry.create({
    FunctionName: name,
    Role: ROLE,
    Runtime: 'nodejs20.x',
    Handler: 'index.handler',
    Code: { ZipFile: (await handlerZip()).toString('base64') },
    ...extra,
  });
  s.preparer.complete();
  await s.registry.whenIdle();
}


describe('PublishVersion', () => {
  it('publishes $LATEST as version 1, Active at once, with a qualified ARN, and changes $LATEST\'s RevisionId', async (t) => {
    const s = await setup(t);
    await createActive(s, 'fn', { Description: 'from latest' });
    const before = await s.registry.getConfiguration('fn', undefined);
    const v1 = await s.registry.publishVersion('fn', {});
    assert.equal(v1['Version'], '1');
    assert.equal(v1['FunctionArn'], ARN('fn', '1'));
    assert.equal(v1['State'], 'Active');
    assert.equal(v1['LastUpdateStatus'], 'Successful');
    assert.equal(v1['Description'], 'from latest');
    assert.equal(v1['CodeSha256'], before['CodeSha256']);
    assert.ok(v1['RuntimeVersionConfig']);
    const after = await s.registry.getConfiguration('fn', undefined);
    assert.notEqual(after['RevisionId'], before['RevisionId']);
    assert.notEqual(v1['RevisionId'], after['RevisionId']);
    // The version runs at once.
    assert.equal(s.registry.resolveForInvoke('fn', '1').executedVersion, '1');
    assert.equal(s.registry.resolveForInvoke('fn:1', undefined).invokedFunctionArn, ARN('fn', '1'));
  });

  it('answers the last version when $LATEST did not change, and a new number after a change', async (t) => {
    const s = await setup(t);
    await createActive(s, 'fn');
    const v1 = await s.registry.publishVersion('fn', { Description: 'first' });
    // Publishing again without a change: version 1 again, same RevisionId, whatever Description is given.
    const again = await s.registry.publishVersion('fn', { Description: 'other' });
    assert.equal(again['Version'], '1');
    assert.equal(again['RevisionId'], v1['RevisionId']);
    assert.equal(again['Description'], 'first');
    await s.registry.updateConfiguration('fn', { Timeout: 10 });
    s.preparer.complete();
    await s.registry.whenIdle();
    const v2 = await s.registry.publishVersion('fn', {});
    assert.equal(v2['Version'], '2');
    assert.equal(v2['Timeout'], 10);
    assert.equal((await s.registry.getConfiguration('fn', '1'))['Timeout'], 3);
  });

  it('never reuses a number: after deleting the highest version the next one is higher', async (t) => {
    const s = await setup(t);
    await createActive(s, 'fn', { Publish: true });
    await s.registry.updateConfiguration('fn', { Timeout: 5 });
    s.preparer.complete();
    await s.registry.whenIdle();
    assert.equal((await s.registry.publishVersion('fn', {}))['Version'], '2');
    await s.registry.delete('fn', '2');
    // $LATEST equals the deleted version 2, not version 1: a new version, numbered 3.
    assert.equal((await s.registry.publishVersion('fn', {}))['Version'], '3');
    // And across a restart.
    const reopened = await s.reopen();
    await reopened.updateConfiguration('fn', { Timeout: 6 });
    await reopened.whenIdle();
    assert.equal((await reopened.publishVersion('fn', {}))['Version'], '4');
    assert.equal((await reopened.publishVersion('fn', {}))['Version'], '4');
  });

  it('refuses a stale RevisionId (412), a CodeSha256 that is not $LATEST\'s, and a function being created or updated', async (t) => {
    const s = await setup(t);
    await rejectsWith(s.registry.publishVersion('nope', {}), 'ResourceNotFoundException', `Function not found: ${ARN('nope')}`);
    await s.registry.create({ FunctionName: 'fn', Role: ROLE, Runtime: 'nodejs20.x', Handler: 'index.handler', Code: { ZipFile: (await handlerZip()).toString('base64') } });
    await rejectsWith(
      s.registry.publishVersion('fn', {}),
      'ResourceConflictException',
      'The operation cannot be performed at this time. The function is currently in the following state: Pending',
    );
    s.preparer.complete();
    await s.registry.whenIdle();
    await rejectsWith(
      s.registry.publishVersion('fn', { RevisionId: 'stale' }),
      'PreconditionFailedException',
      'The Revision Id provided does not match the latest Revision Id. Call the GetFunction/GetAlias API to retrieve the latest Revision Id',
    );
    const sha = (await s.registry.getConfiguration('fn', undefined))['CodeSha256'] as string;
    await rejectsWith(
      s.registry.publishVersion('fn', { CodeSha256: 'somenonexistentsha256' }),
      'InvalidParameterValueException',
      `CodeSHA256 (somenonexistentsha256) is different from current CodeSHA256 in $LATEST (${sha}). Please try again with the CodeSHA256 in $LATEST.`,
    );
    await rejectsWith(s.registry.publishVersion('fn', { Description: 'x'.repeat(257) }), 'ValidationException', /at 'description' failed to satisfy constraint: Member must have length less than or equal to 256/);
    const rev = (await s.registry.getConfiguration('fn', undefined))['RevisionId'];
    assert.equal((await s.registry.publishVersion('fn', { RevisionId: rev, CodeSha256: sha }))['Version'], '1');

    await s.registry.updateCode('fn', { ZipFile: (await handlerZip('export const handler = async () => 2;')).toString('base64') });
    await rejectsWith(
      s.registry.publishVersion('fn', {}),
      'ResourceConflictException',
      `The operation cannot be performed at this time. An update is in progress for resource: ${ARN('fn')}`,
    );
    s.preparer.complete();
    await s.registry.whenIdle();
    assert.equal((await s.registry.publishVersion('fn', {}))['Version'], '2');
  });
});

describe('PublishVersion after a failed update', () => {
  it('publishes the deployment that still runs, not the code that failed to unpack', async (t) => {
    const s = await setup(t);
    await createActive(s, 'fn');
    const running = (await s.registry.getConfiguration('fn', undefined))['CodeSha256'];
    await s.registry.updateCode('fn', { ZipFile: (await handlerZip('export const handler = async () => "broken";')).toString('base64') });
    s.preparer.fail(new Error('disk full'));
    await s.registry.whenIdle();
    const latest = await s.registry.getConfiguration('fn', undefined);
    assert.equal(latest['LastUpdateStatus'], 'Failed');
    assert.notEqual(latest['CodeSha256'], running);
    const v1 = await s.registry.publishVersion('fn', {});
    assert.equal(v1['CodeSha256'], running);
    assert.equal(s.registry.resolveForInvoke('fn', '1').spec.codeSha256, running);
  });
});

describe('ListVersionsByFunction', () => {
  it('lists $LATEST first, then versions numerically, every ARN qualified, without State, paging with Marker', async (t) => {
    const s = await setup(t);
    await createActive(s, 'fn');
    for (let i = 1; i <= 11; i++) {
      await s.registry.updateConfiguration('fn', { Timeout: i + 1 });
      s.preparer.complete();
      await s.registry.whenIdle();
      await s.registry.publishVersion('fn', {});
    }
    const all = await s.registry.listVersions('fn', undefined, undefined);
    assert.deepEqual(all.Versions.map((v) => v['Version']), ['$LATEST', '1', '2', '3', '4', '5', '6', '7', '8', '9', '10', '11']);
    assert.equal(all.Versions[0]!['FunctionArn'], ARN('fn', '$LATEST'));
    assert.equal(all.Versions[10]!['FunctionArn'], ARN('fn', '10'));
    assert.equal(all.Versions[0]!['State'], undefined);
    assert.equal(all.Versions[0]!['RuntimeVersionConfig'], undefined);
    assert.equal(all.NextMarker, undefined);

    const seen: string[] = [];
    let marker: string | undefined;
    do {
      const page = await s.registry.listVersions(ARN('fn'), marker, '5');
      assert.ok(page.Versions.length <= 5);
      seen.push(...page.Versions.map((v) => v['Version'] as string));
      marker = page.NextMarker;
    } while (marker);
    assert.deepEqual(seen, all.Versions.map((v) => v['Version']));

    await rejectsWith(s.registry.listVersions('nope', undefined, undefined), 'ResourceNotFoundException', `Function not found: ${ARN('nope')}`);
    await rejectsWith(s.registry.listVersions('fn', undefined, '0'), 'ValidationException', /at 'maxItems' failed to satisfy constraint: Member must have value greater than or equal to 1/);
    await rejectsWith(s.registry.listVersions('fn', 'garbage', undefined), 'InvalidParameterValueException', 'Invalid marker: garbage');
  });
});

describe('canonicalJson', () => {
  it('ignores the order of members, not their values', () => {
    assert.equal(canonicalJson({ a: 1, b: { c: [1, { e: 2, d: 3 }] } }), canonicalJson({ b: { c: [1, { d: 3, e: 2 }] }, a: 1 }));
    assert.notEqual(canonicalJson({ a: 1, b: [1, 2] }), canonicalJson({ a: 1, b: [2, 1] }));
    assert.equal(canonicalJson({ a: 1, b: undefined }), canonicalJson({ a: 1 }));
  });
});
