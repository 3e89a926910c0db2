import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { ManualClock } from '../shared/clock.js';
import { SqliteLogStore } from '../store/sqlite-log-store.js';
import { LogsApi } from './logs-api.js';

describe('logs API', () => {
  const dir = mkdtempSync(join(tmpdir(), 'kindling-logs-api-'));
  const clock = new ManualClock();
  const store = new SqliteLogStore(dir, { clock, retention: { maxAgeMs: 86_400_000, maxBytesPerGroup: 1e9 } });
  const api = new LogsApi({ logs: store, partition: { region: 'us-east-1', accountId: '000000000000' } });
  const server = createServer((req, res) => {
    if (!api.handle(req, res)) res.writeHead(418).end();
  });
  let base = '';
  before(async () => {
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
    const t0 = clock.now();
    store.append('/aws/lambda/fn', 'S1', [{ timestamp: t0, message: 'one' }, { timestamp: t0 + 10, message: 'two' }]);
    store.append('/aws/lambda/fn', 'S2', [{ timestamp: t0 + 20, message: 'three' }]);
  });
  after(async () => {
    await new Promise<void>((r) => server.close(() => r()));
    store.close();
    rmSync(dir, { recursive: true, force: true });
  });
  const get = async (path: string) => {
    const res = await fetch(base + path);
    return { status: res.status, type: res.headers.get('x-amzn-errortype'), body: (await res.json()) as Record<string, unknown> };
  };

  it('reads by name or ARN, with CloudWatch Logs field names', async () => {
    const t0 = clock.now();
    const byName = await get('/kindling/v1/logs/fn?limit=2');
    assert.equal(byName.status, 200);
    assert.deepEqual(byName.body, {
      logGroupName: '/aws/lambda/fn',
      events: [
        { logStreamName: 'S1', timestamp: t0, message: 'one', ingestionTime: t0 },
        { logStreamName: 'S1', timestamp: t0 + 10, message: 'two', ingestionTime: t0 },
      ],
      nextToken: byName.body['nextToken'],
    });
    const rest = await get(`/kindling/v1/logs/${encodeURIComponent('arn:aws:lambda:us-east-1:000000000000:function:fn')}?nextToken=${encodeURIComponent(String(byName.body['nextToken']))}`);
    assert.deepEqual((rest.body['events'] as { message: string }[]).map((e) => e.message), ['three']);
    const ranged = await get(`/kindling/v1/logs/fn?startTime=${t0 + 5}&endTime=${t0 + 20}`);
    assert.deepEqual((ranged.body['events'] as { message: string }[]).map((e) => e.message), ['two']);
    const streams = await get('/kindling/v1/logs/fn/streams');
    assert.deepEqual(
      (streams.body['logStreams'] as { logStreamName: string }[]).map((s) => s.logStreamName),
      ['S2', 'S1'],
    );
  });

  it('answers errors in AWS shape', async () => {
    const none = await get('/kindling/v1/logs/other');
    assert.deepEqual([none.status, none.type, none.body['Message']], [404, 'ResourceNotFoundException', 'The specified log group does not exist.']);
    const noneStreams = await get('/kindling/v1/logs/other/streams');
    assert.equal(noneStreams.status, 404);
    const stream = await get('/kindling/v1/logs/fn?logStreamName=nope');
    assert.deepEqual([stream.status, stream.body['Message']], [404, 'The specified log stream does not exist.']);
    const limit = await get('/kindling/v1/logs/fn?limit=0');
    assert.deepEqual([limit.status, limit.type, limit.body['message']], [
      400,
      'ValidationException',
      "1 validation error detected: Value '0' at 'limit' failed to satisfy constraint: Member must have value greater than or equal to 1",
    ]);
    const nan = await get('/kindling/v1/logs/fn?startTime=yesterday');
    assert.equal(nan.type, 'ValidationException');
    const token = await get('/kindling/v1/logs/fn?nextToken=xyz');
    assert.deepEqual([token.status, token.type], [400, 'InvalidParameterException']);
    const name = await get('/kindling/v1/logs/bad%20name');
    assert.equal(name.type, 'ValidationException');
    const op = await get('/kindling/v1/logs/fn/other');
    assert.equal(op.status, 404);
  });
});
