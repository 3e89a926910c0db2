/**
 * The all-in-one platform: every component wired in one process, as
 * `kindling up` runs it. Wiring only; each component does its own work.
 *
 *   api → frontend → counting / worker-manager → placement → worker → sandbox
 *   control (registry over the embedded store) feeds the front end and retires
 *   warm sandboxes when a function changes.
 */
import { mkdirSync, rmSync } from 'node:fs';
import { arch } from 'node:os';
import { join, resolve } from 'node:path';
import type { AddressInfo } from 'node:net';
import { createApiServer } from './api/server.js';
import { ZipCodePreparer } from './control/code.js';
import { FunctionRegistry } from './control/registry.js';
import { CountingService } from './counting/counting.js';
import { FrontEndInvoke } from './frontend/front-end-invoke.js';
import { Placement } from './placement/placement.js';
import { systemClock } from './shared/clock.js';
import { DEFAULT_ACCOUNT_ID } from './shared/arn.js';
import { FileBlobStore } from './store/file-blobs.js';
import { SqliteMetadataStore } from './store/sqlite-metadata.js';
import { LocalWorker } from './worker/local-worker.js';
import type { SandboxBackend } from './worker/sandbox/backend.js';
import { GvisorBackend, defaultGvisorRoot } from './worker/sandbox/gvisor.js';
import type { GvisorPlatform } from './worker/sandbox/gvisor.js';
import { NamespaceBackend, defaultNamespaceRoot } from './worker/sandbox/namespace.js';
import { ProcessBackend } from './worker/sandbox/process.js';
import { WorkerManager } from './worker-manager/worker-manager.js';

export interface PlatformOptions {
  readonly host: string;
  /** 0 picks a free port. */
  readonly port: number;
  /** Embedded store: SQLite metadata and code files live here. */
  readonly dataDir: string;
  /**
   * namespace: bubblewrap + cgroups (the default on Linux); gvisor: gVisor's
   * runsc, a user-space kernel between functions and the host, for untrusted
   * multi-tenant code; process: no isolation at all, for development with
   * trusted code. An isolating backend that cannot run here makes
   * startPlatform reject with a SandboxUnavailableError.
   */
  readonly sandbox: 'process' | 'namespace' | 'gvisor';
  /** gvisor only: how the Sentry intercepts system calls. Default 'ptrace'. */
  readonly gvisorPlatform?: GvisorPlatform;
  /** Idle sandboxes are stopped after this long. */
  readonly keepAliveSeconds: number;
  readonly region: string;
  /** Account concurrency limit. */
  readonly accountConcurrency: number;
}

export interface Platform {
  /** http://HOST:PORT of the Lambda API. */
  readonly url: string;
  /** Stops serving and stops every sandbox. */
  close(): Promise<void>;
}

const logger = {
  error(message: string, err?: unknown) {
    console.error(`kindling: ${message}`, err ?? '');
  },
};

export async function startPlatform(options: PlatformOptions): Promise<Platform> {
  const dataDir = resolve(options.dataDir);
  mkdirSync(dataDir, { recursive: true });
  const clock = systemClock;
  const partition = { region: options.region, accountId: DEFAULT_ACCOUNT_ID };

  const metadata = new SqliteMetadataStore(dataDir);
  const blobs = new FileBlobStore(dataDir);

  // Each process sandbox's private directories live here. Whatever is left
  // from a platform that was killed belongs to no running sandbox: remove it.
  const sandboxRoot = join(dataDir, 'sandboxes');
  rmSync(sandboxRoot, { recursive: true, force: true });
  // The isolating backends own a root directory and a parent cgroup, removed by close().
  let isolating: NamespaceBackend | GvisorBackend | undefined;
  try {
    // create() also removes the cgroups and files of a platform that was
    // killed; the root is keyed by the data directory, so two platforms on
    // one host never touch each other's.
    if (options.sandbox === 'namespace') {
      // The data directory may be private (0700, or under /root): the backend
      // binds the code directories into each sandbox from the root side, so
      // the sandboxes' unprivileged uids need no access to the path.
      isolating = await NamespaceBackend.create({ root: defaultNamespaceRoot(dataDir) });
    } else if (options.sandbox === 'gvisor') {
      isolating = await GvisorBackend.create({ root: defaultGvisorRoot(dataDir), platform: options.gvisorPlatform ?? 'ptrace' });
    }
  } catch (err) {
    await metadata.close();
    throw err;
  }
  const backend: SandboxBackend = isolating ?? new ProcessBackend({ root: sandboxRoot });
  const placement = new Placement();
  placement.register(new LocalWorker({ clock, backend }));
  const workerManager = new WorkerManager({ provider: placement, clock, keepAliveMs: options.keepAliveSeconds * 1000 });

  const registry = await FunctionRegistry.open({
    metadata,
    blobs,
    preparer: new ZipCodePreparer(blobs),
    clock,
    partition,
    concurrentExecutions: options.accountConcurrency,
    hostArchitecture: arch() === 'arm64' ? 'arm64' : 'x86_64',
    onFunctionChanged: (name) => workerManager.retireFunction(name),
    logger,
  });

  const frontend = new FrontEndInvoke({
    functions: registry,
    counting: new CountingService({ accountLimit: options.accountConcurrency, clock }),
    sandboxes: workerManager,
  });

  const server = createApiServer({ registry, invoker: frontend, partition, logger });
  await new Promise<void>((resolveListen, reject) => {
    server.once('error', reject);
    server.listen(options.port, options.host, () => {
      server.off('error', reject);
      resolveListen();
    });
  });
  const address = server.address() as AddressInfo;
  const host = address.family === 'IPv6' ? `[${address.address}]` : address.address;

  let closing: Promise<void> | undefined;
  return {
    url: `http://${host}:${address.port}`,
    close() {
      closing ??= (async () => {
        // Stop taking requests, then stop every sandbox (busy ones too:
        // their callers get an error rather than a hang), then the stores.
        const serverClosed = new Promise<void>((r) => server.close(() => r()));
        server.closeIdleConnections();
        registry.close();
        await workerManager.close();
        await placement.close();
        server.closeAllConnections();
        await serverClosed;
        await registry.whenIdle();
        await metadata.close();
        // Every sandbox is gone: the parent cgroup and the backend's files go too.
        await isolating?.close();
      })();
      return closing;
    },
  };
}
