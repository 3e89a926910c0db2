/**
 * The Runtime API client against a raw TCP server, so that the bytes on the
 * wire (pipelining, framing, split reads, closes) are under the test's
 * control. index.test.ts covers the client against node:http.
 */
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { createServer } from 'node:net';
import type { Server, Socket } from 'node:net';
import type { AddressInfo } from 'node:net';
import { RuntimeApiClient } from './runtime-api.js';

/** These tests are of the HTTP transport: the framed channel (frames.ts) is tested against the worker's RuntimeApi in src/worker/runtime-api.test.ts. */
const HTTP_ONLY = { framed: false };

const NEXT = 'GET /2018-06-01/runtime/invocation/next HTTP/1.1\r\n';

/** A server that records what each connection sent and lets the test answer by hand. */
class RawServer {
  readonly server: Server;
  readonly connections: Array<{ socket: Socket; received: string }> = [];
  #waiters: Array<() => void> = [];

  constructor() {
    this.server = createServer((socket) => {
      const conn = { socket, received: '' };
      this.connections.push(conn);
      socket.setEncoding('latin1');
      socket.on('data', (d: string) => {
        conn.received += d;
        this.#wake();
      });
      socket.on('error', () => {});
      this.#wake();
    });
  }

  #wake(): void {
    for (const w of this.#waiters.splice(0)) w();
  }

  async listen(): Promise<string> {
    await new Promise<void>((resolve) => this.server.listen(0, '127.0.0.1', resolve));
    after(() => {
      for (const c of this.connections) c.socket.destroy();
      this.server.close();
    });
    return `127.0.0.1:${(this.server.address() as AddressInfo).port}`;
  }

  /** Resolves once connection `i` has received `count` requests (counted by their request lines' HTTP version). */
  async requests(i: number, count: number): Promise<string> {
    for (;;) {
      const c = this.connections[i];
      if (c && c.received.split(' HTTP/1.1\r\n').length - 1 >= count) return c.received;
      await new Promise<void>((resolve) => this.#waiters.push(resolve));
    }
  }
}

/** Writes `bytes` (UTF-8) one byte per write, with a pause, so that the client sees many small reads. */
async function dribble(socket: Socket, bytes: string): Promise<void> {
  const buf = Buffer.from(bytes);
  for (let i = 0; i < buf.length; i++) {
    socket.write(buf.subarray(i, i + 1));
    await new Promise((r) => setImmediate(r));
  }
}

const event = (id: string, body: string, extra = ''): string =>
  `HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nlambda-runtime-aws-request-id: ${id}\r\n${extra}Content-Length: ${Buffer.byteLength(body)}\r\n\r\n${body}`;

test('pipelines the result POST and the next GET in one write, and reads answers split byte by byte', async () => {
  const srv = new RawServer();
  const client = new RuntimeApiClient(await srv.listen(), undefined, HTTP_ONLY);
  const first = client.next();
  await srv.requests(0, 1);
  await dribble(srv.connections[0]!.socket, event('a', '{"k":"é"}', 'X-Repeat: 1\r\nx-repeat: 2\r\n'));
  const a = await first;
  assert.equal(a.body, '{"k":"é"}');
  assert.equal(a.headers['lambda-runtime-aws-request-id'], 'a');
  assert.equal(a.headers['x-repeat'], '1, 2');

  const second = client.respondAndNext('a', '"ok"');
  const sent = await srv.requests(0, 3);
  const tail = sent.slice(sent.indexOf('POST '));
  assert.match(tail, /^POST \/2018-06-01\/runtime\/invocation\/a\/response HTTP\/1\.1\r\n/);
  assert.match(tail, /\r\nContent-Length: 4\r\n\r\n"ok"GET \/2018-06-01\/runtime\/invocation\/next HTTP\/1\.1\r\n/);
  srv.connections[0]!.socket.write('HTTP/1.1 202 Accepted\r\nContent-Length: 16\r\n\r\n{"status":"OK"}\n' + event('b', '[1]'));
  assert.equal((await second).body, '[1]');
  assert.equal(srv.connections.length, 1, 'one keep-alive connection');
});

test('reads chunked bodies (with trailers) and interim 100 responses', async () => {
  const srv = new RawServer();
  const client = new RuntimeApiClient(await srv.listen(), undefined, HTTP_ONLY);
  const first = client.next();
  await srv.requests(0, 1);
  srv.connections[0]!.socket.write(
    'HTTP/1.1 100 Continue\r\n\r\n' +
      'HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\nLambda-Runtime-Aws-Request-Id: c\r\n\r\n' +
      '3;ext=1\r\n{"a\r\n4\r\n":1}\r\n0\r\nX-Trailer: t\r\n\r\n',
  );
  assert.deepEqual(JSON.parse((await first).body), { a: 1 });
  const second = client.failAndNext('c', '{"errorType":"E"}', 'E');
  const sent = await srv.requests(0, 3);
  assert.match(sent, /POST \/2018-06-01\/runtime\/invocation\/c\/error HTTP\/1\.1\r\n[^]*Lambda-Runtime-Function-Error-Type: E\r\n/);
  await dribble(srv.connections[0]!.socket, 'HTTP/1.1 202 Accepted\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n' + 'HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n2\r\n{}\r\n0\r\n\r\n');
  assert.equal((await second).body, '{}');
});

test('a non-200 answer to GET /next fails with its status and body', async () => {
  const srv = new RawServer();
  const client = new RuntimeApiClient(await srv.listen(), undefined, HTTP_ONLY);
  const next = client.next();
  await srv.requests(0, 1);
  srv.connections[0]!.socket.write('HTTP/1.1 403 Forbidden\r\nContent-Length: 4\r\n\r\nnope');
  await assert.rejects(next, { message: 'Failed to get next invocation, HTTP 403: nope' });
});

test('requests a closed keep-alive connection left unanswered are written again on a new one', async () => {
  const srv = new RawServer();
  const client = new RuntimeApiClient(await srv.listen(), undefined, HTTP_ONLY);
  const first = client.next();
  await srv.requests(0, 1);
  // The server answers and closes: the pipelined GET behind the POST must go to a new connection.
  srv.connections[0]!.socket.write(event('a', '1'));
  await first;
  const second = client.respondAndNext('a', '2');
  await srv.requests(0, 3);
  srv.connections[0]!.socket.end('HTTP/1.1 202 Accepted\r\nConnection: close\r\nContent-Length: 0\r\n\r\n');
  const again = await srv.requests(1, 1);
  assert.equal(again, NEXT + again.slice(NEXT.length), 'only the GET is written again');
  assert.ok(!again.includes('POST'));
  srv.connections[1]!.socket.write(event('b', '3'));
  assert.equal((await second).body, '3');
});

test('an error POST while a GET /next is parked goes on its own connection', async () => {
  const srv = new RawServer();
  const client = new RuntimeApiClient(await srv.listen(), undefined, HTTP_ONLY);
  client.next().catch(() => {}); // parked: never answered (fails when the test closes the server)
  await srv.requests(0, 1);
  const done = new Promise<void>((resolve) => client.postError('a', '{}', 'Error', resolve));
  const sent = await srv.requests(1, 1);
  assert.match(sent, /^POST \/2018-06-01\/runtime\/invocation\/a\/error HTTP\/1\.1\r\n/);
  srv.connections[1]!.socket.write('HTTP/1.1 202 Accepted\r\nContent-Length: 0\r\n\r\n');
  await done;
});

test('a refused connection fails GET /next and completes a POST', async () => {
  const srv = new RawServer();
  const endpoint = await srv.listen();
  await new Promise<void>((resolve) => srv.server.close(() => resolve()));
  const client = new RuntimeApiClient(endpoint, undefined, HTTP_ONLY);
  await assert.rejects(client.next(), { code: 'ECONNREFUSED' });
  await new Promise<void>((resolve) => client.postInitError('{}', 'Error', resolve));
});
