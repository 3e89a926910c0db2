import assert from 'node:assert/strict';
import { existsSync, lstatSync, mkdtempSync, readFileSync, readlinkSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { LambdaError } from '../shared/errors.js';
import { FileBlobStore } from '../store/file-blobs.js';
import { COULD_NOT_UNZIP, inspectZip, unpackZip, UnpackError, UNZIPPED_TOO_LARGE, ZipCodePreparer } from './code.js';
import { makeZip } from './testing.js';

function tempDir(t: { after(fn: () => void): void }): string {
  const dir = mkdtempSync(join(tmpdir(), 'kindling-code-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  return dir;
}

describe('unpackZip', () => {
  it('writes files and directories, keeping unix modes and defaulting the rest', async (t) => {
    const dest = tempDir(t);
    const zip = await makeZip([
      { name: 'bootstrap', data: '#!/bin/sh\necho hi\n', mode: 0o100755 },
      { name: 'lib/', mode: 0o040755 },
      { name: 'lib/data.json', data: '{"a":1}', mode: 0o100644 },
      { name: 'deep/nested/file.txt', data: 'x', mode: 0o100600 },
    ]);
    await unpackZip(zip, dest);
    assert.equal(statSync(join(dest, 'bootstrap')).mode & 0o777, 0o755);
    assert.equal(readFileSync(join(dest, 'bootstrap'), 'utf8'), '#!/bin/sh\necho hi\n');
    assert.equal(statSync(join(dest, 'lib/data.json')).mode & 0o777, 0o644);
    assert.equal(statSync(join(dest, 'deep/nested/file.txt')).mode & 0o777, 0o600);
    assert.equal(statSync(join(dest, 'deep/nested')).mode & 0o777, 0o755);
  });

  it('drops setuid/setgid bits from a package', async (t) => {
    const dest = tempDir(t);
    await unpackZip(await makeZip([{ name: 'suid', data: 'x', mode: 0o104755 }]), dest);
    assert.equal(statSync(join(dest, 'suid')).mode & 0o7777, 0o755);
  });

  it('creates symlinks that stay inside the root, after the regular files', async (t) => {
    const dest = tempDir(t);
    const zip = await makeZip([
      { name: 'link-to-lib', data: 'lib', mode: 0o120777 },
      { name: 'lib/index.js', data: 'module.exports = 1' },
      { name: 'node_modules/.bin/tool', data: '../../lib/index.js', mode: 0o120777 },
    ]);
    await unpackZip(zip, dest);
    assert.equal(readlinkSync(join(dest, 'link-to-lib')), 'lib');
    assert.equal(readFileSync(join(dest, 'link-to-lib/index.js'), 'utf8'), 'module.exports = 1');
    assert.equal(readFileSync(join(dest, 'node_modules/.bin/tool'), 'utf8'), 'module.exports = 1');
  });

  for (const [label, entries] of [
    ['an absolute symlink target', [{ name: 'etc', data: '/etc', mode: 0o120777 }]],
    ['a symlink climbing out with ..', [{ name: 'up', data: '../../outside', mode: 0o120777 }]],
    [
      'a chain of symlinks that escapes only through another link',
      [
        { name: 'a', data: '.', mode: 0o120777 },
        { name: 'sub/b', data: '../a/..', mode: 0o120777 },
      ],
    ],
  ] as const) {
    it(`refuses ${label}`, async (t) => {
      const dest = tempDir(t);
      await assert.rejects(unpackZip(await makeZip(entries), dest), (err: unknown) => {
        assert.ok(err instanceof UnpackError);
        assert.equal(err.message, COULD_NOT_UNZIP);
        return true;
      });
    });
  }

  it('enforces the unzipped-size quota while streaming', async (t) => {
    const dest = tempDir(t);
    const zip = await makeZip([{ name: 'big.bin', data: Buffer.alloc(10_000) }]);
    await assert.rejects(unpackZip(zip, dest, 5_000), (err: unknown) => err instanceof UnpackError && err.message.startsWith('Unzipped size'));
    await unpackZip(zip, tempDir(t), 10_000);
  });

  it('refuses bytes that are not a zip', async (t) => {
    await assert.rejects(unpackZip(Buffer.from('not a zip'), tempDir(t)), UnpackError);
  });
});

describe('inspectZip', () => {
  it('answers Lambda errors for bad, empty and oversized packages', async () => {
    await assert.rejects(inspectZip(Buffer.from('definitely not a zip file')), (err: unknown) => {
      assert.ok(err instanceof LambdaError);
      assert.equal(err.code, 'InvalidParameterValueException');
      assert.equal(err.message, 'Could not unzip uploaded file. Please check your file, then try to upload again.');
      return true;
    });
    await assert.rejects(inspectZip(await makeZip([])), /Uploaded file must be a non-empty zip/);
    await assert.rejects(inspectZip(await makeZip([{ name: 'a', data: Buffer.alloc(2000) }]), 1000), (err: unknown) => {
      assert.ok(err instanceof LambdaError);
      assert.equal(err.message, UNZIPPED_TOO_LARGE);
      assert.equal(err.message, 'Unzipped size must be smaller than 262144000 bytes');
      return true;
    });
    const ok = await inspectZip(await makeZip([{ name: 'a', data: 'abc' }, { name: 'd/' }]));
    assert.deepEqual(ok, { entries: 2, unzippedBytes: 3 });
  });

  it('refuses a corrupted entry', async () => {
    const zip = await makeZip([{ name: 'index.js', data: 'x'.repeat(5000) }]);
    // Damage the deflate stream of the only entry (it starts after the 30-byte local header + name).
    for (let i = 40; i < 60; i++) zip[i] = 0xff;
    await assert.rejects(inspectZip(zip), /Could not unzip uploaded file/);
  });
});

describe('ZipCodePreparer', () => {
  it('unpacks the stored zip into the task root, once', async (t) => {
    const blobs = new FileBlobStore(tempDir(t));
    const hex = await blobs.put(await makeZip([{ name: 'bootstrap', data: '#!/bin/sh', mode: 0o100755 }]));
    const preparer = new ZipCodePreparer(blobs);
    const [a, b] = await Promise.all([preparer.prepare(hex), preparer.prepare(hex)]);
    assert.equal(a, blobs.taskRootPath(hex));
    assert.equal(b, a);
    assert.equal(statSync(join(a, 'bootstrap')).mode & 0o777, 0o755);
    assert.ok(lstatSync(a).isDirectory());
  });

  it('leaves no task root when the zip cannot be unpacked', async (t) => {
    const blobs = new FileBlobStore(tempDir(t));
    const hex = await blobs.put(Buffer.from('garbage'));
    await assert.rejects(new ZipCodePreparer(blobs).prepare(hex), UnpackError);
    assert.equal(existsSync(blobs.taskRootPath(hex)), false);
  });
});
