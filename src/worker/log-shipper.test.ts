import assert from 'node:assert/strict';
import { test } from 'node:test';
import { ManualClock } from '../shared/clock.js';
import { LogShipper, SHIP_MS } from './log-shipper.js';
import type { LogBatch } from './wire.js';

const tick = () => new Promise((r) => setImmediate(r));

test('lines are sent in batches after SHIP_MS, in order, grouped by stream; a failed send keeps them for the next', async () => {
  const clock = new ManualClock();
  const sent: LogBatch[] = [];
  let fail = true;
  const errors: string[] = [];
  const shipper = new LogShipper({
    clock,
    send: (batch) => (fail ? Promise.reject(new Error('refused')) : (sent.push(batch), Promise.resolve())),
    onError: (m) => errors.push(m),
  });
  shipper.append('/aws/lambda/f', 's1', [{ timestamp: 1, message: 'a' }]);
  shipper.append('/aws/lambda/f', 's1', [{ timestamp: 2, message: 'b' }]);
  shipper.append('/aws/lambda/f', 's2', [{ timestamp: 3, message: 'c' }]);
  assert.equal(sent.length, 0, 'nothing is sent on append');
  clock.advance(SHIP_MS);
  await tick();
  assert.equal(sent.length, 0);
  assert.match(errors[0]!, /cannot reach the platform \(refused\)/);
  fail = false;
  clock.advance(SHIP_MS * 5);
  await tick();
  assert.deepEqual(sent, [
    {
      streams: [
        { logGroupName: '/aws/lambda/f', logStreamName: 's1', events: [{ timestamp: 1, message: 'a' }, { timestamp: 2, message: 'b' }] },
        { logGroupName: '/aws/lambda/f', logStreamName: 's2', events: [{ timestamp: 3, message: 'c' }] },
      ],
    },
  ]);
  shipper.append('/aws/lambda/f', 's1', [{ timestamp: 4, message: 'd' }]);
  await shipper.flush();
  assert.deepEqual(sent[1]?.streams[0]?.events, [{ timestamp: 4, message: 'd' }]);
});

test('past maxBufferedBytes while the platform is away, the oldest lines go and the worker says how many', async () => {
  const clock = new ManualClock();
  const sent: LogBatch[] = [];
  const errors: string[] = [];
  let fail = true;
  const shipper = new LogShipper({
    clock,
    maxBufferedBytes: 3 * (64 + 1),
    send: (batch) => (fail ? Promise.reject(new Error('down')) : (sent.push(batch), Promise.resolve())),
    onError: (m) => errors.push(m),
  });
  for (const m of ['1', '2', '3', '4', '5']) shipper.append('g', 's', [{ timestamp: Number(m), message: m }]);
  fail = false;
  await shipper.flush();
  assert.deepEqual(sent[0]?.streams[0]?.events.map((e) => e.message), ['3', '4', '5']);
  assert.ok(errors.includes('2 function log lines were dropped while the platform could not be reached'), errors.join('\n'));
});
