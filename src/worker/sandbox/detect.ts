/**
 * Start-up checks of the namespace sandbox: is bubblewrap there and does it
 * work here (user namespaces may be disabled or restricted by AppArmor), is
 * socat there (custom runtimes reach their Runtime API through it), which
 * cgroup version offers the memory, cpu and pids controllers. Each failure
 * is one sentence that says what is missing and what to install.
 */
import { spawnSync } from 'node:child_process';
import { accessSync, constants as fsConstants, statSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { detectCgroups } from './cgroups.js';
import type { CgroupLayout } from './cgroups.js';

/** What the namespace backend found on this host. */
export interface NamespaceSupport {
  /** Absolute path of bwrap. */
  readonly bwrap: string;
  /** Absolute path of socat. */
  readonly socat: string;
  readonly cgroups: CgroupLayout;
}

/** detectNamespaceSupport()'s answer: what was found, or why the backend cannot run. */
export type NamespaceDetection = ({ readonly ok: true } & NamespaceSupport) | { readonly ok: false; readonly problem: string };

/** An absolute path of `name` on PATH (or the usual system directories), or undefined. */
export function findExecutable(name: string, path: string = process.env['PATH'] ?? ''): string | undefined {
  const dirs = [...path.split(':').filter((d) => d.startsWith('/')), '/usr/bin', '/bin', '/usr/sbin', '/usr/local/bin'];
  for (const d of dirs) {
    const candidate = join(d, name);
    try {
      accessSync(candidate, fsConstants.X_OK);
      if (statSync(candidate).isFile()) return candidate;
    } catch {
      // not here
    }
  }
  return undefined;
}

/** Whether users other than its owner and group may search (enter) the directory `path` itself. */
export function searchableByOthers(path: string): boolean {
  try {
    return (statSync(path).mode & 0o001) !== 0;
  } catch {
    return false;
  }
}

/**
 * Whether a user with no relation to the owners (an "other") can reach
 * `path`: every directory on the way is searchable by others. Sandboxes run
 * as such a user, and bubblewrap resolves its bind sources as that user.
 * Returns the first directory that blocks the way, or undefined.
 */
export function blockedForOthers(path: string): string | undefined {
  let dir = resolve(path);
  const chain: string[] = [];
  for (;;) {
    chain.unshift(dir);
    const parent = dirname(dir);
    if (parent === dir) break;
    dir = parent;
  }
  for (const d of chain) {
    try {
      if ((statSync(d).mode & 0o001) === 0) return d;
    } catch {
      return d;
    }
  }
  return undefined;
}

/**
 * Checks everything the namespace backend needs. `probeUid`: the uid the
 * bwrap probe runs as (the backend runs sandboxes as unprivileged uids when
 * Kindling is root); undefined runs it as this process.
 */
export function detectNamespaceSupport(probeUid?: number): NamespaceDetection {
  if (process.platform !== 'linux') return { ok: false, problem: 'the namespace sandbox needs Linux' };
  const bwrap = findExecutable('bwrap');
  if (bwrap === undefined) return { ok: false, problem: 'the namespace sandbox needs bubblewrap: apt-get install bubblewrap' };
  // The probe uses the options the backend depends on: every namespace, a
  // sized tmpfs (--size: bubblewrap >= 0.8.0), --perms, --args.
  const probe = spawnSync(
    bwrap,
    [
      '--unshare-user', '--unshare-pid', '--unshare-net', '--unshare-ipc', '--unshare-uts', '--unshare-cgroup-try',
      '--die-with-parent', '--new-session', '--cap-drop', 'ALL', '--uid', '1051', '--gid', '1051',
      '--ro-bind', '/', '/', '--perms', '1777', '--size', '1048576', '--tmpfs', '/tmp', '--', 'true',
    ],
    { env: { PATH: '/usr/bin:/bin' }, encoding: 'utf8', timeout: 10_000, ...(probeUid !== undefined ? { uid: probeUid, gid: probeUid } : {}) },
  );
  if (probe.status !== 0) {
    const why = (probe.stderr || probe.error?.message || `exit ${String(probe.status ?? probe.signal)}`).trim().split('\n')[0];
    const hint = /unrecognized|Unknown option/i.test(why ?? '')
      ? 'bubblewrap 0.8.0 or newer is needed'
      : 'unprivileged user namespaces must be allowed (sysctl kernel.unprivileged_userns_clone=1; on Ubuntu also kernel.apparmor_restrict_unprivileged_userns=0)';
    return { ok: false, problem: `bubblewrap cannot create a sandbox here (${why}): ${hint}` };
  }
  const socat = findExecutable('socat');
  if (socat === undefined) return { ok: false, problem: 'the namespace sandbox needs socat (custom runtimes reach their Runtime API through it): apt-get install socat' };
  const cg = detectCgroups();
  if (!cg.ok) return { ok: false, problem: `the namespace sandbox needs cgroups with the memory, cpu and pids controllers: ${cg.problem}` };
  return { ok: true, bwrap, socat, cgroups: cg.layout };
}
