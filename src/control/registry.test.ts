import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, existsSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { ManualClock } from '../shared/clock.js';
import { FileBlobStore } from '../store/file-blobs.js';
import { SqliteMetadataStore } from '../store/sqlite-metadata.js';
import { UnpackError, ZipCodePreparer } from './code.js';
import type { CodePreparer } from './code.js';
import { FunctionRegistry } from './registry.js';
import type { RegistryOptions } from './registry.js';
import { handlerZip, makeZip, ManualPreparer, rejectsWith } from './testing.js';

const partition = { region: 'us-east-1', accountId: '000000000000' };
const ROLE = 'arn:aws:iam::000000000000:role/lambda-role';
const ARN = (name: string, q?: string) => `arn:aws:lambda:us-east-1:000000000000:function:${name}${q ? `:${q}` : ''}`;

interface Setup {
  registry: FunctionRegistry;
  preparer: ManualPreparer;
  clock: ManualClock;
  changed: string[];
  dir: string;
}

async function setup(t: { after(fn: () => unknown): void }, options: Partial<RegistryOptions> = {}): Promise<Setup> {
  const dir = mkdtempSync(join(tmpdir(), 'kindling-registry-'));
  const metadata = new SqliteMetadataStore(dir);
  const preparer = new ManualPreparer();
  const clock = new ManualClock(Date.UTC(2026, 10, 23, 7, 30));
  const changed: string[] = [];
  const registry = await FunctionRegistry.open({
    metadata,
    blobs: new FileBlobStore(dir),
    preparer,
    clock,
    partition,
    hostArchitecture: 'x86_64',
    concurrentExecutions: 50,
    onFunctionChanged: (n) => changed.push(n),
    logger: { error: () => {} },
    ...options,
  });
  t.after(async () => {
    registry.close();
    await metadata.close();
    rmSync(dir, { recursive: true, force: true });
  });
  return { registry, preparer, clock, changed, dir };
}

async function createBody(name: string, extra: Record<string, unknown> = {}): Promise<Record<string, unknown>> {
  return {
    FunctionName: name,
    Role: ROLE,
    Runtime: 'nodejs20.x',
    Handler: 'index.handler',
    Code: { ZipFile: (await handlerZip()).toString('base64') },
    ...extra,
  };
}

/** Asserts that `p` rejects with a LambdaError of this code and exact message. */

async function settle(s: Setup): Promise<void> {
  // Let the completion (queued behind the function's lock) run.
  await s.registry.whenIdle();
}

describe('FunctionRegistry: create and states', () => {
  it('answers Pending with Lambda defaults, then goes Active when the code is prepared', async (t) => {
    const s = await setup(t);
    const created = await s.registry.create(await createBody('fn', { Environment: { Variables: { AA: '1' } } }));
    assert.equal(created['State'], 'Pending');
    assert.equal(created['StateReason'], 'The function is being created.');
    assert.equal(created['StateReasonCode'], 'Creating');
    assert.equal(created['LastUpdateStatus'], undefined);
    assert.equal(created['FunctionArn'], ARN('fn'));
    assert.equal(created['Version'], '$LATEST');
    assert.equal(created['Timeout'], 3);
    assert.equal(created['MemorySize'], 128);
    assert.equal(created['Description'], '');
    assert.equal(created['LastModified'], '2026-11-23T07:30:00.000+0000');
    assert.deepEqual(created['EphemeralStorage'], { Size: 512 });
    assert.deepEqual(created['Architectures'], ['x86_64']);
    assert.deepEqual(created['Environment'], { Variables: { AA: '1' } });
    assert.deepEqual(created['LoggingConfig'], { LogFormat: 'Text', LogGroup: '/aws/lambda/fn' });
    assert.equal(created['PackageType'], 'Zip');
    assert.match(String(created['CodeSha256']), /^[A-Za-z0-9+/]{43}=$/);
    await rejectsWith(() => s.registry.resolveForInvoke('fn', undefined), 'ResourceConflictException',
      'The operation cannot be performed at this time. The function is currently in the following state: Pending');

    s.preparer.complete();
    await settle(s);
    const active = await s.registry.getConfiguration('fn', undefined);
    assert.equal(active['State'], 'Active');
    assert.equal(active['LastUpdateStatus'], 'Successful');
    assert.equal(active['StateReason'], undefined);
    assert.notEqual(active['RevisionId'], created['RevisionId'], 'a state transition changes RevisionId');
    const { spec, executedVersion } = s.registry.resolveForInvoke('fn', undefined);
    assert.equal(executedVersion, '$LATEST');
    assert.equal(spec.functionArn, ARN('fn'));
    assert.deepEqual(spec.environment, { AA: '1' });
    assert.equal(spec.codeSha256, created['CodeSha256']);
  });

  it('refuses a second function of the same name', async (t) => {
    const s = await setup(t);
    await s.registry.create(await createBody('dup'));
    await rejectsWith(s.registry.create(await createBody('dup')), 'ResourceConflictException', 'Function already exist: dup');
  });

  it('goes Failed when the code cannot be prepared, and refuses invokes', async (t) => {
    const s = await setup(t);
    await s.registry.create(await createBody('bad'));
    s.preparer.fail(new UnpackError('Unzipped size must be smaller than 262144000 bytes'));
    await settle(s);
    const c = await s.registry.getConfiguration('bad', undefined);
    assert.equal(c['State'], 'Failed');
    assert.equal(c['StateReason'], 'Unzipped size must be smaller than 262144000 bytes');
    assert.equal(c['StateReasonCode'], 'InvalidZipFileException');
    assert.equal(c['LastUpdateStatus'], 'Failed');
    await rejectsWith(() => s.registry.resolveForInvoke('bad', undefined), 'ResourceConflictException',
      'The operation cannot be performed at this time. The function is currently in the following state: Failed');
  });

  it('publishes version 1 at create with Publish', async (t) => {
    const s = await setup(t);
    const created = await s.registry.create(await createBody('pub', { Publish: true }));
    assert.equal(created['Version'], '1');
    assert.equal(created['FunctionArn'], ARN('pub'));
    s.preparer.complete();
    await settle(s);
    assert.equal(s.registry.resolveForInvoke('pub', '1').executedVersion, '1');
    assert.equal(s.registry.resolveForInvoke(`${ARN('pub')}:1`, undefined).executedVersion, '1');
    assert.equal((await s.registry.getConfiguration('pub', '1'))['FunctionArn'], ARN('pub', '1'));
    await rejectsWith(() => s.registry.resolveForInvoke('pub', '2'), 'ResourceNotFoundException', `Function not found: ${ARN('pub', '2')}`);
    await rejectsWith(() => s.registry.resolveForInvoke('pub:1', '$LATEST'), 'InvalidParameterValueException',
      'The derived qualifier from the function name does not match the specified qualifier.');
  });
});

describe('FunctionRegistry: validation in Lambda words', () => {
  const cases: [string, Record<string, unknown>, string, string | RegExp][] = [
    ['timeout too high', { Timeout: 1200 }, 'ValidationException',
      "1 validation error detected: Value '1200' at 'timeout' failed to satisfy constraint: Member must have value less than or equal to 900"],
    ['two violations', { Timeout: 0, MemorySize: 20000 }, 'ValidationException',
      "2 validation errors detected: Value '0' at 'timeout' failed to satisfy constraint: Member must have value greater than or equal to 1; Value '20000' at 'memorySize' failed to satisfy constraint: Member must have value less than or equal to 10240"],
    ['bad role', { Role: 'r1' }, 'ValidationException',
      "1 validation error detected: Value 'r1' at 'role' failed to satisfy constraint: Member must satisfy regular expression pattern: arn:(aws[a-zA-Z-]*)?:iam::\\d{12}:role/?[a-zA-Z_0-9+=,.@\\-_/]+"],
    ['missing role', { Role: undefined }, 'ValidationException',
      "1 validation error detected: Value null at 'role' failed to satisfy constraint: Member must not be null"],
    ['description too long', { Description: 'd'.repeat(257) }, 'ValidationException', /at 'description' failed to satisfy constraint: Member must have length less than or equal to 256$/],
    ['ephemeral storage too small', { EphemeralStorage: { Size: 100 } }, 'ValidationException',
      "1 validation error detected: Value '100' at 'ephemeralStorage.size' failed to satisfy constraint: Member must have value greater than or equal to 512"],
    ['two architectures', { Architectures: ['x86_64', 'arm64'] }, 'ValidationException',
      "1 validation error detected: Value '[x86_64, arm64]' at 'architectures' failed to satisfy constraint: Member must have length less than or equal to 1"],
    ['arm64 on an x86_64 host', { Architectures: ['arm64'] }, 'InvalidParameterValueException', /Architecture arm64 is not available on this Kindling host/],
    ['unknown runtime', { Runtime: 'nodejs99.x' }, 'InvalidParameterValueException',
      /^Value nodejs99\.x at 'runtime' failed to satisfy constraint: Member must satisfy enum value set: \[nodejs20\.x, python3\.14, .*\] or be a valid ARN$/],
    ['deprecated runtime', { Runtime: 'nodejs12.x' }, 'InvalidParameterValueException',
      'The runtime parameter of nodejs12.x is no longer supported for creating or updating AWS Lambda functions. We recommend you use a supported runtime while creating or updating functions.'],
    ['Lambda runtime Kindling does not run', { Runtime: 'python3.12' }, 'InvalidParameterValueException', /python3\.12 is not supported by Kindling/],
    ['missing handler', { Handler: undefined }, 'InvalidParameterValueException',
      'Runtime and Handler are mandatory parameters for functions created with deployment packages.'],
    ['reserved env keys', { Environment: { Variables: { AWS_REGION: 'x', OK: 'y', AWS_ACCESS_KEY_ID: 'z' } } }, 'InvalidParameterValueException',
      'Lambda was unable to configure your environment variables because the environment variables you have provided contains reserved keys that are currently not supported for modification. Reserved keys used in this request: AWS_REGION, AWS_ACCESS_KEY_ID'],
    ['env over 4 KB', { Environment: { Variables: { SMALL: 'ok', LARGE: 'x'.repeat(4100) } } }, 'InvalidParameterValueException',
      `Lambda was unable to configure your environment variables because the environment variables you have provided exceeded the 4KB limit. String measured: {"SMALL":"ok","LARGE":"${'x'.repeat(4100)}"}`],
    // A NUL can never reach a process's environment; it must never reach a sandbox's (NUL-separated) set-up either.
    ['a NUL byte in an environment value', { Environment: { Variables: { GOOD: 'x', EVIL: 'a\u0000--bind\u0000/\u0000/host' } } }, 'InvalidParameterValueException',
      'Lambda was unable to configure your environment variables because the values of these keys contain a NUL character: EVIL'],
    ['a NUL byte in the handler', { Handler: 'index.handler\u0000--bind' }, 'ValidationException',
      "1 validation error detected: Value 'index.handler\u0000--bind' at 'handler' failed to satisfy constraint: Member must satisfy regular expression pattern: [^\\s]+"],
    ['S3 code', { Code: { S3Bucket: 'b', S3Key: 'k' } }, 'InvalidParameterValueException', /only as Code\.ZipFile/],
    ['not a zip', { Code: { ZipFile: Buffer.from('nope').toString('base64') } }, 'InvalidParameterValueException',
      'Could not unzip uploaded file. Please check your file, then try to upload again.'],
    ['wrong JSON type', { Timeout: 'ten' }, 'SerializationException', 'STRING_VALUE can not be converted to an Integer'],
    ['name too long', { FunctionName: 'a'.repeat(65) }, 'InvalidParameterValueException',
      `1 validation error detected: Value '${'a'.repeat(65)}' at 'functionName' failed to satisfy constraint: Member must have length less than or equal to 64`],
  ];
  for (const [label, extra, code, message] of cases) {
    it(`refuses ${label}`, async (t) => {
      const s = await setup(t);
      const body = await createBody('v', extra);
      for (const [k, val] of Object.entries(extra)) if (val === undefined) delete body[k];
      await rejectsWith(s.registry.create(body), code, message);
    });
  }

  it('refuses a zip over 50 MB with RequestEntityTooLargeException', async (t) => {
    const s = await setup(t);
    const big = Buffer.alloc(52_428_801);
    await rejectsWith(s.registry.create(await createBody('big', { Code: { ZipFile: big.toString('base64') } })),
      'RequestEntityTooLargeException', 'Zipped size must be smaller than 52428800 bytes');
  });
});

describe('FunctionRegistry: updates', () => {
  async function active(t: { after(fn: () => unknown): void }, name = 'fn'): Promise<Setup> {
    const s = await setup(t);
    await s.registry.create(await createBody(name, { Environment: { Variables: { AA: '1', BB: '2' } }, Description: 'first' }));
    s.preparer.complete();
    await settle(s);
    return s;
  }

  it('refuses updates while Pending', async (t) => {
    const s = await setup(t);
    await s.registry.create(await createBody('p'));
    await rejectsWith(s.registry.updateConfiguration('p', { Timeout: 10 }), 'ResourceConflictException',
      'The operation cannot be performed at this time. The function is currently in the following state: Pending');
  });

  it('keeps serving the previous deployment while an update is InProgress, then switches', async (t) => {
    const s = await active(t);
    const before = s.registry.resolveForInvoke('fn', undefined).spec;
    const newZip = await handlerZip('export const handler = async () => 2;');
    const updated = await s.registry.updateCode('fn', { ZipFile: newZip.toString('base64') });
    assert.equal(updated['LastUpdateStatus'], 'InProgress');
    assert.equal(updated['LastUpdateStatusReason'], 'The function is being created.');
    assert.equal(updated['LastUpdateStatusReasonCode'], 'Creating');
    assert.equal(updated['State'], 'Active');
    assert.notEqual(updated['CodeSha256'], before.codeSha256);
    assert.equal(s.registry.resolveForInvoke('fn', undefined).spec, before, 'old spec while InProgress');

    await rejectsWith(s.registry.updateConfiguration('fn', { Timeout: 5 }), 'ResourceConflictException',
      `The operation cannot be performed at this time. An update is in progress for resource: ${ARN('fn')}`);

    s.preparer.complete();
    await settle(s);
    const after = s.registry.resolveForInvoke('fn', undefined).spec;
    assert.notEqual(after.key, before.key);
    assert.equal(after.codeSha256, updated['CodeSha256']);
    assert.deepEqual(s.changed, ['fn']);
    const got = await s.registry.getConfiguration('fn', undefined);
    assert.equal(got['LastUpdateStatus'], 'Successful');
    assert.equal(got['LastUpdateStatusReason'], undefined);
  });

  it('merges configuration updates; Environment replaces the whole map', async (t) => {
    const s = await active(t);
    const before = s.registry.resolveForInvoke('fn', undefined).spec;
    s.clock.advance(60_000);
    const res = await s.registry.updateConfiguration('fn', { Timeout: 30, Environment: { Variables: { CC: '3' } } });
    assert.equal(res['Timeout'], 30);
    assert.equal(res['Description'], 'first');
    assert.deepEqual(res['Environment'], { Variables: { CC: '3' } });
    assert.equal(res['LastModified'], '2026-11-23T07:31:00.000+0000');
    assert.equal(res['LastUpdateStatus'], 'InProgress');
    s.preparer.complete();
    await settle(s);
    const spec = s.registry.resolveForInvoke('fn', undefined).spec;
    assert.notEqual(spec.key, before.key, 'a configuration change is a new spec');
    assert.equal(spec.timeout, 30);
    assert.deepEqual(spec.environment, { CC: '3' });
  });

  it('checks RevisionId (412) and answers DryRun without changing anything', async (t) => {
    const s = await active(t);
    await rejectsWith(s.registry.updateCode('fn', { ZipFile: (await handlerZip()).toString('base64'), RevisionId: 'stale' }),
      'PreconditionFailedException',
      'The Revision Id provided does not match the latest Revision Id. Call the GetFunction/GetAlias API to retrieve the latest Revision Id');
    const current = await s.registry.getConfiguration('fn', undefined);
    const dry = await s.registry.updateCode('fn', {
      ZipFile: (await handlerZip('// other')).toString('base64'), DryRun: true, RevisionId: current['RevisionId'],
    });
    assert.equal(dry['RevisionId'], current['RevisionId']);
    assert.equal(s.preparer.calls.length, 0);
  });

  it('keeps the previous deployment when an update fails', async (t) => {
    const s = await active(t);
    const before = s.registry.resolveForInvoke('fn', undefined).spec;
    await s.registry.updateCode('fn', { ZipFile: (await handlerZip('// v2')).toString('base64') });
    s.preparer.fail(new UnpackError('Could not unzip uploaded file. Please check your file, then try to upload again.'));
    await settle(s);
    const c = await s.registry.getConfiguration('fn', undefined);
    assert.equal(c['State'], 'Active');
    assert.equal(c['LastUpdateStatus'], 'Failed');
    assert.equal(c['LastUpdateStatusReasonCode'], 'InvalidZipFileException');
    assert.equal(s.registry.resolveForInvoke('fn', undefined).spec, before);
  });

  it('publishes a new version with UpdateFunctionCode Publish', async (t) => {
    const s = await active(t);
    const res = await s.registry.updateCode('fn', { ZipFile: (await handlerZip('// v2')).toString('base64'), Publish: true });
    assert.equal(res['Version'], '1');
    await rejectsWith(() => s.registry.resolveForInvoke('fn', '1'), 'ResourceConflictException', /following state: Pending/);
    s.preparer.complete();
    await settle(s);
    assert.equal(s.registry.resolveForInvoke('fn', '1').spec.codeSha256, res['CodeSha256']);
  });
});

describe('FunctionRegistry: list, get, delete, account settings', () => {
  it('lists with Marker/NextMarker, only $LATEST unless FunctionVersion=ALL, omitting states', async (t) => {
    const s = await setup(t);
    for (const n of ['c', 'a', 'b']) await s.registry.create(await createBody(n, { Publish: n === 'a' }));
    const p1 = await s.registry.list(undefined, 2, undefined);
    assert.deepEqual(p1.Functions.map((f) => f['FunctionName']), ['a', 'b']);
    assert.equal(p1.Functions[0]!['State'], undefined);
    assert.equal(p1.Functions[0]!['LastUpdateStatus'], undefined);
    assert.equal(p1.Functions[0]!['FunctionArn'], ARN('a'));
    assert.ok(p1.NextMarker);
    const p2 = await s.registry.list(p1.NextMarker, 2, undefined);
    assert.deepEqual(p2.Functions.map((f) => f['FunctionName']), ['c']);
    assert.equal(p2.NextMarker, undefined);
    const all = await s.registry.list(undefined, undefined, 'ALL');
    assert.deepEqual(all.Functions.map((f) => f['FunctionArn']), [ARN('a', '$LATEST'), ARN('a', '1'), ARN('b', '$LATEST'), ARN('c', '$LATEST')]);
    await rejectsWith(s.registry.list(undefined, 0, undefined), 'ValidationException',
      "1 validation error detected: Value '0' at 'maxItems' failed to satisfy constraint: Member must have value greater than or equal to 1");
    await rejectsWith(s.registry.list(undefined, undefined, 'invalid'), 'ValidationException',
      "1 validation error detected: Value 'invalid' at 'functionVersion' failed to satisfy constraint: Member must satisfy enum value set: [ALL]");
  });

  it('answers GetFunction with Code.Location and Tags', async (t) => {
    const s = await setup(t);
    const created = await s.registry.create(await createBody('g', { Tags: { team: 'x' } }));
    const got = await s.registry.get('g', undefined, (hex) => `http://host/code/${hex}`);
    assert.equal(got.Code.RepositoryType, 'S3');
    assert.equal(got.Code.Location, `http://host/code/${Buffer.from(String(created['CodeSha256']), 'base64').toString('hex')}`);
    assert.deepEqual(got.Tags, { team: 'x' });
    assert.equal(got.Configuration['State'], 'Pending');
    await rejectsWith(s.registry.get('nope', undefined, () => ''), 'ResourceNotFoundException', `Function not found: ${ARN('nope')}`);
    await rejectsWith(s.registry.get('g', 'v9', () => ''), 'ResourceNotFoundException', `Function not found: ${ARN('g', 'v9')}`);
  });

  it('deletes functions and versions, then notifies', async (t) => {
    const s = await setup(t);
    await s.registry.create(await createBody('d', { Publish: true }));
    await rejectsWith(s.registry.delete('d', '$LATEST'), 'InvalidParameterValueException', '$LATEST version cannot be deleted without deleting the function.');
    await s.registry.delete('d', '1');
    await rejectsWith(s.registry.getConfiguration('d', '1'), 'ResourceNotFoundException', `Function not found: ${ARN('d', '1')}`);
    await s.registry.delete('d', undefined);
    await rejectsWith(s.registry.getConfiguration('d', undefined), 'ResourceNotFoundException', `Function not found: ${ARN('d')}`);
    await rejectsWith(s.registry.delete('d', undefined), 'ResourceNotFoundException', `Function not found: ${ARN('d')}`);
    assert.deepEqual(s.changed, ['d', 'd']);
    // The preparation that was still running finishes into nothing.
    s.preparer.complete();
    await settle(s);
    await rejectsWith(() => s.registry.resolveForInvoke('d', undefined), 'ResourceNotFoundException', `Function not found: ${ARN('d')}`);
  });

  it('reports account settings with real usage', async (t) => {
    const s = await setup(t);
    const a = await s.registry.create(await createBody('a', { Publish: true }));
    const settings = await s.registry.accountSettings();
    assert.deepEqual(settings, {
      AccountLimit: { TotalCodeSize: 80530636800, CodeSizeUnzipped: 262144000, CodeSizeZipped: 52428800, ConcurrentExecutions: 50, UnreservedConcurrentExecutions: 50 },
      AccountUsage: { TotalCodeSize: 2 * Number(a['CodeSize']), FunctionCount: 1 },
    });
  });
});

describe('FunctionRegistry: restarts', () => {
  it('keeps functions and code, re-prepares unfinished work and re-unpacks missing task roots', async (t) => {
    const dir = mkdtempSync(join(tmpdir(), 'kindling-restart-'));
    t.after(() => rmSync(dir, { recursive: true, force: true }));
    const clock = new ManualClock();
    const open = async (preparer: CodePreparer) => {
      const metadata = new SqliteMetadataStore(dir);
      const blobs = new FileBlobStore(dir);
      const registry = await FunctionRegistry.open({ metadata, blobs, preparer: preparer === REAL ? new ZipCodePreparer(blobs) : preparer, clock, partition, hostArchitecture: 'x86_64', logger: { error: () => {} } });
      return { registry, metadata, blobs };
    };
    const REAL: CodePreparer = { prepare: () => Promise.reject(new Error('placeholder')) };

    // 1st run: "ready" becomes Active with real unpacking; "stuck" stays Pending (crash before it finished).
    const stuckPreparer = new ManualPreparer();
    const first = await open(REAL);
    await first.registry.create(await createBody('ready', { Code: { ZipFile: (await makeZip([{ name: 'bootstrap', data: '#!/bin/sh', mode: 0o100755 }])).toString('base64') }, Runtime: 'provided.al2023' }));
    await first.registry.whenIdle();
    const readySpec = first.registry.resolveForInvoke('ready', undefined).spec;
    assert.ok(existsSync(join(readySpec.codeDir, 'bootstrap')));
    first.registry.close();
    await first.metadata.close();
    const second = await open(stuckPreparer);
    await second.registry.create(await createBody('stuck'));
    second.registry.close();
    await second.metadata.close();

    // The task root of "ready" disappears (e.g. a wiped cache).
    rmSync(readySpec.codeDir, { recursive: true, force: true });

    const third = await open(REAL);
    t.after(async () => {
      third.registry.close();
      await third.metadata.close();
    });
    assert.ok(existsSync(join(readySpec.codeDir, 'bootstrap')), 'task root unpacked again at startup');
    assert.equal(third.registry.resolveForInvoke('ready', undefined).spec.key, readySpec.key);
    await third.registry.whenIdle();
    assert.equal((await third.registry.getConfiguration('stuck', undefined))['State'], 'Active');
    assert.ok(existsSync(third.registry.resolveForInvoke('stuck', undefined).spec.codeDir));
  });
});

describe('FunctionRegistry: reserved concurrency', () => {
  it('puts, gets and deletes a reservation; GetFunction and GetAccountSettings show it', async (t) => {
    const s = await setup(t, { concurrentExecutions: 1000 });
    await s.registry.create(await createBody('fn'));
    assert.deepEqual(await s.registry.getConcurrency('fn'), {});
    assert.equal((await s.registry.get('fn', undefined, () => '')).Concurrency, undefined);

    assert.deepEqual(await s.registry.putConcurrency('fn', { ReservedConcurrentExecutions: 7 }), { ReservedConcurrentExecutions: 7 });
    assert.deepEqual(await s.registry.getConcurrency('fn'), { ReservedConcurrentExecutions: 7 });
    assert.deepEqual(await s.registry.getConcurrency(ARN('fn')), { ReservedConcurrentExecutions: 7 });
    assert.deepEqual((await s.registry.get('fn', undefined, () => '')).Concurrency, { ReservedConcurrentExecutions: 7 });
    assert.equal((await s.registry.accountSettings()).AccountLimit.UnreservedConcurrentExecutions, 993);

    // Put replaces; 0 is a reservation too (it stops the function).
    await s.registry.putConcurrency('fn', { ReservedConcurrentExecutions: 0 });
    assert.deepEqual(await s.registry.getConcurrency('fn'), { ReservedConcurrentExecutions: 0 });
    assert.equal((await s.registry.accountSettings()).AccountLimit.UnreservedConcurrentExecutions, 1000);

    await s.registry.deleteConcurrency('fn');
    assert.deepEqual(await s.registry.getConcurrency('fn'), {});
    await s.registry.deleteConcurrency('fn'); // nothing reserved: still fine
    assert.equal((await s.registry.get('fn', undefined, () => '')).Concurrency, undefined);
  });

  it('keeps the account\'s unreserved concurrency at 100 or more, in Lambda\'s words', async (t) => {
    const s = await setup(t, { concurrentExecutions: 1000 });
    await s.registry.create(await createBody('a'));
    await s.registry.create(await createBody('b'));
    const below = "Specified ReservedConcurrentExecutions for function decreases account's UnreservedConcurrentExecution below its minimum value of [100].";
    await rejectsWith(s.registry.putConcurrency('a', { ReservedConcurrentExecutions: 901 }), 'InvalidParameterValueException', below);
    await rejectsWith(s.registry.putConcurrency('a', { ReservedConcurrentExecutions: 1001 }), 'InvalidParameterValueException', below);
    await s.registry.putConcurrency('a', { ReservedConcurrentExecutions: 900 });
    // a's own reservation is replaced, not added to.
    await s.registry.putConcurrency('a', { ReservedConcurrentExecutions: 900 });
    await rejectsWith(s.registry.putConcurrency('b', { ReservedConcurrentExecutions: 1 }), 'InvalidParameterValueException', below);
    await s.registry.putConcurrency('b', { ReservedConcurrentExecutions: 0 });
    await s.registry.putConcurrency('a', { ReservedConcurrentExecutions: 899 });
    await s.registry.putConcurrency('b', { ReservedConcurrentExecutions: 1 });
    assert.equal((await s.registry.accountSettings()).AccountLimit.UnreservedConcurrentExecutions, 100);
    // Requests racing each other are checked one at a time against the same sum.
    await s.registry.deleteConcurrency('a');
    await s.registry.deleteConcurrency('b');
    const raced = await Promise.allSettled([
      s.registry.putConcurrency('a', { ReservedConcurrentExecutions: 500 }),
      s.registry.putConcurrency('b', { ReservedConcurrentExecutions: 500 }),
    ]);
    assert.deepEqual(raced.map((r) => r.status).sort(), ['fulfilled', 'rejected']);
    assert.equal((await s.registry.accountSettings()).AccountLimit.UnreservedConcurrentExecutions, 500);
  });

  it('on an account under 100, keeps all of it unreserved (AWS: "minimum value of [10]" on new accounts)', async (t) => {
    const s = await setup(t); // concurrentExecutions: 50
    await s.registry.create(await createBody('fn'));
    await rejectsWith(s.registry.putConcurrency('fn', { ReservedConcurrentExecutions: 1 }), 'InvalidParameterValueException',
      "Specified ReservedConcurrentExecutions for function decreases account's UnreservedConcurrentExecution below its minimum value of [50].");
    assert.deepEqual(await s.registry.putConcurrency('fn', { ReservedConcurrentExecutions: 0 }), { ReservedConcurrentExecutions: 0 });
  });

  it('answers every request error in Lambda\'s words', async (t) => {
    const s = await setup(t, { concurrentExecutions: 1000 });
    await s.registry.create(await createBody('fn', { Publish: true }));
    const functionsOnly =
      'This operation is permitted on Lambda functions only. Aliases and versions do not support this operation. Please specify either a function name or an unqualified function ARN.';
    for (const qualified of [ARN('fn', '$LATEST'), 'fn:1', 'fn:$LATEST', 'nope:1']) {
      await rejectsWith(s.registry.putConcurrency(qualified, { ReservedConcurrentExecutions: 0 }), 'InvalidParameterValueException', functionsOnly);
      await rejectsWith(s.registry.getConcurrency(qualified), 'InvalidParameterValueException', functionsOnly);
      await rejectsWith(s.registry.deleteConcurrency(qualified), 'InvalidParameterValueException', functionsOnly);
    }
    const notFound = `Function not found: ${ARN('doesnotexist', '$LATEST')}`;
    await rejectsWith(s.registry.putConcurrency('doesnotexist', { ReservedConcurrentExecutions: 1 }), 'ResourceNotFoundException', notFound);
    await rejectsWith(s.registry.putConcurrency('doesnotexist', { ReservedConcurrentExecutions: 0 }), 'ResourceNotFoundException', notFound);
    await rejectsWith(s.registry.getConcurrency('doesnotexist'), 'ResourceNotFoundException', notFound);
    await rejectsWith(s.registry.deleteConcurrency('doesnotexist'), 'ResourceNotFoundException', notFound);
    await rejectsWith(s.registry.putConcurrency('fn', { ReservedConcurrentExecutions: -1 }), 'ValidationException',
      "1 validation error detected: Value '-1' at 'reservedConcurrentExecutions' failed to satisfy constraint: Member must have value greater than or equal to 0");
    await rejectsWith(s.registry.putConcurrency('fn', {}), 'ValidationException',
      "1 validation error detected: Value null at 'reservedConcurrentExecutions' failed to satisfy constraint: Member must not be null");
    await rejectsWith(s.registry.putConcurrency('fn', { ReservedConcurrentExecutions: '5' }), 'SerializationException', 'STRING_VALUE can not be converted to an Integer');
    await rejectsWith(s.registry.putConcurrency('fn.x', { ReservedConcurrentExecutions: -2 }), 'ValidationException',
      /^2 validation errors detected: Value 'fn\.x' at 'functionName' failed to satisfy constraint: Member must satisfy regular expression pattern: .*; Value '-2' at 'reservedConcurrentExecutions'/);
    await rejectsWith(s.registry.getConcurrency('fn.x'), 'ValidationException', /^1 validation error detected: Value 'fn\.x' at 'functionName'/);
    assert.deepEqual(await s.registry.getConcurrency('fn'), {});
  });

  it('DeleteFunction drops the reservation: the same name created again starts unreserved', async (t) => {
    const seen: [string, number | undefined][] = [];
    const s = await setup(t, { concurrentExecutions: 1000, onReservationChanged: (n, r) => seen.push([n, r]) });
    await s.registry.create(await createBody('fn', { Publish: true }));
    await s.registry.putConcurrency('fn', { ReservedConcurrentExecutions: 10 });
    await s.registry.delete('fn', '1'); // a version: the function keeps its reservation
    assert.deepEqual(await s.registry.getConcurrency('fn'), { ReservedConcurrentExecutions: 10 });
    await s.registry.delete('fn', undefined);
    assert.equal((await s.registry.accountSettings()).AccountLimit.UnreservedConcurrentExecutions, 1000);
    await s.registry.create(await createBody('fn'));
    assert.deepEqual(await s.registry.getConcurrency('fn'), {});
    assert.deepEqual(seen, [['fn', 10], ['fn', undefined]]);
  });

  it('keeps reservations across a restart and hands them to the listener on open', async (t) => {
    const dir = mkdtempSync(join(tmpdir(), 'kindling-reserved-'));
    t.after(() => rmSync(dir, { recursive: true, force: true }));
    const open = async (seen: [string, number | undefined][] = []) => {
      const metadata = new SqliteMetadataStore(dir);
      const registry = await FunctionRegistry.open({
        metadata, blobs: new FileBlobStore(dir), preparer: new ManualPreparer(), clock: new ManualClock(), partition,
        hostArchitecture: 'x86_64', concurrentExecutions: 1000, logger: { error: () => {} }, onReservationChanged: (n, r) => seen.push([n, r]),
      });
      return { registry, metadata, seen };
    };
    const first = await open();
    await first.registry.create(await createBody('a'));
    await first.registry.create(await createBody('b'));
    await first.registry.putConcurrency('a', { ReservedConcurrentExecutions: 3 });
    await first.registry.putConcurrency('b', { ReservedConcurrentExecutions: 0 });
    first.registry.close();
    await first.metadata.close();

    const second = await open();
    t.after(async () => {
      second.registry.close();
      await second.metadata.close();
    });
    assert.deepEqual(second.seen, [['a', 3], ['b', 0]]);
    assert.deepEqual(await second.registry.getConcurrency('a'), { ReservedConcurrentExecutions: 3 });
    assert.deepEqual(await second.registry.getConcurrency('b'), { ReservedConcurrentExecutions: 0 });
    assert.equal((await second.registry.accountSettings()).AccountLimit.UnreservedConcurrentExecutions, 997);
  });

  it('ignores and removes a stored reservation of a function that does not exist', async (t) => {
    const dir = mkdtempSync(join(tmpdir(), 'kindling-orphan-'));
    t.after(() => rmSync(dir, { recursive: true, force: true }));
    const metadata = new SqliteMetadataStore(dir);
    t.after(() => metadata.close());
    await metadata.putReservedConcurrency('ghost', 50);
    const seen: string[] = [];
    const registry = await FunctionRegistry.open({
      metadata, blobs: new FileBlobStore(dir), preparer: new ManualPreparer(), clock: new ManualClock(), partition,
      hostArchitecture: 'x86_64', concurrentExecutions: 1000, logger: { error: () => {} }, onReservationChanged: (n) => seen.push(n),
    });
    t.after(() => registry.close());
    assert.deepEqual(seen, []);
    assert.equal((await registry.accountSettings()).AccountLimit.UnreservedConcurrentExecutions, 1000);
    assert.deepEqual(await metadata.listReservedConcurrency(), new Map());
    await registry.create(await createBody('ghost'));
    assert.deepEqual(await registry.getConcurrency('ghost'), {});
  });
});

describe('FunctionRegistry: tags and the kindling:egress tag', () => {
  it('tags, untags and lists; the egress tag reaches every version\'s spec and retires warm sandboxes', async (t) => {
    const s = await setup(t);
    await s.registry.create(await createBody('net', { Publish: true, Tags: { 'kindling:egress': 'internet', team: 'a' } }));
    s.preparer.complete();
    await settle(s);
    assert.equal(s.registry.resolveForInvoke('net', undefined).spec.egress, 'internet');
    assert.equal(s.registry.resolveForInvoke('net', '1').spec.egress, 'internet', 'a published version runs with the function\'s tags');
    const keyBefore = s.registry.resolveForInvoke('net', undefined).spec.key;

    s.changed.length = 0;
    await s.registry.tagResource(ARN('net'), { Tags: { team: 'b' } });
    assert.deepEqual(await s.registry.listTags(ARN('net')), { Tags: { 'kindling:egress': 'internet', team: 'b' } });
    assert.deepEqual(s.changed, [], 'a tag that is not the egress changes nothing the sandbox sees');
    assert.equal(s.registry.resolveForInvoke('net', undefined).spec.key, keyBefore);

    await s.registry.untagResource(ARN('net'), ['kindling:egress', 'absent']);
    assert.deepEqual(await s.registry.listTags(ARN('net')), { Tags: { team: 'b' } });
    assert.deepEqual(s.changed, ['net']);
    assert.equal(s.registry.resolveForInvoke('net', undefined).spec.egress, 'none');
    assert.equal(s.registry.resolveForInvoke('net', '1').spec.egress, 'none');
    assert.notEqual(s.registry.resolveForInvoke('net', undefined).spec.key, keyBefore);
    const got = (await s.registry.get('net', undefined, (h) => h)) as { Tags?: unknown };
    assert.deepEqual(got.Tags, { team: 'b' });
  });

  it('uses the platform default for untagged functions', async (t) => {
    const s = await setup(t, { defaultEgress: 'internet' });
    await s.registry.create(await createBody('d'));
    await s.registry.create(await createBody('n', { Tags: { 'kindling:egress': 'none' } }));
    s.preparer.complete();
    s.preparer.complete();
    await settle(s);
    assert.equal(s.registry.resolveForInvoke('d', undefined).spec.egress, 'internet');
    assert.equal(s.registry.resolveForInvoke('n', undefined).spec.egress, 'none');
  });

  it('keeps tags across a restart', async (t) => {
    const dir = mkdtempSync(join(tmpdir(), 'kindling-tags-'));
    t.after(() => rmSync(dir, { recursive: true, force: true }));
    const open = async () => {
      const metadata = new SqliteMetadataStore(dir);
      const blobs = new FileBlobStore(dir);
      const registry = await FunctionRegistry.open({ metadata, blobs, preparer: new ZipCodePreparer(blobs), clock: new ManualClock(), partition, logger: { error: () => {} } });
      return { registry, close: async () => (registry.close(), await metadata.close()) };
    };
    const first = await open();
    await first.registry.create(await createBody('r'));
    await first.registry.whenIdle();
    await first.registry.tagResource(ARN('r'), { Tags: { 'kindling:egress': 'internet' } });
    await first.close();
    const { registry: reopened, close } = await open();
    t.after(close);
    assert.deepEqual(await reopened.listTags(ARN('r')), { Tags: { 'kindling:egress': 'internet' } });
    assert.equal(reopened.resolveForInvoke('r', undefined).spec.egress, 'internet');
  });

  it('refuses bad tags, qualified ARNs and unknown functions', async (t) => {
    const s = await setup(t);
    await s.registry.create(await createBody('v'));
    s.preparer.complete();
    await settle(s);
    await rejectsWith(s.registry.tagResource(ARN('v'), { Tags: { 'kindling:egress': 'all' } }), 'InvalidParameterValueException', /kindling:egress must be one of none, internet \(got 'all'\)/);
    await rejectsWith(s.registry.tagResource(ARN('v'), { Tags: { 'aws:x': '1' } }), 'InvalidParameterValueException', /reserved for AWS use/);
    await rejectsWith(s.registry.tagResource(ARN('v'), {}), 'ValidationException', /Value null at 'tags'/);
    await rejectsWith(s.registry.untagResource(ARN('v'), []), 'ValidationException', /Value null at 'tagKeys'/);
    await rejectsWith(s.registry.listTags(ARN('v', '1')), 'InvalidParameterValueException', 'Tags on function aliases and versions are not supported. Please specify a function ARN.');
    await rejectsWith(s.registry.tagResource(ARN('v'), { Tags: {} }), 'InvalidParameterValueException', 'An error occurred and the request cannot be processed.');
    await rejectsWith(s.registry.tagResource(ARN('v'), { Tags: Object.fromEntries(Array.from({ length: 51 }, (_, i) => [`k${i}`, 'v'])) }), 'InvalidParameterValueException', 'Number of tags exceeds resource tag limit.');
    await rejectsWith(s.registry.listTags(ARN('none')), 'ResourceNotFoundException', `Function not found: ${ARN('none')}`);
    await rejectsWith(s.registry.create(await createBody('w', { Tags: { 'kindling:egress': 'x' } })), 'InvalidParameterValueException', /kindling:egress/);
  });
});

describe('FunctionRegistry: DeadLetterConfig', () => {
  const QUEUE = 'arn:aws:sqs:us-east-1:000000000000:dead-letters';
  const OTHER_QUEUE = 'arn:aws:sqs:us-east-1:000000000000:other_dlq';

  async function deployed(s: Setup): Promise<void> {
    s.preparer.complete();
    await settle(s);
  }

  it('takes a Kindling queue on create, answers DeadLetterConfig only when set, and versions snapshot it', async (t) => {
    const s = await setup(t);
    const created = await s.registry.create(await createBody('fn', { DeadLetterConfig: { TargetArn: QUEUE }, Publish: true }));
    assert.deepEqual(created['DeadLetterConfig'], { TargetArn: QUEUE });
    await deployed(s);
    assert.deepEqual((await s.registry.getConfiguration('fn', undefined))['DeadLetterConfig'], { TargetArn: QUEUE });
    assert.deepEqual((await s.registry.getConfiguration('fn', '1'))['DeadLetterConfig'], { TargetArn: QUEUE });
    assert.deepEqual(s.registry.lookupVersion('fn', '1'), { deadLetterTargetArn: QUEUE });
    const listed = await s.registry.list(undefined, undefined, 'ALL');
    assert.deepEqual(listed.Functions.map((f) => f['DeadLetterConfig']), [{ TargetArn: QUEUE }, { TargetArn: QUEUE }]);

    // Changing $LATEST's target leaves the published version's.
    await s.registry.updateConfiguration('fn', { DeadLetterConfig: { TargetArn: OTHER_QUEUE } });
    await deployed(s);
    assert.deepEqual((await s.registry.getConfiguration('fn', undefined))['DeadLetterConfig'], { TargetArn: OTHER_QUEUE });
    assert.deepEqual((await s.registry.getConfiguration('fn', '1'))['DeadLetterConfig'], { TargetArn: QUEUE });

    await s.registry.create(await createBody('plain', { DeadLetterConfig: {} }));
    await deployed(s);
    assert.equal('DeadLetterConfig' in (await s.registry.getConfiguration('plain', undefined)), false);
    assert.deepEqual(s.registry.lookupVersion('plain', '$LATEST'), { deadLetterTargetArn: undefined });
    assert.equal(s.registry.lookupVersion('plain', '1'), undefined);
  });

  it('UpdateFunctionConfiguration sets it, keeps it when not given (or given as {}), and TargetArn "" removes it', async (t) => {
    const s = await setup(t);
    await s.registry.create(await createBody('fn'));
    await deployed(s);
    const set = await s.registry.updateConfiguration('fn', { DeadLetterConfig: { TargetArn: QUEUE } });
    assert.deepEqual(set['DeadLetterConfig'], { TargetArn: QUEUE });
    assert.equal(set['LastUpdateStatus'], 'InProgress');
    // The running deployment's target serves async deliveries until the update is done.
    assert.deepEqual(s.registry.lookupVersion('fn', '$LATEST'), { deadLetterTargetArn: undefined });
    await deployed(s);
    assert.deepEqual(s.registry.lookupVersion('fn', '$LATEST'), { deadLetterTargetArn: QUEUE });

    await s.registry.updateConfiguration('fn', { Timeout: 9 });
    await deployed(s);
    assert.deepEqual((await s.registry.getConfiguration('fn', undefined))['DeadLetterConfig'], { TargetArn: QUEUE });
    await s.registry.updateConfiguration('fn', { DeadLetterConfig: {} });
    await deployed(s);
    assert.deepEqual((await s.registry.getConfiguration('fn', undefined))['DeadLetterConfig'], { TargetArn: QUEUE });

    const cleared = await s.registry.updateConfiguration('fn', { DeadLetterConfig: { TargetArn: '' } });
    assert.equal('DeadLetterConfig' in cleared, false);
    await deployed(s);
    assert.equal('DeadLetterConfig' in (await s.registry.getConfiguration('fn', undefined)), false);
    assert.deepEqual(s.registry.lookupVersion('fn', '$LATEST'), { deadLetterTargetArn: undefined });
    assert.equal((await s.registry.getConfiguration('fn', undefined))['Timeout'], 9, 'the other settings stay');
  });

  it('refuses SNS topics (not supported yet), other services, names that are no Kindling queue and the empty ARN on create', async (t) => {
    const s = await setup(t);
    const form = 'arn:aws:sqs:us-east-1:000000000000:NAME (NAME: 1 to 80 letters, digits, hyphens or underscores)';
    const create = async (arn: string) => s.registry.create(await createBody('d', { DeadLetterConfig: { TargetArn: arn } }));
    await rejectsWith(create('arn:aws:sns:us-east-1:000000000000:alerts'), 'InvalidParameterValueException',
      `Kindling does not support Amazon SNS topics as dead-letter targets yet (arn:aws:sns:us-east-1:000000000000:alerts). Use a Kindling queue: ${form}.`);
    await rejectsWith(create('arn:aws:s3:::bucket'), 'InvalidParameterValueException',
      `Invalid dead letter queue ARN: arn:aws:s3:::bucket is neither an Amazon SQS queue nor an Amazon SNS topic. Use a Kindling queue: ${form}.`);
    for (const arn of ['arn:aws:sqs:us-east-1:000000000000:bad.name', 'arn:aws:sqs:eu-west-1:000000000000:q', 'arn:aws:sqs:us-east-1:123456789012:q']) {
      await rejectsWith(create(arn), 'InvalidParameterValueException', `Invalid dead letter queue ARN: ${arn}. Kindling queues are named ${form}.`);
    }
    await rejectsWith(create(''), 'InvalidParameterValueException', "Invalid dead letter queue ARN: ARNs must start with 'arn:'");
    await rejectsWith(create('sqs-queue'), 'ValidationException',
      "1 validation error detected: Value 'sqs-queue' at 'deadLetterConfig.targetArn' failed to satisfy constraint: Member must satisfy regular expression pattern: (arn:(aws[a-zA-Z-]*)?:[a-z0-9-.]+:.*)|()");
    await rejectsWith(s.registry.create(await createBody('d', { DeadLetterConfig: { TargetArn: 5 } })), 'SerializationException', 'NUMBER_VALUE can not be converted to a String');
    await rejectsWith(s.registry.getConfiguration('d', undefined), 'ResourceNotFoundException', `Function not found: ${ARN('d')}`);

    await s.registry.create(await createBody('fn'));
    await deployed(s);
    await rejectsWith(s.registry.updateConfiguration('fn', { DeadLetterConfig: { TargetArn: 'arn:aws:sns:us-east-1:000000000000:alerts' } }),
      'InvalidParameterValueException', /^Kindling does not support Amazon SNS topics as dead-letter targets yet/);
    await rejectsWith(s.registry.updateConfiguration('fn', { DeadLetterConfig: { TargetArn: 'nope' } }), 'ValidationException', /at 'deadLetterConfig\.targetArn'/);
    assert.equal((await s.registry.getConfiguration('fn', undefined))['LastUpdateStatus'], 'Successful', 'a refused update changes nothing');
  });

  it('keeps the dead-letter target across a restart', async (t) => {
    const dir = mkdtempSync(join(tmpdir(), 'kindling-dlq-'));
    t.after(() => rmSync(dir, { recursive: true, force: true }));
    const open = async () => {
      const metadata = new SqliteMetadataStore(dir);
      const blobs = new FileBlobStore(dir);
      const registry = await FunctionRegistry.open({ metadata, blobs, preparer: new ZipCodePreparer(blobs), clock: new ManualClock(), partition, logger: { error: () => {} } });
      return { registry, close: async () => (registry.close(), await metadata.close()) };
    };
    const first = await open();
    await first.registry.create(await createBody('r', { DeadLetterConfig: { TargetArn: QUEUE }, Publish: true }));
    await first.registry.whenIdle();
    await first.close();
    const { registry: reopened, close } = await open();
    t.after(close);
    assert.deepEqual((await reopened.getConfiguration('r', undefined))['DeadLetterConfig'], { TargetArn: QUEUE });
    assert.deepEqual(reopened.lookupVersion('r', '1'), { deadLetterTargetArn: QUEUE });
  });
});
