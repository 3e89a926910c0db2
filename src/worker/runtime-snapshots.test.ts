import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { chmodSync, cpSync, existsSync, mkdirSync, mkdtempSync, readFileSync, readdirSync, rmSync, statSync, writeFileSync } from 'node:fs';
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
    const snapshots = new RuntimeSnapshots({ dir, nodePath: process.execPath, runtimeRoot: RUNTIME_ROOT, report: (l) => reports.push(l), cacheDir: null });
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
    // node starts the runtime from it with the same flags (with no Runtime API it stops at once), and refuses it with others.
    const entry = join(RUNTIME_ROOT, 'nodejs', 'index.js');
    const same = spawnSync(process.execPath, [...ARGS_128, '--snapshot-blob', host, entry], { env: {}, encoding: 'utf8' });
    assert.deepEqual({ status: same.status, stderr: same.stderr }, { status: 1, stderr: 'AWS_LAMBDA_RUNTIME_API is not set\n' });
    const other = spawnSync(process.execPath, [...ARGS_256, '--snapshot-blob', host, entry], { env: {}, encoding: 'utf8' });
    assert.equal(other.status, 14, other.stderr);
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
    const snapshots = new RuntimeSnapshots({ dir: tempDir(), nodePath: process.execPath, runtimeRoot: root, report: (l) => reports.push(l), cacheDir: null });
    assert.equal(snapshots.blobFor(ARGS_128, root, '/s'), undefined);
    await snapshots.settled();
    assert.equal(snapshots.blobFor(ARGS_128, root, '/s'), undefined);
    await snapshots.settled();
    assert.equal(reports.length, 1, reports.join('\n'));
    assert.match(reports[0]!, /^kindling: no startup snapshot of the nodejs runtime for node --expose-gc .* \(sandboxes start without one\): node exited with 1: Error: no snapshot here$/);
    await snapshots.close();
  });

  it('refuses a blob the runtime does not start from as a sandbox would', async () => {
    const root = tempDir();
    cpSync(RUNTIME_ROOT, root, { recursive: true });
    writeFileSync(join(root, 'nodejs', 'index.js'), "throw new Error('index.js is broken');\n");
    const reports: string[] = [];
    const dir = tempDir();
    const snapshots = new RuntimeSnapshots({ dir, nodePath: process.execPath, runtimeRoot: root, report: (l) => reports.push(l), cacheDir: null });
    snapshots.blobFor(ARGS_128, root, '/s');
    await snapshots.settled();
    assert.equal(snapshots.blobFor(ARGS_128, root, '/s'), undefined);
    assert.equal(reports.length, 1);
    assert.match(reports[0]!, /: the runtime started from it exited with 1: Error: index\.js is broken$/);
    assert.deepEqual(readdirSync(join(dir, readdirSync(dir)[0]!)), [], 'the refused blob is gone');
    await snapshots.close();
  });

  it('keeps built blobs in its cache: a worker that starts again copies and checks one instead of building it', async () => {
    // A runtime tree whose builder notes each build.
    const root = tempDir();
    cpSync(RUNTIME_ROOT, root, { recursive: true });
    const builds = join(tempDir(), 'builds');
    const builder = join(root, 'nodejs', 'snapshot.js');
    writeFileSync(builder, `require('node:fs').appendFileSync(${JSON.stringify(builds)}, 'built\\n');\n${readFileSync(builder, 'utf8')}`);
    const cacheDir = join(tempDir(), 'cache');
    const countBuilds = () => (existsSync(builds) ? readFileSync(builds, 'utf8').split('\n').length - 1 : 0);
    const ready = async (): Promise<string | undefined> => {
      const snapshots = new RuntimeSnapshots({ dir: tempDir(), nodePath: process.execPath, runtimeRoot: root, cacheDir, report: (l) => assert.fail(l) });
      snapshots.blobFor(ARGS_128, root, '/s');
      await snapshots.settled();
      const blob = snapshots.blobFor(ARGS_128, root, '/s');
      await snapshots.close();
      return blob;
    };
    assert.ok(await ready());
    assert.equal(countBuilds(), 1);
    assert.equal(statSync(cacheDir).mode & 0o777, 0o700);
    const [cached] = readdirSync(cacheDir);
    assert.match(cached!, /^[0-9a-f]{32}\.blob$/);
    assert.ok(await ready(), 'from the cache');
    assert.equal(countBuilds(), 1, 'not built again');
    // A cached blob that fails its check is replaced by a new build.
    writeFileSync(join(cacheDir, cached!), 'not a snapshot');
    assert.ok(await ready());
    assert.equal(countBuilds(), 2);
    assert.notEqual(readFileSync(join(cacheDir, cached!), 'utf8').slice(0, 14), 'not a snapshot');
    // A cache directory others may write is not used.
    const open = join(tempDir(), 'open');
    mkdirSync(open, { mode: 0o777 });
    chmodSync(open, 0o777);
    const snapshots = new RuntimeSnapshots({ dir: tempDir(), nodePath: process.execPath, runtimeRoot: root, cacheDir: open });
    snapshots.blobFor(ARGS_128, root, '/s');
    await snapshots.settled();
    await snapshots.close();
    assert.deepEqual(readdirSync(open), []);
    assert.equal(countBuilds(), 3);
  });

  it('removes the directories of workers whose process is gone, and only those', async () => {
    const dir = tempDir();
    const gone = join(dir, 'w-999999999-abc');
    const live = join(dir, `w-${process.pid}-abc`);
    for (const d of [gone, live]) {
      mkdirSync(d);
      writeFileSync(join(d, 'x.blob'), '');
    }
    const snapshots = new RuntimeSnapshots({ dir, nodePath: process.execPath, runtimeRoot: RUNTIME_ROOT, cacheDir: null });
    assert.equal(existsSync(gone), false);
    assert.equal(existsSync(join(live, 'x.blob')), true);
    await snapshots.close();
  });

  it('close() stops a build in progress and reports nothing', async () => {
    const dir = tempDir();
    const reports: string[] = [];
    const snapshots = new RuntimeSnapshots({ dir, nodePath: process.execPath, runtimeRoot: RUNTIME_ROOT, report: (l) => reports.push(l), cacheDir: null });
    snapshots.blobFor(ARGS_128, RUNTIME_ROOT, '/s');
    await new Promise((r) => setTimeout(r, 100)); // a build takes several times as long
    await snapshots.close();
    assert.deepEqual(readdirSync(dir), []);
    assert.deepEqual(reports, []);
    assert.equal(snapshots.blobFor(ARGS_128, RUNTIME_ROOT, '/s'), undefined);
  });
});
