import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, readlinkSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import { abandonedRootOwner, sweepAbandonedRoots, writeRootOwner } from './root-owner.js';
import type { RootOwner } from './root-owner.js';

const base = mkdtempSync(join(tmpdir(), 'kindling-owner-test-'));
after(() => rmSync(base, { recursive: true, force: true }));

const ownNamespace = readlinkSync('/proc/self/ns/pid');
/** A pid no process has now: one that ran and was reaped. */
const deadPid = spawnSync('true').pid;
/** A data directory that does not exist (any more). */
const goneDataDir = join(base, 'deleted-data-dir');
const liveDataDir = mkdtempSync(join(tmpdir(), 'kindling-owner-data-'));
after(() => rmSync(liveDataDir, { recursive: true, force: true }));

/** A root whose owner died and whose data directory is gone, with `owner` changed. */
function rootWith(name: string, owner: Partial<Record<keyof RootOwner, unknown>> | undefined): string {
  const root = join(base, name);
  mkdirSync(root, { recursive: true });
  if (owner) writeFileSync(join(root, 'owner.json'), JSON.stringify({ pid: deadPid, startTime: '1', pidNamespace: ownNamespace, cgroupName: 'cg', dataDir: goneDataDir, ...owner }));
  return root;
}

describe('abandonedRootOwner', () => {
  it('is undefined for a root this process owns', () => {
    const root = rootWith('mine', undefined);
    writeRootOwner(root, 'mine-cg', goneDataDir);
    const owner = JSON.parse(readFileSync(join(root, 'owner.json'), 'utf8')) as RootOwner;
    assert.equal(owner.pid, process.pid);
    assert.equal(owner.cgroupName, 'mine-cg');
    assert.equal(owner.dataDir, goneDataDir);
    assert.equal(abandonedRootOwner(root), undefined);
  });

  it('names the owner when its process is gone (or its pid is another process now) and its data directory is gone', () => {
    assert.equal(abandonedRootOwner(rootWith('dead', {}))?.pid, deadPid);
    assert.equal(abandonedRootOwner(rootWith('reused', { pid: process.pid, startTime: '1' }))?.cgroupName, 'cg');
  });

  it('is undefined while the data directory exists: the next platform on it cleans up', () => {
    assert.equal(abandonedRootOwner(rootWith('data-dir-kept', { dataDir: liveDataDir })), undefined);
    assert.equal(abandonedRootOwner(rootWith('no-data-dir', { dataDir: undefined })), undefined);
    assert.equal(abandonedRootOwner(rootWith('relative-data-dir', { dataDir: 'data' })), undefined);
  });

  it('is undefined when it cannot tell: no owner file, another pid namespace, an unreadable file', () => {
    assert.equal(abandonedRootOwner(rootWith('no-owner', undefined)), undefined);
    assert.equal(abandonedRootOwner(rootWith('other-ns', { pidNamespace: 'pid:[1]' })), undefined);
    const broken = rootWith('broken', undefined);
    writeFileSync(join(broken, 'owner.json'), '{"pid":');
    assert.equal(abandonedRootOwner(broken), undefined);
  });

  it('never acts on a cgroup name that is not one plain path component', () => {
    for (const cgroupName of ['', '.', '..', '../x', 'a/b', '/sys', 3]) {
      assert.equal(abandonedRootOwner(rootWith(`cg-${String(cgroupName).replace(/\W/g, '_')}`, { cgroupName })), undefined, String(cgroupName));
    }
  });

  it('never trusts a root or owner file that is a symlink or belongs to another user', () => {
    const real = rootWith('real', {});
    symlinkSync(real, join(base, 'linked'));
    assert.equal(abandonedRootOwner(join(base, 'linked')), undefined);
    const linkedFile = rootWith('linked-file', undefined);
    symlinkSync(join(real, 'owner.json'), join(linkedFile, 'owner.json'));
    assert.equal(abandonedRootOwner(linkedFile), undefined);
    if (process.getuid?.() === 0) {
      const foreign = rootWith('foreign', {});
      spawnSync('chown', ['-R', '65534:65534', foreign]);
      assert.equal(abandonedRootOwner(foreign), undefined);
    }
  });
});

describe('sweepAbandonedRoots', () => {
  it('reclaims the siblings that match and are abandoned, and keeps going when one fails', async () => {
    const me = rootWith('sweep/kindling-000000000000', undefined);
    writeRootOwner(me, 'me', goneDataDir);
    const dead = rootWith('sweep/kindling-aaaaaaaaaaaa', { cgroupName: 'a' });
    const failing = rootWith('sweep/kindling-bbbbbbbbbbbb', { cgroupName: 'b' });
    const mine = JSON.parse(readFileSync(join(me, 'owner.json'), 'utf8')) as RootOwner;
    rootWith('sweep/kindling-cccccccccccc', { pid: process.pid, startTime: mine.startTime });
    rootWith('sweep/kindling-dddddddddddd', undefined);
    rootWith('sweep/kindling-eeeeeeeeeeee', { dataDir: liveDataDir });
    rootWith('sweep/other', {});
    const seen: string[] = [];
    const reclaimed = await sweepAbandonedRoots(me, /^kindling-[0-9a-f]{12}$/, async (root, owner) => {
      seen.push(owner.cgroupName);
      if (root === failing) throw new Error('busy');
      rmSync(root, { recursive: true });
    });
    assert.deepEqual(seen.sort(), ['a', 'b']);
    assert.deepEqual(reclaimed, [dead]);
  });
});
