import assert from 'node:assert/strict';
import { request } from 'node:http';
import type { AddressInfo } from 'node:net';
import { after, before, describe, it } from 'node:test';
import { ASSIGNMENT_PATH, MAX_RUNTIME_PAYLOAD_SIZE, RuntimeApi } from './runtime-api.js';
import type { RuntimeApiListener } from './runtime-api.js';
import { RuntimeApiClient } from '../runtime/nodejs/runtime-api.js';

interface Reply {
  status: number;
  headers: Record<string, string | string[] | undefined>;
  body: string;
}

function call(port: number, method: string, path: string, body?: Buffer | string, headers: Record<string, string> = {}): Promise<Reply> {
  return new Promise((resolve, reject) => {
    const req = request({ host: '127.0.0.1', port, method, path, headers }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body: Buffer.concat(chunks).toString() }));
    });
    req.on('error', reject);
    req.end(body);
  });
}

class Recorder implements RuntimeApiListener {
  events: string[] = [];
  bodies: Buffer[] = [];
  onNext(): void {
    this.events.push('next');
  }
  onResponse(id: string, body: Buffer): void {
    this.events.push(`response ${id}`);
    this.bodies.push(body);
  }
  onResponseTooLarge(id: string): void {
    this.events.push(`too-large ${id}`);
  }
  onError(id: string, errorType: string | undefined, body: Buffer): void {
    this.events.push(`error ${id} ${errorType}`);
    this.bodies.push(body);
  }
  onInitError(errorType: string | undefined, body: Buffer): void {
    this.events.push(`init-error ${errorType}`);
    this.bodies.push(body);
  }
  onAwaitingAssignment(): void {
    this.events.push('awaiting-assignment');
  }
}

async function listen(api: RuntimeApi): Promise<number> {
  await new Promise<void>((resolve) => api.server.listen(0, '127.0.0.1', resolve));
  return (api.server.address() as AddressInfo).port;
}

function close(api: RuntimeApi): Promise<void> {
  api.server.closeAllConnections();
  return new Promise((resolve) => api.server.close(() => resolve()));
}

const NEXT = '/2018-06-01/runtime/invocation/next';
const inv = (requestId: string, payload = '{"a":1}') => ({
  requestId,
  payload: Buffer.from(payload),
  deadlineMs: 1767225603000,
  invokedFunctionArn: 'arn:aws:lambda:us-east-1:000000000000:function:f',
  traceId: 'Root=1-00000000-000000000000000000000000;Sampled=0',
  clientContext: undefined as string | undefined,
});

describe('RuntimeApi (2018-06-01, as RAPID serves it)', () => {
  let api: RuntimeApi;
  let rec: Recorder;
  let port: number;
  before(async () => {
    rec = new Recorder();
    api = new RuntimeApi(rec);
    port = await listen(api);
  });
  after(() => close(api));

  it('long-polls /next until an event is delivered, with Lambda headers', async () => {
    const next = call(port, 'GET', NEXT);
    await new Promise((r) => setTimeout(r, 50));
    assert.deepEqual(rec.events, ['next']);
    api.deliver({ ...inv('req-1'), clientContext: '{"custom":{"k":"v"}}' });
    const reply = await next;
    assert.equal(reply.status, 200);
    assert.equal(reply.body, '{"a":1}');
    assert.equal(reply.headers['lambda-runtime-aws-request-id'], 'req-1');
    assert.equal(reply.headers['lambda-runtime-deadline-ms'], '1767225603000');
    assert.equal(reply.headers['lambda-runtime-invoked-function-arn'], 'arn:aws:lambda:us-east-1:000000000000:function:f');
    assert.equal(reply.headers['lambda-runtime-trace-id'], 'Root=1-00000000-000000000000000000000000;Sampled=0');
    assert.equal(reply.headers['lambda-runtime-client-context'], '{"custom":{"k":"v"}}');
  });

  it('answers a wrong request id with 400 InvalidRequestID', async () => {
    const reply = await call(port, 'POST', '/2018-06-01/runtime/invocation/nope/response', 'x');
    assert.equal(reply.status, 400);
    assert.equal(reply.body, '{"errorMessage":"Invalid request ID","errorType":"InvalidRequestID"}\n');
  });

  it('accepts the response with 202 {"status":"OK"} and refuses a second one with 403', async () => {
    const ok = await call(port, 'POST', '/2018-06-01/runtime/invocation/req-1/response', '{"r":2}');
    assert.equal(ok.status, 202);
    assert.equal(ok.body, '{"status":"OK"}\n');
    assert.equal(rec.events.at(-1), 'response req-1');
    assert.equal(rec.bodies.at(-1)?.toString(), '{"r":2}');
    const again = await call(port, 'POST', '/2018-06-01/runtime/invocation/req-1/response', '{"r":3}');
    assert.equal(again.status, 403);
    assert.deepEqual(JSON.parse(again.body), {
      errorMessage: 'State transition from RuntimeResponseSentState to InvocationResponse failed for runtime. Error: State transition is not allowed',
      errorType: 'InvalidStateTransition',
    });
    const err = await call(port, 'POST', '/2018-06-01/runtime/invocation/req-1/error', '{}');
    assert.equal(err.status, 403);
  });

  it('refuses /init/error after the first /next', async () => {
    const reply = await call(port, 'POST', '/2018-06-01/runtime/init/error', '{}');
    assert.equal(reply.status, 403);
    assert.match(reply.body, /"errorType":"InvalidStateTransition"/);
  });

  it('queues an event delivered before /next, and passes errors through', async () => {
    api.deliver(inv('req-2', '{"b":2}'));
    const reply = await call(port, 'GET', NEXT);
    assert.equal(reply.body, '{"b":2}');
    assert.equal(reply.headers['lambda-runtime-client-context'], undefined);
    const body = '{"errorMessage":"boom","errorType":"Error","trace":["Error: boom"]}';
    const err = await call(port, 'POST', '/2018-06-01/runtime/invocation/req-2/error', body, {
      'Lambda-Runtime-Function-Error-Type': 'Error',
    });
    assert.equal(err.status, 202);
    assert.equal(rec.events.at(-1), 'error req-2 Error');
    assert.equal(rec.bodies.at(-1)?.toString(), body);
  });

  it('answers an oversized response with 413 and reports it', async () => {
    const next = call(port, 'GET', NEXT);
    await new Promise((r) => setTimeout(r, 20));
    api.deliver(inv('req-3'));
    await next;
    const reply = await call(port, 'POST', '/2018-06-01/runtime/invocation/req-3/response', Buffer.alloc(MAX_RUNTIME_PAYLOAD_SIZE + 1, 0x61));
    assert.equal(reply.status, 413);
    assert.equal(reply.body, '{"errorMessage":"Exceeded maximum allowed payload size (6291556 bytes).","errorType":"RequestEntityTooLarge"}\n');
    assert.equal(rec.events.at(-1), 'too-large req-3');
  });

  it('accepts a response of exactly the maximum size', async () => {
    const next = call(port, 'GET', NEXT);
    await new Promise((r) => setTimeout(r, 20));
    api.deliver(inv('req-4'));
    await next;
    const reply = await call(port, 'POST', '/2018-06-01/runtime/invocation/req-4/response', Buffer.alloc(MAX_RUNTIME_PAYLOAD_SIZE, 0x61));
    assert.equal(reply.status, 202);
    assert.equal(rec.bodies.at(-1)?.length, MAX_RUNTIME_PAYLOAD_SIZE);
  });
});

describe('RuntimeApi init', () => {
  it('takes /init/error before the first /next, then refuses /next', async () => {
    const rec = new Recorder();
    const api = new RuntimeApi(rec);
    const port = await listen(api);
    try {
      const body = '{"errorMessage":"bad","errorType":"Runtime.ImportModuleError"}';
      const reply = await call(port, 'POST', '/2018-06-01/runtime/init/error', body, {
        'Lambda-Runtime-Function-Error-Type': 'Runtime.ImportModuleError',
      });
      assert.equal(reply.status, 202);
      assert.deepEqual(rec.events, ['init-error Runtime.ImportModuleError']);
      assert.equal(rec.bodies[0]?.toString(), body);
      const next = await call(port, 'GET', NEXT);
      assert.equal(next.status, 403);
      assert.match(next.body, /State transition from InitError to Ready failed/);
    } finally {
      await close(api);
    }
  });
});

describe('RuntimeApi of a stem cell (Kindling\'s assignment)', () => {
  it('long-polls the assignment until the worker gives it, once; then the path is unknown', async () => {
    const rec = new Recorder();
    const api = new RuntimeApi(rec, { stemCell: true });
    const port = await listen(api);
    try {
      const waiting = call(port, 'GET', ASSIGNMENT_PATH);
      await new Promise((r) => setTimeout(r, 50));
      assert.deepEqual(rec.events, ['awaiting-assignment']);
      api.assign(Buffer.from('{"A":"1"}'));
      const reply = await waiting;
      assert.equal(reply.status, 200);
      assert.equal(reply.headers['content-type'], 'application/json');
      assert.equal(reply.body, '{"A":"1"}');
      // A function's code (loaded after this) cannot ask again.
      const again = await call(port, 'GET', ASSIGNMENT_PATH);
      assert.equal(again.status, 404);
      api.assign(Buffer.from('{"B":"2"}'));
      // The Runtime API itself goes on as for any sandbox.
      const next = call(port, 'GET', NEXT);
      await new Promise((r) => setTimeout(r, 20));
      api.deliver(inv('req-1'));
      assert.equal((await next).status, 200);
      assert.deepEqual(rec.events, ['awaiting-assignment', 'next']);
    } finally {
      await close(api);
    }
  });

  it('keeps an assignment given before the runtime asks', async () => {
    const api = new RuntimeApi(new Recorder(), { stemCell: true });
    const port = await listen(api);
    try {
      api.assign(Buffer.from('{"early":"yes"}'));
      const reply = await call(port, 'GET', ASSIGNMENT_PATH);
      assert.equal(reply.body, '{"early":"yes"}');
    } finally {
      await close(api);
    }
  });

  it('is an unknown path on a sandbox started for its function', async () => {
    const api = new RuntimeApi(new Recorder());
    const port = await listen(api);
    try {
      assert.equal((await call(port, 'GET', ASSIGNMENT_PATH)).status, 404);
    } finally {
      await close(api);
    }
  });
});

describe('RuntimeApi, framed channel (the built-in runtime\'s client)', () => {
  const invocation = (requestId: string, payload: string) => ({
    requestId,
    payload: Buffer.from(payload),
    deadlineMs: 1_700_000_000_000,
    invokedFunctionArn: 'arn:aws:lambda:us-east-1:000000000000:function:f',
    traceId: 'Root=1-abc',
    clientContext: '{"custom":"ü"}',
  });

  it('carries next, the event with its fields, responses and errors, one write each way', async () => {
    const recorder = new Recorder();
    const api = new RuntimeApi(recorder);
    const port = await listen(api);
    const client = new RuntimeApiClient(`127.0.0.1:${port}`);
    try {
      const first = client.next();
      await new Promise((r) => setTimeout(r, 50));
      api.deliver(invocation('id-1', '{"n":1}'));
      const got = await first;
      assert.equal(got.body, '{"n":1}');
      assert.equal(got.headers['lambda-runtime-aws-request-id'], 'id-1');
      assert.equal(got.headers['lambda-runtime-deadline-ms'], '1700000000000');
      assert.equal(got.headers['lambda-runtime-invoked-function-arn'], 'arn:aws:lambda:us-east-1:000000000000:function:f');
      assert.equal(got.headers['lambda-runtime-trace-id'], 'Root=1-abc');
      // As node:http decodes a header: the UTF-8 bytes as latin1.
      assert.equal(got.headers['lambda-runtime-client-context'], Buffer.from('{"custom":"ü"}').toString('latin1'));
      const second = client.respondAndNext('id-1', '"done"');
      await new Promise((r) => setTimeout(r, 50));
      assert.deepEqual(recorder.events, ['next', 'response id-1', 'next']);
      assert.equal(recorder.bodies[0]!.toString(), '"done"');
      api.deliver(invocation('id-2', '{}'));
      await second;
      const third = client.failAndNext('id-2', '{"errorType":"E"}', 'E');
      // A second response to an answered invoke is dropped (HTTP: 403).
      await new Promise((r) => setTimeout(r, 50));
      assert.deepEqual(recorder.events.slice(3), ['error id-2 E', 'next']);
      api.deliver(invocation('id-3', '{}'));
      await third;
      void client.respondAndNext('id-3', 'x'.repeat(MAX_RUNTIME_PAYLOAD_SIZE + 1)).catch(() => {});
      await new Promise((r) => setTimeout(r, 300));
      assert.deepEqual(recorder.events.slice(5), ['too-large id-3', 'next']);
    } finally {
      await close(api);
    }
  });

  it('is opened by a stem cell before its assignment, so its first next() needs no connection of its own', async () => {
    const recorder = new Recorder();
    const api = new RuntimeApi(recorder, { stemCell: true });
    const port = await listen(api);
    let connections = 0;
    api.server.on('connection', () => connections++);
    const client = new RuntimeApiClient(`127.0.0.1:${port}`);
    try {
      client.openChannel();
      const assigned = client.assignment();
      await new Promise((r) => setTimeout(r, 50));
      assert.equal(api.server.framed.size, 1, 'upgraded while the cell waits');
      api.assign(Buffer.from('{"A":"1"}'));
      assert.deepEqual(await assigned, { A: '1' });
      const before = connections;
      const first = client.next();
      await new Promise((r) => setTimeout(r, 50));
      assert.equal(connections, before, 'no new connection');
      assert.deepEqual(recorder.events, ['awaiting-assignment', 'next']);
      api.deliver(invocation('id-1', '{"n":1}'));
      assert.equal((await first).body, '{"n":1}');
    } finally {
      await close(api);
    }
  });

  it('closes its channels with every other connection', async () => {
    const api = new RuntimeApi(new Recorder());
    const port = await listen(api);
    const client = new RuntimeApiClient(`127.0.0.1:${port}`);
    const parked = client.next();
    await new Promise((r) => setTimeout(r, 50));
    await close(api);
    await assert.rejects(parked, /socket hang up/);
  });
});
