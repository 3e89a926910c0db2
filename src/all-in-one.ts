/**
 * The all-in-one platform: every component wired in one process, as
 * `kindling up` runs it. Wiring only; each component does its own work.
 *
 *   api → frontend → counting / worker-manager → placement → worker → sandbox
 *   control (registry over the embedded store) feeds the front end and retires
 *   warm sandboxes when a function changes.
 */
import { randomBytes, randomUUID } from 'node:crypto';
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { arch, totalmem } from 'node:os';
import { join, resolve } from 'node:path';
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { performance } from 'node:perf_hooks';
import { LogsApi } from './api/logs-api.js';
import { writeError } from './api/errors.js';
import { WORKER_TO_PLATFORM_PREFIX } from './worker/wire.js';
import { listen } from './shared/listen.js';
import { createApiServer } from './api/server.js';
import { createFrontDoorServer } from './api/function-urls.js';
import { FunctionUrls } from './control/function-urls.js';
import { ZipCodePreparer } from './control/code.js';
import { EventInvokeConfigs } from './control/event-invoke-config.js';
import { FunctionRegistry } from './control/registry.js';
import { LayerRegistry } from './control/layers.js';
import { CountingService } from './counting/counting.js';
import { LAMBDA_SCALING_RATE, ScalingRateLimiter } from './counting/scaling-rate.js';
import { FrontEndInvoke } from './frontend/front-end-invoke.js';
import type { InvokeCommand, InvokeResponse } from './frontend/types.js';
import { PlatformMetrics } from './metrics/platform-metrics.js';
import { ERRORS, LambdaError } from './shared/errors.js';
import { FleetApi } from './placement/fleet-api.js';
import { LogIngest } from './placement/log-ingest.js';
import { startLocalFleet } from './placement/local-fleet.js';
import type { LocalFleet } from './placement/local-fleet.js';
import { Placement } from './placement/placement.js';
import { concentrateAndPack, roundRobin } from './placement/policy.js';
import { systemClock } from './shared/clock.js';
import type { Egress } from './shared/spec.js';
import { DEFAULT_ACCOUNT_ID, functionArn } from './shared/arn.js';
import { AsyncInvoke } from './async/async-invoke.js';
import { QueueApi } from './async/queue-api.js';
import { AsyncMetrics } from './metrics/async-metrics.js';
import { SqliteEventQueue } from './store/sqlite-event-queue.js';
import { FileBlobStore } from './store/file-blobs.js';
import { DEFAULT_LOG_RETENTION_DAYS, DEFAULT_LOG_RETENTION_MB } from './store/log-store.js';
import { SqliteLogStore } from './store/sqlite-log-store.js';
import { SqliteMetadataStore } from './store/sqlite-metadata.js';
import { openBackend } from './worker/backends.js';
import type { OpenBackend, SandboxKind } from './worker/backends.js';
import { LocalWorker } from './worker/local-worker.js';
import { stemCellBound } from './worker/stem-cells.js';
import type { GvisorPlatform } from './worker/sandbox/gvisor.js';
import { WorkerManager } from './worker-manager/worker-manager.js';

export interface PlatformOptions {
  readonly host: string;
  /** 0 picks a free port. */
  readonly port: number;
  /** Embedded store: SQLite metadata and code files live here. */
  readonly dataDir: string;
  /**
   * The sandbox backend (see SandboxKind). An isolating backend that cannot
   * run here makes startPlatform reject with a SandboxUnavailableError.
   */
  readonly sandbox: SandboxKind;
  /** gvisor only: how the Sentry intercepts system calls. Default 'ptrace'. */
  readonly gvisorPlatform?: GvisorPlatform;
  /** Idle sandboxes are stopped after this long. */
  readonly keepAliveSeconds: number;
  readonly region: string;
  /** Account concurrency limit. */
  readonly accountConcurrency: number;
  /**
   * 0 (the default): one worker inside the platform's process, the fastest
   * path. N > 0: N worker processes on this host, like N hosts of a fleet.
   */
  readonly workers?: number;
  /** Zones of the worker processes, assigned in turn. Default: [<region>a]. */
  readonly zones?: readonly string[];
  /** Memory each worker offers to sandboxes, MB. Default: 90% of this host's memory, shared by the workers. */
  readonly workerCapacityMB?: number;
  /** A sandbox's lease: the longest it lives. Default 6 hours. */
  readonly sandboxLifetimeSeconds?: number;
  /** pack (the default): concentrate load and pack workers; round-robin: spread both (a baseline). */
  readonly placement?: 'pack' | 'round-robin';
  /** Most pre-started, code-less nodejs sandboxes each worker keeps (0: none). Default stemCellBound(worker capacity). */
  readonly stemCells?: number;
  /** Start nodejs sandboxes from the runtime's startup snapshots (LocalWorkerOptions.runtimeSnapshots). Default true. */
  readonly runtimeSnapshots?: boolean;
  /** New sandboxes per function per 10 seconds; beyond it, 429. Default 1000 (Lambda's). */
  readonly scalingRate?: number;
  /** Network egress of functions without a `kindling:egress` tag. Default 'none'. */
  readonly defaultEgress?: Egress;
  /** Pollers delivering Event invokes. Default 2. */
  readonly asyncPollers?: number;
  /** Multiplies the async path's delays and ages (retries, backoff, MaximumEventAgeInSeconds). Default 1. */
  readonly asyncTimeScale?: number;
  /** A worker process silent for this long is lost. Default 3000 ms. */
  readonly heartbeatTimeoutMs?: number;
  /** Port of the HTTP front door (function URLs, HTTP routes). Default: the API's port + 1 (0 when the API's is 0); 0 picks a free port. */
  readonly httpPort?: number;
  /** Address the front door listens on. Default: the API's host. */
  readonly httpHost?: string;
  /** Function logs older than this are removed. Default DEFAULT_LOG_RETENTION_DAYS. */
  readonly logRetentionDays?: number;
  /** Most log bytes kept per function (its oldest lines go first). Default DEFAULT_LOG_RETENTION_MB. */
  readonly logRetentionMB?: number;
}

/** How often worker processes heartbeat. */
const HEARTBEAT_MS = 500;
/** How long startPlatform waits for its worker processes to join. */
const FLEET_JOIN_LIMIT_MS = 30_000;

export interface Platform {
  /** http://HOST:PORT of the Lambda API. */
  readonly url: string;
  /** http://HOST:PORT of the HTTP front door (function URLs, HTTP routes). */
  readonly httpUrl: string;
  /** The worker processes' pids by slot (empty without --workers). */
  workerPids(): (number | undefined)[];
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
  // Function logs (logs.db): every worker's sandboxes append here, the logs API reads.
  let logStore: SqliteLogStore;
  try {
    logStore = new SqliteLogStore(dataDir, {
      clock,
      retention: {
        maxAgeMs: (options.logRetentionDays ?? DEFAULT_LOG_RETENTION_DAYS) * 86_400_000,
        maxBytesPerGroup: (options.logRetentionMB ?? DEFAULT_LOG_RETENTION_MB) * 1024 * 1024,
      },
      onError: (err) => logger.error('function logs could not be written (kept in memory, retrying)', err),
    });
  } catch (err) {
    await metadata.close();
    throw err;
  }
  const blobs = new FileBlobStore(dataDir);
  const workerCount = options.workers ?? 0;
  const zones = options.zones?.length ? options.zones : [`${options.region}a`];
  const capacityMB = options.workerCapacityMB ?? Math.floor((totalmem() / 1024 / 1024) * 0.9 / Math.max(1, workerCount));
  const stemCells = options.stemCells ?? stemCellBound(capacityMB);

  const placement = new Placement({
    clock,
    policy: options.placement === 'round-robin' ? roundRobin() : concentrateAndPack,
    heartbeatTimeoutMs: options.heartbeatTimeoutMs ?? 3000,
    onWorkerLost: (id, reason) => logger.error(`worker ${id} lost: ${reason}`),
  });
  // Without worker processes, one worker runs in this process on a backend
  // opened here (which checks the host first and says what is missing).
  let inProcess: OpenBackend | undefined;
  if (workerCount === 0) {
    try {
      inProcess = await openBackend({ kind: options.sandbox, dataDir, ...(options.gvisorPlatform ? { gvisorPlatform: options.gvisorPlatform } : {}) });
    } catch (err) {
      await metadata.close();
      logStore.close();
      throw err;
    }
    const local = new LocalWorker({ clock, backend: inProcess.backend, stemCells, runtimeSnapshots: options.runtimeSnapshots ?? true, logSink: logStore });
    if (stemCells > 0 && local.stemCellsOff) logger.error(`stem cells are off: ${local.stemCellsOff}`);
    placement.register({
      worker: { id: local.id, createSandbox: (spec) => local.createSandbox(spec), close: () => local.close(), lose: () => void local.close() },
      zone: zones[0]!,
      capacityMB,
      heartbeats: false,
    });
  }
  const workerManager = new WorkerManager({
    provider: placement,
    clock,
    keepAliveMs: options.keepAliveSeconds * 1000,
    ...(options.sandboxLifetimeSeconds !== undefined ? { maxLifetimeMs: options.sandboxLifetimeSeconds * 1000 } : {}),
    routing: options.placement === 'round-robin' ? 'least-recently-used' : 'most-recently-used',
    scaling: new ScalingRateLimiter({ sandboxesPerWindow: options.scalingRate ?? LAMBDA_SCALING_RATE.sandboxesPerWindow, windowMs: LAMBDA_SCALING_RATE.windowMs, clock }),
    events: { onClaim: (fn, cold) => metrics.claimed(fn, cold) },
  });

  const counting = new CountingService({ accountLimit: options.accountConcurrency, clock });
  // Lambda layers: their versions beside the function records, their zips in the same BlobStore.
  const layers = await LayerRegistry.open({ store: metadata, blobs, clock, partition });
  const registry = await FunctionRegistry.open({
    metadata,
    blobs,
    layers,
    preparer: new ZipCodePreparer(blobs),
    clock,
    partition,
    concurrentExecutions: options.accountConcurrency,
    hostArchitecture: arch() === 'arm64' ? 'arm64' : 'x86_64',
    onFunctionChanged: (name) => workerManager.retireFunction(name),
    onReservationChanged: (name, reserved) => counting.setReservation(name, reserved),
    ...(options.defaultEgress ? { defaultEgress: options.defaultEgress } : {}),
    logger,
  });

  // fleetApi is made below: the metrics read it only when scraped.
  const metrics = new PlatformMetrics({ concurrency: () => counting.inUseByFunction(), workers: () => fleetApi.status().workers });

  // Asynchronous invocation settings (EventInvokeConfig, DeadLetterConfig): the API's and async/'s.
  const eventInvokeConfigs = await EventInvokeConfigs.open({ metadata, functions: registry, partition, clock, logger });

  // The async path: a durable queue of Event invokes, and pollers that run
  // them through the synchronous path (the front end) with Lambda's retries.
  const eventQueue = new SqliteEventQueue(dataDir, { now: clock.now() });
  const asyncMetrics = new AsyncMetrics(metrics.registry, { queue: eventQueue, queues: eventQueue, clock });
  const asyncInvoke: AsyncInvoke = new AsyncInvoke({
    queue: eventQueue,
    runner: { invoke: (command): Promise<InvokeResponse> => frontend.invoke(command) },
    settings: eventInvokeConfigs,
    reservations: counting,
    clock,
    functionArn: (name, version) => functionArn(partition, name, version),
    ...(options.asyncPollers !== undefined ? { pollers: options.asyncPollers } : {}),
    ...(options.asyncTimeScale !== undefined ? { timeScale: options.asyncTimeScale } : {}),
    events: asyncMetrics,
    logger,
  });
  // Function URLs and HTTP routes: their FunctionUrl names the front door's port, known once it listens.
  let httpPort = 0;
  const functionUrls = await FunctionUrls.open({
    store: metadata,
    functions: registry,
    partition,
    clock,
    urlOf: (urlId) => `http://${urlId}.lambda-url.${options.region}.localhost:${httpPort}/`,
    logger,
  });

  const frontend = new FrontEndInvoke({ functions: registry, counting, sandboxes: workerManager, events: asyncInvoke, now: () => clock.now() });

  const token = clusterToken(dataDir);
  const fleetApi = new FleetApi({
    placement,
    token,
    heartbeatMs: HEARTBEAT_MS,
    sandboxStates: () => workerManager.sandboxStates(),
    codeZip: (hex) => (existsSync(blobs.path(hex)) ? blobs.path(hex) : undefined),
  });
  const queueApi = new QueueApi({ queues: eventQueue, clock, partition, onRedrive: () => asyncInvoke.start(), logger });
  const logsApi = new LogsApi({ logs: logStore, partition, logger });
  const logIngest = new LogIngest({ logs: logStore, token, logger });
  // Set by close(): from then on the API answers only the worker channel,
  // so that worker processes can still send their last log lines while
  // they stop; everyone else is told the platform is going away.
  let stopping = false;
  const platformRoutes = (req: IncomingMessage, res: ServerResponse) =>
    (stopping && refuseWhileStopping(req, res)) ||
    metrics.handle(req, res) ||
    (req.url?.startsWith('/kindling/') === true && (queueApi.handle(req, res) || logsApi.handle(req, res) || logIngest.handle(req, res) || fleetApi.handle(req, res)));
  const invoker = measured(frontend, metrics);
  const server = createApiServer({ registry, eventInvokeConfigs, layers, invoker, functionUrls, partition, logger }, platformRoutes);
  const frontDoor = createFrontDoorServer({ directory: functionUrls, invoker, accountId: partition.accountId, logger });
  await listen(server, options.port, options.host);
  const address = server.address() as AddressInfo;
  const host = address.family === 'IPv6' ? `[${address.address}]` : address.address;

  const url = `http://${host}:${address.port}`;
  // Default: the port after the API's (9001 beside 9000); a free one when the API's was picked freely.
  const doorPort = options.httpPort ?? (options.port === 0 || address.port === 65535 ? 0 : address.port + 1);
  const doorHost = options.httpHost ?? options.host;
  try {
    await listen(frontDoor, doorPort, doorHost);
  } catch (err) {
    server.close();
    const code = (err as NodeJS.ErrnoException).code ?? String(err);
    throw new Error(`the HTTP front door (function URLs) cannot listen on ${doorHost}:${doorPort} (${code}); choose another port with --http-port (0 picks a free one)`);
  }
  const doorAddress = frontDoor.address() as AddressInfo;
  httpPort = doorAddress.port;
  const httpUrl = `http://${doorAddress.family === 'IPv6' ? `[${doorAddress.address}]` : doorAddress.address}:${doorAddress.port}`;

  let fleet: LocalFleet | undefined;
  if (workerCount > 0) {
    fleet = startLocalFleet({
      count: workerCount,
      zones,
      capacityMB,
      join: url,
      token,
      sandbox: options.sandbox,
      stemCells,
      runtimeSnapshots: options.runtimeSnapshots ?? true,
      ...(options.gvisorPlatform ? { gvisorPlatform: options.gvisorPlatform } : {}),
      dataDir,
      log: (m) => logger.error(m),
    });
    // Serve once the fleet has joined (a worker that cannot start says why on stderr).
    const deadline = Date.now() + FLEET_JOIN_LIMIT_MS;
    while (placement.workers().length < workerCount && Date.now() < deadline) await new Promise((r) => setTimeout(r, 20));
    if (placement.workers().length < workerCount) logger.error(`only ${placement.workers().length} of ${workerCount} workers joined within ${FLEET_JOIN_LIMIT_MS / 1000} s; serving with those`);
  }

  asyncInvoke.start();

  let closing: Promise<void> | undefined;
  return {
    url,
    httpUrl,
    workerPids: () => fleet?.pids() ?? [],
    close() {
      closing ??= (async () => {
        // Stop taking requests, then stop every sandbox (busy ones too:
        // their callers get an error rather than a hang), then the stores.
        // The API keeps listening for the worker channel until the worker
        // processes are gone (their last log lines; see refuseWhileStopping).
        stopping = true;
        server.closeIdleConnections();
        const frontDoorClosed = new Promise<void>((r) => frontDoor.close(() => r()));
        frontDoor.closeIdleConnections();
        registry.close();
        // No more claims; attempts in flight end with their sandboxes (below)
        // and are left under their leases: the next start delivers them again.
        const asyncClosed = asyncInvoke.close();
        await workerManager.close();
        await asyncClosed;
        await placement.close();
        await fleet?.close();
        const serverClosed = new Promise<void>((r) => server.close(() => r()));
        server.closeAllConnections();
        frontDoor.closeAllConnections();
        await serverClosed;
        await frontDoorClosed;
        await registry.whenIdle();
        await metadata.close();
        await eventQueue.close();
        // Every sandbox is gone and every worker has sent its last lines.
        logStore.close();
        // Every sandbox is gone: the parent cgroup and the backend's files go too.
        await inProcess?.close();
      })();
      return closing;
    },
  };
}

/**
 * While the platform stops: answers every request but the worker channel's
 * with a ServiceException (500) and closes the connection; true when it answered.
 */
function refuseWhileStopping(req: IncomingMessage, res: ServerResponse): boolean {
  if (req.url?.startsWith(WORKER_TO_PLATFORM_PREFIX) === true) return false;
  res.shouldKeepAlive = false;
  writeError(res, randomUUID(), new LambdaError('ServiceException', 'Kindling is shutting down. Try again.'), undefined);
  return true;
}

/** The front end, with every synchronous invoke counted and timed for /metrics. */
function measured(frontend: FrontEndInvoke, metrics: PlatformMetrics): Pick<FrontEndInvoke, 'invoke'> {
  return {
    async invoke(command: InvokeCommand): Promise<InvokeResponse> {
      if (command.invocationType !== 'RequestResponse') return frontend.invoke(command);
      const started = performance.now();
      try {
        const response = await frontend.invoke(command);
        metrics.invoked(command.functionName, response.functionError ? 'function_error' : 'success', (performance.now() - started) / 1000);
        return response;
      } catch (err) {
        // Only failures of an existing function get a series of their own: a
        // caller must not mint label values by invoking made-up names.
        if (err instanceof LambdaError && err.code === 'TooManyRequestsException') {
          metrics.throttled(String(err.fields['Reason'] ?? 'unknown'));
          metrics.invoked(command.functionName, 'throttled', (performance.now() - started) / 1000);
        } else if (!(err instanceof LambdaError) || ERRORS[err.code].status >= 500) {
          metrics.invoked(command.functionName, 'error', (performance.now() - started) / 1000);
        }
        throw err;
      }
    },
  };
}

/**
 * The fleet's shared secret: worker processes present it on every request
 * both ways. Kept in the data directory (mode 0600) so that workers joining
 * from elsewhere (`kindling worker --token`) survive a platform restart.
 */
function clusterToken(dataDir: string): string {
  const file = join(dataDir, 'cluster-token');
  if (existsSync(file)) return readFileSync(file, 'utf8').trim();
  const token = randomBytes(24).toString('base64url');
  writeFileSync(file, `${token}\n`, { mode: 0o600 });
  return token;
}

