import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import { RereadFile } from './reread-file.js';

describe('RereadFile', () => {
  const dir = mkdtempSync(join(tmpdir(), 'kindling-reread-'));
  after(() => rmSync(dir, { recursive: true, force: true }));

  it('reads the current text on every call through one fd', () => {
    const path = join(dir, 'value');
    writeFileSync(path, '1234\n');
    const f = new RereadFile(path);
    assert.equal(f.read(), '1234\n');
    writeFileSync(path, '7\n'); // same inode, truncated and rewritten
    assert.equal(f.read(), '7\n');
    f.close();
  });

  it('reads a kernel-generated file afresh', () => {
    const f = new RereadFile('/proc/self/status');
    const a = f.read();
    assert.match(a ?? '', /^Name:/);
    assert.match(f.read() ?? '', /VmHWM:/);
    f.close();
  });

  it('answers undefined for a missing file and after close, and reads no more than maxBytes', () => {
    assert.equal(new RereadFile(join(dir, 'missing')).read(), undefined);
    const path = join(dir, 'long');
    writeFileSync(path, 'abcdef');
    const f = new RereadFile(path, 3);
    assert.equal(f.read(), 'abc');
    f.close();
    assert.equal(f.read(), undefined);
  });
});
