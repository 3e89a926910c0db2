/**
 * Startup snapshots of the built-in Node.js runtime, built by the worker and
 * used by every sandbox whose node command line they were built for.
 *
 * A sandbox's node runs with V8 flags (Lambda's bootstrap: --expose-gc and
 * heap limits from MemorySize), and any V8 flag makes V8 refuse the code
 * cache node ships for its built-in modules: each sandbox then compiled
 * node's net, stream, fs, ... from source before the runtime could connect.
 * A snapshot built with the same flags (src/runtime/nodejs/snapshot.ts)
 * holds them compiled, with the runtime's own modules; a node started from
 * it restores that heap. Measured in bench/RESULTS.md ("2026-12-04").
 *
 * One blob per node command line (the flags depend on MemorySize only) and
 * per runtime directory as the sandbox sees it (the kept modules carry that
 * name). The first sandbox of a command line starts without one and asks
 * for it to be built; builds run one at a time, in the background, each
 * checked by starting node from the new blob once (node refuses a blob built
 * with other flags or by another node, and a node without snapshot support
 * fails the build): the check starts the runtime from the blob with no
 * environment, which must load it as a sandbox does and stop at once with
 * its own "AWS_LAMBDA_RUNTIME_API is not set". A blob that failed is not tried again, and sandboxes
 * start as they did before: a snapshot only makes starts faster.
 *
 * Built blobs are also kept in a cache directory of this user (by default
 * <tmpdir>/kindling-runtime-snapshots-<uid>, mode 0700, used only when it
 * is this user's and nobody else may write it), named by everything they
 * depend on (node's version and path, the command line, the runtime's files
 * and where the sandbox sees them): a worker that starts again (or another
 * one on this host) copies the blob from there and only checks it. The
 * cache keeps the CACHE_KEEP blobs used last.
 *
 * The blobs live in a directory of this worker inside the backend's
 * snapshot directory (SandboxBackend.snapshotDir, which every sandbox sees
 * read-only as view.snapshotDir) and are removed by close(); the directory
 * is named with the platform's pid, and a directory whose process is gone
 * (a platform killed with -9) is removed by the next worker that starts.
 */
import { spawn } from 'node:child_process';
import { createHash } from 'node:crypto';
import { chmodSync, lstatSync, mkdirSync, mkdtempSync, readFileSync, readdirSync, rmSync } from 'node:fs';
import { chmod, copyFile, readdir, rename, rm, stat, utimes } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { basename, dirname, join } from 'node:path';

/** What a build or its check may take before it counts as failed. */
const BUILD_TIMEOUT_MS = 60_000;

/** Blobs the cache keeps (those used last); each is ~4.5 MB. */
const CACHE_KEEP = 16;

/** What the runtime says, and its exit code, when it starts with no Runtime API (src/runtime/nodejs/index.ts): the check's expected answer. */
const CHECK_ANSWER = { code: 1, stderr: 'AWS_LAMBDA_RUNTIME_API is not set\n' } as const;

export interface RuntimeSnapshotsOptions {
  /** The backend's snapshot directory (host path); this worker's blobs go in a new directory inside it. */
  readonly dir: string;
  /** Host path of the node binary the sandboxes run. */
  readonly nodePath: string;
  /** Host path of the runtime tree: the directory that holds package.json and nodejs/. */
  readonly runtimeRoot: string;
  /** Where a failed build is reported (one line each). Default: console.error. */
  readonly report?: (line: string) => void;
  /** The cache of built blobs (see the file comment); null: none. Default: <tmpdir>/kindling-runtime-snapshots-<uid>. */
  readonly cacheDir?: string | null;
}

type Blob = { state: 'building' } | { state: 'ready'; name: string } | { state: 'failed' };

export class RuntimeSnapshots {
  readonly #hostDir: string;
  /** #hostDir's name inside the backend's snapshot directory. */
  readonly #dirName: string;
  readonly #nodePath: string;
  readonly #runtimeRoot: string;
  readonly #report: (line: string) => void;
  readonly #cacheDir: string | undefined;
  /** A hash of the runtime's files, which a blob holds compiled. */
  readonly #runtimeHash: string;
  /** By node command line and runtime directory as the sandbox sees it. */
  readonly #blobs = new Map<string, Blob>();
  /** Builds run one after another: each is a second of CPU that cold starts compete with. */
  #queue: Promise<void> = Promise.resolve();
  #closed = false;
  readonly #children = new Set<ReturnType<typeof spawn>>();

  constructor(options: RuntimeSnapshotsOptions) {
    mkdirSync(options.dir, { recursive: true, mode: 0o755 });
    removeOrphans(options.dir);
    this.#hostDir = mkdtempSync(join(options.dir, `w-${process.pid}-`));
    chmodSync(this.#hostDir, 0o755);
    this.#dirName = basename(this.#hostDir);
    this.#nodePath = options.nodePath;
    this.#runtimeRoot = options.runtimeRoot;
    this.#report = options.report ?? ((line) => console.error(line));
    const cacheDir = options.cacheDir === undefined ? join(tmpdir(), `kindling-runtime-snapshots-${process.getuid?.() ?? 'user'}`) : options.cacheDir;
    this.#cacheDir = cacheDir === null ? undefined : privateDir(cacheDir);
    this.#runtimeHash = hashRuntime(this.#runtimeRoot);
  }

  /**
   * The blob for a sandbox whose node runs with `nodeArgs` (its options,
   * before the entry) and sees the runtime tree at `sandboxRuntimeRoot`, as
   * a path inside the sandbox's `sandboxSnapshotDir` (view.snapshotDir); or
   * undefined when there is none yet (its build starts now) or can be none.
   */
  blobFor(nodeArgs: readonly string[], sandboxRuntimeRoot: string, sandboxSnapshotDir: string): string | undefined {
    // Asked at every nodejs sandbox's start: the blob's name (a hash) is made once per command line.
    const known = `${nodeArgs.join('\0')}\0\0${sandboxRuntimeRoot}`;
    const blob = this.#blobs.get(known);
    if (blob?.state === 'ready') return `${sandboxSnapshotDir}/${this.#dirName}/${blob.name}`;
    if (blob === undefined && !this.#closed) {
      const name = `${createHash('sha256')
        .update(JSON.stringify([process.version, this.#nodePath, nodeArgs, sandboxRuntimeRoot, this.#runtimeHash]))
        .digest('hex')
        .slice(0, 32)}.blob`;
      this.#blobs.set(known, { state: 'building' });
      this.#queue = this.#queue.then(() => this.#build(known, name, nodeArgs, sandboxRuntimeRoot));
    }
    return undefined;
  }

  /** Resolves once every build asked for so far has finished (or failed). */
  settled(): Promise<void> {
    return this.#queue;
  }

  /** Kills a build in progress and removes the blobs. */
  async close(): Promise<void> {
    this.#closed = true;
    for (const child of this.#children) child.kill('SIGKILL');
    await this.#queue;
    await rm(this.#hostDir, { recursive: true, force: true });
  }

  /** Builds (or takes from the cache) and checks blob `name`, the one of #blobs entry `key`. */
  async #build(key: string, name: string, nodeArgs: readonly string[], sandboxRuntimeRoot: string): Promise<void> {
    const building = join(this.#hostDir, `${name}.building`);
    try {
      if (this.#closed) throw new Error('the worker closed');
      const cached = this.#cacheDir === undefined ? undefined : join(this.#cacheDir, name);
      let fromCache = false;
      if (cached !== undefined) {
        try {
          await copyFile(cached, building);
          fromCache = (await this.#check(nodeArgs, building)) === undefined;
          // Used now: the cache drops the blobs used longest ago.
          if (fromCache) await utimes(cached, new Date(), new Date());
          else await rm(cached, { force: true });
        } catch {
          // not cached
        }
      }
      if (!fromCache) {
        const builder = join(this.#runtimeRoot, 'nodejs', 'snapshot.js');
        const built = await this.#run([...nodeArgs, '--snapshot-blob', building, '--build-snapshot', builder, sandboxRuntimeRoot]);
        if (built.code !== 0) throw new Error(`node exited with ${built.code}: ${whatFailed(built.stderr)}`);
        const problem = await this.#check(nodeArgs, building);
        if (problem !== undefined) throw new Error(problem);
        if (cached !== undefined) await keep(building, cached);
      }
      await chmod(building, 0o644);
      await rename(building, join(this.#hostDir, name));
      this.#blobs.set(key, { state: 'ready', name });
    } catch (err) {
      await rm(building, { force: true });
      this.#blobs.set(key, { state: 'failed' });
      if (!this.#closed) {
        this.#report(`kindling: no startup snapshot of the nodejs runtime for node ${nodeArgs.join(' ')} (sandboxes start without one): ${err instanceof Error ? err.message : String(err)}`);
      }
    }
  }

  /** Starts the runtime from the blob at `path` with no environment: undefined when it loaded as in a sandbox, else what went wrong. */
  async #check(nodeArgs: readonly string[], path: string): Promise<string | undefined> {
    const check = await this.#run([...nodeArgs, '--snapshot-blob', path, join(this.#runtimeRoot, 'nodejs', 'index.js')]);
    if (check.code === CHECK_ANSWER.code && check.stderr === CHECK_ANSWER.stderr) return undefined;
    return `the runtime started from it exited with ${check.code}: ${whatFailed(check.stderr)}`;
  }

  /** Runs node with `args` and a cleared environment; resolves with its exit code (or signal) and stderr. */
  #run(args: readonly string[]): Promise<{ code: number | string; stderr: string }> {
    return new Promise((resolve, reject) => {
      const child = spawn(this.#nodePath, args, { cwd: this.#runtimeRoot, env: { PATH: '/usr/bin:/bin' }, stdio: ['ignore', 'pipe', 'pipe'] });
      this.#children.add(child);
      let err = '';
      child.stdout.resume();
      child.stderr.setEncoding('utf8').on('data', (d: string) => (err += d));
      const timer = setTimeout(() => child.kill('SIGKILL'), BUILD_TIMEOUT_MS);
      child.once('error', reject);
      child.once('close', (code, signal) => {
        clearTimeout(timer);
        this.#children.delete(child);
        resolve({ code: signal ?? code ?? -1, stderr: err });
      });
    });
  }
}

/**
 * Copies a checked blob into the cache (atomically) and drops the blobs
 * used longest ago past CACHE_KEEP; asynchronous, as a worker builds while
 * it serves. A cache that fails is only a cache.
 */
async function keep(blob: string, cached: string): Promise<void> {
  const cacheDir = dirname(cached);
  try {
    const partial = `${cached}.${process.pid}.partial`;
    await copyFile(blob, partial);
    await rename(partial, cached);
    const names = (await readdir(cacheDir)).filter((n) => n.endsWith('.blob'));
    const blobs = await Promise.all(names.map(async (n) => ({ path: join(cacheDir, n), mtime: (await stat(join(cacheDir, n))).mtimeMs })));
    blobs.sort((a, b) => b.mtime - a.mtime);
    await Promise.all(blobs.slice(CACHE_KEEP).map((old) => rm(old.path, { force: true })));
  } catch {
    // a full disk, say: the next worker builds again
  }
}

/** The line of a program's stderr that says what failed: node's error message, else the last line that is not a stack frame or one of the snapshot builder's warnings. */
function whatFailed(text: string): string {
  const lines = text
    .split('\n')
    .map((l) => l.trimEnd())
    .filter((l) => l !== '' && !/^\s/.test(l) && !l.includes('not yet fully verified') && !/^(It may still work|To request support|\(Use `node)/.test(l));
  return lines.find((l) => /^\w*(Error|Exception)\b/.test(l)) ?? lines.at(-1) ?? '(nothing on stderr)';
}

/** Removes the directories in `dir` of workers whose process is gone. */
function removeOrphans(dir: string): void {
  for (const name of readdirSync(dir)) {
    const pid = /^w-(\d+)-/.exec(name)?.[1];
    if (pid === undefined || alive(Number(pid))) continue;
    rmSync(join(dir, name), { recursive: true, force: true });
  }
}

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/** `dir`, made if missing (mode 0700), when it is a directory of this user that no one else may write; else undefined. */
function privateDir(dir: string): string | undefined {
  try {
    mkdirSync(dir, { recursive: true, mode: 0o700 });
    const st = lstatSync(dir);
    const uid = process.getuid?.();
    if (!st.isDirectory() || (uid !== undefined && st.uid !== uid) || (st.mode & 0o022) !== 0) return undefined;
    return dir;
  } catch {
    return undefined;
  }
}

/** A hash of the runtime tree's JavaScript (its own and nodejs/*.js, but tests) and package.json. */
function hashRuntime(root: string): string {
  const hash = createHash('sha256');
  for (const dir of [root, join(root, 'nodejs')]) {
    let names: string[] = [];
    try {
      names = readdirSync(dir).filter((n) => (n.endsWith('.js') && !n.endsWith('.test.js')) || n === 'package.json').sort();
    } catch {
      // no such directory: the build will say so
    }
    for (const n of names) hash.update(`${dir.slice(root.length)}/${n}\0`).update(readFileSync(join(dir, n))).update('\0');
  }
  return hash.digest('hex');
}
