import { spawn } from 'node:child_process';
import type { ChildProcess } from 'node:child_process';
import { createHash } from 'node:crypto';
import { chmodSync, mkdirSync, readlinkSync, rmSync } from 'node:fs';
import { rm } from 'node:fs/promises';
import type { Server } from 'node:http';
import { tmpdir } from 'node:os';
import { basename, dirname, join, resolve } from 'node:path';
import type { Readable } from 'node:stream';
import { SandboxUnavailableError } from './backend.js';
import type { CellProcess, CellStartOptions, SandboxBackend, SandboxExit, SandboxProcess, SandboxStartOptions, SandboxView } from './backend.js';
import { CgroupParent, MAX_PIDS, NO_CPU_QUOTA, limitsFor } from './cgroups.js';
import type { CgroupLimits, SandboxCgroup } from './cgroups.js';
import { removeAbandonedRoot, sweepAbandonedRoots, writeRootOwner } from './root-owner.js';
import { blockedForOthers, detectNamespaceSupport, findExecutable, searchableByOthers } from './detect.js';
import type { NamespaceSupport } from './detect.js';
import { DEFAULT_RUNTIME_ROOT, FORWARDER_PATH, RUNTIME_API_SOCKET_ENV, RuntimeTrees, SANDBOX_HOSTNAME, SANDBOX_RUNTIME_API, SANDBOX_RUNTIME_API_SOCKET, SANDBOX_SNAPSHOT_DIR, SANDBOX_UID, forwarderScript, hostTopDirs, listenRuntimeApi, nodeDirs, toSandboxExit, writeSandboxEtc } from './sandbox-root.js';
import { buildSeccompFilter } from './seccomp.js';
import { BLOCK_FD, INFO_FD, SANDBOX_RESOLV_CONF, SandboxNetworks } from './network.js';
import type { NetnsHandshake, SandboxEgress } from './network.js';

/** Options of NamespaceBackend.create. */
export interface NamespaceBackendOptions {
  /**
   * Host directory for the backend's files: each sandbox's private directory
   * (its Runtime API socket), the sandboxes' /etc (one per egress) and a copy of the
   * runtime tree. Emptied at create() and removed at close(). Unix socket
   * paths are limited to 107 bytes, so keep it short. Default: defaultNamespaceRoot().
   */
  readonly root?: string;
  /**
   * Name of this backend's parent cgroup. Default: the root's base name
   * (kindling-<hash of the data directory> for defaultNamespaceRoot), so two
   * platforms on one host never clean up or remove each other's cgroups
   * (root-owner.ts aside: a platform that is gone, whose data directory is
   * gone too).
   */
  readonly cgroupName?: string;
  /** The data directory the root belongs to: once it is gone and this platform too, another platform reclaims the root (root-owner.ts). Default: none, never reclaimed. */
  readonly dataDir?: string;
  /**
   * Directories whose subdirectories are the code and layers sandboxes are
   * shown (a FileBlobStore's task roots), when the sandboxes' uids cannot
   * reach them: bound in each gate ahead of time (see #codeRoots). Others
   * are learned from the sandboxes started. Default: none.
   */
  readonly codeRoots?: readonly string[];
  /** Host tree shown at /var/runtime. Default: DEFAULT_RUNTIME_ROOT. */
  readonly runtimeRoot?: string;
  /** Classic-BPF program for `bwrap --seccomp`. Default: buildSeccompFilter(); false: none. */
  readonly seccompFilter?: Buffer | false;
  /**
   * Host uids the sandboxes run as when Kindling runs as root: each live
   * sandbox gets its own from [base, base + count). Default { base: 1_051_000_000, count: 1_000_000 }.
   */
  readonly hostUids?: { readonly base: number; readonly count: number };
  /** Default MAX_PIDS (Lambda's 1,024 processes/threads). */
  readonly pidsMax?: number;
  /** Found on this host already (skips detection). */
  readonly support?: NamespaceSupport;
  /**
   * What a stem cell's bind() runs its mounts with: 'perl' (the default
   * where perl is installed and the mount(2) number of this architecture is
   * known: one process, started ahead, makes all three system calls) or
   * 'mount' (util-linux's mount, run twice). Tests name it.
   */
  readonly bindWith?: 'perl' | 'mount';
}

/** The namespace backend could not start on this host; the message is one line saying what to install. */
export class NamespaceUnavailableError extends SandboxUnavailableError {
  override readonly name = 'NamespaceUnavailableError';
}

/**
 * Default backend root: under /run (root) or $XDG_RUNTIME_DIR, never a
 * world-writable directory; `key` (say, the data directory) keeps two
 * platforms on one host apart.
 */
export function defaultNamespaceRoot(key = 'default'): string {
  const base = process.getuid?.() === 0 ? '/run' : (process.env['XDG_RUNTIME_DIR'] ?? tmpdir());
  return join(base, `kindling-${createHash('sha256').update(key).digest('hex').slice(0, 12)}`);
}

/** The base name of a defaultNamespaceRoot(): the roots create() sweeps (see root-owner.ts). */
const NAMESPACE_ROOT_NAME = /^kindling-[0-9a-f]{12}$/;

/**
 * The `namespace` backend: each sandbox is a bubblewrap container, the
 * default on Linux.
 *
 * Isolation: new user, pid, network, ipc, uts and cgroup namespaces; no
 * capabilities; a new session (no terminal injection); the seccomp filter of
 * seccomp.ts (bwrap also sets no_new_privs); inside, uid/gid 1051 (Lambda's
 * sbx_user1051). When Kindling is root, the sandbox's host uid is an
 * unprivileged one of its own (hostUids), so even a process that escaped its
 * namespaces holds nothing on the host and no other sandbox's socket.
 *
 * Filesystem: a read-only root built of /usr (with the /bin, /lib, ...
 * symlinks or binds as on the host), the /etc pieces programs need
 * (ld.so.cache, alternatives, ssl certificates, nsswitch.conf, os-release)
 * plus a private passwd/group/hosts naming sbx_user1051; the function's code
 * at /var/task, the runtime tree at /var/runtime, an empty /opt, a fresh
 * /proc and minimal /dev, and one writable place: /tmp, a tmpfs of
 * EphemeralStorage MB. tmpfs pages count against the memory cgroup, so /tmp
 * contents use the function's MemorySize (on Lambda /tmp is disk).
 *
 * Runtime tree: the host runtime root is copied once at create() into the
 * backend root (with a package.json marking it ESM, which dist/ lacks) and
 * bound at /var/runtime; options.runtimeDir is shown at /var/runtime/<its
 * path below the root>. A runtimeDir outside the root is copied and shown at
 * /var/runtime itself.
 *
 * Runtime API: the worker's server listens on a unix socket in the sandbox's
 * private directory (owned by the sandbox's host uid, mode 0600), bound at
 * /run/kindling/runtime-api.sock and named by _KINDLING_RUNTIME_API_SOCKET.
 * The sandbox has no network but its own loopback (egress 'internet' adds
 * a NAT that refuses every host address: network.ts), so no host port is
 * ever reachable. AWS_LAMBDA_RUNTIME_API is 127.0.0.1:9001; for runtimes that
 * cannot use the socket a forwarder (socat, started by a /bin/sh wrapper
 * before the runtime is exec'd) listens there. Kindling's managed runtimes
 * (AWS_EXECUTION_ENV set) skip the forwarder once the runtime tree knows the
 * socket variable (checked once in the copied tree).
 *
 * Limits: a cgroup per sandbox (cgroups.ts). The sandbox is in it before
 * anything of it runs: a "gate" — /bin/sh running as the sandbox's host uid,
 * waiting on stdin — is spawned, moved into a fresh cgroup, and only then
 * told the command, at which point it execs bwrap (arguments on fd 3, the
 * seccomp program on fd 4). Everything bwrap creates inherits the cgroup,
 * and the cgroup namespace is rooted there. Moving a process into a cgroup
 * waits for an RCU grace period when no migration ran recently (10-14 ms
 * measured on a v1 host), so one gate is always made ahead of time and
 * start() only rewrites its limits for the function's MemorySize.
 * The CPU quota is left off until initDone() (init runs at full speed, as
 * on Lambda).
 *
 * When Kindling is root the gate starts as root in a private mount namespace
 * (unshare), binds the directories the sandbox's uid could not reach (a
 * data directory under a 0700 directory) onto mount points under the
 * backend root, and then drops to that uid with setpriv (GATE_ROOT_SCRIPT).
 * A gate made ahead does this before it is asked for, for the code roots:
 * the parents of the code and layer directories (the platform's task
 * roots), given or learned from earlier starts; bwrap then finds a
 * function's code below them. So a cold start runs no mount and no setpriv
 * (each an exec, ~1.7 ms here); a start whose directories the gate made
 * ahead does not reach (the first one below a new root) binds them in a
 * gate made for it, as does a stem cell (its shared task root).
 *
 * Exit status: bwrap reports a command killed by signal N as exit 128+N, so
 * exits above 128 that name a signal are reported as that signal (an OOM
 * kill is `signal: killed`, as on Lambda). A runtime that itself exits with
 * such a code is reported as killed by that signal.
 *
 * Stem cells (startCell; Kindling must be root): the gate also makes
 * <root>/mnt/cell-task a mount point of its own mount namespace, marked
 * shared, and bwrap binds it read-only at /var/task. bwrap's namespace
 * belongs to a less privileged user namespace, so its copy is a slave: it
 * receives, and only receives, what is later mounted on the gate's side.
 * bind() enters the gate's mount namespace (nsenter), binds the code
 * read-only, nosuid, nodev at <root>/mnt/cell-stage (private there), and
 * moves that mount onto cell-task: the move propagates a copy, read-only
 * already and locked so (MNT_LOCK_READONLY: the copy crosses into a less
 * privileged user namespace), onto the sandbox's /var/task. Binding in one
 * step instead (mount --bind -o ro) would propagate the mount before
 * util-linux remounts it read-only, and a remount does not propagate. All
 * of it lives and dies with the sandbox's own mount namespaces; the host's
 * mount table never changes. The helper that makes these mounts is started
 * ahead (NamespaceCell.ready) and waits for the code directory on its stdin:
 * perl (Debian's perl-base is Essential) making the three mount(2) calls
 * itself, or, without perl, a shell running util-linux's mount twice. Each
 * exec costs ~2 ms on a small VM: measured, a bind with perl takes 0.7-1.4 ms
 * (most of it waiting for the helper to exit) where the
 * two mounts took 3.3-6.1 ms.
 *
 * The sandbox's environment is exactly launch.env, PWD=/var/task (bwrap
 * sets it) and, for a built-in runtime that reads it (and deletes it before
 * the function's code loads), _KINDLING_RUNTIME_API_SOCKET. It is
 * passed to bwrap through a pipe (--args), never on a command line that
 * other host users could read, and the host-side shell and bwrap run with
 * an environment of their own (a function's LD_PRELOAD must not reach them).
 */
/** Host uids of sandboxes when Kindling is root: one each, seen as 1051 inside. */
const DEFAULT_HOST_UIDS = { base: 1_051_000_000, count: 1_000_000 } as const;

export class NamespaceBackend implements SandboxBackend {
  readonly name = 'namespace';
  /** Shown read-only to every sandbox at SANDBOX_SNAPSHOT_DIR. */
  readonly snapshotDir: string;
  readonly #root: string;
  readonly #support: NamespaceSupport;
  readonly #cgroups: CgroupParent;
  readonly #seccomp: Buffer | undefined;
  readonly #pidsMax: number;
  readonly #uids: { readonly base: number; readonly count: number } | undefined;
  readonly #uidsInUse = new Set<number>();
  #nextUid = 0;
  readonly #runtimes: RuntimeTrees;
  /** Arguments shared by every sandbox (namespaces, root filesystem, /etc). */
  readonly #fixedArgs: readonly string[];
  /** util-linux programs the root gate uses (Kindling runs as root); undefined otherwise. */
  readonly #tools: RootTools | undefined;
  /** Each sandbox's network egress (network.ts). */
  readonly #networks: SandboxNetworks;
  #closed: Promise<void> | undefined;
  /** The gate the next start() uses. */
  #ready: Promise<Gate> | undefined;
  /**
   * Host directories whose subdirectories sandboxes are shown (the task
   * roots of code and layers) and that the sandbox's uid cannot reach:
   * each gate made ahead binds them all, so a cold start binds nothing.
   * Given (NamespaceBackendOptions.codeRoots) or learned (#learnCodeRoots).
   */
  readonly #codeRoots: string[] = [];
  #gatesMadeAtStart = 0;
  #gates = 0;

  private constructor(root: string, support: NamespaceSupport, cgroups: CgroupParent, options: NamespaceBackendOptions, tools: RootTools | undefined) {
    this.#root = root;
    this.snapshotDir = join(root, 'snapshots');
    mkdirSync(this.snapshotDir, { mode: 0o755 });
    this.#tools = tools;
    this.#support = support;
    this.#cgroups = cgroups;
    this.#seccomp = options.seccompFilter === false ? undefined : (options.seccompFilter ?? buildSeccompFilter());
    this.#pidsMax = options.pidsMax ?? MAX_PIDS;
    this.#uids = process.getuid?.() === 0 ? (options.hostUids ?? DEFAULT_HOST_UIDS) : undefined;
    this.#runtimes = new RuntimeTrees(root, options.runtimeRoot ?? DEFAULT_RUNTIME_ROOT);
    this.#fixedArgs = this.#buildFixedArgs();
    this.#networks = new SandboxNetworks();
    // The sandboxes' /etc, one per egress (writeSandboxEtc): only 'internet' has a resolv.conf.
    writeSandboxEtc(join(root, 'etc', 'none'), FORWARDER_SCRIPT);
    writeSandboxEtc(join(root, 'etc', 'internet'), FORWARDER_SCRIPT, { 'resolv.conf': SANDBOX_RESOLV_CONF });
    if (tools !== undefined) for (const r of options.codeRoots ?? []) if (this.#codeRoots.length < CODE_ROOT_POINTS && searchableByOthers(r)) this.#codeRoots.push(resolve(r));
  }

  /**
   * Detects what the backend needs, creates its root and parent cgroup
   * (removing what a killed platform left), and returns the backend. Throws
   * NamespaceUnavailableError with a one-line reason when this host cannot
   * run it.
   */
  static async create(options: NamespaceBackendOptions = {}): Promise<NamespaceBackend> {
    const hostUids = options.hostUids ?? DEFAULT_HOST_UIDS;
    const root = resolve(options.root ?? defaultNamespaceRoot());
    let support = options.support;
    if (support === undefined) {
      const found = detectNamespaceSupport(process.getuid?.() === 0 ? hostUids.base : undefined);
      if (!found.ok) throw new NamespaceUnavailableError(found.problem);
      support = found;
    }
    if (join(root, 'sb', '0'.repeat(32), 'runtime-api.sock').length > 107) {
      throw new NamespaceUnavailableError(`the namespace sandbox root ${root} is too long for unix socket paths (at most ${107 - 60} characters)`);
    }
    const blocked = blockedForOthers(dirname(root));
    if (blocked !== undefined) throw new NamespaceUnavailableError(`sandboxes cannot reach ${root}: ${blocked} is not searchable by other users (chmod o+x)`);
    const cgroupName = options.cgroupName ?? basename(root);
    let cgroups: CgroupParent;
    try {
      cgroups = await CgroupParent.open(support.cgroups, cgroupName);
    } catch (err) {
      throw new NamespaceUnavailableError(`the namespace sandbox needs writable cgroups (run Kindling as root or in a delegated cgroup): ${(err as Error).message}`);
    }
    // Whatever is here belongs to a platform that is gone (its cgroups were just emptied).
    rmSync(root, { recursive: true, force: true });
    mkdirSync(join(root, 'sb'), { recursive: true });
    mkdirSync(join(root, 'etc'), { mode: 0o755 });
    chmodSync(join(root, 'etc'), 0o755);
    writeRootOwner(root, cgroupName, options.dataDir);
    chmodSync(root, 0o711);
    chmodSync(join(root, 'sb'), 0o711);
    // Mount points of the directories a sandbox's uid cannot reach (see
    // start()); only ever mounted on inside a gate's own mount namespace.
    for (let i = 0; i < MOUNT_POINTS; i++) mkdirSync(join(root, 'mnt', String(i)), { recursive: true, mode: 0o755 });
    for (let i = 0; i < CODE_ROOT_POINTS; i++) mkdirSync(join(root, 'mnt', `${CODE_ROOT_POINT}${i}`), { mode: 0o755 });
    // Stem cells' task root and staging point (see the class comment):
    // empty directories on the host, mounted on only inside gates' namespaces.
    for (const d of [CELL_TASK, CELL_STAGE]) mkdirSync(join(root, 'mnt', d), { mode: 0o755 });
    chmodSync(join(root, 'mnt'), 0o711);
    let tools: RootTools | undefined;
    if (process.getuid?.() === 0) {
      const found = { setpriv: findExecutable('setpriv'), unshare: findExecutable('unshare'), mount: findExecutable('mount') };
      const missing = Object.entries(found).filter(([, v]) => v === undefined).map(([k]) => k);
      // Stem cells only: without it they are off (stemCellsUnavailable says so).
      const nsenter = findExecutable('nsenter');
      const mountSyscall = MOUNT_SYSCALL[process.arch];
      const perlPath = options.bindWith === 'mount' || mountSyscall === undefined ? undefined : findExecutable('perl');
      const perl = perlPath !== undefined && mountSyscall !== undefined ? { perl: perlPath, mountSyscall } : undefined;
      if (options.bindWith === 'perl' && perl === undefined) {
        await cgroups.close();
        throw new NamespaceUnavailableError(`bindWith 'perl' needs perl and a known mount(2) number (${process.arch})`);
      }
      if (missing.length > 0) {
        await cgroups.close();
        throw new NamespaceUnavailableError(`the namespace sandbox needs ${missing.join(', ')} (util-linux) when Kindling runs as root: apt-get install util-linux mount`);
      }
      tools = { ...(found as Omit<RootTools, 'nsenter' | 'perl'>), nsenter, perl };
    }
    // Roots (and parent cgroups) of other namespace backends whose platform is gone.
    const layout = support.cgroups;
    await sweepAbandonedRoots(root, NAMESPACE_ROOT_NAME, (other, owner) => removeAbandonedRoot(layout, other, owner));
    return new NamespaceBackend(root, support, cgroups, options, tools);
  }

  /**
   * Sandboxes (stem cells aside) that found no gate made ahead to use (the
   * first one; one below a code root no gate knew; one that came while the
   * next gate was still being made) and waited for one made at start, with
   * its cgroup migration and binds (for diagnostics and tests).
   */
  get gatesMadeAtStart(): number {
    return this.#gatesMadeAtStart;
  }

  /** Resolves once the gate being made ahead, if one is, is ready or failed (for tests). */
  async gateMadeAhead(): Promise<void> {
    await this.#ready?.catch(() => undefined);
  }

  /** The layout of the cgroups in use (for diagnostics). */
  get cgroupVersion(): 1 | 2 {
    return this.#cgroups.layout.version;
  }

  start(options: SandboxStartOptions): Promise<SandboxProcess> {
    return this.#start(options, options.codeDir);
  }

  /** Why stem cells cannot run here (see the class comment), or undefined when they can. */
  get stemCellsUnavailable(): string | undefined {
    if (this.#tools === undefined) return 'stem cells need Kindling to run as root (code is bind-mounted into a running sandbox)';
    if (this.#tools.nsenter === undefined) return 'stem cells need nsenter (util-linux)';
    if (!this.#runtimes.speaksSocket) return "stem cells need a runtime tree that reads the Runtime API socket's variable";
    return undefined;
  }

  /** Starts a stem cell: /var/task is empty until the cell's bind(). */
  async startCell(options: CellStartOptions): Promise<CellProcess> {
    const problem = this.stemCellsUnavailable;
    if (problem !== undefined) throw new Error(problem);
    return (await this.#start(options, undefined)) as NamespaceCell;
  }

  /** Starts a sandbox showing `codeDir` at /var/task, or a stem cell when it is undefined. */
  async #start(options: SandboxStartOptions | CellStartOptions, codeDir: string | undefined): Promise<NamespaceSandbox> {
    if (this.#closed) throw new Error('the namespace backend is closed');
    const runtime = this.#runtimes.view(options.runtimeDir);
    const view: SandboxView = { taskRoot: '/var/task', runtimeDir: runtime.inside, optDir: '/opt', runtimeApi: SANDBOX_RUNTIME_API, snapshotDir: SANDBOX_SNAPSHOT_DIR };
    const launch = options.launch(view);
    // Host directories from outside the backend root, shown read-only: the
    // code, the function's merged layers at /opt (Lambda's layers
    // directory; else /opt stays empty), a node installed outside /usr.
    const optDir = codeDir !== undefined && 'optDir' in options ? options.optDir : undefined;
    const outside = [
      ...(codeDir !== undefined ? [[codeDir, '/var/task'] as const] : []),
      ...(optDir !== undefined ? [[optDir, '/opt'] as const] : []),
      ...nodeDirs(launch.command).map((d) => [d, d] as const),
    ];
    // The gate made ahead when there is one and it reaches those directories
    // (its cgroup migration, the slow part, is done; so are its binds), else
    // one made now; the next is made ahead once this sandbox has answered
    // its first invoke (see below). A stem cell's gate binds its task root
    // at start: always one of its own, leaving the one made ahead to a cold start.
    let gate = codeDir === undefined ? undefined : await this.#takeReadyGate();
    // Where bwrap finds each outside directory, or undefined: bound at start.
    let reached = gate === undefined ? [] : outside.map(([host]) => this.#reach(gate as Gate, host));
    if (gate !== undefined && reached.includes(undefined)) {
      // A code root it lacks: learned now, bound by the gates made from now
      // on; this gate is stale then, else still as good as the next.
      if (this.#learnCodeRoots(outside) || this.#ready !== undefined) await this.#discard(gate);
      else this.#ready = Promise.resolve(gate);
      gate = undefined;
    }
    if (gate === undefined) {
      if (codeDir !== undefined) this.#gatesMadeAtStart++;
      const fresh = await this.#makeGate(undefined);
      reached = outside.map(([host]) => this.#reach(fresh, host));
      gate = fresh;
    }
    const dir = join(this.#root, 'sb', options.id);
    const server = options.runtimeApi;
    try {
      // Init runs with no CPU quota; NamespaceSandbox.initDone() applies the
      // proportional one (see there).
      const limits = limitsFor(options.memorySize, this.#pidsMax);
      gate.cgroup.setLimits({ ...limits, cpuQuotaUs: NO_CPU_QUOTA });
      // Only the sandbox's own host uid (and root) may connect.
      await listenRuntimeApi(server, dir, gate.uid);

      // A stem cell has none: an 'internet' function never takes one (sandbox-env.ts cellShape).
      const egress = ('egress' in options ? options.egress : undefined) ?? 'none';
      const managed = launch.env['AWS_EXECUTION_ENV'] !== undefined;
      // A stem cell runs a built-in runtime, and startCell checked the tree.
      const direct = codeDir === undefined || (managed && this.#runtimes.speaksSocket);
      // Only a runtime that uses it is told the socket (and it removes the
      // variable from its environment before the function's code loads);
      // the forwarder has the path built in.
      const env: Record<string, string> = direct ? { ...launch.env, [RUNTIME_API_SOCKET_ENV]: SANDBOX_RUNTIME_API_SOCKET } : { ...launch.env };
      const command = direct ? [launch.command, ...launch.args] : ['/bin/sh', FORWARDER_PATH, launch.command, ...launch.args];
      if (command.some((c) => c.includes('\n') || c === '')) throw new Error('sandbox command arguments must be non-empty single lines');
      // The outside directories may sit below directories the sandbox's
      // unprivileged uid cannot search (a data directory under /root, a
      // mkdtemp directory). bwrap resolves bind sources as that uid — even
      // those given as --ro-bind-fd: bubblewrap (0.8 at least) realpath()s
      // /proc/self/fd/N and then looks the resolved path up again
      // (containers/bubblewrap#569) — so such a directory is reached through
      // a bind the root gate made in its private mount namespace onto one of
      // the backend's mount points, which every uid can reach: its parent,
      // a code root, bound when the gate was made (#reach), or else the
      // directory itself, bound now (a gate made for this start).
      const mounts: string[] = [];
      const outsideArgs = outside.flatMap(([host, inside], i) => {
        const path = reached[i];
        if (path !== undefined) return ['--ro-bind', path, inside];
        const point = join(this.#root, 'mnt', String(mounts.length / 2));
        mounts.push(resolve(host), point);
        return ['--ro-bind', point, inside];
      });
      if (codeDir === undefined) {
        // A stem cell: the gate makes cell-task a shared mount point of its
        // namespace (a pair of equal paths, see GATE_ROOT_SCRIPT), shown at /var/task.
        const point = join(this.#root, 'mnt', CELL_TASK);
        mounts.push(point, point);
        outsideArgs.push('--ro-bind', point, '/var/task');
      }
      if (mounts.some((m) => m.includes('\n'))) throw new Error('sandbox directories must not contain a newline');
      // Everything but the command goes through fd 3 (--args): the
      // environment must not show on a command line other host users can read.
      const args = [
        ...this.#fixedArgs,
        '--clearenv',
        ...Object.entries(env).flatMap(([k, v]) => ['--setenv', k, v]),
        '--ro-bind', join(this.#root, 'etc', egress), '/etc',
        '--perms', '1777', '--size', String(options.ephemeralStorage * 1024 * 1024), '--tmpfs', '/tmp',
        ...outsideArgs,
        '--ro-bind', runtime.host, '/var/runtime',
        '--ro-bind', dir, dirname(SANDBOX_RUNTIME_API_SOCKET),
        // Network egress (network.ts): the handshake fds ('internet''s resolv.conf is in its /etc, above).
        ...this.#networks.bwrapArgs(egress),
        '--chdir', '/var/task',
        '--remount-ro', '/',
        ...(this.#seccomp ? ['--seccomp', '4'] : []),
      ];
      // bwrap's arguments are NUL-separated on fd 3: a NUL inside one (an
      // environment value, the handler) would inject options of its own
      // (--bind / ...). The control plane refuses them; this is the last wall.
      if (args.some((a) => a.includes('\0')) || command.some((c) => c.includes('\0'))) {
        throw new Error('sandbox arguments and environment must not contain a NUL byte');
      }
      const stdio = gate.child.stdio as unknown as [NodeJS.WritableStream, Readable, Readable, NodeJS.WritableStream, NodeJS.WritableStream | null, Readable, NodeJS.WritableStream];
      // A gate made ahead has read its mounts (its code roots) already.
      const mountLines = gate.codeRoots === undefined ? `${mounts.map((m) => `${m}\n`).join('')}\n` : '';
      if (mounts.length > 0 && gate.codeRoots !== undefined) throw new Error('a gate made ahead cannot bind at start');
      stdio[0].end(`${mountLines}${command.join('\n')}\n\n`);
      stdio[3].end(Buffer.from(args.map((a) => `${a}\0`).join(''), 'utf8'));
      if (this.#seccomp && stdio[4]) stdio[4].end(this.#seccomp);
      // The next gate is made once this sandbox has answered its first
      // invoke (firstInvokeDone; or is gone, or has had REFILL_AFTER_MS):
      // making one forks this process (the event loop stops for it) and
      // runs a few programs (its binds, the drop to its uid), which would
      // compete with this cold start's runtime for the CPU (bench/RESULTS.md,
      // 2026-12-06 (later)). A stem cell never took the gate made ahead.
      const refill = once(() => {
        clearTimeout(timer);
        setImmediate(() => this.#refill());
      });
      const timer = setTimeout(refill, codeDir === undefined ? 0 : REFILL_AFTER_MS);
      timer.unref();
      void gate.exited.then(refill);
      // bwrap's child waits on BLOCK_FD until the sandbox's network is ready.
      const egressNat = await this.#networks.connect({ info: stdio[INFO_FD], block: stdio[BLOCK_FD] } as NetnsHandshake, egress);
      const exited = gate.exited.then((raw) => toSandboxExit(raw));
      const parts: NamespaceSandboxParts = { gate, stdout: stdio[1], stderr: stdio[2], exited, server, dir, limits, egress: egressNat, release: () => this.#releaseUid(gate.uid), firstInvokeDone: refill };
      if (codeDir !== undefined) return new NamespaceSandbox(parts);
      const tools = this.#tools as RootTools;
      return new NamespaceCell(parts, { nsenter: tools.nsenter as string, bindWith: tools.perl ?? { mount: tools.mount }, stage: join(this.#root, 'mnt', CELL_STAGE), point: join(this.#root, 'mnt', CELL_TASK) });
    } catch (err) {
      this.#refill();
      server.close();
      await this.#retire(gate.cgroup, gate.uid);
      await rm(dir, { recursive: true, force: true });
      throw err;
    }
  }

  /** Prepares the next gate in the background (one at a time), binding the code roots known now. */
  #refill(): void {
    if (this.#closed || this.#ready) return;
    const next = this.#makeGate([...this.#codeRoots]);
    next.catch(() => undefined);
    this.#ready = next;
  }

  /** The gate made ahead, if it is still alive; the next one is made once this start has given it its command. */
  async #takeReadyGate(): Promise<Gate | undefined> {
    const ready = this.#ready;
    this.#ready = undefined;
    const gate = ready ? await ready.catch(() => undefined) : undefined;
    if (gate?.exit === undefined) return gate;
    // Died while waiting (killed from outside): never hand it out.
    await this.#retire(gate.cgroup, gate.uid);
    return undefined;
  }

  /** Where bwrap, as `gate`'s uid, finds the host directory `host`: itself, or below a code root the gate bound; undefined when the gate must bind it. */
  #reach(gate: Gate, host: string): string | undefined {
    if (gate.uid === undefined || blockedForOthers(host) === undefined) return host;
    const i = gate.codeRoots?.indexOf(dirname(resolve(host))) ?? -1;
    return i < 0 ? undefined : join(this.#codeRootPoint(i), basename(host));
  }

  /** Where gates made ahead bind the i-th code root. */
  #codeRootPoint(i: number): string {
    return join(this.#root, 'mnt', `${CODE_ROOT_POINT}${i}`);
  }

  /**
   * Remembers, as code roots for the gates made from now on, the parents of
   * the `outside` directories the sandbox's uid cannot reach, where binding
   * the parent is enough: it and the directory are searchable by others, as
   * the platform's task roots are (<data dir>/tasks/<sha256>, 0755 below a
   * private data directory). True when it learned one.
   */
  #learnCodeRoots(outside: readonly (readonly [string, string])[]): boolean {
    if (this.#tools === undefined) return false;
    let learned = false;
    for (const [host] of outside) {
      const parent = dirname(resolve(host));
      if (this.#codeRoots.includes(parent) || this.#codeRoots.length >= CODE_ROOT_POINTS) continue;
      if (blockedForOthers(host) === undefined || !searchableByOthers(parent) || !searchableByOthers(host)) continue;
      this.#codeRoots.push(parent);
      learned = true;
    }
    return learned;
  }

  /** Stops a gate that never got its command. */
  async #discard(gate: Gate): Promise<void> {
    gate.child.kill('SIGKILL');
    await gate.exited;
    await this.#retire(gate.cgroup, gate.uid);
  }

  /**
   * A gate: the host-side shell of a future sandbox, already running as the
   * sandbox's host uid and already in its cgroup, waiting on stdin for the
   * command. Moving a process into a cgroup waits for an RCU grace period
   * when no migration ran recently (measured 10-14 ms here), so it is done
   * before the sandbox is asked for, not while a cold start waits.
   */
  async #makeGate(codeRoots: readonly string[] | undefined): Promise<Gate> {
    const uid = this.#allocateUid();
    const id = `g${(this.#gates++).toString(36)}-${process.pid.toString(36)}`;
    let cgroup: SandboxCgroup | undefined;
    let child: ChildProcess | undefined;
    try {
      // The highest MemorySize: start() only ever lowers it (see setLimits).
      cgroup = this.#cgroups.create(id, { ...limitsFor(MAX_MEMORY_MB, this.#pidsMax), cpuQuotaUs: NO_CPU_QUOTA });
      // Never the sandbox's environment: a function's LD_PRELOAD must not reach host-side programs.
      const env: Record<string, string> = { PATH: '/usr/bin:/bin', BWRAP: this.#support.bwrap };
      // fds 5 and 6: bwrap's --info-fd and --block-fd (network.ts INFO_FD, BLOCK_FD).
      const stdio = ['pipe', 'pipe', 'pipe', 'pipe', this.#seccomp ? 'pipe' : 'ignore', 'pipe', 'pipe'] as const;
      const tools = this.#tools;
      if (uid !== undefined && tools !== undefined) {
        // Root: the gate stays root, in a mount namespace of its own, until
        // it has made its binds (GATE_ROOT_SCRIPT: the code roots right
        // after the cgroup migration below, or what start() gives it); it
        // then drops to the sandbox's uid, waits for its command and execs
        // bwrap. Same pid throughout: unshare execs sh, sh setpriv, setpriv
        // sh, sh bwrap.
        Object.assign(env, { SETPRIV: tools.setpriv, MOUNT: tools.mount, SANDBOX_UID: String(uid), GATE_WAIT: GATE_WAIT_SCRIPT });
        child = spawn(tools.unshare, ['--mount', '--propagation', 'private', '--', '/bin/sh', '-c', GATE_ROOT_SCRIPT, 'kindling-gate'], { cwd: '/', env, stdio: [...stdio] });
      } else {
        // Nothing to bind: the gate waits for its command from the first.
        codeRoots = [];
        child = spawn('/bin/sh', ['-c', GATE_WAIT_SCRIPT, 'kindling-gate'], { cwd: '/', env, stdio: [...stdio], ...(uid !== undefined ? { uid, gid: uid } : {}) });
      }
      for (const s of [child.stdin, ...child.stdio.slice(3)]) s?.on('error', () => undefined);
      const spawned = new Promise<void>((resolveSpawn, reject) => {
        (child as ChildProcess).once('spawn', resolveSpawn);
        (child as ChildProcess).once('error', reject);
      });
      const gate: Gate = {
        pid: 0,
        uid,
        codeRoots,
        cgroup,
        child,
        exit: undefined,
        exited: new Promise((r) => {
          (child as ChildProcess).once('exit', (code, signal) => {
            gate.exit = { code, signal };
            r({ code, signal });
          });
        }),
      };
      await spawned;
      if (child.pid === undefined) throw new Error('sandbox process has no pid');
      gate.pid = child.pid;
      // The shell waits on stdin: nothing of the sandbox runs before it is in its cgroup.
      await cgroup.join(child.pid);
      // A root gate made ahead binds its code roots and drops to the
      // sandbox's uid now, so that a cold start does neither.
      if (tools !== undefined && uid !== undefined && codeRoots !== undefined) {
        child.stdin?.write(codeRoots.map((r, i) => `${r}\n${this.#codeRootPoint(i)}\n`).join('') + '\n');
      }
      return gate;
    } catch (err) {
      child?.kill('SIGKILL');
      if (cgroup) await this.#retire(cgroup, uid);
      else this.#releaseUid(uid);
      throw err;
    }
  }

  /** Removes every sandbox cgroup, the parent cgroup and the backend's files. Sandboxes must be disposed first. */
  close(): Promise<void> {
    this.#closed ??= (async () => {
      const ready = this.#ready;
      this.#ready = undefined;
      const gate = await ready?.catch(() => undefined);
      if (gate) {
        gate.child.kill('SIGKILL');
        await gate.exited;
        this.#releaseUid(gate.uid);
      }
      await this.#cgroups.close();
      await rm(this.#root, { recursive: true, force: true });
    })();
    return this.#closed;
  }

  #allocateUid(): number | undefined {
    const range = this.#uids;
    if (range === undefined) return undefined;
    for (let i = 0; i < range.count; i++) {
      const uid = range.base + ((this.#nextUid + i) % range.count);
      if (!this.#uidsInUse.has(uid)) {
        this.#nextUid = (this.#nextUid + i + 1) % range.count;
        this.#uidsInUse.add(uid);
        return uid;
      }
    }
    throw new Error('no free sandbox uid');
  }

  /**
   * Removes a sandbox's cgroup and only then frees its host uid: if the
   * cgroup could not be emptied, a process of the sandbox survived and still
   * holds the uid, which must then never be given to another sandbox.
   */
  async #retire(cgroup: SandboxCgroup, uid: number | undefined): Promise<void> {
    try {
      await cgroup.remove();
    } catch {
      return;
    }
    this.#releaseUid(uid);
  }

  #releaseUid(uid: number | undefined): void {
    if (uid !== undefined) this.#uidsInUse.delete(uid);
  }

  #buildFixedArgs(): string[] {
    const args = [
      '--unshare-user', '--unshare-pid', '--unshare-net', '--unshare-ipc', '--unshare-uts', '--unshare-cgroup-try',
      '--die-with-parent', '--new-session', '--cap-drop', 'ALL',
      '--uid', String(SANDBOX_UID), '--gid', String(SANDBOX_UID), '--hostname', SANDBOX_HOSTNAME,
      '--ro-bind', '/usr', '/usr',
    ];
    for (const top of hostTopDirs()) {
      if (top.symlinkTo !== undefined) args.push('--symlink', top.symlinkTo, top.path);
      else args.push('--ro-bind', top.path, top.path);
    }
    args.push('--proc', '/proc', '--dev', '/dev');
    args.push('--dir', '/opt', '--dir', '/var/task', '--dir', '/var/runtime');
    args.push('--ro-bind', this.snapshotDir, SANDBOX_SNAPSHOT_DIR);
    return args;
  }
}

/**
 * The gate, host side, when Kindling is root: root in a private mount
 * namespace (unshare) until it has made its binds, then the sandbox's uid.
 * It reads pairs of lines "source, mount point" to bind, up to an empty
 * line; a pair of equal paths instead makes that path a mount point of its
 * own, marked shared: a stem cell's task root (see NamespaceBackend). Then
 * it drops to SANDBOX_UID (setpriv: no groups, no capabilities) as a shell
 * running GATE_WAIT_SCRIPT, which reads the command, one argument per line
 * up to an empty line, and execs bwrap, whose other arguments come from
 * fd 3. A gate made ahead is given its binds (the code roots) as soon as it
 * is in its cgroup, and so waits for its command as the sandbox's uid; a
 * gate made for one start is given both at once. Without root, the gate is
 * GATE_WAIT_SCRIPT alone, spawned as the sandbox's uid. EOF before the last
 * empty line (the worker died or dropped the gate) ends it. `ulimit -n 1024`
 * is Lambda's file descriptor quota: the sandbox cannot inherit the
 * platform's far higher one. One pid throughout: each part execs the next.
 */
const GATE_ROOT_SCRIPT = `[ -n "$SANDBOX_UID" ] || exit 125
while IFS= read -r src; do [ -z "$src" ] && break; IFS= read -r dst || exit 125
  if [ "$src" = "$dst" ]; then "$MOUNT" --bind "$src" "$src" </dev/null && "$MOUNT" --make-shared "$src" </dev/null || exit 125
  else "$MOUNT" --bind "$src" "$dst" </dev/null || exit 125; fi
done
exec "$SETPRIV" --reuid="$SANDBOX_UID" --regid="$SANDBOX_UID" --clear-groups --inh-caps=-all -- /bin/sh -c "$GATE_WAIT" kindling-gate`;

/** The gate's second part, as the sandbox's uid: reads the command, one argument per line up to an empty line, and becomes bwrap (see GATE_ROOT_SCRIPT). */
const GATE_WAIT_SCRIPT = `set --; ended=
while IFS= read -r a; do [ -z "$a" ] && { ended=1; break; }; set -- "$@" "$a"; done
[ -n "$ended" ] && [ $# -gt 0 ] || exit 125
ulimit -n 1024 || exit 125
exec "$BWRAP" --args 3 -- "$@" </dev/null`;

/** Mount points under <root>/mnt: the code, the layers (/opt) and up to two directories of a node outside /usr. */
const MOUNT_POINTS = 4;
/** Mount points under <root>/mnt of the code roots a gate made ahead binds (<CODE_ROOT_POINT><i>), and how many. */
const CODE_ROOT_POINT = 'root-';
const CODE_ROOT_POINTS = 4;
/** Under <root>/mnt: a stem cell's task root, and where bind() prepares the code's mount. */
const CELL_TASK = 'cell-task';
const CELL_STAGE = 'cell-stage';

/** util-linux programs of the root gate. */
interface RootTools {
  readonly setpriv: string;
  readonly unshare: string;
  readonly mount: string;
  /** Stem cells' bind() only; undefined when missing (cells are then off). */
  readonly nsenter: string | undefined;
  /** Stem cells' bind() only: perl and mount(2)'s number, when both are known (MOUNT_SYSCALL); else bind() runs mount. */
  readonly perl: PerlBind | undefined;
}

/** mount(2)'s number where perl's syscall() makes a stem cell's mounts: x86-64's table, and the generic one of arm64 and riscv64. */
const MOUNT_SYSCALL: Readonly<Partial<Record<NodeJS.Architecture, number>>> = { x64: 165, arm64: 40, riscv64: 40 };

/**
 * A stem cell's bind, run as root in its gate's mount namespace with the
 * staging point and the cell's task root as $1 $2, and the code directory
 * as a line on stdin (it may wait for it): a read-only bind at the private
 * staging point, then moved onto the shared task root, so that the copy
 * reaching the sandbox is read-only from its first moment (see
 * NamespaceBackend). EOF instead of a line (the cell was dropped) ends it.
 */
const BIND_SCRIPT = `IFS= read -r src && [ -n "$src" ] || exit 125
"$MOUNT" --bind -o ro,nosuid,nodev "$src" "$1" </dev/null && exec "$MOUNT" --move "$1" "$2" </dev/null`;

/**
 * BIND_SCRIPT's mounts as perl's mount(2) calls (@ARGV: the staging point,
 * the task root, mount(2)'s number): what util-linux does for
 * `mount --bind -o ro,nosuid,nodev` (a bind, then a remount that sets its
 * flags), then the move. Every path is absolute, so perl passes each as a
 * string (a numeric-looking argument would go as an int); 0 is NULL.
 */
const PERL_BIND_SCRIPT = `my ($stage, $point, $nr) = @ARGV;
my $src = <STDIN>; defined $src or exit 125; chomp $src; length $src or exit 125;
my ($RDONLY, $NOSUID, $NODEV, $REMOUNT, $BIND, $MOVE) = (1, 2, 4, 32, 4096, 8192);
syscall($nr, $src, $stage, 0, $BIND, 0) == 0 or die "bind $src at $stage: $!\n";
syscall($nr, 0, $stage, 0, $REMOUNT | $BIND | $RDONLY | $NOSUID | $NODEV, 0) == 0 or die "remount $stage read-only: $!\n";
syscall($nr, $stage, $point, 0, $MOVE, 0) == 0 or die "move $stage to $point: $!\n";`;

/** The Runtime API forwarder (see forwarderScript); bwrap's pid 1 reaps socat. */
const FORWARDER_SCRIPT = forwarderScript();

/** A gate waiting for its sandbox (see NamespaceBackend#makeGate). */
interface Gate {
  pid: number;
  readonly uid: number | undefined;
  /**
   * The code roots the gate has bound (at <root>/mnt/<CODE_ROOT_POINT><i>),
   * after which it waits for its command alone; undefined for a root gate
   * made for one start, which binds what that start gives it.
   */
  readonly codeRoots: readonly string[] | undefined;
  readonly cgroup: SandboxCgroup;
  readonly child: ChildProcess;
  exit: { code: number | null; signal: NodeJS.Signals | null } | undefined;
  readonly exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
}

/**
 * Longest a started sandbox keeps the backend from making its next gate
 * when no first invoke is answered sooner (see start()): a no-op nodejs
 * function's cold start is answered in ~40 ms.
 */
const REFILL_AFTER_MS = 1000;

/** `fn`, run on its first call only. */
function once(fn: () => void): () => void {
  let done = false;
  return () => {
    if (done) return;
    done = true;
    fn();
  };
}

/** Lambda's highest MemorySize; a pooled cgroup starts there. */
const MAX_MEMORY_MB = 10_240;

/** What a NamespaceSandbox holds: its gate (pid, cgroup, uid), Runtime API and private directory. */
interface NamespaceSandboxParts {
  readonly gate: Gate;
  readonly stdout: Readable;
  readonly stderr: Readable;
  readonly exited: Promise<SandboxExit>;
  readonly server: Server;
  readonly dir: string;
  readonly limits: CgroupLimits;
  /** Gives the gate's host uid back (after the cgroup is removed). */
  readonly release: () => void;
  /** See SandboxProcess.firstInvokeDone: the backend makes its next gate. */
  readonly firstInvokeDone: () => void;
  /** The sandbox's NAT ('internet' egress), ended with it. */
  readonly egress: SandboxEgress | undefined;
}

class NamespaceSandbox implements SandboxProcess {
  readonly pid: number;
  readonly stdout: Readable;
  readonly stderr: Readable;
  readonly exited: Promise<SandboxExit>;
  readonly #p: NamespaceSandboxParts;
  readonly #cgroup: SandboxCgroup;
  #initDone = false;
  #disposed: Promise<void> | undefined;
  #gone = false;
  #exitSeen = false;
  #monitorTimer: NodeJS.Timeout | undefined;

  constructor(parts: NamespaceSandboxParts) {
    this.#p = parts;
    this.#cgroup = parts.gate.cgroup;
    // bwrap's monitor: the gate's shell exec'd it, same pid.
    this.pid = parts.gate.pid;
    this.stdout = parts.stdout;
    this.stderr = parts.stderr;
    this.exited = parts.exited;
    const exited = parts.exited;
    void exited.then(() => {
      this.#exitSeen = true;
      if (this.#monitorTimer) clearTimeout(this.#monitorTimer);
    });
  }

  kill(): void {
    if (this.#gone) return;
    if (this.#exitSeen) {
      // The monitor is gone; whatever is left of the sandbox goes at once.
      this.#cgroup.killAll();
      return;
    }
    // Every process of the cgroup but bwrap's monitor (this.pid, our child):
    // that is bwrap's pid 1, whose death ends the pid namespace, and anything
    // that escaped into a new session or double-forked. The monitor then
    // reaps pid 1 and exits with 128+9. Killing the monitor first would
    // orphan pid 1 to the host's init; it is killed only if it lingers.
    this.#cgroup.killAll(this.pid);
    this.#monitorTimer ??= setTimeout(() => {
      try {
        process.kill(this.pid, 'SIGKILL');
      } catch {
        // already gone
      }
    }, 1000).unref();
  }

  /**
   * Applies the CPU quota proportional to MemorySize. Until now the sandbox
   * ran without one: on Lambda the init phase of an on-demand environment
   * is not throttled to the memory-proportional share (a 128 MB function
   * initialises at the speed of a 1,769 MB one; AWS engineers have said so
   * and measurements of init CPU time show it), only invokes are. Without
   * this a 128 MB node function, at 7% of a vCPU, needed ~745 ms to start.
   */
  firstInvokeDone(): void {
    this.#p.firstInvokeDone();
  }

  initDone(): void {
    if (this.#initDone || this.#gone) return;
    this.#initDone = true;
    try {
      this.#cgroup.setCpuQuota(this.#p.limits.cpuQuotaUs, this.#p.limits.cpuPeriodUs);
    } catch {
      // The cgroup is already being removed (the sandbox died): nothing to limit.
    }
  }

  /**
   * The cgroup's peak (v2 memory.peak, v1 memory.max_usage_in_bytes): every
   * process of the sandbox, page cache and /tmp included, as Lambda's Max
   * Memory Used. Still readable after the main process died (an OOM kill's
   * peak), until dispose().
   */
  peakMemoryBytes(): number | undefined {
    if (this.#gone) return undefined;
    return this.#cgroup.peakBytes();
  }

  dispose(): Promise<void> {
    this.#disposed ??= (async () => {
      this.kill();
      await this.exited;
      let emptied = false;
      try {
        await this.#cgroup.remove();
        emptied = true;
      } finally {
        this.#gone = true;
        this.#p.server.close();
        // Ends parked /invocation/next long-polls and idle keep-alive connections.
        this.#p.server.closeAllConnections();
        await rm(this.#p.dir, { recursive: true, force: true });
        await this.#p.egress?.close();
        // A process that survived a cgroup that would not empty still holds
        // the host uid: it is never given to another sandbox then.
        if (emptied) this.#p.release();
      }
    })();
    return this.#disposed;
  }
}

/** perl making a stem cell's mounts itself: its path and mount(2)'s number on this architecture. */
interface PerlBind {
  readonly perl: string;
  readonly mountSyscall: number;
}

/** What a NamespaceCell's bind() runs, and where. */
interface CellBinding {
  readonly nsenter: string;
  /** What makes the mounts (see NamespaceBackendOptions.bindWith). */
  readonly bindWith: PerlBind | { readonly mount: string };
  /** <root>/mnt/cell-stage */
  readonly stage: string;
  /** <root>/mnt/cell-task, the shared mount point shown at /var/task. */
  readonly point: string;
}

/** How a bind helper ended. */
type HelperEnd = { readonly code: number | null; readonly signal: NodeJS.Signals | null; readonly error: Error | undefined; readonly stderr: string };

/**
 * A stem cell of the namespace backend: a NamespaceSandbox whose /var/task
 * is filled by bind(). The bind runs PERL_BIND_SCRIPT (or BIND_SCRIPT) as
 * root in the gate's mount namespace, through nsenter; starting nsenter and
 * perl (or a shell) costs some ms, so ready() starts them ahead, waiting on
 * stdin for the code directory, and bind() only writes it.
 */
class NamespaceCell extends NamespaceSandbox implements CellProcess {
  readonly #b: CellBinding;
  #bound = false;
  #exited = false;
  #helper: { readonly child: ChildProcess; readonly end: Promise<HelperEnd> } | undefined;

  constructor(parts: NamespaceSandboxParts, binding: CellBinding) {
    super(parts);
    this.#b = binding;
    void this.exited.then(() => {
      this.#exited = true;
      this.#stopHelper();
    });
  }

  ready(): void {
    if (this.#helper !== undefined || this.#bound || this.#exited) return;
    try {
      this.#helper = this.#spawnHelper();
    } catch {
      // bind() tries again and reports what fails.
    }
  }

  async bind(codeDir: string): Promise<void> {
    if (this.#bound) throw new Error('a stem cell is bound once');
    this.#bound = true;
    if (this.#exited) throw new Error('the stem cell has exited');
    const dir = resolve(codeDir);
    if (dir.includes('\n')) throw new Error('a code directory must not contain a newline');
    const helper = this.#helper?.child.exitCode === null ? this.#helper : this.#spawnHelper();
    this.#helper = undefined;
    helper.child.stdin?.end(`${dir}\n`);
    const end = await helper.end;
    if (end.code !== 0) {
      throw new Error(`binding ${dir} into the stem cell failed (${end.error?.message ?? end.signal ?? `exit ${String(end.code)}`}): ${end.stderr.trim()}`);
    }
  }

  override dispose(): Promise<void> {
    this.#stopHelper();
    return super.dispose();
  }

  /**
   * nsenter into the gate's namespace, entered through its pid (our child,
   * so the pid is not reused before its exit is seen), running PERL_BIND_SCRIPT
   * or BIND_SCRIPT.
   * Never the platform's own namespace: there the mounts would show this
   * code to every later cell.
   */
  #spawnHelper(): { child: ChildProcess; end: Promise<HelperEnd> } {
    const ns = `/proc/${this.pid}/ns/mnt`;
    if (readlinkSync(ns) === readlinkSync('/proc/self/ns/mnt')) throw new Error('the stem cell has no mount namespace of its own');
    const b = this.#b;
    const w = b.bindWith;
    const command = 'perl' in w ? [w.perl, '-e', PERL_BIND_SCRIPT, b.stage, b.point, String(w.mountSyscall)] : ['/bin/sh', '-c', BIND_SCRIPT, 'kindling-bind', b.stage, b.point];
    const child = spawn(b.nsenter, [`--mount=${ns}`, '--', ...command], {
      cwd: '/',
      env: 'perl' in w ? { PATH: '/usr/bin:/bin' } : { PATH: '/usr/bin:/bin', MOUNT: w.mount },
      stdio: ['pipe', 'ignore', 'pipe'],
    });
    child.stdin?.on('error', () => undefined);
    let stderr = '';
    child.stderr?.setEncoding('utf8').on('data', (d: string) => (stderr += d));
    const end = new Promise<HelperEnd>((done) => {
      let error: Error | undefined;
      child.once('error', (err) => {
        error = err;
        done({ code: null, signal: null, error, stderr });
      });
      child.once('close', (code, signal) => done({ code, signal, error, stderr }));
    });
    return { child, end };
  }

  #stopHelper(): void {
    const helper = this.#helper;
    this.#helper = undefined;
    // Ending its stdin is enough (its read fails), but a kill does not wait.
    if (helper && helper.child.exitCode === null) helper.child.kill('SIGKILL');
  }
}
