/**
 * Opens the sandbox backend a worker runs on, by name, for the platform's
 * in-process worker and for `kindling worker` alike.
 */
import { mkdirSync, rmSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { FileBlobStore } from '../store/file-blobs.js';
import type { SandboxBackend } from './sandbox/backend.js';
import { GvisorBackend, defaultGvisorRoot } from './sandbox/gvisor.js';
import type { GvisorPlatform } from './sandbox/gvisor.js';
import { NamespaceBackend, defaultNamespaceRoot } from './sandbox/namespace.js';
import { ProcessBackend } from './sandbox/process.js';

/**
 * namespace: bubblewrap + cgroups (the default on Linux); gvisor: gVisor's
 * runsc, a user-space kernel between functions and the host, for untrusted
 * multi-tenant code; process: no isolation at all, for development with
 * trusted code.
 */
export type SandboxKind = 'process' | 'namespace' | 'gvisor';

export interface BackendOptions {
  readonly kind: SandboxKind;
  /** The worker's own data directory: it keys the backend's root and cgroup. */
  readonly dataDir: string;
  /** gvisor only. Default 'ptrace'. */
  readonly gvisorPlatform?: GvisorPlatform;
  /**
   * Which of the host's workers this is (0 for the first), so that workers
   * sharing one host give their sandboxes disjoint host uids.
   */
  readonly slot?: number;
}

export interface OpenBackend {
  readonly backend: SandboxBackend;
  /** Removes the backend's files and parent cgroup; call after every sandbox is gone. */
  close(): Promise<void>;
}

/** Host uids of the namespace sandboxes: 1,051,000,000 on, 20,000 per worker slot. */
const HOST_UID_BASE = 1_051_000_000;
const HOST_UIDS_PER_SLOT = 20_000;

/**
 * Opens the backend. An isolating backend that cannot run here rejects with
 * a SandboxUnavailableError whose message says what to install.
 */
export async function openBackend(options: BackendOptions): Promise<OpenBackend> {
  if (options.kind === 'process') {
    // Each process sandbox's private directories live here. Whatever is left
    // from a worker that was killed belongs to no running sandbox: remove it.
    const root = join(options.dataDir, 'sandboxes');
    rmSync(root, { recursive: true, force: true });
    return { backend: new ProcessBackend({ root }), close: () => Promise.resolve() };
  }
  // create() also removes the cgroups and files of a worker that was
  // killed; the root is keyed by the data directory, so two workers on one
  // host never touch each other's, except that create() reclaims those of
  // a platform that is gone and whose data directory is gone (root-owner.ts).
  if (options.kind === 'namespace') {
    // The data directory may be private (0700, or under /root): the backend
    // binds the code directories into each sandbox from the root side, so
    // the sandboxes' unprivileged uids need no access to the path; the task
    // roots of this data directory's blob store, ahead of time.
    const slot = options.slot ?? 0;
    const tasks = FileBlobStore.tasksDir(options.dataDir);
    mkdirSync(tasks, { recursive: true });
    const backend = await NamespaceBackend.create({
      root: defaultNamespaceRoot(options.dataDir),
      dataDir: resolve(options.dataDir),
      codeRoots: [tasks],
      hostUids: { base: HOST_UID_BASE + slot * HOST_UIDS_PER_SLOT, count: HOST_UIDS_PER_SLOT },
    });
    return { backend, close: () => backend.close() };
  }
  const backend = await GvisorBackend.create({ root: defaultGvisorRoot(options.dataDir), dataDir: resolve(options.dataDir), platform: options.gvisorPlatform ?? 'ptrace' });
  return { backend, close: () => backend.close() };
}
