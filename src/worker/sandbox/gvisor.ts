/**
 * The `gvisor` backend: each sandbox is an OCI container run by gVisor's
 * runsc, for untrusted multi-tenant code. The function's system calls are
 * served by gVisor's user-space kernel (the Sentry), never by the host
 * kernel directly; host files are reached only through gVisor's gofer.
 */
import { spawn, spawnSync } from 'node:child_process';
import type { ChildProcess } from 'node:child_process';
import { createHash } from 'node:crypto';
import { chmodSync, existsSync, mkdirSync, mkdtempSync, readdirSync, realpathSync, rmSync, rmdirSync, statSync, symlinkSync, writeFileSync } from 'node:fs';
import { rm } from 'node:fs/promises';
import type { Server } from 'node:http';
import { tmpdir } from 'node:os';
import { basename, dirname, join, resolve } from 'node:path';
import type { Readable } from 'node:stream';
import { SandboxUnavailableError } from './backend.js';
import type { CellProcess, CellStartOptions, SandboxBackend, SandboxExit, SandboxProcess, SandboxStartOptions, SandboxView } from './backend.js';
import { CgroupParent, MAX_PIDS, NO_CPU_QUOTA, detectCgroups, limitsFor, mounts, ownCgroupPaths } from './cgroups.js';
import type { CgroupLayout, CgroupLimits, Mount, SandboxCgroup } from './cgroups.js';
import { findExecutable } from './detect.js';
import { EgressUnavailableError, GVISOR_EGRESS_PROBLEM } from './network.js';
import { ociSeccomp } from './seccomp.js';
import { removeAbandonedRoot, sweepAbandonedRoots, writeRootOwner } from './root-owner.js';
import { DEFAULT_RUNTIME_ROOT, FORWARDER_PATH, RUNTIME_API_SOCKET_ENV, RuntimeTrees, SANDBOX_HOSTNAME, SANDBOX_RUNTIME_API, SANDBOX_RUNTIME_API_SOCKET, SANDBOX_SNAPSHOT_DIR, SANDBOX_UID, forwarderScript, hostTopDirs, listenRuntimeApi, nodeDirs, toSandboxExit, writeSandboxEtc } from './sandbox-root.js';

/**
 * gVisor platforms (how the Sentry intercepts the application's system
 * calls). ptrace works everywhere ptrace is allowed but is the slowest;
 * systrap (runsc 2023+) is faster and needs nothing special; kvm is the
 * fastest and needs /dev/kvm that can run guests.
 */
export type GvisorPlatform = 'ptrace' | 'systrap' | 'kvm';

/** What the gvisor backend found on this host. */
export interface GvisorSupport {
  /** Absolute path of runsc. */
  readonly runsc: string;
  /** First line of `runsc --version`. */
  readonly version: string;
  /** Absolute path of socat (custom runtimes' Runtime API forwarder, run inside the sandbox). */
  readonly socat: string;
  readonly cgroups: CgroupLayout;
  readonly platform: GvisorPlatform;
}

/** detectGvisorSupport()'s answer: what was found, or one line saying why the backend cannot run. */
export type GvisorDetection = ({ readonly ok: true } & GvisorSupport) | { readonly ok: false; readonly problem: string };

/** Options of GvisorBackend.create. */
export interface GvisorBackendOptions {
  /**
   * Host directory for the backend's files: runsc's state (--root), the
   * shared read-only root filesystem, each sandbox's bundle and Runtime API
   * socket, a copy of the runtime tree. Emptied at create(), removed at
   * close(). Unix socket paths are limited to 107 bytes: keep it short.
   * Default: defaultGvisorRoot().
   */
  readonly root?: string;
  /** Name of the parent cgroup. Default: the root's base name. */
  readonly cgroupName?: string;
  /** The data directory the root belongs to: once it is gone and this platform too, another platform reclaims the root (root-owner.ts). Default: none, never reclaimed. */
  readonly dataDir?: string;
  /** Host tree shown at /var/runtime. Default: DEFAULT_RUNTIME_ROOT. */
  readonly runtimeRoot?: string;
  /** Default 'ptrace' (the only one that works on every host; see GvisorPlatform). */
  readonly platform?: GvisorPlatform;
  /** Default MAX_PIDS. */
  readonly pidsMax?: number;
  /** More top-level runsc flags (say, `--file-access-mounts=exclusive`), after Kindling's own. */
  readonly runscFlags?: readonly string[];
  /** Found on this host already (skips detection). */
  readonly support?: GvisorSupport;
}

/** The gvisor backend cannot start on this host; the message is one line saying what to do. */
export class GvisorUnavailableError extends SandboxUnavailableError {
  override readonly name = 'GvisorUnavailableError';
}

/** Default backend root: /run/kindling-gv-<hash of key> (root only; runsc needs root). */
export function defaultGvisorRoot(key = 'default'): string {
  return join('/run', `kindling-gv-${createHash('sha256').update(key).digest('hex').slice(0, 12)}`);
}

/** The base name of a defaultGvisorRoot(): the roots create() sweeps (see root-owner.ts). */
const GVISOR_ROOT_NAME = /^kindling-gv-[0-9a-f]{12}$/;

/**
 * Checks everything the backend needs and runs one real (tiny) sandbox with
 * the same root filesystem layout (but no /etc) and flags, so that a host where ptrace is
 * forbidden (a container's seccomp profile) or the platform is unusable is
 * reported here and not at the first invoke.
 */
export function detectGvisorSupport(platform: GvisorPlatform = 'ptrace'): GvisorDetection {
  if (process.platform !== 'linux') return { ok: false, problem: 'the gvisor sandbox needs Linux' };
  if (process.getuid?.() !== 0) return { ok: false, problem: 'the gvisor sandbox needs Kindling to run as root (runsc creates the namespaces and cgroups of every sandbox)' };
  const runsc = findExecutable('runsc');
  if (runsc === undefined) return { ok: false, problem: 'the gvisor sandbox needs runsc: apt-get install runsc (or see gvisor.dev/docs/user_guide/install)' };
  const env = { PATH: '/usr/bin:/bin' };
  const ver = spawnSync(runsc, ['--version'], { env, encoding: 'utf8', timeout: 10_000 });
  const version = (ver.stdout ?? '').split('\n')[0]?.trim() ?? '';
  if (ver.status !== 0 || version === '') return { ok: false, problem: `runsc at ${runsc} does not run: ${(ver.stderr || ver.error?.message || '').trim().split('\n')[0] ?? ''}` };
  const flags = spawnSync(runsc, ['flags'], { env, encoding: 'utf8', timeout: 10_000 });
  const flagText = `${flags.stdout ?? ''}${flags.stderr ?? ''}`;
  if (!/-host-uds\b/.test(flagText)) return { ok: false, problem: `${version} is too old: the gvisor sandbox needs runsc's --host-uds flag (gVisor 2022 or newer)` };
  const platforms = spawnSync(runsc, ['help', 'platforms'], { env, encoding: 'utf8', timeout: 10_000 });
  if (!(platforms.stdout ?? '').split('\n').map((l) => l.trim()).includes(platform)) {
    return { ok: false, problem: `${version} has no ${platform} platform (it has: ${(platforms.stdout ?? '').trim().split('\n').join(', ')})` };
  }
  const socat = findExecutable('socat');
  if (socat === undefined) return { ok: false, problem: 'the gvisor sandbox needs socat (custom runtimes reach their Runtime API through it): apt-get install socat' };
  if (!existsSync('/usr/bin/env')) return { ok: false, problem: 'the gvisor sandbox needs /usr/bin/env (coreutils)' };
  const cg = detectCgroups();
  if (!cg.ok) return { ok: false, problem: `the gvisor sandbox needs cgroups with the memory, cpu and pids controllers: ${cg.problem}` };
  // The probe: a real sandbox, cgroups aside (checked by CgroupParent.open).
  const dir = mkdtempSync(join(tmpdir(), 'kindling-gv-probe-'));
  try {
    buildRootfs(join(dir, 'rootfs'));
    const spec = ociSpec({ args: ['/usr/bin/true'], env: ['PATH=/usr/bin:/bin'], rootfs: join(dir, 'rootfs'), mounts: systemMounts(undefined), cgroupsPath: undefined, limits: undefined });
    writeFileSync(join(dir, 'config.json'), JSON.stringify(spec));
    const id = `kindling-probe-${process.pid}`;
    const probe = spawnSync(runsc, [`--root=${join(dir, 'state')}`, '--network=none', `--platform=${platform}`, '--ignore-cgroups', 'run', '--bundle', dir, id], {
      env,
      encoding: 'utf8',
      timeout: 30_000,
    });
    if (probe.status !== 0) {
      spawnSync(runsc, [`--root=${join(dir, 'state')}`, 'delete', '-force', id], { env, timeout: 10_000 });
      const why = (probe.stderr || probe.error?.message || `exit ${String(probe.status ?? probe.signal)}`).trim().split('\n').pop() ?? '';
      return { ok: false, problem: `runsc cannot run a sandbox here with --platform=${platform} (${why}); ptrace must be allowed (a container needs SYS_PTRACE and no seccomp profile blocking it), kvm needs a usable /dev/kvm` };
    }
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
  return { ok: true, runsc, version, socat, cgroups: cg.layout, platform };
}

/**
 * The `gvisor` backend.
 *
 * Each sandbox is `runsc run` of a bundle <root>/sb/<id> whose config.json
 * says: uid/gid 1051 (Lambda's sbx_user1051), no capabilities,
 * noNewPrivileges, new pid/net/ipc/uts/mount namespaces (gVisor's own, in
 * its kernel), hostname localhost, and a read-only root shared by every
 * sandbox (<root>/rootfs: the top-level symlinks of a merged-/usr host and
 * empty mount points) with read-only binds of /usr (and /lib*, /bin, /sbin
 * where they are directories), the /etc pieces programs need, a private
 * passwd/group/hosts, the code at /var/task, the runtime tree at
 * /var/runtime (prepared as the namespace backend does: copied once,
 * readable by uid 1051, with a package.json marking it ESM), an empty /opt,
 * and /tmp: a gVisor tmpfs of EphemeralStorage MB (its pages live in the
 * Sentry's memory, so they count against MemorySize, as in the namespace
 * backend).
 *
 * runsc flags: --network=none (only a loopback inside: the sandbox reaches
 * no host port and no network), --platform (default ptrace), --host-uds=open
 * (the Sentry may connect to a host unix socket it can see — only the
 * Runtime API socket is bound in), --overlay2=none (the root is read-only
 * and /tmp is a tmpfs: an overlay would add nothing but memory).
 *
 * Runtime API: the worker's server listens on <root>/sb/<id>/api/runtime-api.sock
 * (directory 0711, socket owned by 1051 mode 0600 — gVisor checks the
 * sandbox user's permissions against the host file's owner and mode), bound
 * read-only at /run/kindling. Only root (and runsc's gofer) can reach it on
 * the host: <root> is 0700. Kindling's nodejs runtime connects to it (named
 * by _KINDLING_RUNTIME_API_SOCKET); other runtimes get socat relaying
 * 127.0.0.1:9001 to it, started by a shell wrapper inside the sandbox.
 *
 * Limits: a cgroup per sandbox from cgroups.ts (memory = MemorySize without
 * swap, CPU proportional to memory after init, pids), created before runsc
 * runs and named in the spec's linux.cgroupsPath. runsc uses a cgroup that
 * exists as it is (and does not remove it) and starts the Sentry
 * (runsc-sandbox) and the gofer inside it, so everything of the sandbox on
 * the host — including gVisor's own memory, ~20 MB — is limited and
 * measured there. runsc creates the hierarchies Kindling does not use
 * (cpuset, devices, freezer, ...) itself and removes their leaves at
 * delete; the backend removes their parent directories.
 *
 * Over MemorySize, the host's OOM killer takes one process of the cgroup,
 * whichever it chooses. When that is the Sentry, runsc reports 128+9; when
 * it is a gofer or, with ptrace, the stub that holds the function's address
 * space (it maps the function's memory, so it can be the largest), the
 * Sentry may exit with status 2 or hang until the invoke times out. So the
 * backend looks at its sandboxes' OOM kill counters every OOM_WATCH_MS and
 * kills the whole sandbox at the first, as Lambda ends a function over its
 * memory; its exit then reads `signal: killed` (toSandboxExit).
 *
 * Seccomp: gVisor installs its own filter on the Sentry and gofer, and the
 * function's system calls never reach the host kernel; the Sentry also
 * enforces Kindling's policy (seccomp.ts) on the function, given as the
 * spec's linux.seccomp with --oci-seccomp, so that what a function may not
 * do (mount, unshare, ptrace, ...) is the same on both isolation backends.
 */
export class GvisorBackend implements SandboxBackend {
  readonly name = 'gvisor';
  /** Shown read-only to every sandbox at SANDBOX_SNAPSHOT_DIR. */
  readonly snapshotDir: string;
  readonly #root: string;
  readonly #support: GvisorSupport;
  readonly #cgroups: CgroupParent;
  readonly #cgroupName: string;
  readonly #pidsMax: number;
  readonly #flags: readonly string[];
  readonly #runtimes: RuntimeTrees;
  readonly #mounts: readonly OciMount[];
  readonly #live = new Set<GvisorSandbox>();
  /** Runs while any sandbox lives: see the class comment on OOM kills. */
  #oomWatch: NodeJS.Timeout | undefined;
  #closed: Promise<void> | undefined;

  private constructor(root: string, support: GvisorSupport, cgroups: CgroupParent, cgroupName: string, options: GvisorBackendOptions) {
    this.#root = root;
    this.#support = support;
    this.#cgroups = cgroups;
    this.#cgroupName = cgroupName;
    this.#pidsMax = options.pidsMax ?? MAX_PIDS;
    this.#flags = [
      `--root=${join(root, 'state')}`,
      '--network=none',
      `--platform=${support.platform}`,
      '--host-uds=open',
      '--overlay2=none',
      // The spec's linux.seccomp (Kindling's policy, seccomp.ts) applies to the function.
      '--oci-seccomp',
      ...(options.runscFlags ?? []),
    ];
    this.#runtimes = new RuntimeTrees(root, options.runtimeRoot ?? DEFAULT_RUNTIME_ROOT);
    buildRootfs(join(root, 'rootfs'));
    this.snapshotDir = join(root, 'snapshots');
    mkdirSync(this.snapshotDir, { mode: 0o755 });
    writeSandboxEtc(join(root, 'etc'), FORWARDER_SCRIPT);
    this.#mounts = [...systemMounts(join(root, 'etc')), roBind(this.snapshotDir, SANDBOX_SNAPSHOT_DIR)];
  }

  /**
   * Detects what the backend needs, creates its root and parent cgroup
   * (removing what a killed platform left), and returns the backend. Throws
   * GvisorUnavailableError with a one-line reason when this host cannot run it.
   */
  static async create(options: GvisorBackendOptions = {}): Promise<GvisorBackend> {
    const root = resolve(options.root ?? defaultGvisorRoot());
    let support = options.support;
    if (support === undefined) {
      const found = detectGvisorSupport(options.platform ?? 'ptrace');
      if (!found.ok) throw new GvisorUnavailableError(found.problem);
      support = found;
    }
    if (join(root, 'sb', '0'.repeat(32), 'api', 'runtime-api.sock').length > 107) {
      throw new GvisorUnavailableError(`the gvisor sandbox root ${root} is too long for unix socket paths (at most ${107 - 64} characters)`);
    }
    const cgroupName = options.cgroupName ?? basename(root);
    let cgroups: CgroupParent;
    try {
      cgroups = await CgroupParent.open(support.cgroups, cgroupName);
    } catch (err) {
      throw new GvisorUnavailableError(`the gvisor sandbox needs writable cgroups: ${(err as Error).message}`);
    }
    // runsc must find the very cgroup cgroups.ts made (see cgroupsPathFor).
    const probe = cgroups.create(`gv-probe-${process.pid}`, limitsFor(128));
    const mismatch = cgroupMismatch(support.cgroups, cgroupName, `gv-probe-${process.pid}`, probe);
    await probe.remove();
    if (mismatch !== undefined) {
      await cgroups.close();
      throw new GvisorUnavailableError(`runsc would not use Kindling's cgroup (${mismatch}): run Kindling in the host's cgroup namespace with cgroups mounted at /sys/fs/cgroup`);
    }
    // What is here belongs to a platform that is gone: its Sentries and
    // gofers were in the cgroups CgroupParent.open just emptied.
    removeRunscCgroups(cgroupName, false);
    rmSync(root, { recursive: true, force: true });
    mkdirSync(join(root, 'sb'), { recursive: true });
    mkdirSync(join(root, 'state'), { recursive: true });
    writeRootOwner(root, cgroupName, options.dataDir);
    chmodSync(root, 0o700);
    // Roots (and cgroups) of other gvisor backends whose platform is gone.
    const layout = support.cgroups;
    await sweepAbandonedRoots(root, GVISOR_ROOT_NAME, async (other, owner) => {
      await removeAbandonedRoot(layout, other, owner);
      removeRunscCgroups(owner.cgroupName, true);
    });
    return new GvisorBackend(root, support, cgroups, cgroupName, options);
  }

  /** The runsc top-level flags every sandbox runs with (for diagnostics and the report of `kindling up`). */
  get runscFlags(): readonly string[] {
    return this.#flags;
  }

  start(options: SandboxStartOptions): Promise<SandboxProcess> {
    return this.#start(options, options.codeDir);
  }

  /** Why stem cells cannot run here, or undefined when they can. */
  get stemCellsUnavailable(): string | undefined {
    return this.#runtimes.speaksSocket ? undefined : "stem cells need a runtime tree that reads the Runtime API socket's variable";
  }

  /** Starts a stem cell: /var/task shows <bundle>/task, empty until the cell's bind(). */
  async startCell(options: CellStartOptions): Promise<CellProcess> {
    const problem = this.stemCellsUnavailable;
    if (problem !== undefined) throw new Error(problem);
    return (await this.#start(options, undefined)) as GvisorCell;
  }

  /** Starts a sandbox showing `codeDir` at /var/task, or a stem cell when it is undefined. */
  async #start(options: SandboxStartOptions | CellStartOptions, codeDir: string | undefined): Promise<GvisorSandbox> {
    if (this.#closed) throw new Error('the gvisor backend is closed');
    if (!/^[A-Za-z0-9][A-Za-z0-9_.-]*$/.test(options.id)) throw new Error(`invalid sandbox id ${options.id}`);
    // Sandboxes run with --network=none; see network.ts for why not slirp4netns.
    if ('egress' in options && options.egress === 'internet') throw new EgressUnavailableError(GVISOR_EGRESS_PROBLEM);
    const bundle = join(this.#root, 'sb', options.id);
    const apiDir = join(bundle, 'api');
    const server = options.runtimeApi;
    // The function's tasks are limited inside the Sentry (RLIMIT_NPROC =
    // pidsMax, see ociSpec); the host cgroup's pids.max is only a backstop
    // (see hostPidsMax).
    const limits = limitsFor(options.memorySize, hostPidsMax(this.#pidsMax));
    let cgroup: SandboxCgroup | undefined;
    try {
      // Init runs without a CPU quota (as on Lambda); initDone() applies it.
      cgroup = this.#cgroups.create(options.id, { ...limits, cpuQuotaUs: NO_CPU_QUOTA });
      mkdirSync(bundle, { mode: 0o711 });
      // gVisor checks uid 1051's permissions against the host file's owner and mode.
      await listenRuntimeApi(server, apiDir, SANDBOX_UID);

      const runtime = this.#runtimes.view(options.runtimeDir);
      const view: SandboxView = { taskRoot: '/var/task', runtimeDir: runtime.inside, optDir: '/opt', runtimeApi: SANDBOX_RUNTIME_API, snapshotDir: SANDBOX_SNAPSHOT_DIR };
      const launch = options.launch(view);
      // A stem cell runs a built-in runtime, and startCell checked the tree.
      const direct = codeDir === undefined || (launch.env['AWS_EXECUTION_ENV'] !== undefined && this.#runtimes.speaksSocket);
      // A stem cell's task root: a directory of its bundle, filled by bind().
      const taskHost = join(bundle, 'task');
      if (codeDir === undefined) mkdirSync(taskHost, { mode: 0o755 });
      const env: Record<string, string> = direct ? { ...launch.env, [RUNTIME_API_SOCKET_ENV]: SANDBOX_RUNTIME_API_SOCKET } : { ...launch.env };
      // runsc sets HOME when the environment has none (from /etc/passwd, else
      // "/"); Lambda has no HOME, so the first program removes it again.
      const args = direct ? [ENV_PATH, '-u', 'HOME', launch.command, ...launch.args] : ['/bin/sh', FORWARDER_PATH, launch.command, ...launch.args];
      const mounts: OciMount[] = [
        ...this.#mounts,
        { destination: '/tmp', type: 'tmpfs', source: 'tmpfs', options: ['nosuid', 'nodev', 'mode=1777', `size=${options.ephemeralStorage}m`] },
        roBind(codeDir !== undefined ? resolve(codeDir) : taskHost, '/var/task'),
        // The function's merged layers, read-only at /opt; else the root's empty /opt.
        ...(codeDir !== undefined && 'optDir' in options && options.optDir !== undefined ? [roBind(resolve(options.optDir), '/opt')] : []),
        roBind(runtime.host, '/var/runtime'),
        roBind(apiDir, dirname(SANDBOX_RUNTIME_API_SOCKET)),
        ...nodeDirs(launch.command).map((d) => roBind(d, d)),
      ];
      const spec = ociSpec({
        args,
        env: Object.entries(env).map(([k, v]) => `${k}=${v}`),
        rootfs: join(this.#root, 'rootfs'),
        mounts,
        cgroupsPath: cgroupsPathFor(this.#support.cgroups, this.#cgroupName, options.id),
        limits,
        nproc: this.#pidsMax,
      });
      // The bundle holds the environment: only root may read it (<root> is 0700).
      writeFileSync(join(bundle, 'config.json'), JSON.stringify(spec), { mode: 0o600 });
      const child = spawn(this.#support.runsc, [...this.#flags, 'run', '--bundle', bundle, options.id], {
        cwd: '/',
        // Never the sandbox's environment: a function's LD_PRELOAD must not reach runsc.
        env: { PATH: '/usr/bin:/bin' },
        stdio: ['ignore', 'pipe', 'pipe'],
      });
      const sandboxCgroup = cgroup;
      const exited = new Promise<SandboxExit>((resolveExit) => {
        child.once('exit', (code, signal) => resolveExit(toSandboxExit({ code, signal }, sandboxCgroup)));
        // spawn failed (ENOENT, EAGAIN): reported as an exit, like a process that could not start.
        child.once('error', () => resolveExit({ code: 127, signal: null }));
      });
      const parts: SandboxParts = {
        id: options.id,
        runsc: this.#support.runsc,
        flags: this.#flags,
        server,
        bundle,
        stateDir: join(this.#root, 'state'),
        cgroup,
        limits,
        cgroupName: this.#cgroupName,
      };
      const sandbox = codeDir !== undefined ? new GvisorSandbox(child, exited, parts) : new GvisorCell(child, exited, parts, taskHost);
      this.#live.add(sandbox);
      this.#oomWatch ??= setInterval(() => this.#checkOom(), OOM_WATCH_MS).unref();
      void sandbox.disposed.then(() => {
        this.#live.delete(sandbox);
        if (this.#live.size === 0) this.#stopOomWatch();
      });
      return sandbox;
    } catch (err) {
      server.close();
      await cgroup?.remove().catch(() => undefined);
      await rm(bundle, { recursive: true, force: true });
      throw err;
    }
  }

  #checkOom(): void {
    for (const sandbox of this.#live) sandbox.killIfOomKilled();
  }

  #stopOomWatch(): void {
    clearInterval(this.#oomWatch);
    this.#oomWatch = undefined;
  }

  /** Disposes what is still running, removes the parent cgroup and the backend's files. */
  close(): Promise<void> {
    this.#closed ??= (async () => {
      await Promise.all([...this.#live].map((s) => s.dispose()));
      this.#stopOomWatch();
      await this.#cgroups.close();
      removeRunscCgroups(this.#cgroupName, true);
      await rm(this.#root, { recursive: true, force: true });
    })();
    return this.#closed;
  }

}

/**
 * The host cgroup's pids.max for a sandbox whose function may have `nproc`
 * tasks. It must never be reached while the function stays within its
 * RLIMIT_NPROC: when the Sentry cannot create a host thread it panics
 * ("error initializing first thread: resource temporarily unavailable") and
 * the whole sandbox dies with exit status 2 — a fork bomb would get that
 * instead of EAGAIN. Host tasks per function task, measured with the ptrace
 * platform (runsc 20221219, 2 CPUs): a fork bomb held at 1,024 tasks used
 * 8,779 host tasks (stub processes, one stub thread per Sentry thread that
 * entered each address space, the Sentry's own threads); the Sentry and
 * gofer alone use ~110. So 12 per task plus 512: a backstop, not the limit.
 */
function hostPidsMax(nproc: number): number {
  return nproc * 12 + 512;
}

/** coreutils' env, inside the sandbox (host /usr): removes the HOME runsc adds. */
const ENV_PATH = '/usr/bin/env';

/** How often a gvisor backend reads its sandboxes' OOM kill counters (see GvisorBackend). */
const OOM_WATCH_MS = 100;

/** The Runtime API forwarder (see forwarderScript); it also removes the HOME runsc adds. */
const FORWARDER_SCRIPT = forwarderScript('unset HOME');

interface OciMount {
  readonly destination: string;
  readonly type: string;
  readonly source: string;
  readonly options?: readonly string[];
}

const roBind = (source: string, destination: string): OciMount => ({ destination, type: 'bind', source, options: ['rbind', 'ro', 'nosuid', 'nodev'] });

/**
 * The shared read-only root: the host's top-level symlinks (/bin -> usr/bin
 * on merged-/usr hosts; runsc cannot create them in a read-only root) and
 * empty mount points, /opt among them (Lambda's layers directory, empty).
 */
function buildRootfs(dir: string): void {
  mkdirSync(dir, { recursive: true, mode: 0o755 });
  for (const d of ['usr', 'etc', 'proc', 'dev', 'tmp', 'opt', 'var/task', 'var/runtime', SANDBOX_SNAPSHOT_DIR.slice(1), 'run/kindling']) mkdirSync(join(dir, d), { recursive: true, mode: 0o755 });
  for (const top of hostTopDirs()) {
    if (top.symlinkTo !== undefined) symlinkSync(top.symlinkTo, join(dir, top.path.slice(1)));
    else mkdirSync(join(dir, top.path.slice(1)), { mode: 0o755 });
  }
}

/** Mounts every sandbox has; `etc`: the sandboxes' /etc (writeSandboxEtc; none for the probe). */
function systemMounts(etc: string | undefined): OciMount[] {
  const mounts: OciMount[] = [
    { destination: '/proc', type: 'proc', source: 'proc' },
    { destination: '/dev', type: 'tmpfs', source: 'tmpfs', options: ['nosuid', 'mode=755'] },
    roBind('/usr', '/usr'),
  ];
  for (const top of hostTopDirs()) if (top.symlinkTo === undefined) mounts.push(roBind(top.path, top.path));
  if (etc !== undefined) mounts.push(roBind(etc, '/etc'));
  return mounts;
}

/** Kindling's syscall policy for the Sentry to enforce (see the class comment). */
const OCI_SECCOMP = ociSeccomp();

/** The OCI runtime spec of one sandbox. */
function ociSpec(o: {
  args: readonly string[];
  env: readonly string[];
  rootfs: string;
  mounts: readonly OciMount[];
  cgroupsPath: string | undefined;
  limits: CgroupLimits | undefined;
  /** RLIMIT_NPROC of the function's processes (undefined: runsc's default). */
  nproc?: number;
}): unknown {
  const noCaps = { bounding: [], effective: [], inheritable: [], permitted: [], ambient: [] };
  return {
    ociVersion: '1.0.2',
    process: {
      terminal: false,
      user: { uid: SANDBOX_UID, gid: SANDBOX_UID },
      args: o.args,
      env: o.env,
      cwd: '/var/task',
      capabilities: noCaps,
      noNewPrivileges: true,
      rlimits: [
        // Lambda's quota: 1,024 file descriptors.
        { type: 'RLIMIT_NOFILE', hard: 1024, soft: 1024 },
        // Lambda's quota of 1,024 processes/threads, enforced by the Sentry:
        // fork and clone fail with EAGAIN, as under the namespace backend's
        // pids cgroup. Left to the host cgroup alone, a fork bomb would take
        // the Sentry's own threads away (with the ptrace platform every task
        // is a host thread as well) and the Go runtime would crash:
        // runsc-sandbox exits 2 instead of the function seeing EAGAIN.
        ...(o.nproc !== undefined ? [{ type: 'RLIMIT_NPROC', hard: o.nproc, soft: o.nproc }] : []),
      ],
    },
    root: { path: o.rootfs, readonly: true },
    hostname: SANDBOX_HOSTNAME,
    mounts: o.mounts,
    linux: {
      namespaces: [{ type: 'pid' }, { type: 'network' }, { type: 'ipc' }, { type: 'uts' }, { type: 'mount' }],
      seccomp: OCI_SECCOMP,
      ...(o.cgroupsPath !== undefined ? { cgroupsPath: o.cgroupsPath } : {}),
      // Documentation of what the cgroup enforces: runsc finds the cgroup
      // already made (by cgroups.ts) and leaves its limits as they are.
      ...(o.limits !== undefined
        ? {
            resources: {
              memory: { limit: o.limits.memoryBytes, swap: o.limits.memoryBytes },
              cpu: { quota: o.limits.cpuQuotaUs, period: o.limits.cpuPeriodUs },
              pids: { limit: o.limits.pidsMax },
            },
          }
        : {}),
    },
  };
}

/**
 * linux.cgroupsPath naming the cgroup CgroupParent made for `id`. runsc
 * resolves a relative path under its own cgroup in each v1 hierarchy (as
 * CgroupParent does, under Kindling's — runsc is Kindling's child) and an
 * absolute one under the unified mount on v2 (CgroupParent: <mount>/<name>).
 */
function cgroupsPathFor(layout: CgroupLayout, name: string, id: string): string {
  return layout.version === 2 ? `/${name}/${id}` : `${name}/${id}`;
}

/** Why runsc's reading of cgroupsPathFor would not be CgroupParent's cgroup, or undefined when it is. */
function cgroupMismatch(layout: CgroupLayout, name: string, id: string, cgroup: SandboxCgroup): string | undefined {
  const ours = cgroup.procsFiles.map((f) => dirname(f));
  const own = ownCgroupPaths();
  const runscDirs = new Set<string>();
  if (layout.version === 2) {
    runscDirs.add(join('/sys/fs/cgroup', name, id));
  } else {
    for (const c of ['memory', 'cpu', 'pids']) runscDirs.add(join('/sys/fs/cgroup', c, own.get(c) ?? '/', name, id));
  }
  const missing = ours.filter((d) => !runscDirs.has(d) && ![...runscDirs].some((r) => existsSync(r) && safeRealpath(r) === safeRealpath(d)));
  return missing.length === 0 ? undefined : `${missing.join(', ')} is not where runsc looks (${[...runscDirs].join(', ')})`;
}

function safeRealpath(p: string): string {
  try {
    return realpathSync(p);
  } catch {
    return p;
  }
}

/**
 * runsc creates the v1 hierarchies Kindling does not manage (cpuset,
 * devices, freezer, blkio, name=systemd, ...) at <own cgroup>/<name>/<id>
 * and removes only the leaf. Removes the empty leaves a killed runsc left
 * and, with `parentToo`, <name> itself.
 */
function removeRunscCgroups(name: string, parentToo: boolean): void {
  const own = ownCgroupPaths();
  let all: Mount[];
  try {
    all = mounts();
  } catch {
    return;
  }
  for (const { fstype, point, superOptions: keys } of all) {
    if (fstype !== 'cgroup') continue;
    const key = keys.find((k) => own.has(k));
    if (key === undefined || ['memory', 'cpu', 'pids'].some((c) => keys.includes(c))) continue;
    const parent = join(point, own.get(key) ?? '/', name);
    try {
      for (const e of readdirSync(parent, { withFileTypes: true })) if (e.isDirectory()) rmdirSync(join(parent, e.name));
      if (parentToo) rmdirSync(parent);
    } catch {
      // absent, or still busy (a sandbox outlived its backend)
    }
  }
}

interface SandboxParts {
  readonly id: string;
  readonly runsc: string;
  readonly flags: readonly string[];
  readonly server: Server;
  readonly bundle: string;
  readonly stateDir: string;
  readonly cgroup: SandboxCgroup;
  readonly limits: CgroupLimits;
  readonly cgroupName: string;
}

/** Runs `runsc <flags> <args>` to its end; never rejects. */
function runscQuiet(runsc: string, args: readonly string[]): Promise<void> {
  return new Promise((done) => {
    const c = spawn(runsc, args, { cwd: '/', env: { PATH: '/usr/bin:/bin' }, stdio: 'ignore' });
    c.once('error', () => done());
    c.once('exit', () => done());
  });
}

class GvisorSandbox implements SandboxProcess {
  readonly pid: number;
  readonly stdout: Readable;
  readonly stderr: Readable;
  readonly exited: Promise<SandboxExit>;
  readonly disposed: Promise<void>;
  readonly #child: ChildProcess;
  readonly #p: SandboxParts;
  #resolveDisposed!: () => void;
  #dispose: Promise<void> | undefined;
  #initDone = false;
  #gone = false;
  #killed = false;

  constructor(child: ChildProcess, exited: Promise<SandboxExit>, parts: SandboxParts) {
    this.#child = child;
    this.pid = child.pid ?? 0;
    this.stdout = child.stdout as Readable;
    this.stderr = child.stderr as Readable;
    this.exited = exited;
    this.#p = parts;
    this.disposed = new Promise((r) => (this.#resolveDisposed = r));
  }

  /**
   * SIGKILLs the Sentry and the gofer (every process of the sandbox's
   * cgroup: the function's processes exist only inside the Sentry) and
   * `runsc run`. That is immediate and needs no runsc state lock, which
   * `runsc kill` would (and it fails while runsc is still creating the
   * container); dispose() then runs `runsc delete -force` for the state.
   */
  kill(): void {
    if (this.#gone) return;
    this.#killed = true;
    this.#p.cgroup.killAll();
    try {
      this.#child.kill('SIGKILL');
    } catch {
      // already gone
    }
  }

  /**
   * Kills the whole sandbox once its cgroup has seen an OOM kill: the host's
   * OOM killer took one of its processes, which may leave the Sentry
   * running but stuck (see GvisorBackend).
   */
  killIfOomKilled(): void {
    if (this.#gone || this.#killed) return;
    if (this.#p.cgroup.oomKills() > 0) this.kill();
  }

  /** Applies the CPU quota proportional to MemorySize (init ran without one, as on Lambda). */
  initDone(): void {
    if (this.#initDone || this.#gone) return;
    this.#initDone = true;
    try {
      this.#p.cgroup.setCpuQuota(this.#p.limits.cpuQuotaUs, this.#p.limits.cpuPeriodUs);
    } catch {
      // the cgroup is being removed (the sandbox died): nothing to limit
    }
  }

  /** The cgroup's peak: the function, its /tmp and gVisor's own Sentry and gofer. */
  peakMemoryBytes(): number | undefined {
    if (this.#gone) return undefined;
    return this.#p.cgroup.peakBytes();
  }

  dispose(): Promise<void> {
    this.#dispose ??= (async () => {
      const p = this.#p;
      try {
        if (!this.#killed) {
          // The polite way first: runsc kills the container's processes and
          // runsc run exits with 128+9 and deletes the container itself.
          await runscQuiet(p.runsc, [...p.flags, 'kill', p.id, 'KILL']);
        }
        this.kill();
        await this.exited;
        // The state of a runsc run that was killed itself; "does not exist" otherwise.
        await runscQuiet(p.runsc, [...p.flags, 'delete', '-force', p.id]);
        await p.cgroup.remove();
        removeRunscLeaves(p.cgroupName, p.id);
      } finally {
        this.#gone = true;
        p.server.close();
        p.server.closeAllConnections();
        await rm(p.bundle, { recursive: true, force: true });
        // runsc keeps <id>_sandbox:<id>.state (and its lock) in --root.
        for (const f of safeReaddir(p.stateDir)) if (f.includes(p.id)) await rm(join(p.stateDir, f), { recursive: true, force: true });
        this.#resolveDisposed();
      }
    })();
    return this.#dispose;
  }
}

function safeReaddir(dir: string): string[] {
  try {
    return readdirSync(dir);
  } catch {
    return [];
  }
}

/** The leaves of one sandbox in the hierarchies runsc made itself (normally gone already after delete). */
function removeRunscLeaves(name: string, id: string): void {
  const own = ownCgroupPaths();
  for (const [key, path] of own) {
    if (['memory', 'cpu', 'pids', ''].includes(key)) continue;
    const mountName = key.startsWith('name=') ? key.slice(5) : key;
    try {
      rmdirSync(join('/sys/fs/cgroup', mountName, path, name, id));
    } catch {
      // gone, or not mounted there
    }
  }
}

/**
 * A stem cell of the gvisor backend. gVisor's gofer serves each mount from
 * the host directory it opened when the sandbox started, so a mount made on
 * the host later would not show inside; the directory's contents do (bind
 * mounts other than the root are revalidated against the host:
 * --file-access-mounts=shared, runsc's default). So bind() fills the
 * cell's own task directory with the code: hard links where the code lies
 * on the same filesystem (the files themselves, shared read-only, as the
 * code directory is), else a copy. It costs a link (or a copy) per file,
 * where the namespace backend's bind costs the same for any code.
 */
class GvisorCell extends GvisorSandbox implements CellProcess {
  readonly #taskHost: string;
  #bound = false;

  constructor(child: ChildProcess, exited: Promise<SandboxExit>, parts: SandboxParts, taskHost: string) {
    super(child, exited, parts);
    this.#taskHost = taskHost;
  }

  async bind(codeDir: string): Promise<void> {
    if (this.#bound) throw new Error('a stem cell is bound once');
    this.#bound = true;
    const dir = resolve(codeDir);
    // -l: hard links (only within one filesystem: decided up front, since a
    // copy over links a failed attempt left would write into the code's own
    // files); -a: modes, times and the tree as it is (symlinks as symlinks).
    const link = statSync(dir).dev === statSync(this.#taskHost).dev;
    const code = await runQuiet('cp', ['-a', ...(link ? ['-l'] : []), '--', `${dir}/.`, this.#taskHost]);
    if (code !== 0) throw new Error(`the code of ${dir} could not be ${link ? 'linked' : 'copied'} into the stem cell (cp exited ${code})`);
  }
}

/** Runs a program to its end with a bare environment; resolves with its exit code (-1: could not run). */
function runQuiet(command: string, args: readonly string[]): Promise<number> {
  return new Promise((done) => {
    const c = spawn(command, args, { cwd: '/', env: { PATH: '/usr/bin:/bin' }, stdio: 'ignore' });
    c.once('error', () => done(-1));
    c.once('close', (code) => done(code ?? -1));
  });
}
