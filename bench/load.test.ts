import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { load } from './load.js';

/** A server whose answer each request chooses by its path; records what it received. */
async function server(): Promise<{ url: (path: string) => URL; bodies: string[]; connections: () => number; close: () => Promise<void> }> {
  const bodies: string[] = [];
  let connections = 0;
  const s = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      bodies.push(`${String(req.headers['x-test'] ?? '')}:${Buffer.concat(chunks).toString()}`);
      if (req.url === '/length') res.end('{"ok":true}');
      else if (req.url === '/chunked') {
        res.write('{"part":1}'); // no Content-Length: chunked
        setImmediate(() => res.end('{"part":2}'));
      } else if (req.url === '/empty') res.writeHead(204).end();
      else if (req.url === '/close') res.writeHead(200, { connection: 'close' }).end('bye');
      else res.writeHead(500).end('no');
    });
  });
  s.on('connection', () => connections++);
  await new Promise<void>((r) => s.listen(0, '127.0.0.1', r));
  const { port } = s.address() as AddressInfo;
  return {
    url: (path) => new URL(`http://127.0.0.1:${port}${path}`),
    bodies,
    connections: () => connections,
    close: () => new Promise((r) => s.close(() => r())),
  };
}

test('load reads answers with a length, chunked, without a body, and reconnects after connection: close', async () => {
  const srv = await server();
  try {
    const a = await load({ url: srv.url('/length'), body: Buffer.from('{"n":1}'), headers: { 'x-test': 'h' } }, 4, { count: 200 });
    assert.deepEqual([a.requests, a.errors, a.latenciesMs.length], [200, 0, 200]);
    assert.equal(srv.connections(), 4, 'one keep-alive connection per loop');
    assert.ok(srv.bodies.every((b) => b === 'h:{"n":1}'));

    assert.deepEqual([(await load({ url: srv.url('/chunked'), body: Buffer.from('{}') }, 2, { count: 50 })).errors], [0]);
    assert.deepEqual([(await load({ url: srv.url('/empty'), body: Buffer.from('{}'), expectStatus: 204 }, 2, { count: 50 })).errors], [0]);
    const before = srv.connections();
    const closing = await load({ url: srv.url('/close'), body: Buffer.from('{}') }, 1, { count: 5 });
    assert.deepEqual([closing.requests, closing.errors, srv.connections() - before], [5, 0, 5]);

    let i = 0;
    const made = await load({ url: srv.url('/length'), body: () => Buffer.from(String(i++)) }, 1, { count: 3 });
    assert.equal(made.errors, 0);
    assert.deepEqual(srv.bodies.slice(-3), [':0', ':1', ':2'], 'a body function makes each request anew');
  } finally {
    await srv.close();
  }
});

test('load counts a wrong status and a refused connection as errors', async () => {
  const srv = await server();
  const wrong = await load({ url: srv.url('/other'), body: Buffer.from('{}') }, 2, { count: 10 });
  assert.deepEqual([wrong.requests, wrong.errors], [10, 10]);
  const dead = srv.url('/length');
  await srv.close();
  const refused = await load({ url: dead, body: Buffer.from('{}') }, 1, { count: 3 });
  assert.deepEqual([refused.requests, refused.errors], [3, 3]);
});
