/**
 * Who made a backend root, so that a platform can reclaim the roots of
 * platforms that are gone for good.
 *
 * A backend root (/run/kindling-<hash>, /run/kindling-gv-<hash>) and its
 * parent cgroup are keyed by the data directory: a platform killed with
 * SIGKILL leaves them behind, and the next platform with the same data
 * directory removes them at create(). When nobody can start on that data
 * directory again (a temporary one, deleted since), they would stay until
 * reboot: tmpfs under /run, cgroups. So create() writes an owner file into
 * its root, and sweeps the sibling roots that are abandoned:
 *
 * - their data directory no longer exists. A root whose data directory
 *   exists is left to the next platform started on it: reclaiming it here
 *   could race with that platform's own start (both removing and making
 *   the same cgroups), as when a fleet's workers restart together;
 * - their owner process is gone: a pid with its start time (a reused pid is
 *   a different process), in this process's pid namespace (a root made by
 *   a platform in another, sharing /run, cannot be judged);
 * - the root and its owner file belong to this process's uid and are not
 *   symlinks, and the owner file names a plain cgroup name: a root another
 *   user planted (a non-root platform's roots may sit in a shared temporary
 *   directory) never makes this platform remove anything else.
 *
 * A root without an owner file (being made, or made by an older Kindling)
 * is left alone.
 */
import { existsSync, lstatSync, readFileSync, readdirSync, readlinkSync, writeFileSync } from 'node:fs';
import { rm } from 'node:fs/promises';
import { basename, dirname, isAbsolute, join } from 'node:path';
import { CgroupParent } from './cgroups.js';
import type { CgroupLayout } from './cgroups.js';

/** The owner file of a backend root. */
export interface RootOwner {
  readonly pid: number;
  /** Field 22 of /proc/<pid>/stat: clock ticks after boot. */
  readonly startTime: string;
  /** /proc/self/ns/pid of the owner, e.g. "pid:[4026531836]". */
  readonly pidNamespace: string;
  /** The root's parent cgroup (its base name unless a test chose another). */
  readonly cgroupName: string;
  /** The data directory the root belongs to (absolute); undefined: never reclaimed by another platform. */
  readonly dataDir?: string | undefined;
}

const OWNER_FILE = 'owner.json';
/** A cgroup name the sweep may act on: one path component, no dot first (so not "." or ".."). */
const SAFE_CGROUP_NAME = /^[A-Za-z0-9][A-Za-z0-9_.-]*$/;

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
export function writeRootOwner(root: string, cgroupName: string, dataDir: string | undefined): void {
  const owner: RootOwner = { pid: process.pid, startTime: startTimeOf(process.pid) ?? '', pidNamespace: ownPidNamespace() ?? '', cgroupName, dataDir };
  writeFileSync(join(root, OWNER_FILE), JSON.stringify(owner), { mode: 0o644 });
}

/** Whether `path` is a real directory or file (not a symlink) of this process's uid. */
function ownedByUs(path: string): boolean {
  try {
    const st = lstatSync(path);
    return !st.isSymbolicLink() && st.uid === process.getuid?.();
  } catch {
    return false;
  }
}

/** The owner of `root` when the root is abandoned (see the file comment); undefined while it may be in use, or cannot be told. */
export function abandonedRootOwner(root: string): RootOwner | undefined {
  const file = join(root, OWNER_FILE);
  if (!ownedByUs(root) || !ownedByUs(file)) return undefined;
  let owner: RootOwner;
  try {
    owner = JSON.parse(readFileSync(file, 'utf8')) as RootOwner;
  } catch {
    return undefined;
  }
  if (!Number.isInteger(owner.pid) || typeof owner.startTime !== 'string' || owner.startTime === '') return undefined;
  if (typeof owner.cgroupName !== 'string' || !SAFE_CGROUP_NAME.test(owner.cgroupName)) return undefined;
  if (typeof owner.dataDir !== 'string' || !isAbsolute(owner.dataDir) || existsSync(owner.dataDir)) return undefined;
  const ns = ownPidNamespace();
  if (ns === undefined || owner.pidNamespace !== ns) return undefined;
  return startTimeOf(owner.pid) === owner.startTime ? undefined : owner;
}

/**
 * What a backend leaves of an abandoned root: its parent cgroup (every
 * sandbox cgroup below it killed and removed, then itself) and its files.
 * A backend with more to remove (runsc's own cgroups) does that after.
 */
export async function removeAbandonedRoot(layout: CgroupLayout, root: string, owner: RootOwner): Promise<void> {
  await (await CgroupParent.open(layout, owner.cgroupName)).close();
  await rm(root, { recursive: true, force: true });
}

/**
 * Reclaims the siblings of `root` whose names match `pattern` and that are
 * abandoned, each with `reclaim(root, owner)`; returns the roots
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
    const owner = abandonedRootOwner(other);
    if (owner === undefined) continue;
    try {
      await reclaim(other, owner);
      reclaimed.push(other);
    } catch (err) {
      console.error(`kindling: could not remove ${other}, left by a platform that is gone (pid ${owner.pid}, data directory ${owner.dataDir ?? '?'}): ${(err as Error).message}`);
    }
  }
  return reclaimed;
}
