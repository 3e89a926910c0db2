/**
 * Who made a backend root, so that a platform can reclaim the roots of
 * platforms that are gone.
 *
 * A backend root (/run/kindling-<hash>, /run/kindling-gv-<hash>) and its
 * parent cgroup are keyed by the data directory: a platform killed with
 * SIGKILL leaves them behind, and the next platform with the same data
 * directory removes them at create(). When nobody starts on that data
 * directory again (a temporary one, a deleted one), they would stay until
 * reboot: tmpfs under /run, empty cgroups. So create() writes an owner file
 * into its root, and sweeps the sibling roots whose owner process is gone.
 *
 * The owner is a process id with its start time (a reused pid is a
 * different process) and its pid namespace (a root made by a platform in
 * another pid namespace, sharing /run, cannot be judged and is left alone).
 * A root without an owner file (being made, or made by an older Kindling)
 * is left alone too.
 */
import { readFileSync, readdirSync, readlinkSync, writeFileSync } from 'node:fs';
import { basename, dirname, join } from 'node:path';

/** The owner file of a backend root. */
export interface RootOwner {
  readonly pid: number;
  /** Field 22 of /proc/<pid>/stat: clock ticks after boot. */
  readonly startTime: string;
  /** /proc/self/ns/pid of the owner, e.g. "pid:[4026531836]". */
  readonly pidNamespace: string;
  /** The root's parent cgroup (its base name unless a test chose another). */
  readonly cgroupName: string;
}

const OWNER_FILE = 'owner.json';

function startTimeOf(pid: number): string | undefined {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    // The command name (field 2) may hold spaces and parentheses: count from the last ')'.
    return stat.slice(stat.lastIndexOf(')') + 2).split(' ')[19];
  } catch {
    return undefined;
  }
}

function ownPidNamespace(): string | undefined {
  try {
    return readlinkSync('/proc/self/ns/pid');
  } catch {
    return undefined;
  }
}

/** Records this process as the owner of `root` (call once the root is made). */
export function writeRootOwner(root: string, cgroupName: string): void {
  const owner: RootOwner = { pid: process.pid, startTime: startTimeOf(process.pid) ?? '', pidNamespace: ownPidNamespace() ?? '', cgroupName };
  writeFileSync(join(root, OWNER_FILE), JSON.stringify(owner), { mode: 0o644 });
}

/** The owner of `root` when it is known to be gone; undefined while it may live, or cannot be told. */
export function goneOwner(root: string): RootOwner | undefined {
  let owner: RootOwner;
  try {
    owner = JSON.parse(readFileSync(join(root, OWNER_FILE), 'utf8')) as RootOwner;
  } catch {
    return undefined;
  }
  if (!Number.isInteger(owner.pid) || typeof owner.cgroupName !== 'string' || owner.startTime === '') return undefined;
  const ns = ownPidNamespace();
  if (ns === undefined || owner.pidNamespace !== ns) return undefined;
  return startTimeOf(owner.pid) === owner.startTime ? undefined : owner;
}

/**
 * Reclaims the siblings of `root` whose names match `pattern` and whose
 * owner is gone, each with `reclaim(root, owner)`; returns the roots
 * reclaimed. A failure to reclaim one is reported on stderr and left for the
 * next sweep: it never stops the platform from starting.
 */
export async function sweepAbandonedRoots(root: string, pattern: RegExp, reclaim: (root: string, owner: RootOwner) => Promise<void>): Promise<string[]> {
  const base = dirname(root);
  let names: string[];
  try {
    names = readdirSync(base);
  } catch {
    return [];
  }
  const reclaimed: string[] = [];
  for (const name of names) {
    if (name === basename(root) || !pattern.test(name)) continue;
    const other = join(base, name);
    const owner = goneOwner(other);
    if (owner === undefined) continue;
    try {
      await reclaim(other, owner);
      reclaimed.push(other);
    } catch (err) {
      console.error(`kindling: could not remove ${other}, left by a platform that is gone (pid ${owner.pid}): ${(err as Error).message}`);
    }
  }
  return reclaimed;
}
