/**
 * Control groups for namespace sandboxes: one cgroup per sandbox under a
 * Kindling parent, on cgroup v2 (unified) or v1 (one hierarchy per
 * controller), detected at start-up.
 *
 * Limits follow Lambda: memory = MemorySize with no swap; CPU proportional to
 * memory, one full vCPU at 1,769 MB (Lambda developer guide, "Configure
 * Lambda function memory": "At 1,769 MB, a function has the equivalent of
 * one vCPU"); at most MAX_PIDS processes and threads (Lambda's quota: 1,024
 * "processes/threads").
 *
 * File operations are synchronous (cgroupfs files are kernel objects
 * written in microseconds) except the migration of a process, see join().
 */
import { existsSync, readFileSync, readdirSync, rmdirSync, writeFileSync, mkdirSync } from 'node:fs';
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { RereadFile } from '../../shared/reread-file.js';

/** Lambda's "processes/threads" quota. A fork bomb stops here. */
export const MAX_PIDS = 1024;
/** MB of memory that buys one full vCPU on Lambda. */
export const MB_PER_VCPU = 1769;
/**
 * CFS period of every sandbox: 20 ms rather than the kernel's default 100 ms.
 * A throttled sandbox runs for its quota and then waits for the rest of the
 * period, so the period bounds the stall a request sees while throttled: at
 * 100 ms a 128 MB function (7.2% of a vCPU) runs 7.2 ms and then stalls
 * 92.8 ms; at 20 ms it runs 1.45 ms and stalls 18.55 ms, the same share in
 * finer slices. The kernel refuses quotas under 1 ms (MIN_CPU_QUOTA_US), so
 * the period is the shortest at which Lambda's smallest MemorySize (128 MB)
 * still gets a quota of at least 1 ms at its exact share:
 * 20,000 µs × 128 / 1,769 = 1,447 µs. (A 10 ms period would round 128 MB
 * up to 1 ms, 10% of a vCPU instead of 7.2%.)
 */
export const CPU_PERIOD_US = 20_000;
/** The kernel refuses quotas under 1 ms. */
export const MIN_CPU_QUOTA_US = 1_000;
/** CgroupLimits.cpuQuotaUs for "no CPU limit" (v1 cfs_quota_us -1, v2 cpu.max "max"). */
export const NO_CPU_QUOTA = -1;
const REQUIRED = ['memory', 'cpu', 'pids'] as const;
type Controller = (typeof REQUIRED)[number];

/** What one sandbox's cgroup enforces. */
export interface CgroupLimits {
  readonly memoryBytes: number;
  /** µs per cpuPeriodUs; NO_CPU_QUOTA: unlimited. */
  readonly cpuQuotaUs: number;
  readonly cpuPeriodUs: number;
  readonly pidsMax: number;
}

/** Lambda's limits for a function of `memorySizeMB`. */
export function limitsFor(memorySizeMB: number, pidsMax: number = MAX_PIDS): CgroupLimits {
  const quota = Math.max(MIN_CPU_QUOTA_US, Math.floor((CPU_PERIOD_US * memorySizeMB) / MB_PER_VCPU));
  return { memoryBytes: memorySizeMB * 1024 * 1024, cpuQuotaUs: quota, cpuPeriodUs: CPU_PERIOD_US, pidsMax };
}

/** A cgroup version and the directories it uses, as found on this host. */
export type CgroupLayout =
  | { readonly version: 2; readonly mount: string }
  /** v1: the directory of this process's own cgroup in each controller's hierarchy. */
  | { readonly version: 1; readonly dirs: Readonly<Record<Controller, string>> };

/** Result of detectCgroups(): a layout, or one sentence saying what is missing. */
export type CgroupDetection = { readonly ok: true; readonly layout: CgroupLayout } | { readonly ok: false; readonly problem: string };

/** One line of /proc/self/mountinfo (octal escapes of paths undone). */
export interface Mount {
  readonly root: string;
  readonly point: string;
  readonly fstype: string;
  readonly superOptions: readonly string[];
}

/** The mounts of this process (throws when /proc/self/mountinfo cannot be read). */
export function mounts(): Mount[] {
  const out: Mount[] = [];
  for (const line of readFileSync('/proc/self/mountinfo', 'utf8').split('\n')) {
    const dash = line.indexOf(' - ');
    if (dash < 0) continue;
    const pre = line.slice(0, dash).split(' ');
    const post = line.slice(dash + 3).split(' ');
    const unescape = (s: string) => s.replace(/\\([0-7]{3})/g, (_, o: string) => String.fromCharCode(parseInt(o, 8)));
    out.push({
      root: unescape(pre[3] ?? '/'),
      point: unescape(pre[4] ?? ''),
      fstype: post[0] ?? '',
      superOptions: (post[2] ?? '').split(','),
    });
  }
  return out;
}

/**
 * This process's cgroup path in each v1 hierarchy, by controller (and
 * name=systemd), from /proc/self/cgroup; the v2 line (no controllers) is
 * left out. Empty when that cannot be read.
 */
export function ownCgroupPaths(): Map<string, string> {
  const own = new Map<string, string>();
  try {
    for (const line of readFileSync('/proc/self/cgroup', 'utf8').split('\n')) {
      const [, list, path] = line.split(':');
      if (list && path !== undefined) for (const c of list.split(',')) own.set(c, path);
    }
  } catch {
    // no /proc
  }
  return own;
}

/**
 * Finds the cgroup version to use: v2 when the unified hierarchy offers
 * memory, cpu and pids (pure v2 hosts); otherwise v1 when each of the three
 * has a hierarchy (v1 and hybrid hosts, where the unified mount often has no
 * controllers).
 */
export function detectCgroups(): CgroupDetection {
  let all: Mount[];
  try {
    all = mounts();
  } catch {
    return { ok: false, problem: 'cannot read /proc/self/mountinfo (is /proc mounted?)' };
  }
  const v2 = all.find((m) => m.fstype === 'cgroup2');
  if (v2) {
    const available = readWords(join(v2.point, 'cgroup.controllers'));
    if (REQUIRED.every((c) => available.includes(c))) return { ok: true, layout: { version: 2, mount: v2.point } };
  }
  // No /proc/self/cgroup: reported below as missing hierarchies.
  const own = ownCgroupPaths();
  const dirs: Partial<Record<Controller, string>> = {};
  for (const c of REQUIRED) {
    const m = all.find((x) => x.fstype === 'cgroup' && x.superOptions.includes(c));
    if (!m) continue;
    // Kindling's cgroups go under this process's own cgroup, so whatever
    // limits the operator put on Kindling (a container, a systemd unit) also
    // bound its sandboxes. v1 allows children beside member processes.
    const path = own.get(c) ?? '/';
    const rel = m.root !== '/' && path.startsWith(m.root) ? path.slice(m.root.length) : path;
    dirs[c] = join(m.point, rel);
  }
  const missing = REQUIRED.filter((c) => dirs[c] === undefined);
  if (missing.length === 0) return { ok: true, layout: { version: 1, dirs: dirs as Record<Controller, string> } };
  if (v2) {
    const available = readWords(join(v2.point, 'cgroup.controllers'));
    const lacking = REQUIRED.filter((c) => !available.includes(c));
    return { ok: false, problem: `cgroup v2 at ${v2.point} does not offer the ${lacking.join(', ')} controller(s) and there is no cgroup v1 hierarchy for them` };
  }
  return { ok: false, problem: `no cgroup hierarchy for the ${missing.join(', ')} controller(s) is mounted` };
}

function readWords(path: string): string[] {
  try {
    return readFileSync(path, 'utf8').trim().split(/\s+/);
  } catch {
    return [];
  }
}

/** The count after `key ` in a flat-keyed file (memory.events, memory.oom_control). */
function readKey(path: string, key: string): number {
  try {
    const text = readFileSync(path, 'utf8');
    const m = new RegExp(`^${key} (\\d+)$`, 'm').exec(text);
    return m ? Number(m[1]) : 0;
  } catch {
    return 0;
  }
}

function pidsOf(dir: string): number[] {
  try {
    return readFileSync(join(dir, 'cgroup.procs'), 'utf8')
      .split('\n')
      .filter((l) => l !== '')
      .map(Number);
  } catch {
    return [];
  }
}

const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));

/** v2: the leaf cgroup enableControllers() moves the processes of a cgroup namespace's root into. */
export const PLATFORM_LEAF = 'kindling-platform';

/**
 * v2: enables `controllers` in `dir`'s cgroup.subtree_control, so that its
 * children can use them; returns how many processes had to move first.
 *
 * The kernel's "no internal processes" rule (cgroup-v2.rst) refuses that
 * with EBUSY while `dir` itself holds processes, except at the real root.
 * Inside a cgroup namespace (Kindling in a container on a cgroup v2 host)
 * the mount's root is the container's own cgroup, and it holds the
 * container's processes, Kindling's among them. Those move into a leaf,
 * `dir`/`leaf`, and the write is made again, as a container's init does
 * before it nests cgroups (Docker's dind script moves them to /init).
 */
export function enableControllers(dir: string, controllers: readonly string[], leaf: string = PLATFORM_LEAF): number {
  const control = join(dir, 'cgroup.subtree_control');
  const enabled = readWords(control);
  const want = controllers
    .filter((c) => !enabled.includes(c))
    .map((c) => `+${c}`)
    .join(' ');
  if (want === '') return 0;
  try {
    writeFileSync(control, want);
    return 0;
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'EBUSY') throw err;
  }
  const leafDir = join(dir, leaf);
  mkdirSync(leafDir, { recursive: true });
  const moved = new Set<number>();
  // A process may fork while the others move: a few passes until none is left.
  for (let pass = 0; pass < 10; pass++) {
    const pids = pidsOf(dir);
    if (pids.length === 0) break;
    for (const pid of pids) {
      try {
        writeFileSync(join(leafDir, 'cgroup.procs'), String(pid));
        moved.add(pid);
      } catch {
        // exited meanwhile
      }
    }
  }
  writeFileSync(control, want);
  return moved.size;
}

/**
 * Kindling's parent cgroup (v2: <mount>/<name>; v1: <own cgroup>/<name> in
 * the memory, cpu and pids hierarchies). Created by open(), which also
 * removes the sandboxes' cgroups a killed platform left behind; removed by
 * close().
 */
export class CgroupParent {
  readonly layout: CgroupLayout;
  /** One directory (v2) or one per hierarchy (v1). */
  readonly #dirs: readonly string[];
  readonly #v1Dirs: Readonly<Record<Controller, string>> | undefined;

  private constructor(layout: CgroupLayout, name: string) {
    this.layout = layout;
    if (layout.version === 2) {
      this.#dirs = [join(layout.mount, name)];
      this.#v1Dirs = undefined;
    } else {
      const d = { memory: join(layout.dirs.memory, name), cpu: join(layout.dirs.cpu, name), pids: join(layout.dirs.pids, name) };
      this.#v1Dirs = d;
      // A hierarchy can carry several controllers (cpu,cpuacct): dedupe.
      this.#dirs = [...new Set(Object.values(d))];
    }
  }

  /**
   * Creates (or adopts) the parent, removes stale children, and checks that a
   * child can be created and limited. Throws an Error whose message says what
   * failed, in one line.
   */
  static async open(layout: CgroupLayout, name = 'kindling'): Promise<CgroupParent> {
    const parent = new CgroupParent(layout, name);
    try {
      if (layout.version === 2) {
        // Leaves may hold processes only once their parent delegates the
        // controllers: the mount root first, then Kindling's parent.
        const moved = enableControllers(layout.mount, REQUIRED);
        if (moved > 0) {
          console.error(
            `kindling: cgroup v2: moved the ${moved} process(es) of ${layout.mount} into ${join(layout.mount, PLATFORM_LEAF)}, ` +
              'so that it can delegate the memory, cpu and pids controllers to the sandboxes (a cgroup namespace root, as in a container, may not hold processes then)',
          );
        }
        mkdirSync(parent.#dirs[0] as string, { recursive: true });
        // Never enableControllers() here: processes it moved into a leaf of
        // Kindling's parent would be killed by removeChildren() below.
        writeFileSync(join(parent.#dirs[0] as string, 'cgroup.subtree_control'), REQUIRED.map((c) => `+${c}`).join(' '));
      } else {
        for (const d of parent.#dirs) mkdirSync(d, { recursive: true });
      }
    } catch (err) {
      throw new Error(`cannot set up Kindling's cgroup ${parent.#dirs.join(', ')}: ${(err as Error).message}`);
    }
    await parent.removeChildren();
    // Probe: one child with real limits, then gone again.
    const probe = parent.create(`probe-${process.pid}`, limitsFor(128));
    await probe.remove();
    return parent;
  }

  /** Creates the cgroup of one sandbox with its limits. Throws on failure. */
  create(id: string, limits: CgroupLimits): SandboxCgroup {
    const cg = new SandboxCgroup(this.layout.version, this.#sandboxDirs(id));
    try {
      cg.applyLimits(limits);
    } catch (err) {
      cg.removeNow();
      throw err;
    }
    return cg;
  }

  /** Kills and removes every sandbox cgroup under the parent (those of a killed platform, or leaks). */
  async removeChildren(): Promise<void> {
    const ids = new Set<string>();
    for (const d of this.#dirs) {
      let names: string[] = [];
      try {
        names = readdirSync(d, { withFileTypes: true })
          .filter((e) => e.isDirectory())
          .map((e) => e.name);
      } catch {
        // parent missing: nothing to clean
      }
      for (const n of names) ids.add(n);
    }
    await Promise.all([...ids].map((id) => new SandboxCgroup(this.layout.version, this.#sandboxDirs(id)).remove()));
  }

  /** Removes stale children and the parent itself. */
  async close(): Promise<void> {
    await this.removeChildren();
    for (const d of this.#dirs) {
      try {
        rmdirSync(d);
      } catch {
        // busy (a sandbox outlived its worker) or already gone
      }
    }
  }

  #sandboxDirs(id: string): Record<Controller, string> {
    if (this.#v1Dirs === undefined) {
      const d = join(this.#dirs[0] as string, id);
      return { memory: d, cpu: d, pids: d };
    }
    return { memory: join(this.#v1Dirs.memory, id), cpu: join(this.#v1Dirs.cpu, id), pids: join(this.#v1Dirs.pids, id) };
  }
}

/** One sandbox's cgroup (v2: one directory; v1: one per hierarchy). */
export class SandboxCgroup {
  readonly #version: 1 | 2;
  readonly #byController: Readonly<Record<Controller, string>>;
  readonly #dirs: readonly string[];
  /** v2 without memory.peak (kernel < 5.19): the highest memory.current read. */
  #peakSeen = 0;
  /** The file peakBytes() reads on every invoke, kept open (v1 memory.max_usage_in_bytes, v2 memory.peak or memory.current). */
  #peakFile: RereadFile | undefined;
  /** v2: whether the kernel has memory.peak. */
  #hasPeak: boolean | undefined;

  constructor(version: 1 | 2, dirs: Record<Controller, string>) {
    this.#version = version;
    this.#byController = dirs;
    this.#dirs = [...new Set(Object.values(dirs))];
  }

  /** Where a process writes its pid to join (one file per hierarchy on v1). */
  get procsFiles(): readonly string[] {
    return this.#dirs.map((d) => join(d, 'cgroup.procs'));
  }

  /**
   * Moves `pid` (and the threads of its process) into the cgroup.
   * Asynchronous on purpose: a migration takes the kernel's
   * cgroup_threadgroup_rwsem for writing, which waits for an RCU grace
   * period when no migration ran recently (measured ~10-14 ms on a v1 host),
   * and that must not stall the event loop. The hierarchies are written
   * concurrently so one grace period serves them all.
   */
  async join(pid: number): Promise<void> {
    await Promise.all(this.procsFiles.map((f) => writeFile(f, String(pid))));
  }

  /** @internal creates the directories and writes the limits. */
  applyLimits(l: CgroupLimits): void {
    for (const d of this.#dirs) mkdirSync(d);
    this.setLimits(l);
  }

  /**
   * Writes the limits of an existing cgroup. On v1 the memory limit must
   * not exceed memsw, so only lowering (or the first setting) is safe in
   * this order; a pooled cgroup starts at the highest MemorySize.
   */
  setLimits(l: CgroupLimits): void {
    const { memory, pids } = this.#byController;
    if (this.#version === 2) {
      writeFileSync(join(memory, 'memory.max'), String(l.memoryBytes));
      if (existsSync(join(memory, 'memory.swap.max'))) writeFileSync(join(memory, 'memory.swap.max'), '0');
      // memory.oom.group stays 0: the OOM killer takes the largest process
      // (the runtime), bwrap's pid 1 then ends the pid namespace and its
      // monitor reports the kill. Killing the monitor too would orphan pid 1.
      this.setCpuQuota(l.cpuQuotaUs, l.cpuPeriodUs);
      writeFileSync(join(pids, 'pids.max'), String(l.pidsMax));
    } else {
      writeFileSync(join(memory, 'memory.limit_in_bytes'), String(l.memoryBytes));
      // memsw (memory + swap) exists when swap accounting is on; equal to
      // the memory limit it means "no swap". It must be set after the
      // memory limit (the kernel keeps memsw >= memory).
      if (existsSync(join(memory, 'memory.memsw.limit_in_bytes'))) writeFileSync(join(memory, 'memory.memsw.limit_in_bytes'), String(l.memoryBytes));
      this.setCpuQuota(l.cpuQuotaUs, l.cpuPeriodUs);
      writeFileSync(join(pids, 'pids.max'), String(l.pidsMax));
    }
  }

  /**
   * Writes the CPU bandwidth limit alone: `quotaUs` µs of CPU time per
   * `periodUs` (NO_CPU_QUOTA: unlimited). Takes effect at once for the
   * processes already in the cgroup.
   */
  setCpuQuota(quotaUs: number, periodUs: number = CPU_PERIOD_US): void {
    const cpu = this.#byController.cpu;
    if (this.#version === 2) {
      writeFileSync(join(cpu, 'cpu.max'), `${quotaUs < 0 ? 'max' : String(quotaUs)} ${periodUs}`);
    } else {
      // Unlimited first: a finite quota is validated against the period
      // in place, so the period must be set while the quota is -1.
      writeFileSync(join(cpu, 'cpu.cfs_quota_us'), '-1');
      writeFileSync(join(cpu, 'cpu.cfs_period_us'), String(periodUs));
      if (quotaUs >= 0) writeFileSync(join(cpu, 'cpu.cfs_quota_us'), String(quotaUs));
    }
  }

  /** Pids of every process in the cgroup (from the pids hierarchy on v1). */
  pids(): number[] {
    return pidsOf(this.#byController.pids);
  }

  /** Highest memory use in bytes since creation (v2 memory.peak / v1 memory.max_usage_in_bytes). */
  peakBytes(): number | undefined {
    const memory = this.#byController.memory;
    if (this.#peakFile === undefined) {
      this.#hasPeak = this.#version === 2 && existsSync(join(memory, 'memory.peak'));
      const name = this.#version === 1 ? 'memory.max_usage_in_bytes' : this.#hasPeak ? 'memory.peak' : 'memory.current';
      this.#peakFile = new RereadFile(join(memory, name), 64);
    }
    const n = Number.parseInt(this.#peakFile.read() ?? '', 10);
    if (this.#version === 1 || this.#hasPeak === true) return Number.isFinite(n) ? n : undefined;
    if (Number.isFinite(n)) this.#peakSeen = Math.max(this.#peakSeen, n);
    return this.#peakSeen || undefined;
  }

  /** How many processes the kernel's OOM killer has killed in this cgroup. */
  oomKills(): number {
    const memory = this.#byController.memory;
    return this.#version === 2 ? readKey(join(memory, 'memory.events'), 'oom_kill') : readKey(join(memory, 'memory.oom_control'), 'oom_kill');
  }

  /**
   * SIGKILLs every process in the cgroup but `spare`: cgroup.kill where the
   * kernel has it (v2, Linux 5.14: atomic, no fork race) and nothing is
   * spared, else each pid listed. A process forked between the read and the
   * kill is caught by the next call; remove() repeats until the cgroup is empty.
   */
  killAll(spare?: number): void {
    const killFile = join(this.#byController.pids, 'cgroup.kill');
    if (spare === undefined && this.#version === 2 && existsSync(killFile)) {
      try {
        writeFileSync(killFile, '1');
        return;
      } catch {
        // fall through to the per-pid kill
      }
    }
    for (const pid of this.pids()) {
      if (pid === spare) continue;
      try {
        process.kill(pid, 'SIGKILL');
      } catch {
        // already gone
      }
    }
  }

  /** Kills everything, waits until the cgroup is empty and removes it. */
  async remove(): Promise<void> {
    for (let i = 0; i < 400; i++) {
      this.killAll();
      if (this.#dirs.every((d) => pidsOf(d).length === 0) && this.removeNow()) return;
      // Killed processes leave the cgroup once the kernel has reaped them;
      // rmdir fails with EBUSY until then.
      await sleep(i < 20 ? 1 : 10);
    }
    throw new Error(`cgroup ${this.#dirs.join(', ')} could not be emptied`);
  }

  /** rmdir of every directory; true when none is left. */
  removeNow(): boolean {
    this.#peakFile?.close();
    this.#peakFile = undefined;
    let left = false;
    for (const d of this.#dirs) {
      try {
        rmdirSync(d);
      } catch (err) {
        if ((err as NodeJS.ErrnoException).code !== 'ENOENT') left = true;
      }
    }
    return !left;
  }
}
