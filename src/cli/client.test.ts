import assert from 'node:assert/strict';
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { apiError, KindlingClient, resolveEndpoint, type LogPage } from './client.js';
import { invokeCommand, logsCommand, parseSince, readPayload } from './commands.js';
import { colorEnabled, makeOutput, type Output } from './output.js';

/** An Output that records lines. */
function recorder(): Output & { out: string[]; err: string[] } {
  const out: string[] = [];
  const err: string[] = [];
  const o = makeOutput({ isTTY: false, write: (s: string) => out.push(s.replace(/\n$/, '')) }, { isTTY: false, write: (s: string) => err.push(s.replace(/\n$/, '')) }, {});
  return Object.assign(o, { out, err });
}

type Handler = (req: IncomingMessage, body: Buffer, res: ServerResponse) => void;
let handler: Handler = (_req, _body, res) => res.end();
let url = '';
const server = createServer((req, res) => {
  const chunks: Buffer[] = [];
  req.on('data', (c: Buffer) => chunks.push(c));
  req.on('end', () => handler(req, Buffer.concat(chunks), res));
});
before(async () => {
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
});
after(() => server.close());

describe('endpoint and errors', () => {
  it('--endpoint > KINDLING_ENDPOINT > http://127.0.0.1:9000, without a trailing slash', () => {
    assert.equal(resolveEndpoint('http://h:1/', { KINDLING_ENDPOINT: 'http://e:2' }), 'http://h:1');
    assert.equal(resolveEndpoint(undefined, { KINDLING_ENDPOINT: 'http://e:2//' }), 'http://e:2');
    assert.equal(resolveEndpoint(undefined, { KINDLING_ENDPOINT: '' }), 'http://127.0.0.1:9000');
    assert.equal(resolveEndpoint(undefined, {}), 'http://127.0.0.1:9000');
  });

  it("Lambda's error shape becomes one line: Type: message", () => {
    // LAMBDA-REFERENCE "Wire conventions": ResourceNotFoundException carries Message, others message.
    const nf = apiError(404, 'ResourceNotFoundException', '{"Type":"User","Message":"Function not found: arn:aws:lambda:us-east-1:000000000000:function:x"}');
    assert.equal(nf.message, 'ResourceNotFoundException: Function not found: arn:aws:lambda:us-east-1:000000000000:function:x');
    assert.ok(nf.notFound);
    const v = apiError(400, 'ValidationException:http://internal', '{"message":"1 validation error detected:\\n bad"}');
    assert.equal(v.message, 'ValidationException: 1 validation error detected: bad');
    assert.equal(apiError(500, null, 'boom').message, 'HTTP 500: boom');
    assert.ok(apiError(404, 'UnknownOperationException', '{"message":"Unknown operation"}').unknownOperation);
  });

  it('an unreachable platform is a sentence, not a stack', async () => {
    const closed = createServer();
    await new Promise<void>((r) => closed.listen(0, '127.0.0.1', r));
    const port = (closed.address() as AddressInfo).port;
    await new Promise((r) => closed.close(r));
    await assert.rejects(
      new KindlingClient(`http://127.0.0.1:${port}`).listFunctions(),
      (err: Error) => err.message === `cannot reach http://127.0.0.1:${port} (ECONNREFUSED); is \`kindling up\` running there? (set --endpoint or KINDLING_ENDPOINT)`,
    );
  });

  it('colours only on a terminal without NO_COLOR', () => {
    assert.equal(colorEnabled({ isTTY: true, write: () => true }, {}), true);
    assert.equal(colorEnabled({ isTTY: true, write: () => true }, { NO_COLOR: '1' }), false);
    assert.equal(colorEnabled({ isTTY: false, write: () => true }, {}), false);
    const o = recorder();
    o.progress('working');
    o.line(o.color.green('plain'));
    assert.deepEqual(o.out, ['plain']);
    assert.deepEqual(o.err, []);
  });
});

describe('invoke', () => {
  it('sends the payload with Tail, prints the result on stdout and the log on stderr; exit 1 on a function error', async () => {
    const seen: { headers: IncomingMessage['headers']; body: string; url: string | undefined }[] = [];
    handler = (req, body, res) => {
      seen.push({ headers: req.headers, body: body.toString(), url: req.url });
      res.setHeader('x-amzn-RequestId', 'req-1');
      res.setHeader('X-Amz-Log-Result', Buffer.from('START RequestId: req-1\nEND RequestId: req-1\n').toString('base64'));
      if (body.toString().includes('fail')) res.setHeader('X-Amz-Function-Error', 'Unhandled');
      res.end(body.toString().includes('fail') ? '{"errorType":"Error","errorMessage":"no"}' : '{"ok":true}');
    };
    const dir = mkdtempSync(join(tmpdir(), 'kindling-cli-'));
    after(() => rmSync(dir, { recursive: true, force: true }));
    writeFileSync(join(dir, 'event.json'), '{"from":"file"}');
    const client = new KindlingClient(url);
    const o = recorder();
    assert.equal(await invokeCommand(client, o, 'fn', { payload: `@${join(dir, 'event.json')}`, qualifier: 'live' }), 0);
    assert.equal(seen[0]!.url, '/2015-03-31/functions/fn/invocations?Qualifier=live');
    assert.equal(seen[0]!.body, '{"from":"file"}');
    assert.equal(seen[0]!.headers['x-amz-log-type'], 'Tail');
    assert.equal(seen[0]!.headers['x-amz-invocation-type'], 'RequestResponse');
    assert.deepEqual(o.out, ['{"ok":true}']);
    assert.deepEqual(o.err, ['START RequestId: req-1', 'END RequestId: req-1']);

    const e = recorder();
    assert.equal(await invokeCommand(client, e, 'fn', { payload: '"fail"' }), 1);
    assert.deepEqual(e.out, ['{"errorType":"Error","errorMessage":"no"}']);

    const j = recorder();
    assert.equal(await invokeCommand(client, j, 'fn', { payload: '"fail"', json: true }), 1);
    const parsed = JSON.parse(j.out.join('\n')) as Record<string, unknown>;
    assert.equal(parsed['FunctionError'], 'Unhandled');
    assert.deepEqual(parsed['Payload'], { errorType: 'Error', errorMessage: 'no' });
  });

  it('--async sends an Event invoke and prints the request id', async () => {
    handler = (req, _body, res) => {
      assert.equal(req.headers['x-amz-invocation-type'], 'Event');
      res.statusCode = 202;
      res.setHeader('x-amzn-RequestId', 'req-async');
      res.end();
    };
    const o = recorder();
    assert.equal(await invokeCommand(new KindlingClient(url), o, 'fn', { async: true }), 0);
    assert.deepEqual(o.out, ['req-async']);
  });

  it('readPayload: {} by default, a missing @file is a clear error', async () => {
    assert.equal((await readPayload(undefined)).toString(), '{}');
    await assert.rejects(readPayload('@/nonexistent/x.json'), /--payload @\/nonexistent\/x\.json: cannot read \/nonexistent\/x\.json \(ENOENT\)/);
  });
});

describe('logs', () => {
  it('parseSince: durations and dates', () => {
    assert.equal(parseSince('10m', 1_000_000), 400_000);
    assert.equal(parseSince('2h', 10_000_000), 10_000_000 - 7_200_000);
    assert.equal(parseSince('2026-01-01T00:00:00Z', 0), Date.UTC(2026, 0, 1));
    assert.throws(() => parseSince('soon', 0), /--since soon: expected a duration like 10m/);
  });

  it('pages through nextToken; --follow keeps polling with it and prints each event once', async () => {
    const ev = (t: number, m: string) => ({ logStreamName: 's', timestamp: t, message: `${m}\n`, ingestionTime: t });
    const pages: LogPage[] = [
      { logGroupName: '/aws/lambda/fn', events: [ev(1000, 'a'), ev(2000, 'b')], nextToken: 't1' },
      { events: [], nextToken: 't1' },
      { events: [ev(3000, 'c')], nextToken: 't2' },
      { events: [], nextToken: 't2' },
    ];
    const asked: unknown[] = [];
    const fake = {
      endpoint: 'http://fake',
      getLogs: (_name: string, options: unknown) => {
        asked.push(options);
        return Promise.resolve(pages.shift() ?? { events: [], nextToken: 't2' });
      },
    };
    const o = recorder();
    let polls = 0;
    await logsCommand(fake, o, 'fn', { since: '10m', follow: true }, { now: () => 600_000 + 500, sleep: () => Promise.resolve(), stop: () => ++polls > 6 });
    assert.deepEqual(asked[0], { startTime: 500 });
    assert.deepEqual(asked[1], { nextToken: 't1' });
    assert.deepEqual(o.out, ['1970-01-01T00:00:01.000Z a', '1970-01-01T00:00:02.000Z b', '1970-01-01T00:00:03.000Z c']);
  });

  it('without --follow: stops when there is no more; --json prints the events', async () => {
    const fake = {
      endpoint: 'http://fake',
      getLogs: () => Promise.resolve({ logGroupName: '/aws/lambda/fn', events: [{ logStreamName: 's', timestamp: 5, message: 'x' }] }),
    };
    const o = recorder();
    await logsCommand(fake, o, 'fn', { since: '1h', json: true }, { now: () => 10_000_000 });
    assert.deepEqual(JSON.parse(o.out.join('\n')), { logGroupName: '/aws/lambda/fn', events: [{ logStreamName: 's', timestamp: 5, message: 'x' }] });
  });

  it('a server without the logs API: says so', async () => {
    handler = (_req, _body, res) => {
      res.statusCode = 404;
      res.setHeader('x-amzn-ErrorType', 'UnknownOperationException');
      res.end('{"message":"Unknown operation"}');
    };
    await assert.rejects(logsCommand(new KindlingClient(url), recorder(), 'fn', { since: '10m' }), /kindling logs needs a kindling server with the logs API/);
  });
});
