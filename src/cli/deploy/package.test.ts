import assert from 'node:assert/strict';
import { chmodSync, mkdirSync, mkdtempSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import yauzl from 'yauzl';
import { codeSha256, packageCode, zipDirectory } from './package.js';

const root = mkdtempSync(join(tmpdir(), 'kindling-package-'));
after(() => rmSync(root, { recursive: true, force: true }));

/** name → [unix mode, content] of every entry of a zip. */
async function entries(zip: Buffer): Promise<Record<string, [number, string]>> {
  const z = await yauzl.fromBufferPromise(zip, { lazyEntries: true });
  const out: Record<string, [number, string]> = {};
  for await (const e of z.eachEntry()) {
    const stream = await z.openReadStreamPromise(e);
    const chunks: Buffer[] = [];
    for await (const c of stream) chunks.push(c as Buffer);
    out[e.fileName] = [(e.externalFileAttributes >>> 16) & 0o177777, Buffer.concat(chunks).toString()];
  }
  return out;
}

function tree(name: string): string {
  const dir = join(root, name);
  mkdirSync(join(dir, 'lib'), { recursive: true });
  mkdirSync(join(dir, 'node_modules', 'dep', '.hidden-in-module'), { recursive: true });
  mkdirSync(join(dir, 'node_modules', '.bin'), { recursive: true });
  mkdirSync(join(dir, '.aws-sam', 'build'), { recursive: true });
  writeFileSync(join(dir, 'app.js'), 'exports.handler = async () => 1;');
  writeFileSync(join(dir, 'lib', 'run.sh'), '#!/bin/sh\n');
  chmodSync(join(dir, 'lib', 'run.sh'), 0o755);
  writeFileSync(join(dir, 'node_modules', 'dep', 'index.js'), 'module.exports = 1;');
  writeFileSync(join(dir, 'node_modules', 'dep', '.hidden-in-module', 'x'), 'kept');
  symlinkSync('../dep/index.js', join(dir, 'node_modules', '.bin', 'dep'));
  writeFileSync(join(dir, '.aws-sam', 'build', 'junk'), 'left out');
  writeFileSync(join(dir, '.env'), 'SECRET=1');
  return dir;
}

describe('packaging', () => {
  it('zips a directory with node_modules, without hidden files, keeping the executable bit and links inside', async () => {
    const zip = await zipDirectory(tree('a'));
    assert.deepEqual(await entries(zip), {
      'app.js': [0o100644, 'exports.handler = async () => 1;'],
      'lib/run.sh': [0o100755, '#!/bin/sh\n'],
      'node_modules/.bin/dep': [0o120777, '../dep/index.js'],
      'node_modules/dep/.hidden-in-module/x': [0o100644, 'kept'],
      'node_modules/dep/index.js': [0o100644, 'module.exports = 1;'],
    });
  });

  it('is the same bytes for the same content, and differs when a file changes', async () => {
    const a = await zipDirectory(tree('b'));
    const b = await zipDirectory(tree('c'));
    assert.equal(codeSha256(a), codeSha256(b));
    writeFileSync(join(root, 'c', 'node_modules', 'dep', 'index.js'), 'module.exports = 2;');
    assert.notEqual(codeSha256(await zipDirectory(join(root, 'c'))), codeSha256(a));
  });

  it('writes InlineCode to index.js (as CloudFormation does for Node.js)', async () => {
    const zip = await packageCode({ kind: 'inline', source: 'exports.handler = async () => 2;' });
    assert.deepEqual(await entries(zip), { 'index.js': [0o100644, 'exports.handler = async () => 2;'] });
  });

  it('refuses an empty directory', async () => {
    mkdirSync(join(root, 'empty', '.git'), { recursive: true });
    await assert.rejects(zipDirectory(join(root, 'empty')), /holds no files to deploy/);
  });

  it('codeSha256 is the base64 SHA-256 Lambda reports', () => {
    assert.equal(codeSha256(Buffer.from('abc')), 'ungWv48Bz+pBQUDeXa4iI7ADYaOWF3qctBD/YfIAFa0=');
  });
});
