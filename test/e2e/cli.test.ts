/**
 * The `kindling` client CLI end to end: ./bin/kindling as a child process
 * against the real `kindling up`: deploy of a SAM template (two functions,
 * CodeUri with node_modules and InlineCode, Globals, Parameters and
 * --parameter-overrides, ReservedConcurrentExecutions, EventInvokeConfig),
 * redeploys that change nothing or one function, invoke, ls, rm.
 * Layers, aliases, function URLs, routes and logs each have their case;
 * test/e2e/sam-app.test.ts deploys one template that uses them together.
 */
import { after, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { GetFunctionCommand, GetFunctionEventInvokeConfigCommand } from '@aws-sdk/client-lambda';
import { eventually, launchKindling } from './harness.js';
import { BIN, frontDoorPort, httpOn, runCli, runCliOk, writeProject, type CliRun } from './cli-harness.js';

const kindling = await launchKindling();
after(async () => {
  kindling.client.destroy();
  await kindling.stop();
  rmSync(kindling.dataDir, { recursive: true, force: true });
});
const { client, url: endpoint } = kindling;

const kindlingCli = (args: readonly string[], options: { cwd?: string; env?: Record<string, string> } = {}): Promise<CliRun> => runCli(endpoint, args, options);
const ok = (args: readonly string[], options: { cwd?: string } = {}): Promise<CliRun> => runCliOk(endpoint, args, options);

/** A project directory with files (path → content), removed after the file's tests. */
function project(files: Record<string, string>): string {
  const p = writeProject(files);
  after(() => p.remove());
  return p.dir;
}

const TEMPLATE = `AWSTemplateFormatVersion: '2010-09-09'
Transform: AWS::Serverless-2016-10-31
Parameters:
  Greeting:
    Type: String
    Default: hello
Globals:
  Function:
    Runtime: nodejs20.x
    Timeout: 5
    Environment:
      Variables:
        GREETING: !Ref Greeting
Resources:
  Greeter:
    Type: AWS::Serverless::Function
    Properties:
      Handler: app.handler
      CodeUri: src/
      MemorySize: 256
      ReservedConcurrentExecutions: 3
      EventInvokeConfig:
        MaximumRetryAttempts: 0
        MaximumEventAgeInSeconds: 120
  Echo:
    Type: AWS::Serverless::Function
    Properties:
      FunctionName: !Sub "\${AWS::StackName}-echo"
      Handler: index.handler
      InlineCode: |
        exports.handler = async (event) => ({ echo: event, greeting: process.env.GREETING, greeter: process.env.GREETER });
      Environment:
        Variables:
          GREETER: !GetAtt Greeter.Arn
`;

const APP = `const pad = require('left-pad');
exports.handler = async (event) => {
  if (event.fail) throw new Error('asked to fail');
  console.log('greeting', event.name);
  return { message: pad(process.env.GREETING + ' ' + event.name, 12) };
};
`;

test('kindling deploy, invoke, ls, rm against the real platform', async () => {
  const dir = project({
    'template.yaml': TEMPLATE,
    'src/app.js': APP,
    'src/node_modules/left-pad/index.js': "module.exports = (s, n) => String(s).padStart(n, '.');",
    'src/node_modules/left-pad/package.json': '{"name":"left-pad","main":"index.js"}',
    'src/.aws-sam/junk.txt': 'not deployed',
    'event.json': '{"name":"bob"}',
  });
  const deployArgs = ['deploy', '--stack-name', 'cli', '--parameter-overrides', 'Greeting=hi'];

  // First deploy: both created, with the overridden parameter and the Globals.
  const first = await ok(deployArgs, { cwd: dir });
  assert.equal(first.stdout, 'created  cli-Greeter\ncreated  cli-echo\n');
  const greeter = await client.send(new GetFunctionCommand({ FunctionName: 'cli-Greeter' }));
  assert.equal(greeter.Configuration?.MemorySize, 256);
  assert.equal(greeter.Configuration?.Timeout, 5);
  assert.deepEqual(greeter.Configuration?.Environment?.Variables, { GREETING: 'hi' });
  assert.equal(greeter.Concurrency?.ReservedConcurrentExecutions, 3);
  const eic = await client.send(new GetFunctionEventInvokeConfigCommand({ FunctionName: 'cli-Greeter' }));
  assert.equal(eic.MaximumRetryAttempts, 0);
  assert.equal(eic.MaximumEventAgeInSeconds, 120);

  // invoke --payload @file: the result on stdout, the log tail on stderr.
  const inv = await ok(['invoke', 'cli-Greeter', '--payload', `@${join(dir, 'event.json')}`]);
  assert.deepEqual(JSON.parse(inv.stdout), { message: '......hi bob' });
  assert.match(inv.stderr, /^START RequestId: \S+ Version: \$LATEST$/m);
  assert.match(inv.stderr, /INFO\tgreeting bob/);
  assert.match(inv.stderr, /^REPORT RequestId: /m);

  // --json, --endpoint instead of the environment; InlineCode and !GetAtt resolved.
  const echo = await kindlingCli(['invoke', 'cli-echo', '--payload', '{"a":1}', '--json', '--endpoint', endpoint], { env: { KINDLING_ENDPOINT: 'http://127.0.0.1:1' } });
  assert.equal(echo.code, 0, echo.stderr);
  const answer = JSON.parse(echo.stdout) as { StatusCode: number; ExecutedVersion: string; Payload: unknown; LogResult: string };
  assert.equal(answer.StatusCode, 200);
  assert.equal(answer.ExecutedVersion, '$LATEST');
  assert.deepEqual(answer.Payload, { echo: { a: 1 }, greeting: 'hi', greeter: 'arn:aws:lambda:us-east-1:000000000000:function:cli-Greeter' });
  assert.match(Buffer.from(answer.LogResult, 'base64').toString(), /END RequestId/);

  // A function error: the error JSON is printed and the exit code is 1.
  const failed = await kindlingCli(['invoke', 'cli-Greeter', '--payload', '{"fail":true}']);
  assert.equal(failed.code, 1);
  assert.equal((JSON.parse(failed.stdout) as { errorMessage: string }).errorMessage, 'asked to fail');

  // --async: queued, prints the request id.
  const queued = await ok(['invoke', 'cli-echo', '--async']);
  assert.match(queued.stdout, /^[0-9a-f-]{36}\n$/);

  // Nothing changed: nothing is updated.
  const again = await ok(deployArgs, { cwd: dir });
  assert.equal(again.stdout, 'unchanged  cli-Greeter\nunchanged  cli-echo\n');

  // One file of one function changed: only that function is updated.
  const before = (await client.send(new GetFunctionCommand({ FunctionName: 'cli-echo' }))).Configuration?.RevisionId;
  writeFileSync(join(dir, 'src/node_modules/left-pad/index.js'), "module.exports = (s, n) => String(s).padStart(n, '*');");
  const changed = await ok(deployArgs, { cwd: dir });
  assert.equal(changed.stdout, 'updated    cli-Greeter (code)\nunchanged  cli-echo\n');
  assert.equal((await client.send(new GetFunctionCommand({ FunctionName: 'cli-echo' }))).Configuration?.RevisionId, before);
  assert.deepEqual(JSON.parse((await ok(['invoke', 'cli-Greeter', '--payload', '{"name":"al"}'])).stdout), { message: '*******hi al' });

  // A parameter changed: configuration updates of both (the Globals use it).
  const reconfigured = await ok(['deploy', '--stack-name', 'cli', '-t', join(dir, 'template.yaml')]);
  assert.equal(reconfigured.stdout, 'updated  cli-Greeter (Environment)\nupdated  cli-echo (Environment)\n');

  // ls: a table, or ListFunctions' JSON.
  const ls = await ok(['ls']);
  assert.match(ls.stdout, /^NAME +RUNTIME +MEMORY +TIMEOUT +CODE SIZE +LAST MODIFIED$/m);
  assert.match(ls.stdout, /^cli-Greeter +nodejs20\.x +256 MB +5 s /m);
  assert.match(ls.stdout, /^cli-echo +nodejs20\.x +128 MB +5 s /m);
  const listed = JSON.parse((await ok(['ls', '--json'])).stdout) as { Functions: { FunctionName: string }[] };
  assert.deepEqual(listed.Functions.map((f) => f.FunctionName).filter((n) => n.startsWith('cli-')).sort(), ['cli-Greeter', 'cli-echo']);

  // rm, then the function is gone: Lambda's error as one line, exit 1.
  assert.equal((await ok(['rm', 'cli-echo'])).stdout, 'deleted cli-echo\n');
  const gone = await kindlingCli(['invoke', 'cli-echo']);
  assert.equal(gone.code, 1);
  assert.equal(gone.stderr, 'kindling: ResourceNotFoundException: Function not found: arn:aws:lambda:us-east-1:000000000000:function:cli-echo\n');
  assert.doesNotMatch((await ok(['ls'])).stdout, /cli-echo/);
  await ok(['rm', 'cli-Greeter']);
});

test('kindling deploy refuses what it cannot deploy, naming the template line, before changing anything', async () => {
  const dir = project({
    'template.yaml': `Transform: AWS::Serverless-2016-10-31
Resources:
  Fine:
    Type: AWS::Serverless::Function
    Properties:
      FunctionName: cli-never-created
      Runtime: nodejs20.x
      Handler: index.handler
      InlineCode: "exports.handler = async () => 1;"
  Worker:
    Type: AWS::Serverless::Function
    Properties:
      Runtime: nodejs20.x
      Handler: index.handler
      InlineCode: "exports.handler = async () => 1;"
      Events:
        Jobs:
          Type: SQS
          Properties:
            Queue: arn:aws:sqs:us-east-1:000000000000:jobs
`,
  });
  const r = await kindlingCli(['deploy'], { cwd: dir });
  assert.equal(r.code, 1);
  assert.equal(r.stderr, 'kindling: template.yaml:18: Events.Jobs type SQS is not supported by kindling deploy (only Api and HttpApi)\n');
  const missing = await kindlingCli(['invoke', 'cli-never-created']);
  assert.match(missing.stderr, /ResourceNotFoundException/);
});

test('kindling deploy: AWS::Serverless::LayerVersion, published only when its content changed', async () => {
  const dir = project({
    'template.yaml': `Transform: AWS::Serverless-2016-10-31
Resources:
  Shared:
    Type: AWS::Serverless::LayerVersion
    Properties:
      LayerName: cli-shared
      ContentUri: shared/
      CompatibleRuntimes: [nodejs20.x]
  UsesLayer:
    Type: AWS::Serverless::Function
    Properties:
      FunctionName: cli-uses-layer
      Runtime: nodejs20.x
      Handler: index.handler
      Layers: [!Ref Shared]
      InlineCode: "exports.handler = async () => require('shared-lib')();"
`,
    'shared/nodejs/node_modules/shared-lib/index.js': "module.exports = () => 'from the layer';",
  });
  cleanup(() => kindlingCli(['rm', 'cli-uses-layer']));
  const first = await ok(['deploy'], { cwd: dir });
  assert.match(first.stdout, /^published +layer cli-shared:(\d+)$/m);
  assert.match(first.stdout, /^created +cli-uses-layer$/m);
  assert.equal(JSON.parse((await ok(['invoke', 'cli-uses-layer'])).stdout), 'from the layer');
  const again = await ok(['deploy'], { cwd: dir });
  assert.match(again.stdout, /^unchanged +layer cli-shared:\d+$/m);
  assert.match(again.stdout, /^unchanged +cli-uses-layer$/m);
  writeFileSync(join(dir, 'shared/nodejs/node_modules/shared-lib/index.js'), "module.exports = () => 'layer v2';");
  const changed = await ok(['deploy'], { cwd: dir });
  assert.match(changed.stdout, /^published +layer cli-shared:\d+$/m);
  assert.match(changed.stdout, /^updated +cli-uses-layer \(Layers\)$/m);
  assert.equal(JSON.parse((await ok(['invoke', 'cli-uses-layer'])).stdout), 'layer v2');
});

test('kindling deploy: AutoPublishAlias publishes a version and points the alias at it; its routes serve the alias', async () => {
  const template = (body: string) => `Transform: AWS::Serverless-2016-10-31
Resources:
  Aliased:
    Type: AWS::Serverless::Function
    Properties:
      FunctionName: cli-aliased
      Runtime: nodejs20.x
      Handler: index.handler
      AutoPublishAlias: live
      InlineCode: "exports.handler = async () => '${body}@' + process.env.AWS_LAMBDA_FUNCTION_VERSION;"
      Events:
        Get:
          Type: HttpApi
          Properties:
            Path: /cli-aliased
            Method: GET
`;
  const dir = project({ 'template.yaml': template('one') });
  cleanup(() => kindlingCli(['rm', 'cli-aliased']));
  const first = await ok(['deploy'], { cwd: dir });
  assert.match(first.stdout, /^alias +cli-aliased:live +→ version 1$/m);
  assert.match(first.stdout, /^route +cli-aliased +GET \/cli-aliased → cli-aliased:live$/m);
  const v1 = JSON.parse((await ok(['invoke', 'cli-aliased', '--qualifier', 'live', '--json'])).stdout) as { ExecutedVersion: string; Payload: unknown };
  assert.deepEqual([v1.ExecutedVersion, v1.Payload], ['1', 'one@1']);
  // The route invokes the alias, as SAM's integration URI names the alias ARN: version 1, not $LATEST.
  const door = `http://127.0.0.1:${frontDoorPort(kindling)}/cli-aliased`;
  const viaRoute = await fetch(door);
  assert.deepEqual([viaRoute.status, await viaRoute.text()], [200, 'one@1']);
  assert.match((await ok(['deploy'], { cwd: dir })).stdout, /^unchanged +cli-aliased$/m);
  writeFileSync(join(dir, 'template.yaml'), template('two'));
  const second = await ok(['deploy'], { cwd: dir });
  assert.match(second.stdout, /^updated +cli-aliased \(code, alias live → version 2\)$/m);
  const v2 = JSON.parse((await ok(['invoke', 'cli-aliased', '--qualifier', 'live', '--json'])).stdout) as { ExecutedVersion: string; Payload: unknown };
  assert.deepEqual([v2.ExecutedVersion, v2.Payload], ['2', 'two@2']);
  const viaRoute2 = await fetch(door);
  assert.deepEqual([viaRoute2.status, await viaRoute2.text()], [200, 'two@2']);
  const listed = (await (await fetch(`${endpoint}/kindling/v1/routes`)).json()) as { Routes: { FunctionName: string; Qualifier?: string }[] };
  assert.deepEqual(listed.Routes.filter((x) => x.FunctionName === 'cli-aliased').map((x) => x.Qualifier), ['live']);
});

test('kindling deploy: FunctionUrlConfig creates a function URL and prints it', async () => {
  const dir = project({
    'template.yaml': `Transform: AWS::Serverless-2016-10-31
Resources:
  WithUrl:
    Type: AWS::Serverless::Function
    Properties:
      FunctionName: cli-with-url
      Runtime: nodejs20.x
      Handler: index.handler
      FunctionUrlConfig:
        AuthType: NONE
      InlineCode: "exports.handler = async () => ({ statusCode: 200, body: 'via url' });"
`,
  });
  cleanup(() => kindlingCli(['rm', 'cli-with-url']));
  const r = await ok(['deploy'], { cwd: dir });
  const m = /^url +cli-with-url +(\S+)$/m.exec(r.stdout);
  assert.ok(m, r.stdout);
  // The URL's host is <url-id>.lambda-url.<region>.localhost, which the host's resolver may not know: connect to 127.0.0.1 with it as Host.
  const target = new URL(m[1]!);
  const res = await httpOn(Number(target.port), 'GET', target.pathname, target.host);
  assert.equal(res.status, 200);
  assert.equal(res.body, 'via url');
  assert.match((await ok(['deploy'], { cwd: dir })).stdout, /^unchanged +cli-with-url$/m);
});

test('kindling deploy: Api and HttpApi events become kindling routes', async () => {
  const dir = project({
    'template.yaml': `Transform: AWS::Serverless-2016-10-31
Resources:
  Routed:
    Type: AWS::Serverless::Function
    Properties:
      FunctionName: cli-routed
      Runtime: nodejs20.x
      Handler: index.handler
      InlineCode: "exports.handler = async (e) => ({ statusCode: 200, body: 'routed' });"
      Events:
        GetItem:
          Type: HttpApi
          Properties:
            Path: /cli-items/{id}
            Method: get
        PostItem:
          Type: Api
          Properties:
            Path: /cli-items
            Method: post
`,
  });
  cleanup(() => kindlingCli(['rm', 'cli-routed']));
  const r = await ok(['deploy'], { cwd: dir });
  assert.match(r.stdout, /^route +cli-routed +GET \S*\/cli-items\/\{id\}$/m);
  assert.match(r.stdout, /^route +cli-routed +POST \S*\/cli-items$/m);
  const listed = (await (await fetch(`${endpoint}/kindling/v1/routes`)).json()) as { Routes: { FunctionName: string; Method: string; Path: string; PayloadFormatVersion: string }[] };
  const mine = listed.Routes.filter((x) => x.FunctionName === 'cli-routed').map((x) => `${x.Method} ${x.Path} ${x.PayloadFormatVersion}`).sort();
  assert.deepEqual(mine, ['GET /cli-items/{id} 2.0', 'POST /cli-items 1.0']);
  assert.match((await ok(['deploy'], { cwd: dir })).stdout, /^unchanged +cli-routed$/m);
});

test('kindling logs prints log events and --follow shows new ones', async () => {
  const dir = project({
    'template.yaml': `Transform: AWS::Serverless-2016-10-31
Resources:
  Logger:
    Type: AWS::Serverless::Function
    Properties:
      FunctionName: cli-logger
      Runtime: nodejs20.x
      Handler: index.handler
      InlineCode: "exports.handler = async (e) => { console.log('logged ' + e.n); return e.n; };"
`,
  });
  cleanup(() => kindlingCli(['rm', 'cli-logger']));
  await ok(['deploy'], { cwd: dir });
  await ok(['invoke', 'cli-logger', '--payload', '{"n":1}']);
  let out = '';
  for (let i = 0; i < 50 && !/logged 1/.test(out); i++) {
    out = (await ok(['logs', 'cli-logger', '--since', '5m'])).stdout;
    if (!/logged 1/.test(out)) await new Promise((r) => setTimeout(r, 100));
  }
  assert.match(out, /^\d{4}-\d\d-\d\dT\S+Z .*logged 1/m);

  const follow: ChildProcess = spawn(process.execPath, [BIN, 'logs', 'cli-logger', '--follow', '--since', '5m', '--endpoint', endpoint], { stdio: ['ignore', 'pipe', 'pipe'] });
  let followed = '';
  follow.stdout!.setEncoding('utf8').on('data', (d: string) => (followed += d));
  cleanup(() => {
    follow.kill();
  });
  await eventually(() => /logged 1/.test(followed), 10_000, 'the old event');
  await ok(['invoke', 'cli-logger', '--payload', '{"n":2}']);
  await eventually(() => /logged 2/.test(followed), 10_000, 'the new event with --follow');
  assert.equal(followed.match(/logged 1/g)?.length, 1);
});

/** Cleanup after the current test file (the platform goes at the end anyway). */
function cleanup(fn: () => unknown): void {
  after(async () => {
    await fn();
  });
}
