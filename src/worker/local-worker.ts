import { randomBytes } from 'node:crypto';
import { existsSync, constants as fsConstants } from 'node:fs';
import { access, stat } from 'node:fs/promises';
import { hostname } from 'node:os';
import { basename, dirname, join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { fileURLToPath } from 'node:url';
import { systemClock } from '../shared/clock.js';
import type { Clock, Timer } from '../shared/clock.js';
import type { FunctionVersionSpec } from '../shared/spec.js';
import { LogCapture, endOfTurn } from './log-capture.js';
import { MAX_RUNTIME_PAYLOAD_SIZE, RuntimeApi } from './runtime-api.js';
import { RuntimeSnapshots } from './runtime-snapshots.js';
import type { RuntimeApiListener } from './runtime-api.js';
import { CUSTOM_RUNTIMES, NODEJS_RUNTIMES, PLACEHOLDER_CREDENTIALS, cellLaunch, cellShape, logStreamName, sandboxLaunch } from './sandbox-env.js';
import type { CellShape, SandboxCredentials } from './sandbox-env.js';
import type { CellProcess, SandboxBackend, SandboxExit, SandboxProcess, SandboxView } from './sandbox/backend.js';
import { ProcessBackend } from './sandbox/process.js';
import { DEFAULT_STEM_CELLS, DEFAULT_STEM_CELL_IDLE_MS, StemCellPool } from './stem-cells.js';
import type { PoolCell } from './stem-cells.js';
import { SandboxLog } from './sandbox-log.js';
import type { LogSink, Sandbox, SandboxInvokeOutcome, SandboxInvokeRequest, StemCellStats, Worker } from './types.js';

/**
 * The built-in nodejs runtime, compiled by src/runtime/tsconfig.json:
 * dist/src/runtime/nodejs/index.js, found from this file's own place
 * (dist/src/worker/local-worker.js).
 */
export const DEFAULT_NODE_RUNTIME_ENTRY = fileURLToPath(new URL('../runtime/nodejs/index.js', import.meta.url));

/** Lambda's init phase limit (Lambda developer guide, "Lambda execution environment lifecycle"). */
export const INIT_TIMEOUT_MS = 10_000;

/** Options of LocalWorker. */
export interface LocalWorkerOptions {
  /** Default: local-<hostname>-<pid>. */
  readonly id?: string;
  /** Default: the process backend. */
  readonly backend?: SandboxBackend;
  /** Deadlines and init limits run on this clock. Default: systemClock. */
  readonly clock?: Clock;
  /**
   * Receives every sandbox's whole log stream as it is written: the
   * function's output and the platform's START, END,
   * REPORT and error lines.
   */
  readonly onLog?: (sandboxId: string, text: string) => void;
  /**
   * Keeps every sandbox's log: one stream per sandbox (its
   * AWS_LAMBDA_LOG_STREAM_NAME) in the function's group, every line the
   * sandbox writes and the platform's INIT_START, START, END and REPORT lines
   * (see sandbox-log.ts). Default: none.
   */
  readonly logSink?: LogSink;
  /** Entry of the built-in nodejs runtime. Default: DEFAULT_NODE_RUNTIME_ENTRY. */
  readonly nodeRuntimeEntry?: string;
  /** Default: PLACEHOLDER_CREDENTIALS. */
  readonly credentials?: SandboxCredentials;
  /** Init phase limit before the first invoke's own timeout starts to count. Default: INIT_TIMEOUT_MS. */
  readonly initTimeoutMs?: number;
  /**
   * Most stem cells this worker keeps started, over all shapes: sandboxes
   * of the built-in nodejs runtime started before their function is known,
   * so that a cold start only binds code and loads the handler (see
   * stem-cells.ts). 0 turns them off. Default DEFAULT_STEM_CELLS. Off, with
   * the reason in stemCellsOff, on a backend that cannot run them.
   */
  readonly stemCells?: number;
  /** A shape whose cells go untaken this long loses one, then another after as long. Default DEFAULT_STEM_CELL_IDLE_MS. */
  readonly stemCellIdleMs?: number;
  /**
   * Start the built-in nodejs runtime from startup snapshots built by this
   * worker (runtime-snapshots.ts) where the backend can show them. Default true.
   */
  readonly runtimeSnapshots?: boolean;
}

/** How long a new sandbox that is ready but never invoked holds back the stem-cell pool's refill (see createSandbox). */
const REFILL_WITHOUT_INVOKE_MS = 1000;

/**
 * The shape the pool always keeps a cell of (when stem cells are on): a
 * nodejs function with Lambda's default MemorySize and EphemeralStorage,
 * the most likely cold start, so that even the first one finds a cell.
 */
const SEEDED_SHAPE: CellShape = { key: 'nodejs/128/512', family: 'nodejs', memorySize: 128, ephemeralStorage: 512 };

/** Longest wait for a dead sandbox's pipes to end before its last invoke's log is closed. */
const LOG_FLUSH_LIMIT_MS = 100;
const MiB = 1024 * 1024;

interface SandboxContext {
  readonly backend: SandboxBackend;
  readonly clock: Clock;
  readonly onLog: ((sandboxId: string, text: string) => void) | undefined;
  readonly logSink: LogSink | undefined;
  readonly nodeEntry: string;
  readonly credentials: SandboxCredentials;
  readonly initTimeoutMs: number;
  /** The nodejs runtime's startup snapshot for a node command line (LaunchContext.runtimeSnapshot); undefined when the worker keeps none. */
  readonly runtimeSnapshot: ((nodeArgs: readonly string[], view: SandboxView) => string | undefined) | undefined;
}

/**
 * A worker that runs sandboxes on this host through a SandboxBackend
 * (the process backend by default).
 */
export class LocalWorker implements Worker {
  readonly id: string;
  /** Why this worker runs no stem cells (turned off, or the backend cannot), or undefined when it does. */
  readonly stemCellsOff: string | undefined;
  readonly #ctx: SandboxContext;
  readonly #sandboxes = new Set<LocalSandbox>();
  readonly #pool: StemCellPool<StemCell> | undefined;
  readonly #snapshots: RuntimeSnapshots | undefined;
  #hits = 0;
  #misses = 0;
  #closed = false;

  constructor(options: LocalWorkerOptions = {}) {
    this.id = options.id ?? `local-${hostname()}-${process.pid}`;
    const backend: SandboxBackend = options.backend ?? new ProcessBackend();
    const nodeEntry = options.nodeRuntimeEntry ?? DEFAULT_NODE_RUNTIME_ENTRY;
    const runtimeRoot = dirname(dirname(nodeEntry));
    let snapshots: RuntimeSnapshots | undefined;
    if (options.runtimeSnapshots !== false && backend.snapshotDir !== undefined && existsSync(join(runtimeRoot, 'nodejs', 'snapshot.js'))) {
      try {
        snapshots = new RuntimeSnapshots({ dir: backend.snapshotDir, nodePath: process.execPath, runtimeRoot });
      } catch (err) {
        // Only a faster start: sandboxes start without one.
        console.error(`kindling: no startup snapshots of the nodejs runtime (${backend.snapshotDir}: ${err instanceof Error ? err.message : String(err)})`);
      }
    }
    this.#snapshots = snapshots;
    this.#ctx = {
      backend,
      clock: options.clock ?? systemClock,
      onLog: options.onLog,
      logSink: options.logSink,
      nodeEntry,
      credentials: options.credentials ?? PLACEHOLDER_CREDENTIALS,
      initTimeoutMs: options.initTimeoutMs ?? INIT_TIMEOUT_MS,
      runtimeSnapshot:
        snapshots &&
        ((nodeArgs, view) => (view.snapshotDir === undefined ? undefined : snapshots.blobFor(nodeArgs, dirname(view.runtimeDir), view.snapshotDir))),
    };
    const ctx = this.#ctx;
    const max = options.stemCells ?? DEFAULT_STEM_CELLS;
    this.stemCellsOff =
      max === 0 ? 'turned off' : backend.startCell === undefined ? `the ${backend.name} backend has no stem cells` : backend.stemCellsUnavailable;
    if (this.stemCellsOff === undefined) {
      this.#pool = new StemCellPool<StemCell>({
        maxCells: max,
        idleMs: options.stemCellIdleMs ?? DEFAULT_STEM_CELL_IDLE_MS,
        clock: ctx.clock,
        start: (shape) => StemCell.start(shape, ctx),
        onError: (err) => console.error(`kindling: a stem cell failed (retrying later): ${err instanceof Error ? err.message : String(err)}`),
      });
      this.#pool.seed(SEEDED_SHAPE, 1);
    }
  }

  /** Resolves once the runtime's startup snapshots asked for so far are built (or failed); see runtime-snapshots.ts. */
  runtimeSnapshotsSettled(): Promise<void> {
    return this.#snapshots?.settled() ?? Promise.resolve();
  }

  /** Number of sandboxes alive on this worker (stem cells waiting for a function are not sandboxes yet). */
  get size(): number {
    return this.#sandboxes.size;
  }

  /** The stem cells' counters. */
  get stemCells(): StemCellStats {
    return { pooled: this.#pool?.size ?? 0, bound: this.#pool?.maxCells ?? 0, hits: this.#hits, misses: this.#misses };
  }

  /** Stem cells ready to serve a cold start of `spec` now (0 when none could). */
  stemCellsReadyFor(spec: FunctionVersionSpec): number {
    const shape = cellShape(spec);
    return shape === undefined ? 0 : (this.#pool?.readyCount(shape) ?? 0);
  }

  async createSandbox(spec: FunctionVersionSpec): Promise<Sandbox> {
    if (this.#closed) throw new Error(`worker ${this.id} is closed`);
    const pool = this.#pool;
    const shape = pool ? cellShape(spec) : undefined;
    const cell = shape ? pool?.take(shape) : undefined;
    if (shape) {
      if (cell) this.#hits++;
      else this.#misses++;
    }
    const sandbox = new LocalSandbox(spec, this.#ctx, cell);
    this.#sandboxes.add(sandbox);
    void sandbox.exited.then(() => this.#sandboxes.delete(sandbox));
    try {
      await sandbox.start(cell);
    } catch (err) {
      await sandbox.destroy();
      throw err;
    } finally {
      // The pool refills (or grows, after a miss) once this cold start has
      // answered its first invoke (or is gone, or has been ready a while
      // without one), rather than competing with it for the CPU: starting a
      // cell forks this process and runs a runtime's start beside it.
      if (shape) {
        const idle = sandbox.initSettled.then(() => new Promise<void>((resolve) => this.#ctx.clock.setTimeout(resolve, REFILL_WITHOUT_INVOKE_MS)));
        void Promise.race([sandbox.firstInvokeSettled, sandbox.exited, idle]).then(() => setImmediate(() => pool?.refill()));
      }
    }
    return sandbox;
  }

  /** Destroys every sandbox and every stem cell of this worker. */
  async close(): Promise<void> {
    this.#closed = true;
    await Promise.all([...[...this.#sandboxes].map((s) => s.destroy()), this.#pool?.close()]);
    await this.#snapshots?.close();
  }
}

/**
 * A stem cell: a sandbox of the built-in nodejs runtime started for a shape
 * and no function, its runtime waiting on its Runtime API for an assignment
 * (ASSIGNMENT_PATH). It waits in the worker's pool until a cold start takes
 * it; the LocalSandbox that takes it binds the code, answers the runtime,
 * and from then on owns the process, the Runtime API (this object only
 * forwards the API's calls to it) and the logs.
 */
class StemCell implements PoolCell, RuntimeApiListener {
  readonly id: string;
  readonly shape: CellShape;
  readonly api: RuntimeApi;
  readonly ready: Promise<void>;
  readonly exited: Promise<void>;
  readonly #ctx: SandboxContext;
  #proc: CellProcess | undefined;
  #view: SandboxView | undefined;
  #capture: LogCapture | undefined;
  #owner: RuntimeApiListener | undefined;
  #resolveReady!: () => void;
  #rejectReady!: (err: Error) => void;
  #resolveExited!: () => void;
  #exit: SandboxExit | undefined;
  #destroying: Promise<void> | undefined;

  private constructor(shape: CellShape, ctx: SandboxContext) {
    this.id = randomBytes(16).toString('hex');
    this.shape = shape;
    this.#ctx = ctx;
    this.api = new RuntimeApi(this, { stemCell: true });
    this.ready = new Promise<void>((resolve, reject) => {
      this.#resolveReady = resolve;
      this.#rejectReady = reject;
    });
    // Whoever awaits it does so later; a cell that dies first must not be an unhandled rejection.
    this.ready.catch(() => undefined);
    this.exited = new Promise<void>((resolve) => (this.#resolveExited = resolve));
  }

  /** Starts a cell of `shape`; rejects when the backend could not. */
  static async start(shape: CellShape, ctx: SandboxContext): Promise<StemCell> {
    const cell = new StemCell(shape, ctx);
    try {
      await cell.#begin();
    } catch (err) {
      await cell.destroy();
      throw err;
    }
    return cell;
  }

  async #begin(): Promise<void> {
    const ctx = this.#ctx;
    const backend = ctx.backend;
    if (backend.startCell === undefined) throw new Error(`the ${backend.name} backend has no stem cells`);
    await access(ctx.nodeEntry, fsConstants.R_OK);
    const proc = await backend.startCell({
      id: this.id,
      runtimeDir: dirname(ctx.nodeEntry),
      memorySize: this.shape.memorySize,
      ephemeralStorage: this.shape.ephemeralStorage,
      runtimeApi: this.api.server,
      launch: (view) => {
        this.#view = view;
        return cellLaunch(this.shape, view, { nodePath: process.execPath, nodeEntry: basename(ctx.nodeEntry), runtimeSnapshot: ctx.runtimeSnapshot });
      },
    });
    this.#proc = proc;
    if (this.#destroying !== undefined) {
      await proc.dispose();
      throw new Error(`stem cell ${this.id} was destroyed while starting`);
    }
    const onLog = ctx.onLog;
    this.#capture = new LogCapture(proc.stdout, proc.stderr, onLog && ((text) => onLog(this.id, text)));
    void proc.exited.then((exit) => {
      this.#exit = exit;
      this.#rejectReady(new Error(`stem cell ${this.id} exited before it was ready (${exit.signal ?? `exit ${String(exit.code)}`})`));
      // Waiting in the pool: gone for good. Taken: its sandbox deals with it.
      if (this.#owner === undefined) void this.destroy();
    });
  }

  /** The backend's process of the cell (set once started). */
  get proc(): CellProcess {
    return this.#proc as CellProcess;
  }

  /** How the sandbox sees its places (final: the code appears at view.taskRoot). */
  get view(): SandboxView {
    return this.#view as SandboxView;
  }

  get capture(): LogCapture {
    return this.#capture as LogCapture;
  }

  /** How the cell's process ended, once it has. */
  get exit(): SandboxExit | undefined {
    return this.#exit;
  }

  /** From now on the Runtime API's calls go to `owner`, the sandbox this cell became. */
  adopt(owner: RuntimeApiListener): void {
    this.#owner = owner;
  }

  /** Stops the cell. Idempotent; never rejects. After adoption its sandbox's teardown does this. */
  destroy(): Promise<void> {
    this.#destroying ??= (async () => {
      try {
        if (this.#proc) await this.#proc.dispose();
        else this.api.server.close();
      } catch (err) {
        console.error(`kindling: stem cell ${this.id} was not cleaned up completely:`, err);
      } finally {
        this.#resolveExited();
      }
    })();
    return this.#destroying;
  }

  // ---- RuntimeApiListener: forwarded to the owner once there is one ----

  onAwaitingAssignment(): void {
    this.#proc?.ready?.();
    this.#resolveReady();
  }

  onNext(): void {
    this.#owner?.onNext();
  }

  onResponse(requestId: string, body: Buffer): void {
    this.#owner?.onResponse(requestId, body);
  }

  onResponseTooLarge(requestId: string): void {
    this.#owner?.onResponseTooLarge(requestId);
  }

  onError(requestId: string, errorType: string | undefined, body: Buffer): void {
    this.#owner?.onError(requestId, errorType, body);
  }

  onInitError(errorType: string | undefined, body: Buffer): void {
    this.#owner?.onInitError(errorType, body);
  }
}

/** Why a sandbox's init did not end with a /next. */
type InitFailure =
  | { readonly kind: 'init-error'; readonly errorType: string | undefined; readonly body: Buffer }
  | { readonly kind: 'entrypoint'; readonly message: string }
  | { readonly kind: 'exit'; readonly exit: SandboxExit }
  | { readonly kind: 'init-timeout' };

/** How the runtime ended one invoke. */
type InvokeResult =
  | { readonly kind: 'response'; readonly body: Buffer }
  | { readonly kind: 'error'; readonly errorType: string | undefined; readonly body: Buffer }
  | { readonly kind: 'too-large' }
  | { readonly kind: 'timeout' }
  | { readonly kind: 'exit'; readonly exit: SandboxExit };

interface PendingInvoke {
  readonly requestId: string;
  readonly resolve: (result: InvokeResult) => void;
}

// Function.ResponseSizeTooLarge as Lambda answers it (recorded against AWS in
// localstack's test_lambda_too_large_response snapshot): errorMessage first,
// and no RequestId prefix.
const RESPONSE_TOO_LARGE = Buffer.from(
  JSON.stringify({
    errorMessage: `Response payload size exceeded maximum allowed payload size (${MAX_RUNTIME_PAYLOAD_SIZE} bytes).`,
    errorType: 'Function.ResponseSizeTooLarge',
  }),
);

/** One sandbox: a process tree from the backend, its Runtime API, its logs. */
class LocalSandbox implements Sandbox, RuntimeApiListener {
  /** 32 hex digits: the tail of Lambda's log stream name. */
  readonly id: string;
  readonly spec: FunctionVersionSpec;
  readonly exited: Promise<void>;
  readonly #ctx: SandboxContext;
  readonly #nodejs: boolean;
  #resolveExited!: () => void;
  #api: RuntimeApi | undefined;
  #proc: SandboxProcess | undefined;
  #capture: LogCapture | undefined;
  /** The sandbox's log stream, when the worker keeps logs. */
  #log: SandboxLog | undefined;

  #spawnAt = 0;
  #initTimer: Timer | undefined;
  /** Ends the init phase's CPU boost after Lambda's 10 s init limit (see #endInitPhase). */
  #initPhaseTimer: Timer | undefined;
  #init: 'pending' | 'ready' | InitFailure = 'pending';
  #initDurationMs: number | undefined;
  #initSettled!: () => void;
  readonly #initPromise: Promise<void>;
  #firstInvokeSettled!: () => void;
  /** Resolves once the first invoke has its outcome (see firstInvokeSettled). */
  readonly firstInvokeSettled: Promise<void>;

  #pending: PendingInvoke | undefined;
  #busy = false;
  #invokes = 0;
  #exit: SandboxExit | undefined;
  /** Set when the sandbox must serve no more invokes (timeout, crash, init failure). */
  #condemned = false;
  #lastPeakMB = 0;
  /** Request id whose START line was written (to the log subscriber and the log stream): #run writes it at delivery, and an init failure never delivers. */
  #started: string | undefined;
  /** destroy() was called by the owner (not an internal teardown). */
  #destroyed = false;
  #teardown: Promise<void> | undefined;

  /** `cell`: the stem cell this sandbox will be made of (its id becomes the sandbox's). */
  constructor(spec: FunctionVersionSpec, ctx: SandboxContext, cell?: StemCell) {
    this.id = cell?.id ?? randomBytes(16).toString('hex');
    this.spec = spec;
    this.#ctx = ctx;
    this.#nodejs = NODEJS_RUNTIMES.has(spec.runtime);
    this.exited = new Promise<void>((resolve) => (this.#resolveExited = resolve));
    this.#initPromise = new Promise<void>((resolve) => (this.#initSettled = resolve));
    this.firstInvokeSettled = new Promise<void>((resolve) => (this.#firstInvokeSettled = resolve));
  }

  /** Resolves once the init phase is over: the runtime is ready, or init failed. */
  get initSettled(): Promise<void> {
    return this.#initPromise;
  }

  /** Starts the sandbox: from `cell` when given (and usable), else a new one from the backend. */
  async start(cell?: StemCell): Promise<void> {
    const spec = this.spec;
    if (!this.#nodejs && !CUSTOM_RUNTIMES.has(spec.runtime)) {
      throw new Error(`runtime ${spec.runtime} is not supported by this worker`);
    }
    if (cell !== undefined && (await this.#adopt(cell))) return;
    let bootstrapFromOpt = false;
    const ctx = this.#ctx;
    const streamName = logStreamName(ctx.clock.now(), spec.version, this.id);
    this.#openLog(streamName);
    if (this.#nodejs) {
      // A platform fault, not the function's: the runtime was not built.
      await access(this.#ctx.nodeEntry, fsConstants.R_OK);
    } else {
      // Lambda runs /var/task/bootstrap, else /opt/bootstrap (a layer's).
      let problem = await bootstrapProblem(join(spec.codeDir, 'bootstrap'), '/var/task/bootstrap');
      if (problem === NO_BOOTSTRAP && spec.optDir !== undefined) {
        problem = await bootstrapProblem(join(spec.optDir, 'bootstrap'), '/opt/bootstrap');
        bootstrapFromOpt = problem === undefined;
      }
      if (problem !== undefined) {
        // As on Lambda the sandbox "starts" and its first invoke reports the
        // missing entrypoint; there is no process to run.
        this.#failInit({ kind: 'entrypoint', message: problem });
        return;
      }
    }
    this.#api = new RuntimeApi(this);
    this.#spawnAt = performance.now();
    const proc = await ctx.backend.start({
      id: this.id,
      codeDir: spec.codeDir,
      ...(spec.optDir !== undefined ? { optDir: spec.optDir } : {}),
      // /var/runtime: the nodejs runtime's directory; for provided.* (where
      // Lambda's /var/runtime holds nothing the function uses) the parent of
      // the built-in runtimes.
      runtimeDir: this.#nodejs ? dirname(ctx.nodeEntry) : dirname(dirname(ctx.nodeEntry)),
      memorySize: spec.memorySize,
      ephemeralStorage: spec.ephemeralStorage,
      egress: spec.egress ?? 'none',
      runtimeApi: this.#api.server,
      launch: (view) =>
        sandboxLaunch(spec, view, {
          logStreamName: streamName,
          credentials: ctx.credentials,
          nodePath: process.execPath,
          nodeEntry: basename(ctx.nodeEntry),
          bootstrapFromOpt,
          runtimeSnapshot: ctx.runtimeSnapshot,
        }),
    });
    if (this.#teardown !== undefined) {
      // destroy() (say, worker.close()) ran while the backend was starting.
      await proc.dispose();
      throw new Error(`sandbox ${this.id} was destroyed while starting`);
    }
    this.#proc = proc;
    const onLog = ctx.onLog;
    this.#capture = new LogCapture(proc.stdout, proc.stderr, onLog && ((text) => onLog(this.id, text)));
    this.#capture.listener = this.#log;
    this.#armInit();
    void proc.exited.then((exit) => this.#onExit(exit));
  }

  /**
   * Starts the sandbox's log stream (when the worker keeps logs) with
   * Lambda's INIT_START line. Runtime Version: Kindling runs every nodejs
   * runtime on the host's node, so it names that node's version; the ARN
   * has Lambda's shape (arn:aws:lambda:REGION::runtime:ID).
   */
  #openLog(streamName: string): void {
    const sink = this.#ctx.logSink;
    if (sink === undefined) return;
    const spec = this.spec;
    this.#log = new SandboxLog({
      sink,
      logGroupName: `/aws/lambda/${spec.functionName}`,
      logStreamName: streamName,
      clock: this.#ctx.clock,
    });
    const family = spec.runtime.replace(/\.x$/, '').replace(/^nodejs(\d+)$/, 'nodejs:$1').replace(/^provided\./, 'provided:');
    const version = this.#nodejs ? `${family}.v${process.versions.node}` : family;
    this.#log.platform(`INIT_START Runtime Version: ${version}\tRuntime Version ARN: arn:aws:lambda:${spec.region}::runtime:kindling-${spec.runtime}`);
  }

  /**
   * Makes `cell` this sandbox: binds the code at its task root, then gives
   * its runtime the function's launch environment (the one a sandbox
   * started for the function gets, built for the same view). Init Duration
   * counts from here: binding the code is part of this cold start, so it is
   * what the caller waits for between the invoke and a ready runtime.
   * Resolves false when the cell turned out unusable (it is destroyed and
   * the caller starts a sandbox of its own instead).
   */
  async #adopt(cell: StemCell): Promise<boolean> {
    const spec = this.spec;
    const ctx = this.#ctx;
    this.#spawnAt = performance.now();
    // A destroy() from now on disposes the cell.
    this.#proc = cell.proc;
    try {
      await cell.proc.bind(spec.codeDir);
      if (cell.exit !== undefined) throw new Error('the stem cell exited');
    } catch (err) {
      if (this.#teardown !== undefined) throw new Error(`sandbox ${this.id} was destroyed while starting`);
      console.error(`kindling: stem cell ${cell.id} could not take ${spec.functionArn}; starting a sandbox for it instead:`, err);
      this.#proc = undefined;
      await cell.destroy();
      return false;
    }
    if (this.#teardown !== undefined) throw new Error(`sandbox ${this.id} was destroyed while starting`);
    cell.adopt(this);
    const api = cell.api;
    this.#api = api;
    this.#capture = cell.capture;
    const streamName = logStreamName(ctx.clock.now(), spec.version, this.id);
    this.#openLog(streamName);
    this.#capture.listener = this.#log;
    const launch = sandboxLaunch(spec, cell.view, {
      logStreamName: streamName,
      credentials: ctx.credentials,
      nodePath: process.execPath,
      nodeEntry: basename(ctx.nodeEntry),
    });
    api.assign(Buffer.from(JSON.stringify(launch.env)));
    this.#armInit();
    void cell.proc.exited.then((exit) => this.#onExit(exit));
    return true;
  }

  /** The init phase's timers, from now (see below). */
  #armInit(): void {
    const ctx = this.#ctx;
    const spec = this.spec;
    // Lambda limits init to 10 s and then retries it inside the first
    // invoke, under the function's timeout. Kindling does not restart the
    // runtime; it lets the one init run for 10 s + the timeout, which gives
    // the same outcome for an init that is merely slow (it succeeds) and for
    // one that never ends (Sandbox.Timedout with the function's timeout).
    if (this.#init === 'pending') {
      this.#initTimer = ctx.clock.setTimeout(() => this.#initTimedOut(), ctx.initTimeoutMs + spec.timeout * 1000);
      // Lambda's init phase ends after 10 s; what still runs then is the
      // init retried inside the first invoke, which Lambda throttles as any
      // invoke.
      this.#initPhaseTimer = ctx.clock.setTimeout(() => this.#endInitPhase(), ctx.initTimeoutMs);
    } else {
      this.#endInitPhase();
    }
  }

  // ---- RuntimeApiListener: called synchronously by the Runtime API ----

  onNext(): void {
    if (this.#init !== 'pending') return;
    this.#initDurationMs = performance.now() - this.#spawnAt;
    this.#init = 'ready';
    if (this.#initTimer) this.#ctx.clock.clearTimeout(this.#initTimer);
    this.#endInitPhase();
    this.#initSettled();
  }

  onResponse(requestId: string, body: Buffer): void {
    this.#settle(requestId, { kind: 'response', body });
  }

  onResponseTooLarge(requestId: string): void {
    this.#settle(requestId, { kind: 'too-large' });
  }

  onError(requestId: string, errorType: string | undefined, body: Buffer): void {
    this.#settle(requestId, { kind: 'error', errorType, body });
  }

  onInitError(errorType: string | undefined, body: Buffer): void {
    if (this.#init === 'pending') this.#failInit({ kind: 'init-error', errorType, body });
  }

  // ---- Sandbox ----

  async invoke(req: SandboxInvokeRequest): Promise<SandboxInvokeOutcome> {
    if (this.#busy) throw new Error(`sandbox ${this.id} is already running an invoke`);
    if (this.#destroyed) throw new Error(`sandbox ${this.id} was destroyed`);
    this.#busy = true;
    const cold = this.#invokes++ === 0;
    try {
      if (this.#init === 'pending') {
        const waitStart = performance.now();
        await this.#initPromise;
        if (typeof this.#init === 'object') return await this.#initFailed(req, this.#init, cold, performance.now() - waitStart);
      } else if (typeof this.#init === 'object') {
        return await this.#initFailed(req, this.#init, cold, 0);
      }
      if (this.#exit !== undefined) {
        // Died while idle, before anyone noticed.
        return await this.#initFailed(req, { kind: 'exit', exit: this.#exit }, cold, 0);
      }
      return await this.#run(req, cold);
    } finally {
      this.#busy = false;
      if (cold) {
        this.#firstInvokeSettled();
        this.#proc?.firstInvokeDone?.();
      }
      if (this.#condemned || this.#exit !== undefined) void this.#tearDown();
    }
  }

  destroy(): Promise<void> {
    this.#destroyed = true;
    return this.#tearDown();
  }

  /**
   * Kills the tree, closes the Runtime API, removes private files; then
   * `exited` resolves. Never rejects: it runs unawaited when a sandbox dies
   * on its own, and a failed clean-up (a cgroup that would not empty, a
   * directory that would not go) must neither crash the platform nor keep
   * the sandbox counted by the worker, placement and the worker manager.
   */
  #tearDown(): Promise<void> {
    this.#teardown ??= (async () => {
      if (this.#initTimer) this.#ctx.clock.clearTimeout(this.#initTimer);
      if (this.#initPhaseTimer) this.#ctx.clock.clearTimeout(this.#initPhaseTimer);
      try {
        if (this.#proc) {
          await this.#proc.dispose();
        } else {
          this.#api?.server.close();
        }
      } catch (err) {
        console.error(`kindling: sandbox ${this.id} was not cleaned up completely:`, err);
      } finally {
        // The process is gone: what it left unterminated goes out now.
        this.#log?.close();
        this.#resolveExited();
      }
    })();
    return this.#teardown;
  }

  // ---- the invoke ----

  async #run(req: SandboxInvokeRequest, cold: boolean): Promise<SandboxInvokeOutcome> {
    const api = this.#api as RuntimeApi;
    const clock = this.#ctx.clock;
    const id = req.requestId;
    // Init that ran past Lambda's 10 s init phase was, on Lambda, retried
    // inside this invoke and counted against its timeout: so it is here,
    // and a cold invoke never outlasts the init phase + its own timeout.
    const initOverrun = cold ? Math.max(0, (this.#initDurationMs ?? 0) - this.#ctx.initTimeoutMs) : 0;
    const timeoutMs = Math.max(1, this.spec.timeout * 1000 - initOverrun);
    const result = new Promise<InvokeResult>((resolve) => {
      this.#pending = { requestId: id, resolve };
    });
    this.#writeStart(id);
    const start = performance.now();
    const now = clock.now();
    api.deliver({
      requestId: id,
      payload: req.payload,
      deadlineMs: now + timeoutMs,
      invokedFunctionArn: req.invokedFunctionArn,
      traceId: traceIdFor(id, now),
      clientContext: req.clientContext,
    });
    // The invoke's only timer: the deadline.
    const timer = clock.setTimeout(() => this.#timedOut(id), timeoutMs);
    const r = await result;
    const durationMs = performance.now() - start;
    clock.clearTimeout(timer);
    return this.#finish(req, r, durationMs, cold);
  }

  #settle(requestId: string, result: InvokeResult): void {
    const pending = this.#pending;
    if (pending === undefined || pending.requestId !== requestId) return;
    this.#pending = undefined;
    pending.resolve(result);
  }

  #timedOut(requestId: string): void {
    if (this.#pending?.requestId !== requestId) return;
    this.#readPeakMB(); // the last chance: the process is about to die
    this.#proc?.kill();
    this.#settle(requestId, { kind: 'timeout' });
  }

  async #finish(req: SandboxInvokeRequest, r: InvokeResult, durationMs: number, cold: boolean): Promise<SandboxInvokeOutcome> {
    const id = req.requestId;
    let payload: Buffer;
    let errorType: string | undefined;
    let faultLine = '';
    switch (r.kind) {
      case 'response':
        return this.#outcome(req, r.body, null, '', durationMs, cold, true);
      case 'error':
        payload = r.body;
        errorType = r.errorType ?? errorTypeOf(r.body);
        return this.#outcome(req, payload, errorType, '', durationMs, cold, true);
      case 'too-large':
        return this.#outcome(req, RESPONSE_TOO_LARGE, 'Function.ResponseSizeTooLarge', '', durationMs, cold, true);
      case 'timeout':
        payload = timeoutPayload(id, this.spec.timeout);
        faultLine = `${new Date(this.#ctx.clock.now()).toISOString()} ${id} Task timed out after ${(durationMs / 1000).toFixed(2)} seconds\n\n`;
        return this.#outcome(req, payload, 'Sandbox.Timedout', faultLine, durationMs, cold, false);
      case 'exit': {
        const message = exitMessage(r.exit);
        payload = errorPayload('Runtime.ExitError', `RequestId: ${id} Error: ${message}`);
        faultLine = faultLineOf(id, message, 'Runtime.ExitError');
        return this.#outcome(req, payload, 'Runtime.ExitError', faultLine, durationMs, cold, false);
      }
    }
  }

  /** The first (or any later) invoke of a sandbox whose init failed. */
  async #initFailed(req: SandboxInvokeRequest, failure: InitFailure, cold: boolean, durationMs: number): Promise<SandboxInvokeOutcome> {
    const id = req.requestId;
    // Whatever is still running is of no use now; killing it also ends its
    // pipes, so the log below is complete.
    this.#proc?.kill();
    switch (failure.kind) {
      case 'init-error':
        return this.#outcome(req, failure.body, failure.errorType ?? errorTypeOf(failure.body), '', durationMs, cold, false);
      case 'entrypoint': {
        const payload = errorPayload('Runtime.InvalidEntrypoint', `RequestId: ${id} Error: ${failure.message}`);
        return this.#outcome(req, payload, 'Runtime.InvalidEntrypoint', faultLineOf(id, failure.message, 'Runtime.InvalidEntrypoint'), durationMs, cold, false);
      }
      case 'exit': {
        const message = exitMessage(failure.exit);
        const payload = errorPayload('Runtime.ExitError', `RequestId: ${id} Error: ${message}`);
        return this.#outcome(req, payload, 'Runtime.ExitError', faultLineOf(id, message, 'Runtime.ExitError'), durationMs, cold, false);
      }
      case 'init-timeout': {
        const line = `${new Date(this.#ctx.clock.now()).toISOString()} ${id} Task timed out after ${this.spec.timeout.toFixed(2)} seconds\n\n`;
        return this.#outcome(req, timeoutPayload(id, this.spec.timeout), 'Sandbox.Timedout', line, durationMs, cold, false);
      }
    }
  }

  /**
   * Builds the outcome and, when wanted, the invoke's log:
   * START, the function's lines, the platform's error line, END, REPORT —
   * Lambda's text format (the REPORT fields tab-separated with a trailing
   * tab, Init Duration after Max Memory Used on cold starts, Billed Duration
   * rounded up to the millisecond).
   */
  async #outcome(
    req: SandboxInvokeRequest,
    payload: Buffer,
    /** null: success; otherwise the function failed, with this type if known. */
    errorType: string | undefined | null,
    faultLine: string,
    durationMs: number,
    cold: boolean,
    reusable: boolean,
  ): Promise<SandboxInvokeOutcome> {
    if (!reusable) {
      this.#condemned = true;
      // The sandbox is torn down once this invoke returns and its peak goes
      // with it: read it now, so an out-of-memory kill reports what the
      // function really used (≈ MemorySize), not the previous invoke's peak.
      this.#readPeakMB();
    }
    const id = req.requestId;
    const initDurationMs = cold ? this.#initDurationMs : undefined;
    const onLog = this.#ctx.onLog;
    const capture = this.#capture;
    // The invoke's output: all of it has been read once the event loop's
    // turn that read the result is over (log-capture.ts); a dead sandbox's,
    // once its pipes end.
    if (capture) await (reusable ? endOfTurn() : capture.untilEnded(LOG_FLUSH_LIMIT_MS));
    const text = capture ? capture.take() : '';
    let logs: string | undefined;
    let peakMB: number | undefined;
    const log = this.#log;
    if (req.wantLogs || onLog || log) {
      peakMB = reusable ? this.#readPeakMB() : this.#lastPeakMB;
      const endLine = `END RequestId: ${id}`;
      const reportLine =
        `REPORT RequestId: ${id}\tDuration: ${durationMs.toFixed(2)} ms\tBilled Duration: ${Math.max(1, Math.ceil(durationMs))} ms\t` +
        `Memory Size: ${this.spec.memorySize} MB\tMax Memory Used: ${peakMB} MB\t` +
        (initDurationMs !== undefined ? `Init Duration: ${initDurationMs.toFixed(2)} ms\t` : '');
      const tail = `${endLine}\n${reportLine}\n`;
      this.#writeStart(id);
      log?.platform(faultLine, endLine, reportLine);
      onLog?.(this.id, faultLine + tail);
      if (req.wantLogs) logs = `START RequestId: ${id} Version: ${this.spec.version}\n${text}${faultLine}${tail}`;
    }
    const functionError = errorType === null ? undefined : ('Unhandled' as const);
    if (peakMB !== undefined) {
      return { payload, functionError, errorType: errorType ?? undefined, logs, reusable, cold, durationMs, initDurationMs, maxMemoryUsedMB: peakMB };
    }
    // Peak memory costs a /proc read (~8 µs); nothing on the warm path needs
    // it unless someone looks, so it is read on first access. Read later than
    // right after the invoke, it may include the sandbox's next invokes.
    let peak: number | undefined = reusable ? undefined : this.#lastPeakMB;
    const read = (): number => (peak ??= this.#readPeakMB());
    return {
      payload,
      functionError,
      errorType: errorType ?? undefined,
      logs,
      reusable,
      cold,
      durationMs,
      initDurationMs,
      get maxMemoryUsedMB() {
        return read();
      },
    };
  }

  /** The invoke's START line, once: at delivery, or with the END of an init failure, which never delivered. */
  #writeStart(requestId: string): void {
    if (this.#started === requestId) return;
    this.#started = requestId;
    const line = `START RequestId: ${requestId} Version: ${this.spec.version}`;
    this.#ctx.onLog?.(this.id, `${line}\n`);
    this.#log?.platform(line);
  }

  #readPeakMB(): number {
    const bytes = this.#proc?.peakMemoryBytes();
    if (bytes !== undefined) this.#lastPeakMB = Math.ceil(bytes / MiB);
    return this.#lastPeakMB;
  }

  // ---- lifecycle ----

  #failInit(failure: InitFailure): void {
    this.#init = failure;
    this.#initDurationMs = this.#spawnAt === 0 ? 0 : performance.now() - this.#spawnAt;
    if (this.#initTimer) this.#ctx.clock.clearTimeout(this.#initTimer);
    this.#endInitPhase();
    this.#initSettled();
  }

  /**
   * Tells the backend the init phase is over (the runtime's first /next, an
   * init error or exit, or Lambda's 10 s init limit), so it applies the
   * invoke phase's CPU share; see SandboxProcess.initDone. Idempotent.
   */
  #endInitPhase(): void {
    if (this.#initPhaseTimer) {
      this.#ctx.clock.clearTimeout(this.#initPhaseTimer);
      this.#initPhaseTimer = undefined;
    }
    this.#proc?.initDone?.();
  }

  #initTimedOut(): void {
    if (this.#init !== 'pending') return;
    this.#failInit({ kind: 'init-timeout' });
    this.#proc?.kill();
  }

  #onExit(exit: SandboxExit): void {
    this.#exit = exit;
    if (this.#init === 'pending') this.#failInit({ kind: 'exit', exit });
    const pending = this.#pending;
    if (pending) this.#settle(pending.requestId, { kind: 'exit', exit });
    // An exit while idle: tear down now, so `exited` tells the worker manager.
    // During an invoke, invoke() tears down once its outcome is built.
    if (!this.#busy) void this.#tearDown();
  }
}

const NO_BOOTSTRAP = "Couldn't find valid bootstrap(s): [/var/task/bootstrap /opt/bootstrap]";

/** Why a provided.* bootstrap at `path` (shown to the function as `inside`) cannot run, in Lambda's words; undefined when it can. */
async function bootstrapProblem(path: string, inside: string): Promise<string | undefined> {
  try {
    const s = await stat(path);
    if (!s.isFile()) return NO_BOOTSTRAP;
  } catch {
    return NO_BOOTSTRAP;
  }
  try {
    await access(path, fsConstants.X_OK);
  } catch {
    return `fork/exec ${inside}: permission denied`;
  }
  return undefined;
}

/**
 * RAPID's text for a runtime that exited (RIE internal/lambda/rapid: "Runtime
 * exited without providing a reason" for status 0, else "Runtime exited with
 * error: " + Go's ProcessState text: "exit status N" or "signal: <name>").
 */
function exitMessage(exit: SandboxExit): string {
  if (exit.signal) return `Runtime exited with error: signal: ${GO_SIGNAL_NAMES[exit.signal] ?? exit.signal}`;
  if (exit.code === 0 || exit.code === null) return 'Runtime exited without providing a reason';
  return `Runtime exited with error: exit status ${exit.code}`;
}

/** Go's syscall.Signal.String() names, which Lambda's messages use. */
const GO_SIGNAL_NAMES: Partial<Record<NodeJS.Signals, string>> = {
  SIGABRT: 'aborted',
  SIGALRM: 'alarm clock',
  SIGBUS: 'bus error',
  SIGFPE: 'floating point exception',
  SIGHUP: 'hangup',
  SIGILL: 'illegal instruction',
  SIGINT: 'interrupt',
  SIGKILL: 'killed',
  SIGPIPE: 'broken pipe',
  SIGQUIT: 'quit',
  SIGSEGV: 'segmentation fault',
  SIGSYS: 'bad system call',
  SIGTERM: 'terminated',
  SIGTRAP: 'trace/breakpoint trap',
  SIGUSR1: 'user defined signal 1',
  SIGUSR2: 'user defined signal 2',
  SIGXCPU: 'CPU time limit exceeded',
  SIGXFSZ: 'file size limit exceeded',
};

/** Lambda's error body for platform-detected failures: errorType first (as recorded against AWS). */
function errorPayload(errorType: string, errorMessage: string): Buffer {
  return Buffer.from(JSON.stringify({ errorType, errorMessage }));
}

/** `RequestId: <id> Error: Task timed out after 3.00 seconds` — the configured timeout, two decimals. */
function timeoutPayload(requestId: string, timeoutSeconds: number): Buffer {
  return errorPayload('Sandbox.Timedout', `RequestId: ${requestId} Error: Task timed out after ${timeoutSeconds.toFixed(2)} seconds`);
}

/** RAPID's log line for a fault (RIE interop FaultData.String()). */
function faultLineOf(requestId: string, message: string, errorType: string): string {
  return `RequestId: ${requestId} Error: ${message}\n${errorType}\n`;
}

/** errorType of a posted error body when the runtime sent no header (error path only). */
function errorTypeOf(body: Buffer): string | undefined {
  try {
    const parsed: unknown = JSON.parse(body.toString('utf8'));
    if (parsed !== null && typeof parsed === 'object' && 'errorType' in parsed && typeof parsed.errorType === 'string') {
      return parsed.errorType;
    }
  } catch {
    // not JSON: no type
  }
  return undefined;
}

/**
 * An X-Ray trace header for the invoke, derived from the request id (no
 * randomness on the hot path): Root=1-<epoch seconds hex>-<24 hex>;Parent=<16 hex>;Sampled=0.
 */
function traceIdFor(requestId: string, now: number): string {
  const hex = requestId.replace(/-/g, '');
  const root = hex.length >= 24 ? hex.slice(0, 24) : hex.padEnd(24, '0');
  const parent = hex.length >= 32 ? hex.slice(16, 32) : root.slice(8, 24);
  return `Root=1-${Math.floor(now / 1000).toString(16)}-${root};Parent=${parent};Sampled=0`;
}
