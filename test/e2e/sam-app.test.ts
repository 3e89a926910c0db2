/**
 * One SAM application, deployed with `kindling deploy` and used the three
 * ways people use it: the `kindling` CLI, the AWS SDK and plain HTTP. The
 * template has two functions, a layer, an alias (AutoPublishAlias), a
 * function URL, an HttpApi route, Globals and a Parameter overridden on the
 * command line; a second deploy changes only the layer's content.
 */
import { after, test } from 'node:test';
import assert from 'node:assert/strict';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { GetAliasCommand, GetFunctionConfigurationCommand, ListLayerVersionsCommand } from '@aws-sdk/client-lambda';
import { launchKindling } from './harness.js';
import { frontDoorPort, httpOn, runCli, runCliOk, writeProject } from './cli-harness.js';

const kindling = await launchKindling();
after(async () => {
  kindling.client.destroy();
  await kindling.stop();
});
const { client, url: endpoint } = kindling;
const cli = (args: readonly string[], cwd?: string) => runCliOk(endpoint, args, cwd === undefined ? {} : { cwd });

const TEMPLATE = `AWSTemplateFormatVersion: '2010-09-09'
Transform: AWS::Serverless-2016-10-31
Description: an application for kindling's end-to-end tests
Parameters:
  Stage:
    Type: String
    Default: dev
Globals:
  Function:
    Runtime: nodejs20.x
    Timeout: 10
    MemorySize: 256
    Environment:
      Variables:
        STAGE: !Ref Stage
Resources:
  Shout:
    Type: AWS::Serverless::LayerVersion
    Properties:
      LayerName: samapp-shout
      ContentUri: layer/
      CompatibleRuntimes: [nodejs20.x]
  Items:
    Type: AWS::Serverless::Function
    Properties:
      FunctionName: samapp-items
      Handler: app.handler
      CodeUri: items/
      Layers: [!Ref Shout]
      AutoPublishAlias: live
      FunctionUrlConfig:
        AuthType: NONE
      Events:
        GetItem:
          Type: HttpApi
          Properties:
            Path: /samapp/items/{id}
            Method: get
  Audit:
    Type: AWS::Serverless::Function
    Properties:
      FunctionName: !Sub "samapp-audit-\${Stage}"
      Handler: index.handler
      InlineCode: |
        exports.handler = async (event) => ({ audited: event, stage: process.env.STAGE, items: process.env.ITEMS_ARN });
      Environment:
        Variables:
          ITEMS_ARN: !GetAtt Items.Arn
`;

// The function answers in the HTTP response format whichever way it is called.
const ITEMS = `const shout = require('shout');
exports.handler = async (event) => {
  const id = (event.pathParameters && event.pathParameters.id) || event.id || event.rawPath;
  console.log('item requested', id);
  return {
    statusCode: 200,
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ item: shout(String(id)), stage: process.env.STAGE, version: process.env.AWS_LAMBDA_FUNCTION_VERSION }),
  };
};
`;

interface ItemBody {
  item: string;
  stage: string;
  version: string;
}

test('a SAM application: deploy, then the CLI, the SDK and HTTP see the functions, the layer, the alias, the URL and the route', async () => {
  const project = writeProject({
    'template.yaml': TEMPLATE,
    'items/app.js': ITEMS,
    'layer/nodejs/node_modules/shout/index.js': "module.exports = (s) => s.toUpperCase() + '!';",
  });
  after(async () => {
    await runCli(endpoint, ['rm', 'samapp-items']);
    await runCli(endpoint, ['rm', 'samapp-audit-prod']);
    project.remove();
  });

  // Deploy, with the parameter overridden.
  const first = await cli(['deploy', '--parameter-overrides', 'Stage=prod'], project.dir);
  assert.match(first.stdout, /^published +layer samapp-shout:1$/m);
  assert.match(first.stdout, /^created +samapp-items$/m);
  assert.match(first.stdout, /^created +samapp-audit-prod$/m);
  assert.match(first.stdout, /^alias +samapp-items:live +→ version 1$/m);
  const url = /^url +samapp-items +(\S+)$/m.exec(first.stdout)?.[1];
  assert.ok(url, first.stdout);
  assert.match(first.stdout, /^route +samapp-items +GET \S*\/samapp\/items\/\{id\} → samapp-items:live$/m);

  // The CLI: invoke through the alias; the layer's module and the Globals' environment are there.
  const viaCli = JSON.parse((await cli(['invoke', 'samapp-items', '--qualifier', 'live', '--payload', '{"id":"cli"}', '--json'])).stdout) as {
    ExecutedVersion: string;
    Payload: { statusCode: number; body: string };
  };
  assert.equal(viaCli.ExecutedVersion, '1');
  assert.deepEqual(JSON.parse(viaCli.Payload.body), { item: 'CLI!', stage: 'prod', version: '1' } satisfies ItemBody);
  const audited = JSON.parse((await cli(['invoke', 'samapp-audit-prod', '--payload', '{"n":1}'])).stdout) as Record<string, unknown>;
  assert.deepEqual(audited, { audited: { n: 1 }, stage: 'prod', items: 'arn:aws:lambda:us-east-1:000000000000:function:samapp-items' });
  assert.match((await cli(['ls'])).stdout, /samapp-audit-prod[\s\S]*samapp-items|samapp-items[\s\S]*samapp-audit-prod/);

  // The SDK: the alias, the layer and the function's configuration as deployed.
  const alias = await client.send(new GetAliasCommand({ FunctionName: 'samapp-items', Name: 'live' }));
  assert.equal(alias.FunctionVersion, '1');
  const layerVersions = await client.send(new ListLayerVersionsCommand({ LayerName: 'samapp-shout' }));
  assert.deepEqual(layerVersions.LayerVersions?.map((l) => l.Version), [1]);
  const live = await client.send(new GetFunctionConfigurationCommand({ FunctionName: 'samapp-items', Qualifier: 'live' }));
  assert.deepEqual(live.Layers?.map((l) => l.Arn), [layerVersions.LayerVersions[0]!.LayerVersionArn]);
  assert.equal(live.MemorySize, 256);
  assert.equal(live.Environment?.Variables?.['STAGE'], 'prod');

  // HTTP: the function URL (by its Host) and the HttpApi route on the front door.
  const port = frontDoorPort(kindling);
  const target = new URL(url);
  const viaUrl = await httpOn(port, 'GET', '/from-url', target.host);
  assert.equal(viaUrl.status, 200, viaUrl.body);
  assert.equal(viaUrl.headers['content-type'], 'application/json');
  assert.equal((JSON.parse(viaUrl.body) as ItemBody).item, '/FROM-URL!');
  const viaRoute = await httpOn(port, 'GET', '/samapp/items/42');
  assert.equal(viaRoute.status, 200, viaRoute.body);
  // The route invokes the alias, as SAM's AutoPublishAlias makes API events do.
  assert.deepEqual(JSON.parse(viaRoute.body), { item: '42!', stage: 'prod', version: '1' } satisfies ItemBody);
  assert.equal((await httpOn(port, 'GET', '/samapp/nothing-here')).status, 404);

  // Logs of what ran, through the CLI.
  let logged = '';
  for (let i = 0; i < 50 && !/item requested 42/.test(logged); i++) {
    if (i > 0) await new Promise((r) => setTimeout(r, 100));
    logged = (await cli(['logs', 'samapp-items', '--since', '5m'])).stdout;
  }
  assert.match(logged, /item requested cli/);
  assert.match(logged, /item requested 42/);
  assert.match(logged, /REPORT RequestId: /);

  // Nothing changed: nothing is deployed.
  const again = await cli(['deploy', '--parameter-overrides', 'Stage=prod'], project.dir);
  assert.match(again.stdout, /^unchanged +layer samapp-shout:1$/m);
  assert.match(again.stdout, /^unchanged +samapp-items$/m);
  assert.match(again.stdout, /^unchanged +samapp-audit-prod$/m);

  // A new layer content: a new layer version, the function updated and published, the alias moved.
  writeFileSync(join(project.dir, 'layer/nodejs/node_modules/shout/index.js'), "module.exports = (s) => s.toUpperCase() + '!!!';");
  const changed = await cli(['deploy', '--parameter-overrides', 'Stage=prod'], project.dir);
  assert.match(changed.stdout, /^published +layer samapp-shout:2$/m);
  assert.match(changed.stdout, /^updated +samapp-items \(Layers/m);
  assert.match(changed.stdout, /^unchanged +samapp-audit-prod$/m);
  assert.match(changed.stdout, /^alias +samapp-items:live +→ version 2$/m);
  const v2 = JSON.parse((await httpOn(port, 'GET', '/again', target.host)).body) as ItemBody;
  assert.deepEqual(v2, { item: '/AGAIN!!!', stage: 'prod', version: '2' });
  const routedV2 = JSON.parse((await httpOn(port, 'GET', '/samapp/items/7')).body) as ItemBody;
  assert.deepEqual(routedV2, { item: '7!!!', stage: 'prod', version: '2' });
  assert.equal((await client.send(new GetAliasCommand({ FunctionName: 'samapp-items', Name: 'live' }))).FunctionVersion, '2');
});
