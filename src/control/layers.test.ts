import assert from 'node:assert/strict';
import { lstatSync, mkdtempSync, readdirSync, readFileSync, readlinkSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { ManualClock } from '../shared/clock.js';
import { FileBlobStore } from '../store/file-blobs.js';
import { SqliteMetadataStore } from '../store/sqlite-metadata.js';
import { layersKey, ZipCodePreparer } from './code.js';
import { LayerRegistry } from './layers.js';
import { FunctionRegistry } from './registry.js';
import { handlerZip, makeZip, rejectsWith } from './testing.js';

const partition = { region: 'us-east-1', accountId: '000000000000' };
const ROLE = 'arn:aws:iam::000000000000:role/lambda-role';
const LAYER = (name: string, v?: number) => `arn:aws:lambda:us-east-1:000000000000:layer:${name}${v !== undefined ? `:${v}` : ''}`;
const location = (hex: string) => `http://kindling.test/code/${hex}`;

interface Setup {
  dir: string;
  metadata: SqliteMetadataStore;
  blobs: FileBlobStore;
  clock: ManualClock;
  layers: LayerRegistry;
}

async function setup(t: { after(fn: () => unknown): void }, dir = mkdtempSync(join(tmpdir(), 'kindling-layers-'))): Promise<Setup> {
  const metadata = new SqliteMetadataStore(dir);
  const blobs = new FileBlobStore(dir);
  const clock = new ManualClock(Date.UTC(2026, 10, 23, 7, 30, 0, 123));
  const layers = await LayerRegistry.open({ store: metadata, blobs, clock, partition });
  t.after(async () => {
    await metadata.close();
  });
  return { dir, metadata, blobs, clock, layers };
}

async function content(files: Record<string, string>): Promise<{ ZipFile: string }> {
  return { ZipFile: (await makeZip(Object.entries(files).map(([name, data]) => ({ name, data })))).toString('base64') };
}


describe('LayerRegistry', () => {
  it('publishes versions 1, 2, ... in the shape of PublishLayerVersion', async (t) => {
    const { layers, dir } = await setup(t);
    t.after(() => rmSync(dir, { recursive: true, force: true }));
    const zip = await content({ 'nodejs/node_modules/m/index.js': 'module.exports = 1;' });
    const v1 = await layers.publish('my-layer', { Content: zip, Description: 'd', LicenseInfo: 'MIT', CompatibleRuntimes: ['nodejs20.x'], CompatibleArchitectures: [] }, location);
    const hex = (await import('node:crypto')).createHash('sha256').update(Buffer.from(zip.ZipFile, 'base64')).digest('hex');
    assert.deepEqual(v1, {
      Content: { Location: location(hex), CodeSha256: Buffer.from(hex, 'hex').toString('base64'), CodeSize: Buffer.from(zip.ZipFile, 'base64').length },
      LayerArn: LAYER('my-layer'),
      LayerVersionArn: LAYER('my-layer', 1),
      Version: 1,
      Description: 'd',
      CreatedDate: '2026-11-23T07:30:00.123+0000',
      CompatibleRuntimes: ['nodejs20.x'],
      LicenseInfo: 'MIT',
      CompatibleArchitectures: [],
    });
    const v2 = await layers.publish('my-layer', { Content: zip }, location);
    assert.equal(v2['Version'], 2);
    assert.equal(v2['Description'], '');
    for (const absent of ['CompatibleRuntimes', 'CompatibleArchitectures', 'LicenseInfo']) assert.equal(absent in v2, false, absent);
    // A name and the layer's ARN name the same layer.
    assert.equal((await layers.get(LAYER('my-layer'), '2', location))['LayerVersionArn'], LAYER('my-layer', 2));
    assert.equal((await layers.getByArn(LAYER('my-layer', 1), location))['Version'], 1);
    assert.equal(layers.codePath(hex), join(dir, 'code', `${hex}.zip`));
    assert.equal(layers.codePath('0'.repeat(64)), undefined);
  });

  it('never reuses a version number, also after every version was deleted and across a restart', async (t) => {
    const s = await setup(t);
    t.after(() => rmSync(s.dir, { recursive: true, force: true }));
    const zip = await content({ a: '1' });
    await s.layers.publish('l', { Content: zip }, location);
    await s.layers.publish('l', { Content: zip }, location);
    await s.layers.delete('l', '1');
    await s.layers.delete('l', '2');
    assert.deepEqual(await s.layers.listVersions('l', {}), { LayerVersions: [] });
    assert.deepEqual(await s.layers.list({}), { Layers: [] });
    assert.equal((await s.layers.publish('l', { Content: zip }, location))['Version'], 3);
    await s.metadata.close();
    const again = await setup(t, s.dir);
    assert.deepEqual((await again.layers.listVersions('l', {})).LayerVersions.map((v) => v['Version']), [3]);
    assert.equal((await again.layers.publish('l', { Content: zip }, location))['Version'], 4);
  });

  it('lists layers with their newest matching version, and versions newest first, in pages', async (t) => {
    const { layers, dir } = await setup(t);
    t.after(() => rmSync(dir, { recursive: true, force: true }));
    const zip = await content({ a: '1' });
    await layers.publish('b-layer', { Content: zip, CompatibleRuntimes: ['nodejs20.x'], CompatibleArchitectures: ['x86_64'] }, location);
    await layers.publish('b-layer', { Content: zip, CompatibleRuntimes: ['provided.al2023'], CompatibleArchitectures: ['arm64'] }, location);
    await layers.publish('a-layer', { Content: zip }, location);
    const all = await layers.list({});
    assert.deepEqual(all.Layers.map((l) => [l.LayerName, l.LayerArn, l.LatestMatchingVersion['Version']]), [
      ['a-layer', LAYER('a-layer'), 1],
      ['b-layer', LAYER('b-layer'), 2],
    ]);
    assert.equal('Content' in all.Layers[0]!.LatestMatchingVersion, false, 'list items carry no Content');
    assert.deepEqual((await layers.list({ runtime: 'nodejs20.x' })).Layers.map((l) => [l.LayerName, l.LatestMatchingVersion['Version']]), [['b-layer', 1]]);
    assert.deepEqual((await layers.list({ architecture: 'arm64' })).Layers.map((l) => [l.LayerName, l.LatestMatchingVersion['Version']]), [['b-layer', 2]]);
    const first = await layers.list({ maxItems: '1' });
    assert.deepEqual(first.Layers.map((l) => l.LayerName), ['a-layer']);
    assert.ok(first.NextMarker);
    const second = await layers.list({ maxItems: '1', marker: first.NextMarker });
    assert.deepEqual(second.Layers.map((l) => l.LayerName), ['b-layer']);
    assert.equal(second.NextMarker, undefined);
    assert.deepEqual((await layers.listVersions('b-layer', {})).LayerVersions.map((v) => v['Version']), [2, 1]);
    assert.deepEqual((await layers.listVersions('b-layer', { runtime: 'nodejs20.x' })).LayerVersions.map((v) => v['Version']), [1]);
    const page = await layers.listVersions('b-layer', { maxItems: '1' });
    assert.deepEqual(page.LayerVersions.map((v) => v['Version']), [2]);
    assert.deepEqual((await layers.listVersions('b-layer', { maxItems: '1', marker: page.NextMarker })).LayerVersions.map((v) => v['Version']), [1]);
    await rejectsWith(layers.list({ maxItems: '51' }), 'ValidationException', "1 validation error detected: Value '51' at 'maxItems' failed to satisfy constraint: Member must have value less than or equal to 50");
    await rejectsWith(layers.list({ marker: '%%%' }), 'InvalidParameterValueException', 'Invalid marker: %%%');
  });

  it('answers bad requests in Lambda words (LS-A TestLambdaLayer)', async (t) => {
    const { layers, dir } = await setup(t);
    t.after(() => rmSync(dir, { recursive: true, force: true }));
    const zip = await content({ a: '1' });
    await layers.publish('l', { Content: zip }, location);
    await rejectsWith(layers.get('doesnotexist', '1', location), 'ResourceNotFoundException', 'The resource you requested does not exist.');
    await rejectsWith(layers.get('l', '2', location), 'ResourceNotFoundException', 'The resource you requested does not exist.');
    await rejectsWith(layers.get('l', '0', location), 'InvalidParameterValueException', 'Layer Version Cannot be less than 1');
    await rejectsWith(layers.get('l', '-1', location), 'InvalidParameterValueException', 'Layer Version Cannot be less than 1');
    await rejectsWith(layers.delete('l', '-1'), 'InvalidParameterValueException', 'Layer Version Cannot be less than 1');
    await layers.delete('doesnotexist', '1');
    await layers.delete('l', '7');
    await rejectsWith(layers.getByArn(LAYER('l'), location), 'ValidationException', /^1 validation error detected: Value 'arn:aws:lambda:us-east-1:000000000000:layer:l' at 'arn' failed to satisfy constraint: Member must satisfy regular expression pattern: \(arn:\(aws\[a-zA-Z-\]\*\)\?:lambda:\(eusc-\)\?/);
    await rejectsWith(layers.getByArn(LAYER('l', 2), location), 'ResourceNotFoundException', 'The resource you requested does not exist.');
    await rejectsWith(layers.publish('has space', { Content: zip }, location), 'ValidationException', /^1 validation error detected: Value 'has space' at 'layerName' failed to satisfy constraint: Member must satisfy regular expression pattern: /);
    await rejectsWith(layers.publish('l', {}, location), 'ValidationException', "1 validation error detected: Value null at 'content' failed to satisfy constraint: Member must not be null");
    await rejectsWith(
      layers.publish('l', { Content: zip, CompatibleRuntimes: ['invalidruntime', 'nodejs20.x'], CompatibleArchitectures: ['invalidarch', 'x86_64'] }, location),
      'ValidationException',
      "2 validation errors detected: Value '[invalidruntime, nodejs20.x]' at 'compatibleRuntimes' failed to satisfy constraint: Member must satisfy enum value set: [nodejs20.x, python3.14, provided.al2023, python3.12, python3.13, nodejs24.x, nodejs22.x, java25, python3.10, python3.11, java21, ruby3.3, ruby3.4, ruby3.2, python3.8, python3.9, java17, nodejs16.x, dotnet10, dotnet8, java11, dotnet6, nodejs18.x, provided.al2, java8.al2]; Value '[invalidarch, x86_64]' at 'compatibleArchitectures' failed to satisfy constraint: Member must satisfy constraint: [Member must satisfy enum value set: [x86_64, arm64], Member must not be null]",
    );
    await rejectsWith(layers.list({ runtime: 'runtimedoesnotexist' }), 'ValidationException', /^1 validation error detected: Value 'runtimedoesnotexist' at 'compatibleRuntime' failed to satisfy constraint: Member must satisfy enum value set: \[ruby3.5, ruby2.6, /);
    await rejectsWith(layers.publish('l', { Content: { ZipFile: Buffer.from('nope').toString('base64') } }, location), 'InvalidParameterValueException', 'Could not unzip uploaded file. Please check your file, then try to upload again.');
    await rejectsWith(layers.publish('l', { Content: { S3Bucket: 'b', S3Key: 'k' } }, location), 'InvalidParameterValueException', /only as Content.ZipFile/);
    // A refused publish uses no number.
    assert.equal((await layers.publish('l', { Content: zip }, location))['Version'], 2);
  });

  it('resolves a function\'s Layers and refuses what Lambda refuses', async (t) => {
    const { layers, dir } = await setup(t);
    t.after(() => rmSync(dir, { recursive: true, force: true }));
    const zip = await content({ a: '1' });
    const arns: string[] = [];
    for (let i = 0; i < 6; i++) arns.push((await layers.publish(`l${i}`, { Content: zip }, location))['LayerVersionArn'] as string);
    const resolved = await layers.resolve(arns.slice(0, 5));
    assert.deepEqual(resolved.map((l) => l.arn), arns.slice(0, 5));
    assert.equal(resolved[0]!.codeSize, Buffer.from(zip.ZipFile, 'base64').length);
    await rejectsWith(layers.resolve(arns), 'InvalidParameterValueException', 'Cannot reference more than 5 layers.');
    await rejectsWith(layers.resolve([LAYER('doesnotexist', 1)]), 'InvalidParameterValueException', `Layer version ${LAYER('doesnotexist', 1)} does not exist.`);
    await rejectsWith(layers.resolve([LAYER('l0')]), 'ValidationException', /^1 validation error detected: Value '\[arn:aws:lambda:us-east-1:000000000000:layer:l0\]' at 'layers' failed to satisfy constraint: Member must satisfy constraint: \[Member must have length less than or equal to 2048/);
    await rejectsWith(
      layers.resolve(['arn:aws:lambda:eu-west-1:000000000000:layer:l0:1']),
      'InvalidParameterValueException',
      'Layers are not in the same region as the function. Layers are expected to be in region us-east-1.',
    );
    await rejectsWith(
      layers.resolve([arns[0]!, arns[0]!]),
      'InvalidParameterValueException',
      `Two different versions of the same layer are not allowed to be referenced in the same function. ${arns[0]} and ${arns[0]} are versions of the same layer.`,
    );
    await layers.delete('l0', '1');
    await rejectsWith(layers.resolve([arns[0]!]), 'InvalidParameterValueException', `Layer version ${arns[0]} does not exist.`);
  });
});

describe('ZipCodePreparer.prepareLayers', () => {
  it('merges layers in order: later files and links replace earlier entries, directories merge', async (t) => {
    const dir = mkdtempSync(join(tmpdir(), 'kindling-opt-'));
    t.after(() => rmSync(dir, { recursive: true, force: true }));
    const blobs = new FileBlobStore(dir);
    const first = await blobs.put(
      await makeZip([
        { name: 'nodejs/node_modules/shared/index.js', data: 'first' },
        { name: 'nodejs/node_modules/only-first/index.js', data: 'first' },
        { name: 'bin/tool', data: 'a directory in the first layer' },
        { name: 'link', data: 'nodejs', mode: 0o120777 },
      ]),
    );
    const second = await blobs.put(
      await makeZip([
        { name: 'nodejs/node_modules/shared/index.js', data: 'second' },
        { name: 'bin', data: 'a file replaces the directory' },
        { name: 'link', data: 'a file replaces the link' },
        { name: 'bootstrap', data: '#!/bin/sh', mode: 0o100755 },
      ]),
    );
    const preparer = new ZipCodePreparer(blobs);
    const opt = await preparer.prepareLayers([first, second]);
    assert.equal(opt, blobs.taskRootPath(layersKey([first, second])));
    assert.equal(readFileSync(join(opt, 'nodejs/node_modules/shared/index.js'), 'utf8'), 'second');
    assert.equal(readFileSync(join(opt, 'nodejs/node_modules/only-first/index.js'), 'utf8'), 'first');
    assert.equal(readFileSync(join(opt, 'bin'), 'utf8'), 'a file replaces the directory');
    assert.equal(lstatSync(join(opt, 'link')).isFile(), true);
    assert.equal(statSync(join(opt, 'bootstrap')).mode & 0o777, 0o755);
    // The other order is another directory, with the other winner.
    const reversed = await preparer.prepareLayers([second, first]);
    assert.notEqual(reversed, opt);
    assert.equal(readFileSync(join(reversed, 'nodejs/node_modules/shared/index.js'), 'utf8'), 'first');
    assert.equal(readlinkSync(join(reversed, 'link')), 'nodejs');
    assert.equal(lstatSync(join(reversed, 'bin')).isDirectory(), true);
  });
});

describe('FunctionRegistry with layers', () => {
  it('keeps copies of the layers, shows them in the configuration, hands the data plane a merged /opt', async (t) => {
    const s = await setup(t);
    t.after(() => rmSync(s.dir, { recursive: true, force: true }));
    const zip = await content({ 'nodejs/node_modules/m/index.js': 'module.exports = 1;' });
    const a = (await s.layers.publish('a', { Content: zip }, location))['LayerVersionArn'] as string;
    const b = (await s.layers.publish('b', { Content: await content({ 'nodejs/node_modules/m/index.js': 'module.exports = 2;' }) }, location))['LayerVersionArn'] as string;
    const changed: string[] = [];
    const registry = await FunctionRegistry.open({
      metadata: s.metadata,
      blobs: s.blobs,
      preparer: new ZipCodePreparer(s.blobs),
      clock: s.clock,
      partition,
      layers: s.layers,
      hostArchitecture: 'x86_64',
      onFunctionChanged: (n) => changed.push(n),
      logger: { error: () => {} },
    });
    t.after(() => registry.close());
    const code = (await handlerZip()).toString('base64');
    const created = await registry.create({ FunctionName: 'f', Role: ROLE, Runtime: 'nodejs20.x', Handler: 'index.handler', Code: { ZipFile: code }, Layers: [a, b] });
    assert.deepEqual(created['Layers'], [
      { Arn: a, CodeSize: Buffer.from(zip.ZipFile, 'base64').length },
      { Arn: b, CodeSize: (created['Layers'] as { CodeSize: number }[])[1]!.CodeSize },
    ]);
    await registry.whenIdle();
    const { spec } = registry.resolveForInvoke('f', undefined);
    assert.equal(spec.layers?.length, 2);
    assert.equal(readFileSync(join(spec.optDir!, 'nodejs/node_modules/m/index.js'), 'utf8'), 'module.exports = 2;');

    // A layer change is a configuration update; publishing snapshots the layers.
    const updated = await registry.updateConfiguration('f', { Layers: [b] });
    assert.equal(updated['LastUpdateStatus'], 'InProgress');
    await registry.whenIdle();
    const after = registry.resolveForInvoke('f', undefined).spec;
    assert.notEqual(after.key, spec.key, 'a new key retires the warm sandboxes');
    assert.ok(changed.includes('f'));
    assert.equal(readFileSync(join(after.optDir!, 'nodejs/node_modules/m/index.js'), 'utf8'), 'module.exports = 2;');
    await registry.updateCode('f', { ZipFile: code, Publish: true });
    await registry.whenIdle();
    await registry.updateConfiguration('f', { Layers: [] });
    await registry.whenIdle();
    assert.deepEqual((await registry.getConfiguration('f', '1'))['Layers'], [{ Arn: b, CodeSize: (created['Layers'] as { CodeSize: number }[])[1]!.CodeSize }]);
    assert.equal('Layers' in (await registry.getConfiguration('f', undefined)), false, 'no Layers member without layers');
    const usage = (await registry.accountSettings()).AccountUsage.TotalCodeSize;
    assert.equal(usage - s.layers.totalCodeSize(), 2 * Buffer.from(code, 'base64').length, 'two function versions, plus the layer archives');
    assert.equal(s.layers.totalCodeSize(), (created['Layers'] as { CodeSize: number }[]).reduce((n, l) => n + l.CodeSize, 0));
    const latest = registry.resolveForInvoke('f', undefined).spec;
    assert.equal(latest.optDir, undefined);
    assert.equal(latest.layers, undefined);
    assert.ok(registry.resolveForInvoke('f', '1').spec.optDir);

    // The published version keeps its layer after the layer version is deleted, also across a restart.
    await s.layers.delete('b', '1');
    for (const root of readdirSync(join(s.dir, 'tasks'))) rmSync(join(s.dir, 'tasks', root), { recursive: true, force: true });
    registry.close();
    const reopened = await FunctionRegistry.open({
      metadata: s.metadata,
      blobs: s.blobs,
      preparer: new ZipCodePreparer(s.blobs),
      clock: s.clock,
      partition,
      layers: s.layers,
      hostArchitecture: 'x86_64',
      logger: { error: () => {} },
    });
    t.after(() => reopened.close());
    const v1 = reopened.resolveForInvoke('f', '1').spec;
    assert.equal(readFileSync(join(v1.optDir!, 'nodejs/node_modules/m/index.js'), 'utf8'), 'module.exports = 2;', 'the restart unpacked the layers again');
    await rejectsWith(reopened.updateConfiguration('f', { Layers: [b] }), 'InvalidParameterValueException', `Layer version ${b} does not exist.`);
  });
  it('refuses a function whose code and layers together unzip to more than 250 MB, in Lambda words', async (t) => {
    const s = await setup(t);
    t.after(() => rmSync(s.dir, { recursive: true, force: true }));
    // Zeros deflate to almost nothing: a layer of exactly the quota (accepted alone).
    const big = await makeZip([{ name: 'big.bin', data: Buffer.alloc(262_144_000) }]);
    const arn = (await s.layers.publish('big', { Content: { ZipFile: big.toString('base64') } }, location))['LayerVersionArn'] as string;
    const registry = await FunctionRegistry.open({
      metadata: s.metadata,
      blobs: s.blobs,
      preparer: new ZipCodePreparer(s.blobs),
      clock: s.clock,
      partition,
      layers: s.layers,
      hostArchitecture: 'x86_64',
      logger: { error: () => {} },
    });
    t.after(() => registry.close());
    const body = 'export const handler = async (e) => e;';
    const code = (await handlerZip(body)).toString('base64');
    const tooBig = `Function code combined with layers exceeds the maximum allowed size of 262144000 bytes. The actual size is ${262_144_000 + body.length} bytes.`;
    await rejectsWith(
      registry.create({ FunctionName: 'f', Role: ROLE, Runtime: 'nodejs20.x', Handler: 'index.handler', Code: { ZipFile: code }, Layers: [arn] }),
      'InvalidParameterValueException',
      tooBig,
    );
    await registry.create({ FunctionName: 'f', Role: ROLE, Runtime: 'nodejs20.x', Handler: 'index.handler', Code: { ZipFile: code } });
    await registry.whenIdle();
    await rejectsWith(registry.updateConfiguration('f', { Layers: [arn] }), 'InvalidParameterValueException', tooBig);
  });
});
