import { spawn, spawnSync } from 'node:child_process';
import { accessSync, constants as fsConstants } from 'node:fs';
import { chmod, mkdir, rm, symlink } from 'node:fs/promises';
import type { Server } from 'node:http';
import { createServer as createNetServer } from 'node:net';
import type { AddressInfo, Server as NetServer } from 'node:net';
import { tmpdir } from 'node:os';
import { delimiter, join, resolve } from 'node:path';
import type { Readable } from 'node:stream';
import { listen } from '../../shared/listen.js';
import { RereadFile } from '../../shared/reread-file.js';
import type { CellProcess, CellStartOptions, SandboxBackend, SandboxExit, SandboxProcess, SandboxStartOptions } from './backend.js';
import { RUNTIME_API_SOCKET_ENV, speaksRuntimeApiSocket } from './sandbox-root.js';

/** Longest unix socket path that fits sockaddr_un (108 bytes with its NUL) on Linux, with room to spare. */
const MAX_SOCKET_PATH = 100;

/** Options of the process backend. */
export interface ProcessBackendOptions {
  /** Directory under which each sandbox gets its private directory. Default: <os tmpdir>/kindling-sandboxes. */
  readonly root?: string;
  /**
   * Wrap the sandbox in `setpriv --pdeathsig KILL --` when setpriv exists
   * (default true). See ProcessBackend.
   */
  readonly parentDeathSignal?: boolean;
}

/**
 * The `process` backend: a sandbox is a child process, with no isolation
 * beyond a cleared environment. For development on any Linux/macOS host, and
 * the baseline the namespace and gvisor backends are measured against.
 *
 * - Environment: exactly what the worker passes plus TMPDIR (this backend has
 *   no mount namespace, so the sandbox's "/tmp" is a private directory named
 *   by TMPDIR, removed on dispose). Nothing of the host's environment leaks:
 *   NODE_EXTRA_CA_CERTS in particular would add ~40 ms to every node start.
 * - Process tree: spawned detached, in its own process group, so kill()
 *   SIGKILLs the group. A descendant that calls setsid() leaves the group and
 *   escapes kill(); only a pid namespace (the namespace backend) closes that.
 * - Platform crash: when `setpriv` (util-linux) is on PATH the command runs
 *   under `setpriv --pdeathsig KILL --`, so the kernel SIGKILLs the sandbox's
 *   main process if the worker dies, even by kill -9. setpriv execs the
 *   command (same pid) and costs well under 1 ms per start (measured: ~0.7 ms
 *   per spawn+exec). The death signal reaches the main process only; its own
 *   children are orphaned if they outlive it (again: pid namespaces fix this).
 * - Runtime API: the worker's server listens on 127.0.0.1:<ephemeral port>
 *   (AWS_LAMBDA_RUNTIME_API), and, for Kindling's built-in runtimes, on
 *   <private dir>/runtime-api.sock too (mode 0600), named to the runtime by
 *   _KINDLING_RUNTIME_API_SOCKET as on the namespace backend: a unix socket
 *   costs both sides less per invoke than TCP over loopback. Any local
 *   process can reach the TCP port; the namespace backend has no port.
 * - Stem cells: a cell's task root is <private dir>/task, which bind() makes
 *   a symlink to the code (there is no mount namespace to bind into); its
 *   runtime enters it once assigned. So LAMBDA_TASK_ROOT names that link
 *   where a sandbox started for the function names the code directory itself.
 * - Peak memory: VmHWM of the main process (/proc/<pid>/status), so it does
 *   not count the main process's children (a bootstrap script's curl, say).
 *   On hosts without /proc it is undefined.
 */
export class ProcessBackend implements SandboxBackend {
  readonly name = 'process';
  /** The runtime's startup snapshots: a sandbox reads them where they are. */
  readonly snapshotDir: string;
  readonly #root: string;
  readonly #wantPdeathsig: boolean;
  #setpriv: string | null | undefined;
  /** Runtime directory → whether its code connects to RUNTIME_API_SOCKET_ENV (read once). */
  readonly #speaksSocket = new Map<string, boolean>();

  constructor(options: ProcessBackendOptions = {}) {
    this.#root = options.root ?? join(tmpdir(), 'kindling-sandboxes');
    this.snapshotDir = join(this.#root, 'snapshots');
    this.#wantPdeathsig = options.parentDeathSignal ?? true;
  }

  start(options: SandboxStartOptions): Promise<SandboxProcess> {
    return this.#start(options, options.codeDir);
  }

  /** Starts a stem cell (see the class comment). */
  async startCell(options: CellStartOptions): Promise<CellProcess> {
    return (await this.#start(options, undefined)) as ProcessCell;
  }

  /** A sandbox in `codeDir`, or a stem cell when it is undefined. */
  async #start(options: SandboxStartOptions | CellStartOptions, codeDir: string | undefined): Promise<ProcessSandbox> {
    const dir = join(this.#root, options.id);
    const tmp = join(dir, 'tmp');
    await mkdir(tmp, { recursive: true, mode: 0o700 });
    const server = options.runtimeApi;
    let unix: NetServer | undefined;
    try {
      await listen(server, 0, '127.0.0.1');
      const port = (server.address() as AddressInfo).port;
      const taskRoot = codeDir ?? join(dir, 'task');
      // No mount namespace: /opt cannot be shown where Lambda has it. The
      // merged layers directory is shown where it is on the host instead
      // (NODE_PATH, PATH, LD_LIBRARY_PATH and the bootstrap name it), and it
      // is not read-only to the function: the process backend isolates nothing.
      const optDir = codeDir !== undefined && 'optDir' in options ? options.optDir : undefined;
      const launch = options.launch({
        taskRoot,
        runtimeDir: options.runtimeDir,
        optDir,
        runtimeApi: `127.0.0.1:${port}`,
        snapshotDir: this.snapshotDir,
      });
      const env: Record<string, string> = { ...launch.env, TMPDIR: tmp };
      // A stem cell always runs the built-in runtime; a sandbox does when its launch is a managed runtime's.
      const managed = codeDir === undefined || launch.env['AWS_EXECUTION_ENV'] !== undefined;
      const socket = join(dir, 'runtime-api.sock');
      if (managed && socket.length <= MAX_SOCKET_PATH && this.#runtimeSpeaksSocket(options.runtimeDir)) {
        unix = await listenUnix(server, socket);
        env[RUNTIME_API_SOCKET_ENV] = socket;
      }
      const setpriv = this.#wantPdeathsig ? this.#findSetpriv() : null;
      const [command, args] = setpriv
        ? [setpriv, ['--pdeathsig', 'KILL', '--', launch.command, ...launch.args]]
        : [launch.command, [...launch.args]];
      const child = spawn(command, args, {
        cwd: codeDir ?? dir,
        env,
        detached: true,
        stdio: ['ignore', 'pipe', 'pipe'],
      });
      // spawn() reports an unexecutable command asynchronously: wait for
      // 'spawn' or 'error' so start() can reject instead of handing out a
      // sandbox without a pid.
      await new Promise<void>((resolve, reject) => {
        child.once('spawn', resolve);
        child.once('error', reject);
      });
      const pid = child.pid;
      if (pid === undefined || !child.stdout || !child.stderr) throw new Error('sandbox process has no pid');
      const exited = new Promise<SandboxExit>((resolve) => {
        child.once('exit', (code, signal) => resolve({ code, signal }));
      });
      const servers = { http: server, unix };
      return codeDir !== undefined
        ? new ProcessSandbox(pid, child.stdout, child.stderr, exited, servers, dir)
        : new ProcessCell(pid, child.stdout, child.stderr, exited, servers, dir, taskRoot);
    } catch (err) {
      server.close();
      unix?.close();
      await rm(dir, { recursive: true, force: true });
      throw err;
    }
  }

  #runtimeSpeaksSocket(runtimeDir: string): boolean {
    let known = this.#speaksSocket.get(runtimeDir);
    if (known === undefined) {
      try {
        known = speaksRuntimeApiSocket(runtimeDir);
      } catch {
        known = false; // unreadable: the runtime gets the TCP port only
      }
      this.#speaksSocket.set(runtimeDir, known);
    }
    return known;
  }

  /** Finds setpriv once and checks it knows --pdeathsig (util-linux >= 2.33). */
  #findSetpriv(): string | null {
    if (this.#setpriv !== undefined) return this.#setpriv;
    this.#setpriv = null;
    for (const dir of (process.env['PATH'] ?? '/usr/bin:/bin').split(delimiter)) {
      const candidate = join(dir, 'setpriv');
      try {
        accessSync(candidate, fsConstants.X_OK);
      } catch {
        continue;
      }
      const probe = spawnSync(candidate, ['--pdeathsig', 'KILL', '--', 'true'], { stdio: 'ignore', env: {} });
      if (probe.status === 0) this.#setpriv = candidate;
      break;
    }
    return this.#setpriv;
  }
}

/**
 * Serves the Runtime API `server` on the unix socket `path` too: each
 * connection is handed to the HTTP server as one of its own (upgrades and
 * closeAllConnections included). Only the owner (the platform's uid) may connect.
 */
async function listenUnix(server: Server, path: string): Promise<NetServer> {
  const unix = createNetServer((socket) => server.emit('connection', socket));
  await listen(unix, path);
  await chmod(path, 0o600);
  return unix;
}

/** The Runtime API's listeners of one sandbox. */
interface RuntimeApiServers {
  readonly http: Server;
  readonly unix: NetServer | undefined;
}

class ProcessSandbox implements SandboxProcess {
  readonly pid: number;
  readonly stdout: Readable;
  readonly stderr: Readable;
  readonly exited: Promise<SandboxExit>;
  readonly #servers: RuntimeApiServers;
  readonly #dir: string;
  #gone = false;
  readonly #status: RereadFile;
  #disposed: Promise<void> | undefined;

  constructor(
    pid: number,
    stdout: Readable,
    stderr: Readable,
    exited: Promise<SandboxExit>,
    servers: RuntimeApiServers,
    dir: string,
  ) {
    this.pid = pid;
    this.stdout = stdout;
    this.stderr = stderr;
    this.exited = exited;
    this.#servers = servers;
    this.#dir = dir;
    this.#status = new RereadFile(`/proc/${pid}/status`);
    void exited.then(() => {
      this.#gone = true;
      this.#status.close();
    });
  }

  kill(): void {
    // The negative pid addresses the process group the sandbox leads
    // (detached: true made it a group leader). The group outlives its leader
    // while any member lives, so this also reaches children of a main process
    // that has already exited.
    try {
      process.kill(-this.pid, 'SIGKILL');
    } catch {
      // ESRCH: the whole group is already gone.
    }
  }

  peakMemoryBytes(): number | undefined {
    if (this.#gone) return undefined;
    const text = this.#status.read() ?? '';
    const at = text.indexOf('VmHWM:');
    const kb = at < 0 ? NaN : parseInt(text.slice(at + 6), 10);
    return Number.isFinite(kb) ? kb * 1024 : undefined;
  }

  dispose(): Promise<void> {
    this.#disposed ??= (async () => {
      this.kill();
      await this.exited;
      // A second kill after the leader is reaped catches children it forked
      // between the first kill and its death (the group id is still theirs).
      this.kill();
      this.#status.close();
      this.#servers.http.close();
      this.#servers.unix?.close();
      // Ends parked /invocation/next long-polls and idle keep-alive sockets (on either listener).
      this.#servers.http.closeAllConnections();
      await rm(this.#dir, { recursive: true, force: true });
    })();
    return this.#disposed;
  }

}

/** A stem cell of the process backend: its task root becomes a symlink to the code. */
class ProcessCell extends ProcessSandbox implements CellProcess {
  readonly #taskRoot: string;
  #bound = false;

  constructor(pid: number, stdout: Readable, stderr: Readable, exited: Promise<SandboxExit>, servers: RuntimeApiServers, dir: string, taskRoot: string) {
    super(pid, stdout, stderr, exited, servers, dir);
    this.#taskRoot = taskRoot;
  }

  async bind(codeDir: string): Promise<void> {
    if (this.#bound) throw new Error('a stem cell is bound once');
    this.#bound = true;
    await symlink(resolve(codeDir), this.#taskRoot);
  }
}
