/**
 * Lambda layers end to end, through the real AWS SDK: the layer API
 * (/2018-10-31/layers), functions that reference layers, what a sandbox
 * sees at /opt (the process backend shows the merged directory where it is
 * on the host instead), and layers across a restart.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import {
  CreateFunctionCommand,
  DeleteLayerVersionCommand,
  GetFunctionConfigurationCommand,
  GetLayerVersionByArnCommand,
  GetLayerVersionCommand,
  InvokeCommand,
  LambdaServiceException,
  ListLayersCommand,
  ListLayerVersionsCommand,
  PublishLayerVersionCommand,
  UpdateFunctionConfigurationCommand,
  waitUntilFunctionUpdatedV2,
} from '@aws-sdk/client-lambda';
import type { LambdaClient } from '@aws-sdk/client-lambda';
import { deploy, E2E_SANDBOX, json, logs, ROLE, startKindling, zip } from './harness.js';

const REGION_ARN = 'arn:aws:lambda:us-east-1:000000000000';

async function rejects(p: Promise<unknown>, name: string, message: string | RegExp): Promise<void> {
  await assert.rejects(p, (err: unknown) => {
    assert.ok(err instanceof LambdaServiceException, String(err));
    assert.equal(err.name, name);
    if (typeof message === 'string') assert.equal(err.message, message);
    else assert.match(err.message, message);
    return true;
  });
}

async function publish(client: LambdaClient, name: string, files: Record<string, string | { content: string; mode: number }>, extra: object = {}) {
  return client.send(new PublishLayerVersionCommand({ LayerName: name, Content: { ZipFile: await zip(files) }, ...extra }));
}

/** A module in a layer's nodejs/node_modules, saying which layer it came from. */
function greetLayer(from: string): Record<string, string> {
  return { 'nodejs/node_modules/greet/index.js': `module.exports = () => 'hello from ${from}';`, [`nodejs/node_modules/only-${from}/index.js`]: `module.exports = '${from}';` };
}

const USES_LAYERS = `
const fs = require('node:fs');
exports.handler = async (event) => {
  const out = { greet: require('greet')(), nodePath: process.env.NODE_PATH };
  for (const m of event.modules ?? []) {
    try { out[m] = require(m); } catch (e) { out[m] = 'missing: ' + e.code; }
  }
  try { fs.writeFileSync('/opt/written-by-function', 'x'); out.write = 'ok'; } catch (e) { out.write = e.code; }
  return out;
};`;

test('the layer API: publish, get, by ARN, list, delete; numbers are never reused', async (t) => {
  const k = await startKindling(t);
  const c = k.client;
  const v1 = await publish(c, 'tools', greetLayer('a'), { Description: 'first', CompatibleRuntimes: ['nodejs20.x'], CompatibleArchitectures: ['x86_64'], LicenseInfo: 'MIT' });
  assert.equal(v1.$metadata.httpStatusCode, 201);
  assert.equal(v1.LayerArn, `${REGION_ARN}:layer:tools`);
  assert.equal(v1.LayerVersionArn, `${REGION_ARN}:layer:tools:1`);
  assert.equal(v1.Version, 1);
  assert.equal(v1.Description, 'first');
  assert.equal(v1.LicenseInfo, 'MIT');
  assert.deepEqual(v1.CompatibleRuntimes, ['nodejs20.x']);
  assert.deepEqual(v1.CompatibleArchitectures, ['x86_64']);
  assert.match(String(v1.CreatedDate), /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}\+0000$/);
  // Content.Location downloads the very zip that was published.
  const download = await fetch(v1.Content!.Location!);
  assert.equal(download.status, 200);
  const bytes = Buffer.from(await download.arrayBuffer());
  assert.equal(bytes.length, v1.Content!.CodeSize);
  const { createHash } = await import('node:crypto');
  assert.equal(createHash('sha256').update(bytes).digest('base64'), v1.Content!.CodeSha256);

  // Without the optional members: no CompatibleRuntimes/Architectures/LicenseInfo, Description "".
  const v2 = await publish(c, 'tools', greetLayer('b'));
  assert.equal(v2.Version, 2);
  assert.equal(v2.Description, '');
  assert.equal(v2.CompatibleRuntimes, undefined);
  assert.equal(v2.LicenseInfo, undefined);

  const got = await c.send(new GetLayerVersionCommand({ LayerName: 'tools', VersionNumber: 1 }));
  assert.equal(got.LayerVersionArn, v1.LayerVersionArn);
  assert.equal(got.Content?.CodeSha256, v1.Content?.CodeSha256);
  const byArn = await c.send(new GetLayerVersionByArnCommand({ Arn: v2.LayerVersionArn }));
  assert.equal(byArn.Version, 2);

  const layers = await c.send(new ListLayersCommand({}));
  assert.deepEqual(layers.Layers?.map((l) => [l.LayerName, l.LayerArn, l.LatestMatchingVersion?.Version]), [['tools', v1.LayerArn, 2]]);
  // The filter picks the newest version that matches it.
  const matching = await c.send(new ListLayersCommand({ CompatibleRuntime: 'nodejs20.x' }));
  assert.equal(matching.Layers?.[0]?.LatestMatchingVersion?.Version, 1);
  assert.deepEqual((await c.send(new ListLayersCommand({ CompatibleRuntime: 'python3.12' }))).Layers, []);
  const versions = await c.send(new ListLayerVersionsCommand({ LayerName: 'tools' }));
  assert.deepEqual(versions.LayerVersions?.map((v) => v.Version), [2, 1], 'newest first');
  const page = await c.send(new ListLayerVersionsCommand({ LayerName: 'tools', MaxItems: 1 }));
  assert.deepEqual(page.LayerVersions?.map((v) => v.Version), [2]);
  const next = await c.send(new ListLayerVersionsCommand({ LayerName: 'tools', MaxItems: 1, Marker: page.NextMarker }));
  assert.deepEqual(next.LayerVersions?.map((v) => v.Version), [1]);
  assert.equal(next.NextMarker, undefined);
  assert.deepEqual((await c.send(new ListLayerVersionsCommand({ LayerName: 'nope' }))).LayerVersions, []);

  // Delete answers 204 also for what does not exist (as recorded against AWS).
  assert.equal((await c.send(new DeleteLayerVersionCommand({ LayerName: 'tools', VersionNumber: 1 }))).$metadata.httpStatusCode, 204);
  await c.send(new DeleteLayerVersionCommand({ LayerName: 'tools', VersionNumber: 1 }));
  await c.send(new DeleteLayerVersionCommand({ LayerName: 'nope', VersionNumber: 7 }));
  await rejects(c.send(new GetLayerVersionCommand({ LayerName: 'tools', VersionNumber: 1 })), 'ResourceNotFoundException', 'The resource you requested does not exist.');
  await c.send(new DeleteLayerVersionCommand({ LayerName: 'tools', VersionNumber: 2 }));
  assert.deepEqual((await c.send(new ListLayerVersionsCommand({ LayerName: 'tools' }))).LayerVersions, []);
  assert.deepEqual((await c.send(new ListLayersCommand({}))).Layers, []);
  const v3 = await publish(c, 'tools', greetLayer('c'));
  assert.equal(v3.Version, 3, 'a number is never reused, even after every version was deleted');

  // Errors, in Lambda's words.
  await rejects(c.send(new GetLayerVersionCommand({ LayerName: 'tools', VersionNumber: 0 })), 'InvalidParameterValueException', 'Layer Version Cannot be less than 1');
  await rejects(c.send(new DeleteLayerVersionCommand({ LayerName: 'tools', VersionNumber: -1 })), 'InvalidParameterValueException', 'Layer Version Cannot be less than 1');
  await rejects(c.send(new GetLayerVersionByArnCommand({ Arn: v3.LayerArn })), 'ValidationException', /^1 validation error detected: Value '.*:layer:tools' at 'arn' failed to satisfy constraint: Member must satisfy regular expression pattern: /);
  await rejects(publish(c, 'bad name', greetLayer('x')), 'ValidationException', /at 'layerName' failed to satisfy constraint: Member must satisfy regular expression pattern/);
  await rejects(
    c.send(new PublishLayerVersionCommand({ LayerName: 'broken', Content: { ZipFile: Buffer.from('not a zip') } })),
    'InvalidParameterValueException',
    'Could not unzip uploaded file. Please check your file, then try to upload again.',
  );
  await rejects(
    publish(c, 'badruntime', greetLayer('x'), { CompatibleRuntimes: ['invalidruntime'] }),
    'ValidationException',
    /^1 validation error detected: Value '\[invalidruntime\]' at 'compatibleRuntimes' failed to satisfy constraint: Member must satisfy enum value set: \[nodejs20.x, /,
  );
  await rejects(
    c.send(new ListLayersCommand({ CompatibleArchitecture: 'archdoesnotexist' as 'x86_64' })),
    'ValidationException',
    "1 validation error detected: Value 'archdoesnotexist' at 'compatibleArchitecture' failed to satisfy constraint: Member must satisfy enum value set: [x86_64, arm64]",
  );
});

test('functions with layers: modules from /opt/nodejs/node_modules, later layers win, read-only /opt, a bootstrap from a layer', async (t) => {
  const k = await startKindling(t);
  const c = k.client;
  const a = await publish(c, 'layer-a', greetLayer('a'));
  const b = await publish(c, 'layer-b', greetLayer('b'));

  await deploy(c, 'with-layers', { 'index.js': USES_LAYERS }, { Layers: [a.LayerVersionArn!, b.LayerVersionArn!], Timeout: 30 });
  const config = await c.send(new GetFunctionConfigurationCommand({ FunctionName: 'with-layers' }));
  assert.deepEqual(config.Layers, [
    { Arn: a.LayerVersionArn, CodeSize: a.Content!.CodeSize },
    { Arn: b.LayerVersionArn, CodeSize: b.Content!.CodeSize },
  ]);
  const first = json((await c.send(new InvokeCommand({ FunctionName: 'with-layers', Payload: Buffer.from('{"modules":["only-a","only-b"]}') }))).Payload) as Record<string, string>;
  assert.equal(first['greet'], 'hello from b', 'the later layer overwrites the earlier one');
  assert.equal(first['only-a'], 'a');
  assert.equal(first['only-b'], 'b');
  if (E2E_SANDBOX !== 'process') {
    assert.match(first['nodePath']!, /^\/opt\/nodejs\/node20\/node_modules:\/opt\/nodejs\/node_modules:/);
    assert.ok(first['write'] === 'EROFS' || first['write'] === 'EACCES', `/opt is read-only, the write gave ${first['write']}`);
  }

  // A change of layers is a configuration update: InProgress, then Successful, and new sandboxes.
  const updating = await c.send(new UpdateFunctionConfigurationCommand({ FunctionName: 'with-layers', Layers: [b.LayerVersionArn!, a.LayerVersionArn!] }));
  assert.equal(updating.LastUpdateStatus, 'InProgress');
  await waitUntilFunctionUpdatedV2({ client: c, maxWaitTime: 60 }, { FunctionName: 'with-layers' });
  const swapped = json((await c.send(new InvokeCommand({ FunctionName: 'with-layers' }))).Payload) as Record<string, string>;
  assert.equal(swapped['greet'], 'hello from a');

  // The function holds a copy: deleting the layer version changes nothing for it, also in a new sandbox.
  await c.send(new DeleteLayerVersionCommand({ LayerName: 'layer-a', VersionNumber: 1 }));
  await c.send(new UpdateFunctionConfigurationCommand({ FunctionName: 'with-layers', Description: 'a new sandbox, please' }));
  await waitUntilFunctionUpdatedV2({ client: c, maxWaitTime: 60 }, { FunctionName: 'with-layers' });
  const afterDelete = await c.send(new GetFunctionConfigurationCommand({ FunctionName: 'with-layers' }));
  assert.deepEqual(afterDelete.Layers?.map((l) => l.Arn), [b.LayerVersionArn, a.LayerVersionArn]);
  const still = json((await c.send(new InvokeCommand({ FunctionName: 'with-layers' }))).Payload) as Record<string, string>;
  assert.equal(still['greet'], 'hello from a');
  // ... but it cannot be added again.
  await rejects(
    c.send(new UpdateFunctionConfigurationCommand({ FunctionName: 'with-layers', Layers: [a.LayerVersionArn!] })),
    'InvalidParameterValueException',
    `Layer version ${a.LayerVersionArn} does not exist.`,
  );
  // Layers [] removes them: Layers is left out of the configuration again.
  await c.send(new UpdateFunctionConfigurationCommand({ FunctionName: 'with-layers', Layers: [] }));
  await waitUntilFunctionUpdatedV2({ client: c, maxWaitTime: 60 }, { FunctionName: 'with-layers' });
  assert.equal((await c.send(new GetFunctionConfigurationCommand({ FunctionName: 'with-layers' }))).Layers, undefined);
  const none = await c.send(new InvokeCommand({ FunctionName: 'with-layers' }));
  assert.equal(none.FunctionError, 'Unhandled', 'without the layer, require("greet") fails');

  // provided.al2023 without a bootstrap in its package runs the layer's /opt/bootstrap.
  const bootstrap = `#!/bin/bash
set -euo pipefail
API="http://\${AWS_LAMBDA_RUNTIME_API}/2018-06-01/runtime/invocation"
while true; do
  HEADERS="$(mktemp)"
  EVENT=$(curl -sS -LD "$HEADERS" "$API/next")
  ID=$(grep -Fi Lambda-Runtime-Aws-Request-Id "$HEADERS" | tr -d '[:space:]' | cut -d: -f2)
  curl -sS -X POST "$API/$ID/response" -d "{\\"from\\":\\"layer\\",\\"self\\":\\"$0\\",\\"event\\":$EVENT}" >/dev/null
done
`;
  const runtimeLayer = await publish(c, 'bash-runtime', { bootstrap: { content: bootstrap, mode: 0o755 } });
  await deploy(c, 'custom-from-layer', { 'function.sh': 'echo not a bootstrap' }, { Runtime: 'provided.al2023', Handler: 'function.handler', Layers: [runtimeLayer.LayerVersionArn!], Timeout: 30, MemorySize: 512 });
  const custom = await c.send(new InvokeCommand({ FunctionName: 'custom-from-layer', Payload: Buffer.from('{"x":1}'), LogType: 'Tail' }));
  assert.equal(custom.FunctionError, undefined, logs(custom.LogResult));
  const answer = json(custom.Payload) as { from: string; self: string; event: unknown };
  assert.equal(answer.from, 'layer');
  assert.deepEqual(answer.event, { x: 1 });
  if (E2E_SANDBOX !== 'process') assert.equal(answer.self, '/opt/bootstrap');
});

test('Layers errors on CreateFunction and UpdateFunctionConfiguration, in Lambda words', async (t) => {
  const k = await startKindling(t);
  const c = k.client;
  const arns: string[] = [];
  for (let i = 1; i <= 6; i++) arns.push((await publish(c, `l${i}`, { [`f${i}`]: 'x' })).LayerVersionArn!);
  const zipped = await zip({ 'index.js': 'exports.handler = async () => 1;' });
  const createZip = (layers: string[]) =>
    c.send(new CreateFunctionCommand({ FunctionName: 'refused', Runtime: 'nodejs20.x', Handler: 'index.handler', Role: ROLE, Code: { ZipFile: zipped }, Layers: layers }));
  await rejects(createZip(arns), 'InvalidParameterValueException', 'Cannot reference more than 5 layers.');
  await rejects(createZip([`${REGION_ARN}:layer:doesnotexist:1`]), 'InvalidParameterValueException', `Layer version ${REGION_ARN}:layer:doesnotexist:1 does not exist.`);
  await rejects(createZip([`${REGION_ARN}:layer:l1:9`]), 'InvalidParameterValueException', `Layer version ${REGION_ARN}:layer:l1:9 does not exist.`);
  await rejects(
    createZip([`${REGION_ARN}:layer:l1`]),
    'ValidationException',
    `1 validation error detected: Value '[${REGION_ARN}:layer:l1]' at 'layers' failed to satisfy constraint: Member must satisfy constraint: [Member must have length less than or equal to 2048, Member must have length greater than or equal to 1, Member must satisfy regular expression pattern: (arn:(aws[a-zA-Z-]*)?:lambda:(eusc-)?[a-z]{2}((-gov)|(-iso([a-z]?)))?-[a-z]+-\\d{1}:\\d{12}:layer:[a-zA-Z0-9-_]+:[0-9]+)|(arn:[a-zA-Z0-9-]+:lambda:::awslayer:[a-zA-Z0-9-_]+), Member must not be null]`,
  );
  await rejects(
    createZip(['arn:aws:lambda:eu-west-1:000000000000:layer:l1:1']),
    'InvalidParameterValueException',
    'Layers are not in the same region as the function. Layers are expected to be in region us-east-1.',
  );
  const l1v2 = (await publish(c, 'l1', { f: 'y' })).LayerVersionArn!;
  await rejects(
    createZip([arns[0]!, l1v2]),
    'InvalidParameterValueException',
    `Two different versions of the same layer are not allowed to be referenced in the same function. ${arns[0]} and ${l1v2} are versions of the same layer.`,
  );
  await deploy(c, 'plain', { 'index.js': 'exports.handler = async () => 1;' });
  await rejects(
    c.send(new UpdateFunctionConfigurationCommand({ FunctionName: 'plain', Layers: arns })),
    'InvalidParameterValueException',
    'Cannot reference more than 5 layers.',
  );
  assert.equal((await c.send(new GetFunctionConfigurationCommand({ FunctionName: 'plain' }))).Layers, undefined, 'a refused update changes nothing');
});

test('layers survive a restart: versions, numbering, and the functions that use them', async (t) => {
  const dataDir = mkdtempSync(join(tmpdir(), 'kindling-layers-restart-'));
  t.after(() => rmSync(dataDir, { recursive: true, force: true }));
  const first = await startKindling(t, { dataDir });
  const v1 = await publish(first.client, 'kept', greetLayer('kept'));
  await publish(first.client, 'kept', greetLayer('kept2'));
  await first.client.send(new DeleteLayerVersionCommand({ LayerName: 'kept', VersionNumber: 2 }));
  await deploy(first.client, 'uses-kept', { 'index.js': USES_LAYERS }, { Layers: [v1.LayerVersionArn!], Timeout: 30 });
  assert.equal(await first.stop('SIGTERM'), 0);
  // The unpacked directories are caches of the stored zips: a restart rebuilds them.
  rmSync(join(dataDir, 'tasks'), { recursive: true, force: true });

  const second = await startKindling(t, { dataDir });
  const c = second.client;
  assert.deepEqual((await c.send(new ListLayerVersionsCommand({ LayerName: 'kept' }))).LayerVersions?.map((v) => v.Version), [1]);
  assert.equal((await c.send(new GetLayerVersionCommand({ LayerName: 'kept', VersionNumber: 1 }))).Content?.CodeSha256, v1.Content?.CodeSha256);
  assert.equal((await publish(c, 'kept', greetLayer('kept3'))).Version, 3);
  const out = json((await c.send(new InvokeCommand({ FunctionName: 'uses-kept' }))).Payload) as Record<string, string>;
  assert.equal(out['greet'], 'hello from kept');
});
