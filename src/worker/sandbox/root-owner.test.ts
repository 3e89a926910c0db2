import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, readlinkSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import { goneOwner, sweepAbandonedRoots, writeRootOwner } from './root-owner.js';
import type { RootOwner } from './root-owner.js';

const base = mkdtempSync(join(tmpdir(), 'kindling-owner-test-'));
after(() => rmSync(base, { recursive: true, force: true }));

const ownNamespace = readlinkSync('/proc/self/ns/pid');
/** A pid no process has now: one that ran and was reaped. */
const deadPid = spawnSync('true').pid;

function rootWith(name: string, owner: Partial<RootOwner> | undefined): string {
  const root = join(base, name);
  mkdirSync(root, { recursive: true });
  if (owner) writeFileSync(join(root, 'owner.json'), JSON.stringify({ pid: deadPid, startTime: '1', pidNamespace: ownNamespace, cgroupName: name, ...owner }));
  return root;
}

describe('goneOwner', () => {
  it('is undefined for a root this process owns', () => {
    const root = rootWith('mine', undefined);
    writeRootOwner(root, 'mine-cg');
    const owner = JSON.parse(readFileSync(join(root, 'owner.json'), 'utf8')) as RootOwner;
    assert.equal(owner.pid, process.pid);
    assert.equal(owner.cgroupName, 'mine-cg');
    assert.equal(goneOwner(root), undefined);
  });

  it('names the owner when its process is gone, or its pid now belongs to a process started later', () => {
    assert.equal(goneOwner(rootWith('dead', {}))?.pid, deadPid);
    assert.equal(goneOwner(rootWith('reused', { pid: process.pid, startTime: '1' }))?.cgroupName, 'reused');
  });

  it('is undefined when it cannot tell: no owner file, another pid namespace, an unreadable file', () => {
    assert.equal(goneOwner(rootWith('no-owner', undefined)), undefined);
    assert.equal(goneOwner(rootWith('other-ns', { pidNamespace: 'pid:[1]' })), undefined);
    const broken = rootWith('broken', undefined);
    writeFileSync(join(broken, 'owner.json'), '{"pid":');
    assert.equal(goneOwner(broken), undefined);
  });
});

describe('sweepAbandonedRoots', () => {
  it('reclaims the siblings that match and whose owner is gone, and keeps going when one fails', async () => {
    const me = rootWith('sweep/kindling-000000000000', undefined);
    writeRootOwner(me, 'me');
    const dead = rootWith('sweep/kindling-aaaaaaaaaaaa', {});
    const failing = rootWith('sweep/kindling-bbbbbbbbbbbb', {});
    const mine = JSON.parse(readFileSync(join(me, 'owner.json'), 'utf8')) as RootOwner;
    rootWith('sweep/kindling-cccccccccccc', { pid: process.pid, startTime: mine.startTime });
    rootWith('sweep/kindling-dddddddddddd', undefined);
    rootWith('sweep/other', {});
    const seen: string[] = [];
    const reclaimed = await sweepAbandonedRoots(me, /^kindling-[0-9a-f]{12}$/, async (root, owner) => {
      seen.push(owner.cgroupName);
      if (root === failing) throw new Error('busy');
      rmSync(root, { recursive: true });
    });
    assert.deepEqual(seen.sort(), ['sweep/kindling-aaaaaaaaaaaa', 'sweep/kindling-bbbbbbbbbbbb']);
    assert.deepEqual(reclaimed, [dead]);
  });
});
