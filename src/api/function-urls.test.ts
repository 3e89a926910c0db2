import assert from 'node:assert/strict';
import { request } from 'node:http';
import type { AddressInfo } from 'node:net';
import { describe, it } from 'node:test';
import type { InvokeCommand, InvokeResponse } from '../frontend/types.js';
import { LambdaError } from '../shared/errors.js';
import type { FunctionUrlRecord, HttpRouteRecord } from '../store/http-endpoints.js';
import { createFrontDoorServer } from './function-urls.js';
import { createApiServer } from './server.js';
import type { ApiDeps } from './server.js';

const ID = 'abcdefghijklmnopqrstuvwxyz234567';
const HOST = `${ID}.lambda-url.us-east-1.localhost`;

function url(over: Partial<FunctionUrlRecord> = {}): FunctionUrlRecord {
  return { functionName: 'f', qualifier: undefined, urlId: ID, authType: 'NONE', invokeMode: 'BUFFERED', cors: undefined, creationTime: 0, lastModifiedTime: 0, ...over };
}

interface Reply {
  status: number;
  headers: Record<string, string | string[] | undefined>;
  body: string;
}

async function door(
  t: { after(fn: () => unknown): void },
  o: { urls?: FunctionUrlRecord[]; routes?: HttpRouteRecord[]; invoke: (cmd: InvokeCommand) => Promise<InvokeResponse> },
): Promise<(method: string, path: string, host: string, headers?: Record<string, string>, body?: string) => Promise<Reply>> {
  const byId = new Map((o.urls ?? []).map((u) => [u.urlId, u]));
  const server = createFrontDoorServer({
    directory: { urlById: (id) => byId.get(id), routes: () => o.routes ?? [] },
    invoker: { invoke: o.invoke },
    accountId: '000000000000',
    logger: { error: () => undefined },
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  t.after(() => new Promise<void>((r) => server.close(() => r())));
  const { port } = server.address() as AddressInfo;
  return (method, path, host, headers = {}, body) =>
    new Promise((resolve, reject) => {
      const req = request({ host: '127.0.0.1', port, method, path, headers: { Host: `${host}:${port}`, ...headers } }, (res) => {
        let text = '';
        res.setEncoding('utf8').on('data', (d: string) => (text += d));
        res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body: text }));
      });
      req.on('error', reject);
      req.end(body);
    });
}

const ok = (payload: unknown, functionError?: string): InvokeResponse => ({
  statusCode: 200,
  executedVersion: '$LATEST',
  functionError,
  logResult: undefined,
  payload: Buffer.from(JSON.stringify(payload)),
});

describe('the front door: function URLs', () => {
  it('invokes the URL’s function with its qualifier and the request id it answers with', async (t) => {
    const seen: InvokeCommand[] = [];
    const send = await door(t, {
      urls: [url({ qualifier: 'live' })],
      invoke: async (cmd) => {
        seen.push(cmd);
        return ok({ statusCode: 202, headers: { 'Content-Length': '999', 'Transfer-Encoding': 'chunked' }, body: 'accepted' });
      },
    });
    const r = await send('POST', '/p?q=1', HOST, { 'content-type': 'application/json' }, '{"a":1}');
    assert.equal(r.status, 202);
    assert.equal(r.body, 'accepted');
    assert.equal(r.headers['content-length'], '8');
    assert.equal(seen.length, 1);
    assert.equal(seen[0]!.functionName, 'f');
    assert.equal(seen[0]!.qualifier, 'live');
    assert.equal(seen[0]!.invocationType, 'RequestResponse');
    assert.equal(r.headers['x-amzn-requestid'], seen[0]!.requestId);
    const event = JSON.parse(seen[0]!.payload.toString()) as Record<string, unknown>;
    assert.equal(event['body'], '{"a":1}');
    assert.equal((event['requestContext'] as Record<string, unknown>)['requestId'], seen[0]!.requestId);
  });

  it('answers a function error with 502 "Internal Server Error", an unknown url-id with 403, a gone alias with 403 Forbidden, a throttle with Lambda’s 429', async (t) => {
    let next: () => Promise<InvokeResponse> = async () => ok({ errorMessage: 'boom' }, 'Unhandled');
    const send = await door(t, { urls: [url()], invoke: () => next() });
    const failed = await send('GET', '/', HOST);
    assert.equal(failed.status, 502);
    assert.equal(failed.body, 'Internal Server Error');

    const unknown = await send('GET', '/', `zzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzz.lambda-url.us-east-1.localhost`);
    assert.equal(unknown.status, 403);
    assert.equal(unknown.body, '{"Message":null}');
    assert.equal(unknown.headers['x-amzn-errortype'], 'AccessDeniedException');

    next = () => Promise.reject(new LambdaError('ResourceNotFoundException', 'Function not found: x'));
    const gone = await send('GET', '/', HOST);
    assert.equal(gone.status, 403);
    assert.match(gone.body, /^\{"Message":"Forbidden\. For troubleshooting Function URL authorization issues/);

    next = () => Promise.reject(new LambdaError('TooManyRequestsException', 'Rate Exceeded.', { Reason: 'ReservedFunctionConcurrentInvocationLimitExceeded' }));
    const throttled = await send('GET', '/', HOST);
    assert.equal(throttled.status, 429);
    assert.deepEqual(JSON.parse(throttled.body), { Type: 'User', message: 'Rate Exceeded.', Reason: 'ReservedFunctionConcurrentInvocationLimitExceeded' });

    next = () => Promise.reject(new Error('platform broke'));
    const broken = await send('GET', '/', HOST);
    assert.equal(broken.status, 500);
    assert.equal(broken.headers['x-amzn-errortype'], 'ServiceException');
  });

  it('applies the URL’s Cors: preflight answered without invoking, allowed origins get the headers, others not', async (t) => {
    let invoked = 0;
    const cors = { AllowOrigins: ['https://a.example'], AllowMethods: ['GET', 'POST'], AllowHeaders: ['x-custom'], ExposeHeaders: ['x-out'], MaxAge: 300, AllowCredentials: true };
    const send = await door(t, {
      urls: [url({ cors })],
      invoke: async () => {
        invoked++;
        return ok({ statusCode: 200, headers: { 'Access-Control-Allow-Origin': '*', 'x-out': '1' }, body: 'x' });
      },
    });
    const pre = await send('OPTIONS', '/', HOST, { Origin: 'https://a.example', 'Access-Control-Request-Method': 'POST', 'Access-Control-Request-Headers': 'x-custom' });
    assert.equal(pre.status, 200);
    assert.equal(invoked, 0);
    assert.equal(pre.headers['access-control-allow-origin'], 'https://a.example');
    assert.equal(pre.headers['access-control-allow-methods'], 'GET,POST');
    assert.equal(pre.headers['access-control-allow-headers'], 'x-custom');
    assert.equal(pre.headers['access-control-max-age'], '300');
    assert.equal(pre.headers['access-control-allow-credentials'], 'true');

    const denied = await send('OPTIONS', '/', HOST, { Origin: 'https://evil.example', 'Access-Control-Request-Method': 'POST' });
    assert.equal(denied.headers['access-control-allow-origin'], undefined);

    const actual = await send('GET', '/', HOST, { Origin: 'https://a.example' });
    assert.equal(invoked, 1);
    assert.equal(actual.headers['access-control-allow-origin'], 'https://a.example');
    assert.equal(actual.headers['access-control-expose-headers'], 'x-out');
    const other = await send('GET', '/', HOST, { Origin: 'https://evil.example' });
    // The function's own CORS header is replaced by the URL's config.
    assert.equal(other.headers['access-control-allow-origin'], undefined);
  });
});

describe('the front door: routes', () => {
  const routes: HttpRouteRecord[] = [
    { functionName: 'api', method: 'GET', path: '/items/{id}', payloadFormatVersion: '2.0' },
    { functionName: 'rest', method: 'ANY', path: '/rest/{proxy+}', payloadFormatVersion: '1.0' },
  ];

  it('routes by method and path to payload 2.0 or 1.0; no match is API Gateway’s 404', async (t) => {
    const seen: Record<string, unknown>[] = [];
    let reply: InvokeResponse = ok({ statusCode: 200, body: 'fine' });
    const send = await door(t, {
      routes,
      invoke: async (cmd) => {
        seen.push({ fn: cmd.functionName, ...(JSON.parse(cmd.payload.toString()) as Record<string, unknown>) });
        return reply;
      },
    });
    const a = await send('GET', '/items/9', 'localhost');
    assert.equal(a.status, 200);
    assert.equal(a.body, 'fine');
    assert.equal(seen[0]!['fn'], 'api');
    assert.equal(seen[0]!['routeKey'], 'GET /items/{id}');
    assert.deepEqual(seen[0]!['pathParameters'], { id: '9' });

    const b = await send('DELETE', '/rest/a/b', 'localhost');
    assert.equal(b.status, 200);
    assert.equal(seen[1]!['fn'], 'rest');
    assert.equal(seen[1]!['httpMethod'], 'DELETE');
    assert.deepEqual(seen[1]!['pathParameters'], { proxy: 'a/b' });

    const none = await send('POST', '/items/9', 'localhost');
    assert.equal(none.status, 404);
    assert.equal(none.body, '{"message":"Not Found"}');

    reply = ok({ errorMessage: 'x' }, 'Unhandled');
    assert.deepEqual([(await send('GET', '/items/9', 'localhost')).status, (await send('GET', '/rest/x', 'localhost')).status], [500, 502]);
    reply = ok('not a proxy response');
    const malformed = await send('GET', '/rest/x', 'localhost');
    assert.equal(malformed.status, 502);
    assert.equal(malformed.body, '{"message": "Internal server error"}');
  });

  it('invokes a route’s Qualifier; a target gone (alias deleted) is API Gateway’s 500, a throttle 429', async (t) => {
    const seen: (string | undefined)[] = [];
    let next: () => Promise<InvokeResponse> = async () => ok({ statusCode: 200, body: 'v2' });
    const send = await door(t, {
      routes: [
        { functionName: 'api', method: 'GET', path: '/live', payloadFormatVersion: '2.0', qualifier: 'live' },
        { functionName: 'rest', method: 'GET', path: '/rest', payloadFormatVersion: '1.0', qualifier: '3' },
        { functionName: 'api', method: 'GET', path: '/latest', payloadFormatVersion: '2.0' },
      ],
      invoke: (cmd) => {
        seen.push(cmd.qualifier);
        return next();
      },
    });
    assert.equal((await send('GET', '/live', 'localhost')).body, 'v2');
    assert.equal((await send('GET', '/rest', 'localhost')).status, 200);
    assert.equal((await send('GET', '/latest', 'localhost')).status, 200);
    assert.deepEqual(seen, ['live', '3', undefined]);

    next = () => Promise.reject(new LambdaError('ResourceNotFoundException', 'Function not found: arn:aws:lambda:us-east-1:000000000000:function:api:live'));
    const gone = await send('GET', '/live', 'localhost');
    assert.deepEqual([gone.status, gone.body], [500, '{"message":"Internal Server Error"}']);
    const goneV1 = await send('GET', '/rest', 'localhost');
    assert.deepEqual([goneV1.status, goneV1.body], [500, '{"message": "Internal server error"}']);

    next = () => Promise.reject(new LambdaError('TooManyRequestsException', 'Rate Exceeded.'));
    const throttled = await send('GET', '/live', 'localhost');
    assert.deepEqual([throttled.status, throttled.body], [429, '{"message":"Too Many Requests"}']);
  });
});

describe('the Lambda API: URL config and routes operations', () => {
  it('serves them on Lambda’s paths and methods (201, 200, 204) and Kindling’s routes paths', async (t) => {
    const calls: string[] = [];
    const urls = {
      create: async (fn: string, q: string | undefined, body: unknown) => (calls.push(`create ${fn} ${q} ${JSON.stringify(body)}`), { FunctionUrl: 'u' }),
      get: async (fn: string, q: string | undefined) => (calls.push(`get ${fn} ${q}`), { FunctionUrl: 'u' }),
      update: async (fn: string, q: string | undefined, body: unknown) => (calls.push(`update ${fn} ${q} ${JSON.stringify(body)}`), { FunctionUrl: 'u' }),
      delete: async (fn: string, q: string | undefined) => void calls.push(`delete ${fn} ${q}`),
      list: async (fn: string, m: string | undefined, n: string | undefined) => (calls.push(`list ${fn} ${m} ${n}`), { FunctionUrlConfigs: [] }),
      putRoutes: async (fn: string, body: unknown) => (calls.push(`putRoutes ${fn} ${JSON.stringify(body)}`), { Routes: [] }),
      listRoutes: () => (calls.push('listRoutes'), { Routes: [] }),
      deleteRoutes: async (fn: string) => void calls.push(`deleteRoutes ${fn}`),
    };
    const unused = async (): Promise<never> => {
      throw new Error('not used');
    };
    const registry = new Proxy({}, { get: () => unused }) as unknown as ApiDeps['registry'];
    const eventInvokeConfigs = new Proxy({}, { get: () => unused }) as unknown as ApiDeps['eventInvokeConfigs'];
    const server = createApiServer({ registry, eventInvokeConfigs, invoker: { invoke: unused }, functionUrls: urls, partition: { region: 'us-east-1', accountId: '000000000000' } });
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    t.after(() => new Promise<void>((r) => server.close(() => r())));
    const { port } = server.address() as AddressInfo;
    const call = async (method: string, path: string, body?: string) => {
      const res = await fetch(`http://127.0.0.1:${port}${path}`, { method, ...(body !== undefined ? { body } : {}) });
      await res.arrayBuffer();
      return res.status;
    };
    assert.equal(await call('POST', '/2021-10-31/functions/f/url?Qualifier=live', '{"AuthType":"NONE"}'), 201);
    assert.equal(await call('GET', '/2021-10-31/functions/f%3Alive/url'), 200);
    assert.equal(await call('PUT', '/2021-10-31/functions/f/url', '{"AuthType":"NONE"}'), 200);
    assert.equal(await call('DELETE', '/2021-10-31/functions/f/url'), 204);
    assert.equal(await call('GET', '/2021-10-31/functions/f/urls?Marker=m&MaxItems=2'), 200);
    assert.equal(await call('PUT', '/kindling/v1/routes/f', '{"Routes":[]}'), 200);
    assert.equal(await call('GET', '/kindling/v1/routes'), 200);
    assert.equal(await call('DELETE', '/kindling/v1/routes/f'), 204);
    assert.deepEqual(calls, [
      'create f live {"AuthType":"NONE"}',
      'get f:live undefined',
      'update f undefined {"AuthType":"NONE"}',
      'delete f undefined',
      'list f m 2',
      'putRoutes f {"Routes":[]}',
      'listRoutes',
      'deleteRoutes f',
    ]);
    // Other methods and paths are no operation.
    assert.equal(await call('PATCH', '/2021-10-31/functions/f/url'), 404);
    assert.equal(await call('POST', '/2021-10-31/functions/f/urls'), 404);
    assert.equal(await call('GET', '/kindling/v1/routes/f'), 404);
    assert.equal(calls.length, 8);
  });
});
