import assert from 'node:assert/strict';
import { PassThrough } from 'node:stream';
import { describe, it } from 'node:test';
import { LOG_MARKER_PREFIX, LOG_TEXT_LIMIT, LogCapture } from './log-capture.js';

const marker = (id: string): string => `${LOG_MARKER_PREFIX}${id}\u0000\n`;
const tick = (): Promise<void> => new Promise((r) => setImmediate(r));

function setup(): { out: PassThrough; err: PassThrough; cap: LogCapture; seen: string[] } {
  const out = new PassThrough();
  const err = new PassThrough();
  const seen: string[] = [];
  const cap = new LogCapture(out, err, (t) => seen.push(t));
  return { out, err, cap, seen };
}

describe('LogCapture', () => {
  it('strips end markers, even split across chunks, and knows when both streams are flushed', async () => {
    const { out, err, cap, seen } = setup();
    cap.begin('r1');
    out.write('hello\n\u0000KIND');
    await tick();
    assert.equal(cap.flushed, false);
    assert.equal(cap.writesMarkers, false);
    out.write(`LING-END r1\u0000\nafter\n`);
    err.write(`oops\n${marker('r1')}`);
    await cap.wait(1000, () => cap.flushed);
    assert.equal(cap.flushed, true);
    assert.equal(cap.writesMarkers, true);
    assert.equal(cap.take(), 'hello\noops\n');
    assert.ok(!seen.join('').includes('\u0000'), 'the subscriber never sees a marker');
    // Text printed after the marker belongs to the next invoke.
    cap.begin('r2');
    assert.equal(cap.take(), 'after\n');
  });

  it('ignores a stale marker and keeps a NUL that starts no marker', async () => {
    const { out, err, cap } = setup();
    cap.begin('r2');
    out.write(`a\u0000b\n${marker('r1')}c\n`);
    err.end();
    await tick();
    assert.equal(cap.flushed, false, 'r1 is not the invoke being waited for');
    assert.equal(cap.take(), 'a\u0000b\nc\n');
  });

  it('counts an ended stream as flushed', async () => {
    const { out, err, cap } = setup();
    cap.begin('r1');
    out.end('last words\n');
    err.end();
    await cap.wait(1000, () => cap.ended);
    assert.equal(cap.ended, true);
    assert.equal(cap.flushed, true);
    assert.equal(cap.take(), 'last words\n');
  });

  it('keeps only the newest text of a very chatty invoke', async () => {
    const { out, err, cap } = setup();
    cap.begin('r1');
    const line = 'x'.repeat(1023) + '\n';
    for (let i = 0; i < 300; i++) out.write(line);
    out.write('the end\n');
    out.end();
    err.end();
    await cap.wait(1000, () => cap.ended);
    const text = cap.take();
    assert.ok(text.length <= 2 * LOG_TEXT_LIMIT);
    assert.ok(text.length >= LOG_TEXT_LIMIT);
    assert.ok(text.endsWith('the end\n'));
  });
});
