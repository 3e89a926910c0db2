import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { cpSync, existsSync, mkdtempSync, readdirSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { after, describe, it } from 'node:test';
import { DEFAULT_NODE_RUNTIME_ENTRY } from './local-worker.js';
import { RuntimeSnapshots } from './runtime-snapshots.js';

const RUNTIME_ROOT = dirname(dirname(DEFAULT_NODE_RUNTIME_ENTRY));
const ARGS_128 = ['--expose-gc', '--max-http-header-size', '81920', '--max-semi-space-size=6', '--max-old-space-size=116'];
const ARGS_256 = ['--expose-gc', '--max-http-header-size', '81920', '--max-semi-space-size=12', '--max-old-space-size=231'];

describe('RuntimeSnapshots', () => {
  const dirs: string[] = [];
  const tempDir = (): string => {
    const d = mkdtempSync(join(tmpdir(), 'kindling-snapshots-test-'));
    dirs.push(d);
    return d;
  };
  after(() => {
    for (const d of dirs) rmSync(d, { recursive: true, force: true });
  });

  it('builds one blob per node command line in the background, checked, and names it as the sandbox sees it', async () => {
    const dir = tempDir();
    const reports: string[] = [];
    const snapshots = new RuntimeSnapshots({ dir, nodePath: process.execPath, runtimeRoot: RUNTIME_ROOT, report: (l) => reports.push(l) });
    assert.equal(snapshots.blobFor(ARGS_128, RUNTIME_ROOT, '/seen/here'), undefined, 'none before its build');
    assert.equal(snapshots.blobFor(ARGS_128, RUNTIME_ROOT, '/seen/here'), undefined, 'asking again does not start a second build');
    await snapshots.settled();
    const blob = snapshots.blobFor(ARGS_128, RUNTIME_ROOT, '/seen/here');
    assert.ok(blob !== undefined && blob.startsWith('/seen/here/'), String(blob));
    const [workerDir] = readdirSync(dir);
    const host = join(dir, blob.slice('/seen/here/'.length));
    assert.equal(dirname(host), join(dir, workerDir!));
    assert.equal(statSync(host).mode & 0o777, 0o644, 'readable by every sandbox uid');
    assert.deepEqual(readdirSync(join(dir, workerDir!)), [blob.slice(blob.lastIndexOf('/') + 1)], 'one blob, no leftovers of the build');
    // node starts from it with the same flags, and refuses it with others.
    const entry = join(RUNTIME_ROOT, 'nodejs', 'index.js');
    const same = spawnSync(process.execPath, [...ARGS_128, '--snapshot-blob', host, entry, '--check'], { env: {}, encoding: 'utf8' });
    assert.equal(same.stdout, 'ok');
    const other = spawnSync(process.execPath, [...ARGS_256, '--snapshot-blob', host, entry, '--check'], { env: {}, encoding: 'utf8' });
    assert.notEqual(other.status, 0);
    // Another command line (or another runtime directory as the sandbox sees it) is another blob.
    assert.equal(snapshots.blobFor(ARGS_256, RUNTIME_ROOT, '/seen/here'), undefined);
    assert.equal(snapshots.blobFor(ARGS_128, '/var/runtime', '/seen/here'), undefined);
    await snapshots.settled();
    assert.equal(readdirSync(join(dir, workerDir!)).length, 3);
    assert.deepEqual(reports, []);
    await snapshots.close();
    assert.equal(existsSync(join(dir, workerDir!)), false, 'close() removes the blobs');
  });

  it('reports a build that fails once, and never tries it again', async () => {
    const root = tempDir();
    cpSync(RUNTIME_ROOT, root, { recursive: true });
    writeFileSync(join(root, 'nodejs', 'snapshot.js'), "throw new Error('no snapshot here');\n");
    const reports: string[] = [];
    const snapshots = new RuntimeSnapshots({ dir: tempDir(), nodePath: process.execPath, runtimeRoot: root, report: (l) => reports.push(l) });
    assert.equal(snapshots.blobFor(ARGS_128, root, '/s'), undefined);
    await snapshots.settled();
    assert.equal(snapshots.blobFor(ARGS_128, root, '/s'), undefined);
    await snapshots.settled();
    assert.equal(reports.length, 1, reports.join('\n'));
    assert.match(reports[0]!, /^kindling: no startup snapshot of the nodejs runtime for node --expose-gc .*: node exited with 1: Error: no snapshot here$/);
    await snapshots.close();
  });

  it('close() stops a build in progress and reports nothing', async () => {
    const dir = tempDir();
    const reports: string[] = [];
    const snapshots = new RuntimeSnapshots({ dir, nodePath: process.execPath, runtimeRoot: RUNTIME_ROOT, report: (l) => reports.push(l) });
    snapshots.blobFor(ARGS_128, RUNTIME_ROOT, '/s');
    await new Promise((r) => setTimeout(r, 100)); // a build takes several times as long
    await snapshots.close();
    assert.deepEqual(readdirSync(dir), []);
    assert.deepEqual(reports, []);
    assert.equal(snapshots.blobFor(ARGS_128, RUNTIME_ROOT, '/s'), undefined);
  });
});
