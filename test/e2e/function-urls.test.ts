/**
 * Function URLs and HTTP routes end to end: the URL config API through the
 * real SDK against the real `kindling up`, real HTTP clients (node:http with
 * the Host header, and fetch) against its front door, the event the function
 * saw, the response mapping, CORS, errors, routes with payload 1.0 and 2.0,
 * and everything kept across a restart.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { request } from 'node:http';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import {
  CreateAliasCommand,
  CreateFunctionUrlConfigCommand,
  DeleteAliasCommand,
  DeleteFunctionCommand,
  DeleteFunctionUrlConfigCommand,
  GetFunctionUrlConfigCommand,
  ListFunctionUrlConfigsCommand,
  PublishVersionCommand,
  UpdateAliasCommand,
  UpdateFunctionConfigurationCommand,
  UpdateFunctionUrlConfigCommand,
  waitUntilFunctionUpdatedV2,
  type LambdaServiceException,
} from '@aws-sdk/client-lambda';
import { deploy, startKindling, type Kindling } from './harness.js';
import { frontDoorPort } from './cli-harness.js';

type Obj = Record<string, unknown>;
const ARN = (name: string) => `arn:aws:lambda:us-east-1:000000000000:function:${name}`;

/** One function for every case: the path says what to answer. */
const ECHO = {
  'index.js': `
exports.handler = async (event) => {
  const path = event.rawPath ?? event.path;
  if (path.endsWith('/boom')) throw new Error('boom');
  if (path.endsWith('/bare')) return 'hello';
  if (path.endsWith('/object')) return { hello: 'world' };
  if (path.endsWith('/teapot')) return { statusCode: '418', body: "i'm a teapot" };
  if (path.endsWith('/binary')) return { statusCode: 200, headers: { 'content-type': 'application/octet-stream' }, body: Buffer.from([0, 1, 2, 250]).toString('base64'), isBase64Encoded: true };
  if (path.endsWith('/cookies')) return { statusCode: 201, headers: { 'X-Custom': 'yes' }, cookies: ['a=1; Path=/', 'b=2'], body: 'with cookies' };
  return { statusCode: 200, headers: { 'content-type': 'application/json' }, body: JSON.stringify(event) };
};`,
};

interface Reply {
  status: number;
  headers: Record<string, string | string[] | undefined>;
  body: Buffer;
}

/** A request to the front door with node:http: to 127.0.0.1, naming the URL's host in the Host header. */
function send(port: number, host: string, method: string, path: string, headers: Record<string, string> = {}, body?: Buffer | string): Promise<Reply> {
  return new Promise((resolve, reject) => {
    const req = request({ host: '127.0.0.1', port, method, path, headers: { Host: host, ...headers } }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body: Buffer.concat(chunks) }));
    });
    req.on('error', reject);
    req.end(body);
  });
}

/** The url-id and host of a FunctionUrl. */
function hostOf(functionUrl: string): { id: string; host: string } {
  const u = new URL(functionUrl);
  return { id: u.hostname.split('.')[0]!, host: u.host };
}

async function rejects(p: Promise<unknown>, name: string, message: string): Promise<void> {
  await assert.rejects(p, (err: LambdaServiceException) => {
    assert.equal(err.name, name, err.message);
    assert.equal(err.message, message);
    return true;
  });
}

async function putRoutes(k: Kindling, fn: string, routes: unknown[]): Promise<Response> {
  return fetch(`${k.url}/kindling/v1/routes/${fn}`, { method: 'PUT', body: JSON.stringify({ Routes: routes }) });
}

test('function URLs and HTTP routes through the SDK and real HTTP clients, kept across a restart', async (t) => {
  const dataDir = mkdtempSync(join(tmpdir(), 'kindling-urls-e2e-'));
  t.after(() => rmSync(dataDir, { recursive: true, force: true }));
  const first = await startKindling(t, { dataDir });
  const lambda = first.client;
  const port = frontDoorPort(first);
  await deploy(lambda, 'echo', ECHO);

  // ---- the control API
  const created = await lambda.send(
    new CreateFunctionUrlConfigCommand({
      FunctionName: 'echo',
      AuthType: 'NONE',
      Cors: { AllowOrigins: ['https://app.example'], AllowMethods: ['GET', 'POST'], AllowHeaders: ['x-requested-with'], MaxAge: 600 },
    }),
  );
  assert.equal(created.$metadata.httpStatusCode, 201);
  assert.match(created.FunctionUrl!, new RegExp(`^http://[a-z2-7]{32}\\.lambda-url\\.us-east-1\\.localhost:${port}/$`));
  assert.equal(created.FunctionArn, ARN('echo'));
  assert.equal(created.AuthType, 'NONE');
  assert.equal(created.InvokeMode, undefined);
  await rejects(
    lambda.send(new CreateFunctionUrlConfigCommand({ FunctionName: 'echo', AuthType: 'NONE' })),
    'ResourceConflictException',
    `Failed to create function url config for [functionArn = ${ARN('echo')}]. Error message:  FunctionUrlConfig exists for this Lambda function`,
  );
  await rejects(
    lambda.send(new GetFunctionUrlConfigCommand({ FunctionName: 'echo', Qualifier: '1' })),
    'ValidationException',
    "1 validation error detected: Value '1' at 'qualifier' failed to satisfy constraint: Member must satisfy regular expression pattern: ((?!^\\d+$)^[0-9a-zA-Z-_]+$)",
  );
  const got = await lambda.send(new GetFunctionUrlConfigCommand({ FunctionName: 'echo' }));
  assert.equal(got.InvokeMode, 'BUFFERED');
  assert.equal(got.FunctionUrl, created.FunctionUrl);
  assert.ok(got.LastModifiedTime);
  const listed = await lambda.send(new ListFunctionUrlConfigsCommand({ FunctionName: 'echo' }));
  assert.deepEqual(listed.FunctionUrlConfigs?.map((c) => c.FunctionUrl), [created.FunctionUrl]);
  const { id, host } = hostOf(created.FunctionUrl!);

  // ---- the event the function saw
  const echoed = await send(port, host, 'POST', '/some/path?x=1&x=2&y=z', { Cookie: 'c1=v1; c2=v2', 'X-Multi': 'one', 'Content-Type': 'text/plain', 'User-Agent': 'e2e/1' }, 'hello text');
  assert.equal(echoed.status, 200, echoed.body.toString());
  assert.match(String(echoed.headers['x-amzn-requestid']), /^[0-9a-f-]{36}$/);
  const event = JSON.parse(echoed.body.toString()) as Obj;
  assert.equal(event['version'], '2.0');
  assert.equal(event['routeKey'], '$default');
  assert.equal(event['rawPath'], '/some/path');
  assert.equal(event['rawQueryString'], 'x=1&x=2&y=z');
  assert.deepEqual(event['cookies'], ['c1=v1', 'c2=v2']);
  assert.equal((event['headers'] as Obj)['x-multi'], 'one');
  assert.equal((event['headers'] as Obj)['cookie'], undefined);
  assert.deepEqual(event['queryStringParameters'], { x: '1,2', y: 'z' });
  assert.equal(event['body'], 'hello text');
  assert.equal(event['isBase64Encoded'], false);
  assert.equal(event['pathParameters'], undefined);
  const rc = event['requestContext'] as Obj;
  assert.equal(rc['accountId'], 'anonymous');
  assert.equal(rc['apiId'], id);
  assert.equal(rc['domainPrefix'], id);
  assert.equal(rc['domainName'], `${id}.lambda-url.us-east-1.localhost`);
  assert.deepEqual(rc['http'], { method: 'POST', path: '/some/path', protocol: 'HTTP/1.1', sourceIp: '127.0.0.1', userAgent: 'e2e/1' });
  assert.equal(rc['requestId'], echoed.headers['x-amzn-requestid']);
  assert.equal(rc['stage'], '$default');
  assert.equal(typeof rc['timeEpoch'], 'number');
  const binaryIn = JSON.parse((await send(port, host, 'PUT', '/b', { 'Content-Type': 'application/octet-stream' }, Buffer.from([255, 0, 1]))).body.toString()) as Record<string, unknown>;
  assert.equal(binaryIn['isBase64Encoded'], true);
  assert.equal(binaryIn['body'], Buffer.from([255, 0, 1]).toString('base64'));

  // ---- response mapping, with the URL itself (its host resolved to loopback, as curl resolves *.localhost)
  const viaUrl = (path: string): Promise<Reply> =>
    new Promise((resolve, reject) => {
      const req = request(new URL(path, created.FunctionUrl), { lookup: (_h, _o, cb) => cb(null, [{ address: '127.0.0.1', family: 4 }]) }, (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => chunks.push(c));
        res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body: Buffer.concat(chunks) }));
      });
      req.on('error', reject);
      req.end();
    });
  const bare = await viaUrl('bare');
  assert.deepEqual([bare.status, bare.headers['content-type'], bare.body.toString()], [200, 'application/json', 'hello']);
  const object = await viaUrl('object');
  assert.deepEqual([object.status, object.body.toString()], [200, '{"hello":"world"}']);
  const teapot = await viaUrl('teapot');
  assert.deepEqual([teapot.status, teapot.body.toString()], [418, "i'm a teapot"]);
  const cookies = await viaUrl('cookies');
  assert.equal(cookies.status, 201);
  assert.equal(cookies.headers['x-custom'], 'yes');
  assert.deepEqual(cookies.headers['set-cookie'], ['a=1; Path=/', 'b=2']);
  assert.equal(cookies.body.toString(), 'with cookies');
  const binary = await viaUrl('binary');
  assert.equal(binary.headers['content-type'], 'application/octet-stream');
  assert.deepEqual([...binary.body], [0, 1, 2, 250]);

  // ---- a function error: 502 Internal Server Error, as Lambda's URLs answer
  const boom = await viaUrl('boom');
  assert.deepEqual([boom.status, boom.body.toString()], [502, 'Internal Server Error']);

  // ---- CORS: the preflight is answered from the config, actual requests get the headers
  const preflight = await send(port, host, 'OPTIONS', '/x', { Origin: 'https://app.example', 'Access-Control-Request-Method': 'POST', 'Access-Control-Request-Headers': 'x-requested-with' });
  assert.equal(preflight.status, 200);
  assert.equal(preflight.headers['access-control-allow-origin'], 'https://app.example');
  assert.equal(preflight.headers['access-control-allow-methods'], 'GET,POST');
  assert.equal(preflight.headers['access-control-allow-headers'], 'x-requested-with');
  assert.equal(preflight.headers['access-control-max-age'], '600');
  const fromApp = await send(port, host, 'GET', '/object', { Origin: 'https://app.example' });
  assert.equal(fromApp.headers['access-control-allow-origin'], 'https://app.example');
  const fromElsewhere = await send(port, host, 'GET', '/object', { Origin: 'https://other.example' });
  assert.equal(fromElsewhere.headers['access-control-allow-origin'], undefined);
  const updated = await lambda.send(new UpdateFunctionUrlConfigCommand({ FunctionName: 'echo', Cors: { AllowOrigins: ['*'] } }));
  assert.deepEqual(updated.Cors, { AllowOrigins: ['*'] });
  assert.equal((await send(port, host, 'GET', '/object', { Origin: 'https://other.example' })).headers['access-control-allow-origin'], '*');

  // ---- routes (SAM Api/HttpApi events) through the Kindling routes API, requested with fetch
  await deploy(lambda, 'rest', ECHO);
  const put = await putRoutes(first, 'echo', [
    { Method: 'GET', Path: '/items/{id}', PayloadFormatVersion: '2.0' },
    { Method: 'ANY', Path: '/files/{proxy+}', PayloadFormatVersion: '2.0' },
  ]);
  assert.equal(put.status, 200);
  assert.deepEqual(await put.json(), {
    Routes: [
      { FunctionName: 'echo', Method: 'GET', Path: '/items/{id}', PayloadFormatVersion: '2.0' },
      { FunctionName: 'echo', Method: 'ANY', Path: '/files/{proxy+}', PayloadFormatVersion: '2.0' },
    ],
  });
  assert.equal((await putRoutes(first, 'rest', [{ Method: 'POST', Path: '/legacy/{name}', PayloadFormatVersion: '1.0' }])).status, 200);
  const conflict = await putRoutes(first, 'rest', [{ Method: 'GET', Path: '/items/{key}', PayloadFormatVersion: '1.0' }]);
  assert.equal(conflict.status, 409);
  assert.equal(conflict.headers.get('x-amzn-errortype'), 'ResourceConflictException');

  const door = `http://127.0.0.1:${port}`;
  const item = (await (await fetch(`${door}/items/42?q=1`)).json()) as Obj;
  assert.equal(item['routeKey'], 'GET /items/{id}');
  assert.deepEqual(item['pathParameters'], { id: '42' });
  assert.deepEqual(item['queryStringParameters'], { q: '1' });
  const file = (await (await fetch(`${door}/files/a/b.txt`, { method: 'DELETE' })).json()) as Obj;
  assert.deepEqual(file['pathParameters'], { proxy: 'a/b.txt' });
  const legacy = (await (await fetch(`${door}/legacy/alice?tag=1&tag=2`, { method: 'POST', body: '{"k":1}', headers: { 'content-type': 'application/json' } })).json()) as Obj;
  assert.equal(legacy['resource'], '/legacy/{name}');
  assert.equal(legacy['httpMethod'], 'POST');
  assert.deepEqual(legacy['pathParameters'], { name: 'alice' });
  assert.deepEqual(legacy['multiValueQueryStringParameters'], { tag: ['1', '2'] });
  assert.equal(legacy['body'], '{"k":1}');
  const missing = await fetch(`${door}/nothing/here`);
  assert.equal(missing.status, 404);
  assert.deepEqual(await missing.json(), { message: 'Not Found' });
  const all = (await (await fetch(`${first.url}/kindling/v1/routes`)).json()) as { Routes: unknown[] };
  assert.equal(all.Routes.length, 3);

  // ---- a restart keeps the URL (same id, the new front door's port) and the routes
  await first.stop();
  const second = await startKindling(t, { dataDir });
  const port2 = frontDoorPort(second);
  const again = await second.client.send(new GetFunctionUrlConfigCommand({ FunctionName: 'echo' }));
  assert.equal(hostOf(again.FunctionUrl!).id, id);
  assert.equal(new URL(again.FunctionUrl!).port, String(port2));
  const afterRestart = await send(port2, hostOf(again.FunctionUrl!).host, 'GET', '/object');
  assert.deepEqual([afterRestart.status, afterRestart.body.toString()], [200, '{"hello":"world"}']);
  assert.equal((await fetch(`http://127.0.0.1:${port2}/items/7`)).status, 200);

  // ---- deleting the URL: its requests get Lambda's 403; DeleteFunction drops the routes
  const deleted = await second.client.send(new DeleteFunctionUrlConfigCommand({ FunctionName: 'echo' }));
  assert.equal(deleted.$metadata.httpStatusCode, 204);
  const gone = await send(port2, hostOf(again.FunctionUrl!).host, 'GET', '/object');
  assert.equal(gone.status, 403);
  assert.equal(gone.headers['x-amzn-errortype'], 'AccessDeniedException');
  await rejects(second.client.send(new GetFunctionUrlConfigCommand({ FunctionName: 'echo' })), 'ResourceNotFoundException', 'The resource you requested does not exist.');
  await second.client.send(new DeleteFunctionCommand({ FunctionName: 'echo' }));
  assert.equal((await fetch(`http://127.0.0.1:${port2}/items/7`)).status, 404);
  const left = (await (await fetch(`${second.url}/kindling/v1/routes`)).json()) as { Routes: { FunctionName: string }[] };
  assert.deepEqual(left.Routes.map((r) => r.FunctionName), ['rest']);
  const removed = await fetch(`${second.url}/kindling/v1/routes/rest`, { method: 'DELETE' });
  assert.equal(removed.status, 204);
  assert.equal((await fetch(`http://127.0.0.1:${port2}/legacy/x`, { method: 'POST' })).status, 404);
});

test('a route with a Qualifier serves the alias’s version; moving the alias moves the route; a deleted alias is API Gateway’s 500', async (t) => {
  const k = await startKindling(t);
  const lambda = k.client;
  const door = `http://127.0.0.1:${frontDoorPort(k)}`;
  const VERSIONED = {
    'index.js': `exports.handler = async () => ({ statusCode: 200, body: JSON.stringify({ version: process.env.AWS_LAMBDA_FUNCTION_VERSION, mark: process.env.MARK }) });`,
  };
  await deploy(lambda, 'ver', VERSIONED, { Environment: { Variables: { MARK: 'one' } } });
  assert.equal((await lambda.send(new PublishVersionCommand({ FunctionName: 'ver' }))).Version, '1');
  await lambda.send(new UpdateFunctionConfigurationCommand({ FunctionName: 'ver', Environment: { Variables: { MARK: 'two' } } }));
  await waitUntilFunctionUpdatedV2({ client: lambda, maxWaitTime: 60 }, { FunctionName: 'ver' });
  assert.equal((await lambda.send(new PublishVersionCommand({ FunctionName: 'ver' }))).Version, '2');
  await lambda.send(new UpdateFunctionConfigurationCommand({ FunctionName: 'ver', Environment: { Variables: { MARK: 'latest' } } }));
  await waitUntilFunctionUpdatedV2({ client: lambda, maxWaitTime: 60 }, { FunctionName: 'ver' });
  await lambda.send(new CreateAliasCommand({ FunctionName: 'ver', Name: 'live', FunctionVersion: '1' }));

  const notYet = await putRoutes(k, 'ver', [{ Method: 'GET', Path: '/beta', Qualifier: 'beta' }]);
  assert.equal(notYet.status, 404);
  assert.deepEqual(await notYet.json(), { Type: 'User', Message: `Function not found: ${ARN('ver')}:beta` });
  const put = await putRoutes(k, 'ver', [
    { Method: 'GET', Path: '/live', PayloadFormatVersion: '2.0', Qualifier: 'live' },
    { Method: 'GET', Path: '/pinned', PayloadFormatVersion: '1.0', Qualifier: '2' },
    { Method: 'GET', Path: '/latest', PayloadFormatVersion: '2.0' },
  ]);
  assert.equal(put.status, 200);
  const listed = (await (await fetch(`${k.url}/kindling/v1/routes`)).json()) as { Routes: Obj[] };
  assert.deepEqual(
    listed.Routes.map((r) => [r['Path'], r['Qualifier']]),
    [['/latest', undefined], ['/live', 'live'], ['/pinned', '2']],
  );

  const served = async (path: string) => {
    const res = await fetch(`${door}${path}`);
    return { status: res.status, body: (await res.json()) as Obj };
  };
  assert.deepEqual(await served('/live'), { status: 200, body: { version: '1', mark: 'one' } });
  assert.deepEqual(await served('/pinned'), { status: 200, body: { version: '2', mark: 'two' } });
  assert.deepEqual(await served('/latest'), { status: 200, body: { version: '$LATEST', mark: 'latest' } });

  // Moving the alias (as a SAM deploy does) changes what the route serves; weights apply to it as to Invoke.
  await lambda.send(new UpdateAliasCommand({ FunctionName: 'ver', Name: 'live', FunctionVersion: '2' }));
  assert.deepEqual(await served('/live'), { status: 200, body: { version: '2', mark: 'two' } });
  await lambda.send(new UpdateAliasCommand({ FunctionName: 'ver', Name: 'live', FunctionVersion: '2', RoutingConfig: { AdditionalVersionWeights: { '1': 0.5 } } }));
  const seen = new Set<unknown>();
  for (let i = 0; i < 40 && seen.size < 2; i++) seen.add((await served('/live')).body['version']);
  assert.deepEqual([...seen].sort(), ['1', '2']);

  // The alias deleted: the route stays, and answers as an HTTP API does when its integration's target is gone.
  await lambda.send(new DeleteAliasCommand({ FunctionName: 'ver', Name: 'live' }));
  const gone = await fetch(`${door}/live`);
  assert.equal(gone.status, 500);
  assert.deepEqual(await gone.json(), { message: 'Internal Server Error' });
  assert.deepEqual(await served('/pinned'), { status: 200, body: { version: '2', mark: 'two' } });
});
