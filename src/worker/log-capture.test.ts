import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { PassThrough } from 'node:stream';
import type { Readable, Writable } from 'node:stream';
import { describe, it } from 'node:test';
import { LOG_TEXT_LIMIT, LogCapture, endOfTurn } from './log-capture.js';

function setup(): { out: PassThrough; err: PassThrough; cap: LogCapture; seen: string[] } {
  const out = new PassThrough();
  const err = new PassThrough();
  const seen: string[] = [];
  const cap = new LogCapture(out, err, (t) => seen.push(t));
  return { out, err, cap, seen };
}

describe('LogCapture', () => {
  it('gives an invoke what both streams printed since the last one, NUL bytes and all', async () => {
    const { out, err, cap, seen } = setup();
    out.write('hello\n');
    err.write('oops\n');
    out.write('a\u0000b\n');
    await endOfTurn();
    assert.equal(cap.take(), 'hello\noops\na\u0000b\n');
    assert.deepEqual(seen, ['hello\n', 'oops\n', 'a\u0000b\n']);
    out.write('next\n');
    await endOfTurn();
    assert.equal(cap.take(), 'next\n');
    assert.equal(cap.take(), '');
  });

  it('waits for both streams to end, or no longer than its limit', async () => {
    const { out, err, cap } = setup();
    const started = performance.now();
    await cap.untilEnded(30);
    assert.ok(performance.now() - started >= 25, 'the limit');
    assert.equal(cap.ended, false);
    out.end('last words\n');
    const waiting = cap.untilEnded(60_000);
    err.end();
    await waiting;
    assert.equal(cap.ended, true);
    assert.equal(cap.take(), 'last words\n');
  });

  it('keeps only the newest text of a very chatty invoke', async () => {
    const { out, err, cap } = setup();
    const line = 'x'.repeat(1023) + '\n';
    for (let i = 0; i < 300; i++) out.write(line);
    out.write('the end\n');
    out.end();
    err.end();
    await cap.untilEnded(1000);
    const text = cap.take();
    assert.ok(text.length <= 2 * LOG_TEXT_LIMIT);
    assert.ok(text.length >= LOG_TEXT_LIMIT);
    assert.ok(text.endsWith('the end\n'));
  });

  it('has read everything a process printed before its result, one turn after the result arrives (real pipes)', async () => {
    // A stand-in runtime: per request on fd 3, it prints to stdout and
    // stderr (synchronously, as node does for pipes), sizes up to past a
    // pipe's 64 KiB, then answers on fd 3: the order of a runtime's log
    // lines and its POST of the result.
    const child = spawn(
      process.execPath,
      [
        '-e',
        `const fs = require('node:fs'); const net = require('node:net');
const s = new net.Socket({ fd: 3, readable: true, writable: true });
s.on('data', (d) => {
  for (const n of d.toString().trim().split('\\n')) {
    process.stdout.write('o'.repeat(Number(n)) + '|' + n + '\\n');
    process.stderr.write('e' + n + '\\n');
    s.write(n + '\\n');
  }
});`,
      ],
      { stdio: ['ignore', 'pipe', 'pipe', 'pipe'], env: {} },
    );
    const channel = child.stdio[3] as Readable & Writable;
    const cap = new LogCapture(child.stdout as Readable, child.stderr as Readable);
    const results: string[] = [];
    let wake: (() => void) | undefined;
    channel.setEncoding('utf8');
    channel.on('data', (d: string) => {
      results.push(...d.trim().split('\n'));
      wake?.();
    });
    try {
      const sizes = [0, 1, 10, 4095, 4096, 65_535, 65_536, 200_000, 7, 100_000];
      for (let round = 0; round < 20; round++) {
        for (const n of sizes) {
          results.length = 0;
          const answered = new Promise<void>((resolve) => (wake = resolve));
          channel.write(`${n}\n`);
          await answered;
          await endOfTurn();
          const text = cap.take();
          assert.ok(text.includes(`|${n}\n`), `stdout of request ${n} is all there (${text.length} characters)`);
          const length = n + String(n).length * 2 + 4;
          // Past twice the limit the capture drops the oldest text, which
          // may be stderr's line if it was read before stdout's last chunk.
          if (length <= 2 * LOG_TEXT_LIMIT) assert.ok(text.includes(`e${n}\n`), `stderr of request ${n} is there`);
          if (length <= LOG_TEXT_LIMIT) assert.equal(text.length, length, 'and nothing of the next');
        }
      }
    } finally {
      child.kill();
    }
  });
});
