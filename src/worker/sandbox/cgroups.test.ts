/**
 * Real cgroups, on whichever version the host has: an OOM kill is counted,
 * and a sandbox's failed exit after one reads as Lambda's `signal: killed`.
 *
 * cgroup v2's "no internal processes" rule on the real kernel: a cgroup
 * that holds processes cannot delegate controllers to children until they
 * move into a leaf (what enableControllers does for Kindling in a container
 * on a v2 host). Runs on any cgroup2 mount that offers a controller, even
 * the controller-less unified mount of a hybrid host that offers hugetlb.
 */
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { mkdirSync, readFileSync, rmdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { CgroupParent, detectCgroups, enableControllers, limitsFor, mounts } from './cgroups.js';
import { toSandboxExit } from './sandbox-root.js';

const detected = detectCgroups();
const noCgroups = process.getuid?.() !== 0 ? 'needs root' : !detected.ok ? detected.problem : false;

describe('SandboxCgroup.oomKills', { skip: noCgroups }, () => {
  it('counts a process killed for going over the memory limit, and toSandboxExit then reports signal: killed', { timeout: 30_000 }, async () => {
    if (!detected.ok) return;
    const parent = await CgroupParent.open(detected.layout, `kindling-oom-test-${process.pid}`);
    let child: ReturnType<typeof spawn> | undefined;
    try {
      const cg = parent.create('over', limitsFor(128));
      assert.equal(cg.oomKills(), 0);
      // Waits for a line on stdin (so that it joins the cgroup first), then
      // touches up to 1 GB and exits 0 if it was not killed.
      child = spawn(process.execPath, ['-e', "process.stdin.once('data', () => { const a = []; for (let i = 0; i < 64; i++) a.push(Buffer.alloc(16 << 20, 1)); process.exit(0); })"], {
        env: {},
        stdio: ['pipe', 'ignore', 'ignore'],
      });
      const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((res) => child?.once('exit', (code, signal) => res({ code, signal })));
      await cg.join(child.pid as number);
      child.stdin?.write('go\n');
      assert.deepEqual(await exited, { code: null, signal: 'SIGKILL' });
      assert.ok(cg.oomKills() >= 1, `oom kills: ${cg.oomKills()}`);
      // How runsc reports the Sentry losing a process to the OOM killer.
      assert.deepEqual(toSandboxExit({ code: 2, signal: null }, cg), { code: null, signal: 'SIGKILL' });
      assert.deepEqual(toSandboxExit({ code: 0, signal: null }, cg), { code: 0, signal: null });

      const calm = parent.create('calm', limitsFor(128));
      assert.equal(calm.oomKills(), 0);
      assert.deepEqual(toSandboxExit({ code: 2, signal: null }, calm), { code: 2, signal: null });
    } finally {
      child?.kill('SIGKILL');
      await parent.close();
    }
  });
});

const words = (path: string): string[] => readFileSync(path, 'utf8').trim().split(/\s+/).filter(Boolean);
const pidsIn = (dir: string): number[] => words(join(dir, 'cgroup.procs')).map(Number);

/** A cgroup2 mount and one controller its root offers, or why the test cannot run. */
function findV2(): { mount: string; controller: string } | string {
  if (process.getuid?.() !== 0) return 'needs root';
  let v2;
  try {
    v2 = mounts().find((m) => m.fstype === 'cgroup2');
  } catch {
    return 'no /proc/self/mountinfo';
  }
  if (!v2) return 'no cgroup2 mount';
  let offered: string[];
  try {
    offered = words(join(v2.point, 'cgroup.controllers'));
  } catch {
    return `cannot read ${v2.point}/cgroup.controllers`;
  }
  // A controller nothing else here is likely to be using: hugetlb first.
  const controller = ['hugetlb', 'pids', 'memory', 'cpu'].find((c) => offered.includes(c)) ?? offered[0];
  if (controller === undefined) return `the cgroup2 mount at ${v2.point} offers no controller`;
  return { mount: v2.point, controller };
}

const found = findV2();
const skip = typeof found === 'string' ? `cgroup v2 unavailable: ${found}` : false;

describe('enableControllers (cgroup v2)', () => {
  it('moves a cgroup’s processes into a leaf when the kernel refuses to delegate (EBUSY), then delegates', { skip }, async (t) => {
    const { mount, controller } = found as { mount: string; controller: string };
    // The mount's root is the real root here: it may delegate with processes inside.
    const rootAdded = !words(join(mount, 'cgroup.subtree_control')).includes(controller);
    assert.equal(enableControllers(mount, [controller]), 0);
    const dir = join(mount, `kindling-test-${process.pid}`);
    mkdirSync(dir);
    const sleeper = spawn('sleep', ['60'], { stdio: 'ignore' });
    const exited = new Promise((resolve) => sleeper.once('exit', resolve));
    t.after(async () => {
      sleeper.kill('SIGKILL');
      await exited;
      for (const d of [join(dir, 'leaf'), dir]) {
        try {
          rmdirSync(d);
        } catch {
          // never made
        }
      }
      if (rootAdded) writeFileSync(join(mount, 'cgroup.subtree_control'), `-${controller}`);
    });
    writeFileSync(join(dir, 'cgroup.procs'), String(sleeper.pid));

    // The rule itself, so that this test shows what it claims to.
    assert.throws(() => writeFileSync(join(dir, 'cgroup.subtree_control'), `+${controller}`), { code: 'EBUSY' });

    assert.equal(enableControllers(dir, [controller], 'leaf'), 1);
    assert.ok(words(join(dir, 'cgroup.subtree_control')).includes(controller));
    assert.deepEqual(pidsIn(dir), []);
    assert.deepEqual(pidsIn(join(dir, 'leaf')), [sleeper.pid]);
    // A child made now gets the controller.
    mkdirSync(join(dir, 'child'));
    try {
      assert.ok(words(join(dir, 'child', 'cgroup.controllers')).includes(controller));
    } finally {
      rmdirSync(join(dir, 'child'));
    }
    // Already delegated: nothing to do, nothing moves.
    assert.equal(enableControllers(dir, [controller], 'leaf'), 0);
  });
});
