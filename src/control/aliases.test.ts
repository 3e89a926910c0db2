import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { ManualClock } from '../shared/clock.js';
import { LambdaError } from '../shared/errors.js';
import { FileBlobStore } from '../store/file-blobs.js';
import { SqliteMetadataStore } from '../store/sqlite-metadata.js';
import { isAliasName } from './aliases.js';
import { EventInvokeConfigs } from './event-invoke-config.js';
import { FunctionRegistry } from './registry.js';
import { handlerZip, rejectsWith } from './testing.js';

const partition = { region: 'us-east-1', accountId: '000000000000' };
const ROLE = 'arn:aws:iam::000000000000:role/lambda-role';
const ARN = (name: string, q?: string) => `arn:aws:lambda:us-east-1:000000000000:function:${name}${q ? `:${q}` : ''}`;
const REVISION_MISMATCH =
  'The Revision Id provided does not match the latest Revision Id. Call the GetFunction/GetAlias API to retrieve the latest Revision Id';

/** A random source the test sets: each invoke through a weighted alias takes the next value. */
class ScriptedRandom {
  values: number[] = [];
  next = (): number => {
    const v = this.values.shift();
    if (v === undefined) throw new Error('the test gave no more random values');
    return v;
  };
}

interface Setup {
  registry: FunctionRegistry;
  configs: EventInvokeConfigs;
  random: ScriptedRandom;
  reopen(): Promise<{ registry: FunctionRegistry; configs: EventInvokeConfigs }>;
}

async function setup(t: { after(fn: () => unknown): void }): Promise<Setup> {
  const dir = mkdtempSync(join(tmpdir(), 'kindling-aliases-'));
  const random = new ScriptedRandom();
  const closers: (() => Promise<void>)[] = [];
  const open = async () => {
    const metadata = new SqliteMetadataStore(dir);
    const clock = new ManualClock(Date.UTC(2026, 10, 23, 7, 30));
    const registry = await FunctionRegistry.open({
      metadata,
      blobs: new FileBlobStore(dir),
      // Prepared at once: these tests are about versions, not code preparation.
      preparer: { prepare: async (hex: string) => `/tmp/kindling-test-task-root/${hex}` },
      clock,
      partition,
      hostArchitecture: 'x86_64',
      logger: { error: () => {} },
      random: random.next,
    });
    const configs = await EventInvokeConfigs.open({ metadata, functions: registry, partition, clock, logger: { error: () => {} } });
    closers.push(async () => {
      registry.close();
      await metadata.close();
    });
    return { registry, configs };
  };
  const first = await open();
  t.after(async () => {
    for (const close of closers) await close();
    rmSync(dir, { recursive: true, force: true });
  });
  return {
    ...first,
    random,
    reopen: async () => {
      await closers.at(-1)!();
      return open();
    },
  };
}

/** fn with versions 1..n, each with Timeout = its number + 1 (so configurations tell them apart). */
async function withVersions(s: Setup, name: string, n: number): Promise<void> {
  await s.registry.create({ FunctionName: name, Role: ROLE, Runtime: 'nodejs20.x', Handler: 'index.handler', Code: { ZipFile: (await handlerZip()).toString('base64') } });
  await s.registry.whenIdle();
  for (let i = 1; i <= n; i++) {
    await s.registry.updateConfiguration(name, { Timeout: i + 1 });
    await s.registry.whenIdle();
    assert.equal((await s.registry.publishVersion(name, {}))['Version'], String(i));
  }
}


describe('aliases: the API', () => {
  it('creates, gets, updates, lists and deletes aliases in Lambda\'s shape', async (t) => {
    const s = await setup(t);
    await withVersions(s, 'fn', 2);
    const live = await s.registry.createAlias('fn', { Name: 'live', FunctionVersion: '1', Description: 'prod', RoutingConfig: { AdditionalVersionWeights: { '2': 0.2 } } });
    assert.deepEqual(Object.keys(live).sort(), ['AliasArn', 'Description', 'FunctionVersion', 'Name', 'RevisionId', 'RoutingConfig']);
    assert.deepEqual({ ...live, RevisionId: 'r' }, {
      AliasArn: ARN('fn', 'live'),
      Name: 'live',
      FunctionVersion: '1',
      Description: 'prod',
      RevisionId: 'r',
      RoutingConfig: { AdditionalVersionWeights: { '2': 0.2 } },
    });
    assert.deepEqual(await s.registry.getAlias('fn', 'live'), live);
    // No RoutingConfig member without a routing, also for empty weights; Description "" when not given.
    const beta = await s.registry.createAlias(ARN('fn'), { Name: 'beta', FunctionVersion: '$LATEST', RoutingConfig: { AdditionalVersionWeights: {} } });
    assert.equal(beta.RoutingConfig, undefined);
    assert.equal(beta.Description, '');
    await s.registry.createAlias('fn', { Name: '2024-01-02', FunctionVersion: '2' });

    const list = await s.registry.listAliases('fn', undefined, undefined, undefined);
    assert.deepEqual(list.Aliases.map((a) => a.Name), ['2024-01-02', 'beta', 'live']);
    assert.deepEqual((await s.registry.listAliases('fn', '1', undefined, undefined)).Aliases.map((a) => a.Name), ['live']);
    const names: string[] = [];
    let marker: string | undefined;
    do {
      const page = await s.registry.listAliases('fn', undefined, marker, '1');
      names.push(...page.Aliases.map((a) => a.Name));
      marker = page.NextMarker;
    } while (marker);
    assert.deepEqual(names, ['2024-01-02', 'beta', 'live']);

    // Update: a new RevisionId every time, even without a change; {} weights remove the routing.
    const same = await s.registry.updateAlias('fn', 'live', {});
    assert.notEqual(same.RevisionId, live.RevisionId);
    assert.deepEqual(same.RoutingConfig, { AdditionalVersionWeights: { '2': 0.2 } });
    await rejectsWith(s.registry.updateAlias('fn', 'live', { RevisionId: live.RevisionId }), 'PreconditionFailedException', REVISION_MISMATCH);
    const moved = await s.registry.updateAlias('fn', 'live', { RevisionId: same.RevisionId, FunctionVersion: '2', RoutingConfig: { AdditionalVersionWeights: {} }, Description: 'v2' });
    assert.deepEqual({ ...moved, RevisionId: 'r' }, { AliasArn: ARN('fn', 'live'), Name: 'live', FunctionVersion: '2', Description: 'v2', RevisionId: 'r' });

    await s.registry.deleteAlias('fn', 'live');
    await s.registry.deleteAlias('fn', 'live'); // 204 again: Lambda does not refuse a missing alias
    await rejectsWith(s.registry.getAlias('fn', 'live'), 'ResourceNotFoundException', `Cannot find alias arn: ${ARN('fn', 'live')}`);
    assert.deepEqual((await s.registry.listAliases('fn', undefined, undefined, undefined)).Aliases.map((a) => a.Name), ['2024-01-02', 'beta']);
  });

  it('refuses what Lambda refuses, in its words', async (t) => {
    const s = await setup(t);
    await withVersions(s, 'fn', 2);
    const create = (body: Record<string, unknown>) => s.registry.createAlias('fn', { Name: 'custom', FunctionVersion: '1', ...body });
    const weights = (w: Record<string, number>) => ({ RoutingConfig: { AdditionalVersionWeights: w } });
    await rejectsWith(create(weights({ '1': 0.8, '2': 0.2 })), 'InvalidParameterValueException', 'Number of items in AdditionalVersionWeights cannot be greater than 1');
    const valueConstraint =
      "failed to satisfy constraint: Map value must satisfy constraint: [Member must have value less than or equal to 1.0, Member must have value greater than or equal to 0.0, Member must not be null]";
    await rejectsWith(create(weights({ '2': 2 })), 'ValidationException', `1 validation error detected: Value '{2=2.0}' at 'routingConfig.additionalVersionWeights' ${valueConstraint}`);
    await rejectsWith(create(weights({ '2': -1 })), 'ValidationException', `1 validation error detected: Value '{2=-1.0}' at 'routingConfig.additionalVersionWeights' ${valueConstraint}`);
    await rejectsWith(create(weights({ '1': 0.5 })), 'InvalidParameterValueException', 'Invalid function version 1. Function version 1 is already included in routing configuration.');
    await rejectsWith(create({ FunctionVersion: '10', ...weights({ '2': 0.5 }) }), 'ResourceNotFoundException', `Function not found: ${ARN('fn', '10')}`);
    await rejectsWith(create(weights({ '10': 0.5 })), 'ResourceNotFoundException', `Function not found: ${ARN('fn', '10')}`);
    await rejectsWith(create({ FunctionVersion: '$LATEST', ...weights({ '1': 0.5 }) }), 'InvalidParameterValueException', '$LATEST is not supported for an alias pointing to more than 1 version');
    await rejectsWith(
      create(weights({ $LATEST: 0.5 })),
      'ValidationException',
      "1 validation error detected: Value '{$LATEST=0.5}' at 'routingConfig.additionalVersionWeights' failed to satisfy constraint: Map keys must satisfy constraint: [Member must have length less than or equal to 1024, Member must have length greater than or equal to 1, Member must satisfy regular expression pattern: [0-9]+]",
    );
    await rejectsWith(
      s.registry.createAlias('fn-unknown', { Name: 'custom', FunctionVersion: '1' }),
      'ResourceNotFoundException',
      `Function not found: ${ARN('fn-unknown', '1')}`,
    );
    await rejectsWith(
      create({ Name: '2024' }),
      'ValidationException',
      "1 validation error detected: Value '2024' at 'name' failed to satisfy constraint: Member must satisfy regular expression pattern: (?!^[0-9]+$)([a-zA-Z0-9-_]+)",
    );
    await rejectsWith(create({ Name: '$LATEST' }), 'ValidationException', /Value '\$LATEST' at 'name' failed to satisfy constraint: Member must satisfy regular expression pattern/);
    await rejectsWith(create({ Name: undefined }), 'ValidationException', "1 validation error detected: Value null at 'name' failed to satisfy constraint: Member must not be null");
    await rejectsWith(create({ FunctionVersion: 'one' }), 'ValidationException', /Value 'one' at 'functionVersion' failed to satisfy constraint: Member must satisfy regular expression pattern: \(\\\$LATEST\|\[0-9\]\+\)/);
    await rejectsWith(create({ Description: 'd'.repeat(257) }), 'ValidationException', /at 'description' failed to satisfy constraint: Member must have length less than or equal to 256/);
    await rejectsWith(s.registry.createAlias('fn', 'not an object'), 'SerializationException', /./);

    await create(weights({ '2': 0.5 }));
    await rejectsWith(create({}), 'ResourceConflictException', `Alias already exists: ${ARN('fn', 'custom')}`);
    await rejectsWith(s.registry.updateAlias('fn', 'non-existent', {}), 'ResourceNotFoundException', `Alias not found: ${ARN('fn', 'non-existent')}`);
    // The routing that results from an update is checked against the version that results.
    await rejectsWith(s.registry.updateAlias('fn', 'custom', { FunctionVersion: '2' }), 'InvalidParameterValueException', 'Invalid function version 2. Function version 2 is already included in routing configuration.');
    await rejectsWith(s.registry.updateAlias('fn', 'custom', { FunctionVersion: '$LATEST' }), 'InvalidParameterValueException', '$LATEST is not supported for an alias pointing to more than 1 version');
    await rejectsWith(s.registry.updateAlias('fn', 'custom', { FunctionVersion: '7' }), 'ResourceNotFoundException', `Function not found: ${ARN('fn', '7')}`);
    assert.equal((await s.registry.getAlias('fn', 'custom')).FunctionVersion, '1');

    for (const op of [s.registry.getAlias('nope', 'a'), s.registry.deleteAlias('nope', 'a'), s.registry.updateAlias('nope', 'a', {}), s.registry.listAliases('nope', undefined, undefined, undefined)]) {
      await rejectsWith(op, 'ResourceNotFoundException', `Function not found: ${ARN('nope')}`);
    }
  });

  it('tells aliases from versions', () => {
    assert.equal(isAliasName('live'), true);
    assert.equal(isAliasName('2024-01-02'), true);
    assert.equal(isAliasName('12'), false);
    assert.equal(isAliasName('$LATEST'), false);
  });
});

describe('aliases: what they name', () => {
  it('GetFunction and GetFunctionConfiguration of an alias answer its version with the alias ARN; unknown aliases are 404', async (t) => {
    const s = await setup(t);
    await withVersions(s, 'fn', 2);
    await s.registry.createAlias('fn', { Name: 'live', FunctionVersion: '1', RoutingConfig: { AdditionalVersionWeights: { '2': 0.9 } } });
    const v1 = await s.registry.getConfiguration('fn', '1');
    const viaAlias = await s.registry.getConfiguration('fn', 'live');
    assert.deepEqual({ ...viaAlias, FunctionArn: 'x' }, { ...v1, FunctionArn: 'x' });
    assert.equal(viaAlias['FunctionArn'], ARN('fn', 'live'));
    assert.equal(viaAlias['Version'], '1');
    const got = (await s.registry.get(ARN('fn', 'live'), undefined, (h) => h)) as { Configuration: Record<string, unknown> };
    assert.equal(got.Configuration['FunctionArn'], ARN('fn', 'live'));
    assert.equal(got.Configuration['Timeout'], 2);
    await rejectsWith(s.registry.getConfiguration('fn', 'aliasdoesnotexist'), 'ResourceNotFoundException', `Function not found: ${ARN('fn', 'aliasdoesnotexist')}`);
    await rejectsWith(s.registry.getConfiguration('fn:live', '1'), 'InvalidParameterValueException', 'The derived qualifier from the function name does not match the specified qualifier.');
    assert.equal((await s.registry.getConfiguration('fn:live', 'live'))['Version'], '1');
  });

  it('routes each invoke by the weight, with the executed version and the alias ARN as the invoked ARN', async (t) => {
    const s = await setup(t);
    await withVersions(s, 'fn', 2);
    await s.registry.createAlias('fn', { Name: 'live', FunctionVersion: '1', RoutingConfig: { AdditionalVersionWeights: { '2': 0.25 } } });
    // A draw under the weight goes to the additional version, the rest to the alias's own.
    s.random.values = [0.1, 0.2499, 0.25, 0.9, 0];
    const ran = ['fn:live', 'fn', ARN('fn', 'live'), 'fn', 'fn'].map((name, i) => {
      const r = s.registry.resolveForInvoke(name, i === 1 || i >= 3 ? 'live' : undefined);
      assert.equal(r.invokedFunctionArn, ARN('fn', 'live'));
      assert.equal(r.qualifier, 'live');
      assert.equal(r.spec.version, r.executedVersion);
      assert.equal(r.spec.timeout, Number(r.executedVersion) + 1);
      return r.executedVersion;
    });
    assert.deepEqual(ran, ['2', '2', '1', '1', '2']);
    // An alias without routing draws nothing.
    await s.registry.updateAlias('fn', 'live', { RoutingConfig: {} });
    assert.equal(s.registry.resolveForInvoke('fn', 'live').executedVersion, '1');
    await s.registry.createAlias('fn', { Name: 'edge', FunctionVersion: '$LATEST' });
    assert.equal(s.registry.resolveForInvoke('fn:edge', undefined).executedVersion, '$LATEST');
    assert.throws(() => s.registry.resolveForInvoke('fn', 'nope'), (e: unknown) => e instanceof LambdaError && e.message === `Function not found: ${ARN('fn', 'nope')}`);
  });

  it('keeps a version an alias references: deleting it is refused, naming the aliases', async (t) => {
    const s = await setup(t);
    await withVersions(s, 'fn', 3);
    await s.registry.createAlias('fn', { Name: 'live', FunctionVersion: '1' });
    await s.registry.createAlias('fn', { Name: 'canary', FunctionVersion: '2', RoutingConfig: { AdditionalVersionWeights: { '3': 0.1 } } });
    await s.registry.createAlias('fn', { Name: 'also', FunctionVersion: '1' });
    await rejectsWith(s.registry.delete('fn', '1'), 'ResourceConflictException', 'Unable to delete version because the following aliases reference it: [also, live]');
    await rejectsWith(s.registry.delete('fn', '3'), 'ResourceConflictException', 'Unable to delete version because the following aliases reference it: [canary]');
    await rejectsWith(s.registry.delete('fn', 'live'), 'InvalidParameterValueException', 'Deletion of aliases is not currently supported.');
    await rejectsWith(s.registry.delete('fn', '$LATEST'), 'InvalidParameterValueException', '$LATEST version cannot be deleted without deleting the function.');
    await s.registry.updateAlias('fn', 'canary', { RoutingConfig: { AdditionalVersionWeights: {} } });
    await s.registry.delete('fn', '3');
    assert.deepEqual((await s.registry.listVersions('fn', undefined, undefined)).Versions.map((v) => v['Version']), ['$LATEST', '1', '2']);
  });

  it('EventInvokeConfig on an alias: accepted, read by the async path, dropped with the alias and with the function', async (t) => {
    const s = await setup(t);
    await withVersions(s, 'fn', 1);
    await s.registry.updateConfiguration('fn', { DeadLetterConfig: { TargetArn: 'arn:aws:sqs:us-east-1:000000000000:latest-dlq' } });
    await s.registry.whenIdle();
    await rejectsWith(s.configs.put('fn', 'live', { MaximumRetryAttempts: 0 }), 'ResourceNotFoundException', "The function doesn't exist.");
    await s.registry.createAlias('fn', { Name: 'live', FunctionVersion: '1' });
    const put = await s.configs.put('fn', 'live', { MaximumRetryAttempts: 0 });
    assert.equal(put.FunctionArn, ARN('fn', 'live'));
    assert.equal((await s.configs.get('fn:live', undefined)).MaximumRetryAttempts, 0);
    // The alias's settings, with its version's dead-letter target (version 1 has none, $LATEST has one now).
    assert.deepEqual(s.configs.asyncSettings('fn', 'live'), {
      maximumRetryAttempts: 0,
      maximumEventAgeInSeconds: 21600,
      onSuccess: undefined,
      onFailure: undefined,
      deadLetterTarget: undefined,
    });
    await s.registry.updateAlias('fn', 'live', { FunctionVersion: '$LATEST' });
    assert.equal(s.configs.asyncSettings('fn', 'live')?.deadLetterTarget, 'arn:aws:sqs:us-east-1:000000000000:latest-dlq');
    await s.registry.deleteAlias('fn', 'live');
    assert.equal(s.configs.asyncSettings('fn', 'live'), undefined);
    await s.registry.createAlias('fn', { Name: 'live', FunctionVersion: '1' });
    // A new alias under the same name does not inherit the old one's config.
    await rejectsWith(s.configs.get('fn', 'live'), 'ResourceNotFoundException', `The function ${ARN('fn', 'live')} doesn't have an EventInvokeConfig`);
    await s.configs.put('fn', 'live', { MaximumRetryAttempts: 1 });
    await s.registry.delete('fn', undefined);
    assert.equal(s.configs.asyncSettings('fn', 'live'), undefined);
    await withVersions(s, 'fn', 1);
    assert.deepEqual((await s.registry.listAliases('fn', undefined, undefined, undefined)).Aliases, []);
    assert.throws(() => s.registry.resolveForInvoke('fn', 'live'), /Function not found/);
  });

  it('keeps aliases, their routing and their EventInvokeConfigs across a restart', async (t) => {
    const s = await setup(t);
    await withVersions(s, 'fn', 2);
    const live = await s.registry.createAlias('fn', { Name: 'live', FunctionVersion: '1', Description: 'd', RoutingConfig: { AdditionalVersionWeights: { '2': 0.5 } } });
    await s.configs.put('fn', 'live', { MaximumEventAgeInSeconds: 60 });
    const again = await s.reopen();
    assert.deepEqual(await again.registry.getAlias('fn', 'live'), live);
    assert.equal(again.configs.asyncSettings('fn', 'live')?.maximumEventAgeInSeconds, 60);
    s.random.values = [0.4, 0.6];
    assert.equal(again.registry.resolveForInvoke('fn', 'live').executedVersion, '2');
    assert.equal(again.registry.resolveForInvoke('fn', 'live').executedVersion, '1');
    await rejectsWith(again.registry.delete('fn', '2'), 'ResourceConflictException', 'Unable to delete version because the following aliases reference it: [live]');
  });
});
