/**
 * The sandbox's view of the world, shared by the isolating backends
 * (namespace and gvisor): Lambda's paths and user, the read-only root built
 * from the host's /usr, the /etc pieces programs need, the private /etc files
 * naming sbx_user1051, the Runtime API socket and its TCP forwarder, and the
 * prepared copy of the runtime tree. Each backend turns these into its own
 * mount syntax (bwrap arguments, OCI mounts); what differs between them stays
 * in the backend.
 */
import { chmodSync, chownSync, cpSync, existsSync, lstatSync, mkdirSync, readFileSync, readdirSync, readlinkSync, realpathSync, writeFileSync } from 'node:fs';
import type { Stats } from 'node:fs';
import { constants as osConstants } from 'node:os';
import type { Server } from 'node:http';
import { dirname, join, relative, resolve, sep } from 'node:path';
import { fileURLToPath } from 'node:url';
import { listen } from '../../shared/listen.js';
import type { SandboxExit } from './backend.js';
import type { SandboxCgroup } from './cgroups.js';

/** Where the Runtime API socket appears inside every sandbox. */
export const SANDBOX_RUNTIME_API_SOCKET = '/run/kindling/runtime-api.sock';
/**
 * The variable naming SANDBOX_RUNTIME_API_SOCKET in the sandbox's
 * environment. Kindling's built-in runtimes connect to it directly; custom
 * runtimes use AWS_LAMBDA_RUNTIME_API, served by a forwarder.
 */
export const RUNTIME_API_SOCKET_ENV = '_KINDLING_RUNTIME_API_SOCKET';
/** AWS_LAMBDA_RUNTIME_API inside a sandbox, as on Lambda. */
export const SANDBOX_RUNTIME_API = '127.0.0.1:9001';
/** Lambda's sandbox user, sbx_user1051. */
export const SANDBOX_UID = 1051;
/** Where a sandbox sees its backend's snapshotDir (the runtime's startup snapshots, ../runtime-snapshots.ts), read-only. */
export const SANDBOX_SNAPSHOT_DIR = '/var/runtime-snapshots';
/** The sandbox's hostname (its own uts namespace). */
export const SANDBOX_HOSTNAME = 'localhost';

/** The built-in runtimes' tree (dist/src/runtime), found from this file's place (dist/src/worker/sandbox). */
export const DEFAULT_RUNTIME_ROOT = fileURLToPath(new URL('../../runtime/', import.meta.url));

/** Where the forwarder script is bound inside every sandbox. */
export const FORWARDER_PATH = '/etc/kindling/forward-runtime-api.sh';

/**
 * Sandbox side, for runtimes that speak HTTP to 127.0.0.1:9001: start socat
 * relaying that port to the Runtime API socket, wait until it listens (read
 * from /proc/net/tcp without forking: 0100007F:2329 is 127.0.0.1:9001, 0A is
 * LISTEN), then exec the runtime. socat stays a child of the runtime and dies
 * with the sandbox's pid namespace. `prelude`: shell lines a backend needs
 * first (gvisor: `unset HOME`, which runsc adds and Lambda does not have).
 */
export function forwarderScript(prelude = ''): string {
  return `${prelude === '' ? '' : `${prelude}\n`}socat TCP-LISTEN:9001,bind=127.0.0.1,reuseaddr,fork UNIX-CONNECT:${SANDBOX_RUNTIME_API_SOCKET} </dev/null &
n=0; up=
while [ -z "$up" ]; do
  while read -r _ a _ s _; do [ "$a $s" = "0100007F:2329 0A" ] && up=1; done </proc/net/tcp
  [ -n "$up" ] && break
  kill -0 $! 2>/dev/null || { echo "kindling: the Runtime API forwarder (socat) exited" >&2; exit 125; }
  n=$((n+1)); [ $n -lt 100000 ] || { echo "kindling: the Runtime API forwarder (socat) did not start listening" >&2; exit 125; }
done
exec "$@"`;
}

/**
 * What programs read from the host's /etc, copied into the sandboxes' /etc
 * where the host has it: the dynamic linker's cache (multiarch library
 * paths), Debian's alternatives symlinks, CA certificates, NSS
 * configuration, the OS release. Never passwd, group or shadow (see
 * writeSandboxEtc).
 */
export const HOST_ETC: readonly string[] = ['/etc/ld.so.cache', '/etc/ld.so.conf', '/etc/ld.so.conf.d', '/etc/alternatives', '/etc/ssl', '/etc/ca-certificates', '/etc/pki', '/etc/nsswitch.conf', '/etc/os-release'];

/**
 * Whether `st` is copied into the sandboxes' /etc: a symlink, or a file or
 * directory other users may read (and search): the sandbox's uid sees
 * nothing else of the host. Sockets, FIFOs and devices never.
 */
function copiedToSandboxEtc(st: Stats): boolean {
  if (st.isSymbolicLink()) return true;
  if (!st.isFile() && !st.isDirectory()) return false;
  return (st.mode & 0o004) !== 0 && (!st.isDirectory() || (st.mode & 0o001) !== 0);
}

/**
 * Makes `dir` a sandbox's whole /etc, bound read-only as one directory
 * (one mount instead of one per file: about a millisecond of every cold
 * start). It holds:
 * - the sandbox's own files: Lambda's user sbx_user1051 (never the host's
 *   passwd or group), localhost, the Runtime API forwarder script, and
 *   `extra` (name → text, e.g. an 'internet' sandbox's resolv.conf);
 * - copies of HOST_ETC as the host has them when the backend starts (what
 *   other users may read of them; symlinks inside them as they are,
 *   resolved inside the sandbox, where /usr is the host's; an entry that is
 *   itself a symlink into /etc, such as nsswitch.conf under authselect, is
 *   copied as what it points to). Like a Lambda runtime image, they change
 *   when the platform starts again, not while it runs. One that cannot be
 *   copied is left out, with a line on stderr.
 */
export function writeSandboxEtc(dir: string, forwarder: string, extra: Readonly<Record<string, string>> = {}): void {
  mkdirSync(dir, { recursive: true, mode: 0o755 });
  chmodSync(dir, 0o755);
  for (const host of HOST_ETC) {
    let source = host;
    try {
      // A link into /etc would dangle in the sandbox, where only these copies are.
      if (lstatSync(host).isSymbolicLink() && realpathSync(host).startsWith('/etc/')) source = realpathSync(host);
    } catch {
      continue; // not on this host, or a dangling link
    }
    try {
      if (!copiedToSandboxEtc(lstatSync(source))) continue;
      cpSync(source, join(dir, relative('/etc', host)), {
        recursive: true,
        verbatimSymlinks: true,
        filter: (src) => {
          try {
            return copiedToSandboxEtc(lstatSync(src));
          } catch {
            return false; // removed meanwhile
          }
        },
      });
    } catch (err) {
      console.error(`kindling: sandboxes get no ${host}: ${(err as Error).message}`);
    }
  }
  const files: Record<string, string> = {
    passwd: `root:x:0:0:root:/root:/sbin/nologin\nsbx_user1051:x:${SANDBOX_UID}:${SANDBOX_UID}::/home/sbx_user1051:/sbin/nologin\nnobody:x:65534:65534:nobody:/:/sbin/nologin\n`,
    group: `root:x:0:\nsbx_user1051:x:${SANDBOX_UID}:\nnobody:x:65534:\n`,
    hosts: `127.0.0.1\tlocalhost\n::1\tlocalhost\n`,
    [relative('/etc', FORWARDER_PATH)]: `${forwarder}\n`,
    ...extra,
  };
  for (const [name, text] of Object.entries(files)) {
    const path = join(dir, name);
    mkdirSync(dirname(path), { recursive: true, mode: 0o755 });
    chmodSync(dirname(path), 0o755);
    writeFileSync(path, text);
    chmodSync(path, 0o644); // whatever the umask
  }
}

/** One of the host's top-level library/program directories. */
export interface TopDir {
  /** /bin, /lib64, ... */
  readonly path: string;
  /** Its target when it is a symlink (merged-/usr hosts: usr/bin); undefined when it is a directory to bind. */
  readonly symlinkTo: string | undefined;
}

/**
 * /bin, /sbin, /lib, /lib32, /lib64, /libx32 as this host has them:
 * merged-/usr hosts have them as symlinks into /usr (recreated in the
 * sandbox), older ones as directories (bound read-only). Absent ones are left out.
 */
export function hostTopDirs(): TopDir[] {
  const out: TopDir[] = [];
  for (const path of ['/bin', '/sbin', '/lib', '/lib32', '/lib64', '/libx32']) {
    try {
      const st = lstatSync(path);
      if (st.isSymbolicLink()) out.push({ path, symlinkTo: readlinkSync(path) });
      else if (st.isDirectory()) out.push({ path, symlinkTo: undefined });
    } catch {
      // not on this host
    }
  }
  return out;
}

/**
 * The host directories to bind for a command that lives outside /usr (a node
 * installed in /opt/node, say): the command's directory and, when that is a
 * symlink elsewhere, its target too. None for commands inside the sandbox's
 * own trees (/var/task, /var/runtime, a layer's /opt/bootstrap) or under /usr.
 */
export function nodeDirs(command: string): string[] {
  // /opt/bootstrap is a layer's (the sandbox's /opt), never a host directory.
  if (!command.startsWith('/') || command.startsWith('/var/task/') || command.startsWith('/var/runtime/') || command === '/opt/bootstrap' || command === '/bin/sh') return [];
  let real: string;
  try {
    real = realpathSync(dirname(command));
  } catch {
    return [];
  }
  if (real === '/usr' || real.startsWith('/usr/')) return [];
  const d = dirname(command);
  return real === d ? [d] : [d, real];
}

/**
 * The runtime trees shown at /var/runtime. The host runtime root is copied
 * once into the backend root (readable by every sandbox uid, test files left
 * out, with a package.json marking it ESM, which dist/ lacks) and bound at
 * /var/runtime; a runtimeDir below the root is shown at /var/runtime/<its
 * path below the root>, one outside it is copied too and shown at
 * /var/runtime itself.
 */
export class RuntimeTrees {
  readonly #backendRoot: string;
  readonly #runtimeRoot: string;
  /** Host runtime root → its prepared copy. */
  readonly #copies = new Map<string, string>();
  /**
   * Whether the runtime root's code knows RUNTIME_API_SOCKET_ENV (checked
   * once, in the copy): Kindling's managed runtimes then connect to the
   * socket directly and need no forwarder.
   */
  readonly speaksSocket: boolean;

  constructor(backendRoot: string, runtimeRoot: string) {
    this.#backendRoot = backendRoot;
    this.#runtimeRoot = resolve(runtimeRoot);
    this.speaksSocket = speaksRuntimeApiSocket(this.#prepare(this.#runtimeRoot));
  }

  /** Where `runtimeDir` is on the host (the prepared copy to bind at /var/runtime) and in the sandbox. */
  view(runtimeDir: string): { host: string; inside: string } {
    const dir = resolve(runtimeDir);
    const rel = relative(this.#runtimeRoot, dir);
    if (rel === '' || (!rel.startsWith('..') && !rel.startsWith(sep))) {
      return { host: this.#prepare(this.#runtimeRoot), inside: rel === '' ? '/var/runtime' : `/var/runtime/${rel.split(sep).join('/')}` };
    }
    return { host: this.#prepare(dir), inside: '/var/runtime' };
  }

  #prepare(hostRoot: string): string {
    const known = this.#copies.get(hostRoot);
    if (known !== undefined) return known;
    const copy = join(this.#backendRoot, `runtime-${this.#copies.size}`);
    cpSync(hostRoot, copy, { recursive: true, dereference: true, filter: (src) => !src.endsWith('.test.js') && !src.endsWith('.test.js.map') });
    makeReadable(copy);
    // The runtime's modules are CommonJS (src/runtime/tsconfig.json); the
    // build puts a package.json saying so beside them, and a tree without
    // one gets it here, as it would read the same on the host (where
    // Kindling's own package.json says "module") and in a sandbox.
    if (!existsSync(join(copy, 'package.json'))) writeFileSync(join(copy, 'package.json'), '{"type":"commonjs"}\n', { mode: 0o644 });
    this.#copies.set(hostRoot, copy);
    return copy;
  }
}

/**
 * Makes `dir` (new, mode 0711) and has the sandbox's Runtime API `server`
 * listen on <dir>/runtime-api.sock, owned by `uid` (when given) with mode
 * 0600: only that uid and root can connect. The directory is bound at
 * dirname(SANDBOX_RUNTIME_API_SOCKET) inside the sandbox.
 */
export async function listenRuntimeApi(server: Server, dir: string, uid: number | undefined): Promise<void> {
  mkdirSync(dir, { mode: 0o711 });
  chmodSync(dir, 0o711);
  const socket = join(dir, 'runtime-api.sock');
  await listen(server, socket);
  if (uid !== undefined) chownSync(socket, uid, uid);
  chmodSync(socket, 0o600);
}

/** Signal numbers to names (os.constants.signals reversed). */
const SIGNAL_NAMES = new Map<number, NodeJS.Signals>(Object.entries(osConstants.signals).map(([name, n]) => [n, name as NodeJS.Signals]));

/**
 * A container runtime's exit to the sandbox's: bwrap (propagate_exit_status)
 * and runsc both report a command killed by signal N as exit 128+N, so exits
 * above 128 that name a signal are reported as that signal (an OOM kill is
 * `signal: killed`, as on Lambda).
 *
 * With `cgroup`, any other failed exit of a sandbox whose cgroup saw an OOM
 * kill is reported as `signal: killed` too. The host's OOM killer takes
 * whichever process of the cgroup it chooses: for gVisor, when that is a
 * gofer or a platform stub rather than the Sentry, the Sentry exits with
 * status 2, which alone would read as the function's own exit. Only the
 * gvisor backend passes it: there the function's memory is all the
 * Sentry's, so any OOM kill ends the sandbox. Under `namespace` a function
 * may outlive a child process of its own killed over the limit, and its
 * exit code is then its own.
 */
export function toSandboxExit(raw: { code: number | null; signal: NodeJS.Signals | null }, cgroup?: Pick<SandboxCgroup, 'oomKills'>): SandboxExit {
  if (raw.signal !== null) return { code: null, signal: raw.signal };
  const code = raw.code ?? 0;
  const signal = code > 128 ? SIGNAL_NAMES.get(code - 128) : undefined;
  if (signal !== undefined) return { code: null, signal };
  if (code !== 0 && cgroup !== undefined && cgroup.oomKills() > 0) return { code: null, signal: 'SIGKILL' };
  return { code, signal: null };
}

function makeReadable(path: string): void {
  const st = lstatSync(path);
  if (st.isSymbolicLink()) return;
  if (st.isDirectory()) {
    chmodSync(path, 0o755);
    for (const name of readdirSync(path)) makeReadable(join(path, name));
  } else {
    chmodSync(path, (st.mode & 0o111) !== 0 ? 0o755 : 0o644);
  }
}

/** Whether the runtime code in `dir` knows RUNTIME_API_SOCKET_ENV (Kindling's built-in runtimes do). */
export function speaksRuntimeApiSocket(dir: string): boolean {
  return treeMentions(dir, RUNTIME_API_SOCKET_ENV);
}

function treeMentions(dir: string, text: string): boolean {
  for (const e of readdirSync(dir, { withFileTypes: true })) {
    const p = join(dir, e.name);
    if (e.isDirectory()) {
      if (treeMentions(p, text)) return true;
    } else if (e.name.endsWith('.js') && readFileSync(p, 'utf8').includes(text)) {
      return true;
    }
  }
  return false;
}
