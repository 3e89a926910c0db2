import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { BadFunctionResponse, clfTime, functionUrlEvent, httpApiEvent, isTextBody, mapV1Response, mapV2Response, matchRoute, restApiEvent } from './http-events.js';
import type { HttpRequestInfo } from './http-events.js';

const ID = 'abcdefghijklmnopqrstuvwxyz234567';
const HOST = `${ID}.lambda-url.us-east-1.localhost:9001`;
const T = Date.UTC(2020, 2, 12, 19, 3, 58, 390);

function request(over: Partial<HttpRequestInfo> = {}): HttpRequestInfo {
  return {
    method: 'POST',
    rawPath: '/my/path',
    rawQueryString: 'parameter1=value1&parameter1=value2&parameter2=value',
    rawHeaders: ['Host', HOST, 'User-Agent', 'agent', 'Header2', 'value1', 'header2', 'value2', 'Cookie', 'cookie1=a; cookie2=b', 'Content-Type', 'text/plain'],
    body: Buffer.from('Hello from client!'),
    sourceIp: '123.123.123.123',
    protocol: 'HTTP/1.1',
    requestId: 'c6af9ac6-7b61-11e6-9a41-93e8deadbeef',
    timeEpoch: T,
    localPort: 9001,
    ...over,
  };
}

describe('function URL events (payload 2.0)', () => {
  it('has the fields of the documented example, in its shape', () => {
    assert.deepEqual(functionUrlEvent(request(), { urlId: ID }), {
      version: '2.0',
      routeKey: '$default',
      rawPath: '/my/path',
      rawQueryString: 'parameter1=value1&parameter1=value2&parameter2=value',
      cookies: ['cookie1=a', 'cookie2=b'],
      headers: {
        host: HOST,
        'user-agent': 'agent',
        header2: 'value1,value2',
        'content-type': 'text/plain',
        'x-amzn-trace-id': 'Root=1-5e6a879e-c6af9ac67b6111e69a4193e8',
        'x-forwarded-for': '123.123.123.123',
        'x-forwarded-port': '9001',
        'x-forwarded-proto': 'http',
      },
      queryStringParameters: { parameter1: 'value1,value2', parameter2: 'value' },
      requestContext: {
        accountId: 'anonymous',
        apiId: ID,
        domainName: `${ID}.lambda-url.us-east-1.localhost`,
        domainPrefix: ID,
        http: { method: 'POST', path: '/my/path', protocol: 'HTTP/1.1', sourceIp: '123.123.123.123', userAgent: 'agent' },
        requestId: 'c6af9ac6-7b61-11e6-9a41-93e8deadbeef',
        routeKey: '$default',
        stage: '$default',
        time: '12/Mar/2020:19:03:58 +0000',
        timeEpoch: T,
      },
      body: 'Hello from client!',
      isBase64Encoded: false,
    });
  });

  it('appends the client to X-Forwarded-For and replaces the other forwarding headers', () => {
    const e = functionUrlEvent(request({ rawHeaders: ['X-Forwarded-For', '10.0.0.1', 'X-Forwarded-Proto', 'https'] }), { urlId: ID });
    const h = e['headers'] as Record<string, string>;
    assert.equal(h['x-forwarded-for'], '10.0.0.1, 123.123.123.123');
    assert.equal(h['x-forwarded-proto'], 'http');
  });

  it('leaves out cookies, query parameters and body when the request has none', () => {
    const e = functionUrlEvent(request({ rawQueryString: '', rawHeaders: ['Host', HOST], body: Buffer.alloc(0), method: 'GET' }), { urlId: ID });
    assert.equal('cookies' in e, false);
    assert.equal('queryStringParameters' in e, false);
    assert.equal('body' in e, false);
    assert.equal('pathParameters' in e, false);
    assert.equal('stageVariables' in e, false);
    assert.equal(e['isBase64Encoded'], false);
    assert.equal(e['rawQueryString'], '');
  });

  it('base64-encodes binary bodies and keeps text ones', () => {
    const bin = Buffer.from([0, 1, 2, 255]);
    const e = functionUrlEvent(request({ rawHeaders: ['Content-Type', 'application/octet-stream'], body: bin }), { urlId: ID });
    assert.equal(e['body'], bin.toString('base64'));
    assert.equal(e['isBase64Encoded'], true);
    const form = functionUrlEvent(request({ rawHeaders: ['Content-Type', 'multipart/form-data; boundary=x'], body: Buffer.from('--x--') }), { urlId: ID });
    assert.equal(form['isBase64Encoded'], true);
    const none = functionUrlEvent(request({ rawHeaders: [], body: Buffer.from('{}') }), { urlId: ID });
    assert.equal(none['isBase64Encoded'], true);
    for (const type of ['application/json', 'text/html; charset=utf-8', 'application/xml', 'application/vnd.api+json', 'application/javascript', 'application/x-www-form-urlencoded']) {
      assert.equal(isTextBody(type, Buffer.from('x=1')), true, type);
    }
    assert.equal(isTextBody('image/png', Buffer.from('x')), false);
    assert.equal(isTextBody('text/plain', Buffer.from([0xff, 0xfe])), false);
  });

  it('formats time as in the examples', () => {
    assert.equal(clfTime(Date.UTC(2021, 0, 5, 3, 4, 5)), '05/Jan/2021:03:04:05 +0000');
  });
});

describe('route events', () => {
  const ctx = { resource: '/items/{id}', method: 'GET', pathParameters: { id: '42' }, accountId: '000000000000', apiId: 'kindling' };

  it('HttpApi: payload 2.0 with the route key and path parameters', () => {
    const e = httpApiEvent(request({ method: 'GET', rawPath: '/items/42', rawHeaders: ['Host', 'localhost:9001'], body: Buffer.alloc(0), rawQueryString: '' }), ctx);
    assert.equal(e['routeKey'], 'GET /items/{id}');
    assert.deepEqual(e['pathParameters'], { id: '42' });
    const rc = e['requestContext'] as Record<string, unknown>;
    assert.equal(rc['routeKey'], 'GET /items/{id}');
    assert.equal(rc['accountId'], '000000000000');
    assert.equal(rc['domainPrefix'], 'localhost');
    assert.equal(rc['stage'], '$default');
  });

  it('Api: payload 1.0 with single and multi-value headers and query strings', () => {
    const e = restApiEvent(
      request({ method: 'GET', rawPath: '/items/42', rawQueryString: 'a=1&a=2&b=x%20y', rawHeaders: ['Host', 'localhost', 'X-A', '1', 'X-A', '2'], body: Buffer.alloc(0) }),
      ctx,
    );
    assert.equal(e['resource'], '/items/{id}');
    assert.equal(e['path'], '/items/42');
    assert.equal(e['httpMethod'], 'GET');
    const forwarding = { 'X-Amzn-Trace-Id': 'Root=1-5e6a879e-c6af9ac67b6111e69a4193e8', 'X-Forwarded-For': '123.123.123.123', 'X-Forwarded-Port': '9001', 'X-Forwarded-Proto': 'http' };
    assert.deepEqual(e['headers'], { Host: 'localhost', 'X-A': '2', ...forwarding });
    assert.deepEqual(e['multiValueHeaders'], { Host: ['localhost'], 'X-A': ['1', '2'], ...Object.fromEntries(Object.entries(forwarding).map(([k, v]) => [k, [v]])) });
    assert.deepEqual(e['queryStringParameters'], { a: '2', b: 'x y' });
    assert.deepEqual(e['multiValueQueryStringParameters'], { a: ['1', '2'], b: ['x y'] });
    assert.deepEqual(e['pathParameters'], { id: '42' });
    assert.equal(e['stageVariables'], null);
    assert.equal(e['body'], null);
    assert.equal(e['isBase64Encoded'], false);
    const rc = e['requestContext'] as Record<string, unknown>;
    assert.equal(rc['resourcePath'], '/items/{id}');
    assert.equal(rc['httpMethod'], 'GET');
    assert.equal((rc['identity'] as Record<string, unknown>)['sourceIp'], '123.123.123.123');
    const bare = restApiEvent(request({ rawQueryString: '', rawHeaders: [], body: Buffer.alloc(0) }), { ...ctx, pathParameters: {} });
    assert.equal(bare['queryStringParameters'], null);
    assert.equal(bare['multiValueQueryStringParameters'], null);
    assert.equal(bare['pathParameters'], null);
  });
});

describe('responses', () => {
  const text = (b: Buffer) => b.toString('utf8');

  it('a bare value is a 200 application/json body: strings as they are, the rest as compact JSON (as real URLs answer)', () => {
    for (const [payload, body] of [
      ['{"hello": "world"}', '{"hello":"world"}'],
      ['"hello"', 'hello'],
      ['["hello", 3, true]', '["hello",3,true]'],
      ['3', '3'],
      ['3.1', '3.1'],
      ['true', 'true'],
      ['null', 'null'],
    ] as const) {
      const r = mapV2Response(Buffer.from(payload));
      assert.equal(r.statusCode, 200, payload);
      assert.deepEqual(r.headers, { 'Content-Type': 'application/json' });
      assert.equal(text(r.body), body, payload);
    }
  });

  it('an object with statusCode is the response: status (number or numeric string), headers, cookies, body, base64', () => {
    const r = mapV2Response(Buffer.from(JSON.stringify({ statusCode: 201, headers: { 'Content-Type': 'text/html', 'X-N': 3 }, cookies: ['a=1', 'b=2; Path=/'], body: '<p>hi</p>' })));
    assert.equal(r.statusCode, 201);
    assert.deepEqual(r.headers, { 'Content-Type': 'text/html', 'X-N': '3', 'Set-Cookie': ['a=1', 'b=2; Path=/'] });
    assert.equal(text(r.body), '<p>hi</p>');
    const teapot = mapV2Response(Buffer.from('{"statusCode":"418","body":"i\'m a teapot"}'));
    assert.equal(teapot.statusCode, 418);
    assert.equal(teapot.headers['Content-Type'], 'application/json');
    const bin = mapV2Response(Buffer.from(JSON.stringify({ statusCode: 200, body: Buffer.from([1, 2, 3]).toString('base64'), isBase64Encoded: true })));
    assert.deepEqual([...bin.body], [1, 2, 3]);
    const empty = mapV2Response(Buffer.from('{"statusCode":204}'));
    assert.equal(empty.body.length, 0);
    assert.throws(() => mapV2Response(Buffer.from('{"statusCode":"abc"}')), BadFunctionResponse);
    assert.throws(() => mapV2Response(Buffer.from('{"statusCode":200,"headers":[]}')), BadFunctionResponse);
  });

  it('payload 1.0 needs statusCode and merges multiValueHeaders', () => {
    const r = mapV1Response(Buffer.from(JSON.stringify({ statusCode: 200, headers: { 'X-A': '1' }, multiValueHeaders: { 'X-A': ['1', '2'], 'X-B': ['3'] }, body: 'ok' })));
    assert.deepEqual(r.headers, { 'X-A': ['1', '2'], 'X-B': '3', 'Content-Type': 'application/json' });
    assert.equal(text(r.body), 'ok');
    assert.throws(() => mapV1Response(Buffer.from('"hello"')), BadFunctionResponse);
    assert.throws(() => mapV1Response(Buffer.from('{"body":"x"}')), BadFunctionResponse);
  });
});

describe('route matching', () => {
  const routes = [
    { method: 'GET', path: '/items/{id}', n: 1 },
    { method: 'GET', path: '/items/special', n: 2 },
    { method: 'ANY', path: '/items/{id}', n: 3 },
    { method: 'ANY', path: '/{proxy+}', n: 4 },
    { method: 'GET', path: '/', n: 5 },
    { method: 'POST', path: '/files/{path+}', n: 6 },
  ];
  const n = (method: string, path: string) => matchRoute(routes, method, path)?.route.n;

  it('takes the most specific route: exact, then {param}, then {proxy+}; the method before ANY', () => {
    assert.equal(n('GET', '/items/special'), 2);
    assert.equal(n('GET', '/items/7'), 1);
    assert.equal(n('DELETE', '/items/7'), 3);
    assert.equal(n('GET', '/items/7/parts'), 4);
    assert.equal(n('GET', '/'), 5);
    assert.equal(n('POST', '/'), undefined);
    assert.equal(n('POST', '/files/a/b'), 6);
    assert.equal(n('POST', '/files'), 4);
  });

  it('answers the path parameters, decoded; a greedy one takes the rest of the path', () => {
    assert.deepEqual(matchRoute(routes, 'GET', '/items/a%20b')?.pathParameters, { id: 'a b' });
    assert.deepEqual(matchRoute(routes, 'POST', '/files/a/b%2Fc')?.pathParameters, { path: 'a/b/c' });
    assert.deepEqual(matchRoute(routes, 'PUT', '/x/y')?.pathParameters, { proxy: 'x/y' });
    assert.equal(matchRoute([{ method: 'GET', path: '/a' }], 'GET', '/a/'), undefined);
    assert.equal(matchRoute([{ method: 'GET', path: '/a' }], 'GET', '/b'), undefined);
  });
});
