import type { Server } from 'node:http';
import type { Readable } from 'node:stream';
import type { Egress } from '../../shared/spec.js';

/**
 * How the sandbox sees the places it is given. The worker builds the
 * sandbox's command line and environment from this view, so one worker works
 * with every backend: the process backend shows host paths and a TCP address,
 * a namespace backend shows Lambda's own paths (/var/task, /var/runtime, /opt)
 * and a channel bound into the sandbox.
 */
export interface SandboxView {
  /** The function's code as the sandbox sees it (Lambda: /var/task). */
  readonly taskRoot: string;
  /** The runtime directory as the sandbox sees it (Lambda: /var/runtime). */
  readonly runtimeDir: string;
  /** Layers directory (Lambda: /opt); undefined when the backend provides none. */
  readonly optDir: string | undefined;
  /** host:port the sandbox's runtime uses to reach its Runtime API (AWS_LAMBDA_RUNTIME_API). */
  readonly runtimeApi: string;
  /** The backend's snapshotDir as the sandbox sees it (read-only); undefined when the backend has none. */
  readonly snapshotDir?: string | undefined;
}

/** What to run inside the sandbox, built by the worker from the backend's view. */
export interface SandboxLaunch {
  /** Executable, as the sandbox sees it. */
  readonly command: string;
  readonly args: readonly string[];
  /**
   * The complete environment of the sandbox. Nothing of the host's is added;
   * a backend may add only what it needs to emulate the Lambda filesystem
   * (the process backend adds TMPDIR because it has no private /tmp).
   */
  readonly env: Readonly<Record<string, string>>;
}

/** What the worker asks a backend to start. */
export interface SandboxStartOptions {
  /** Unique id of the sandbox (names its private directories). */
  readonly id: string;
  /** Host path of the unpacked function code (shown as view.taskRoot). */
  readonly codeDir: string;
  /**
   * Host path of the function's merged layers (shown read-only as
   * view.optDir, Lambda's /opt); absent when the function has no layers.
   */
  readonly optDir?: string;
  /** Host path of the runtime directory (shown as view.runtimeDir). */
  readonly runtimeDir: string;
  /** MB; backends that can enforce it do (cgroups). */
  readonly memorySize: number;
  /** MB of private /tmp; backends that can enforce it do. */
  readonly ephemeralStorage: number;
  /**
   * The function's network egress (absent: 'none'). The namespace backend
   * gives 'internet' through a user-mode NAT (network.ts); gvisor refuses
   * it; the process backend isolates nothing and ignores it.
   */
  readonly egress?: Egress;
  /**
   * The sandbox's Runtime API, created by the worker and not yet listening.
   * The backend makes it reachable from inside the sandbox — and only from
   * there, where it can — and unreachable again on dispose().
   */
  readonly runtimeApi: Server;
  /** Builds the command and environment once the backend knows its view. */
  launch(view: SandboxView): SandboxLaunch;
}

/** How a sandbox's main process ended: exactly one of code and signal is set. */
export interface SandboxExit {
  readonly code: number | null;
  readonly signal: NodeJS.Signals | null;
}

/** One started sandbox: an isolated process tree. */
export interface SandboxProcess {
  /** Host pid of the sandbox's main process. */
  readonly pid: number;
  /** The sandbox's stdout and stderr. The caller must consume both. */
  readonly stdout: Readable;
  readonly stderr: Readable;
  /** Resolves when the main process has exited (never rejects). */
  readonly exited: Promise<SandboxExit>;
  /** SIGKILLs the whole process tree. Idempotent; returns at once. */
  kill(): void;
  /**
   * Called by the worker once the sandbox's init phase is over: its runtime
   * asked for its first event (GET /invocation/next), reported an init
   * error, or ran past Lambda's 10 s init limit. Backends that limit CPU in
   * proportion to memory run init unthrottled, as Lambda does for on-demand
   * environments, and apply the proportional share here. Idempotent; optional.
   */
  initDone?(): void;
  /**
   * Called by the worker once the sandbox has answered its first invoke (or
   * failed it): its cold start is over, and a backend may now do the
   * background work it keeps off a cold start's way (preparing the next
   * sandbox). Idempotent; optional.
   */
  firstInvokeDone?(): void;
  /**
   * Peak memory in bytes as far as this backend can measure it, or undefined
   * when the sandbox is gone. Cheap enough to call once per invoke, but not free.
   */
  peakMemoryBytes(): number | undefined;
  /**
   * kill(), waits for the exit, makes the Runtime API unreachable and removes
   * the sandbox's private files. Idempotent.
   */
  dispose(): Promise<void>;
}

/**
 * What the worker asks a backend to start as a stem cell: a sandbox with the
 * backend's full isolation and no function code yet. Its task root
 * (view.taskRoot) is empty until bind(); its runtime starts, connects to its
 * Runtime API and waits there for its assignment.
 */
export interface CellStartOptions {
  /** Unique id of the sandbox (names its private directories). */
  readonly id: string;
  /** Host path of the runtime directory (shown as view.runtimeDir). */
  readonly runtimeDir: string;
  /** MB; backends that can enforce it do, from the start (it is part of the cell's shape). */
  readonly memorySize: number;
  /** MB of private /tmp. */
  readonly ephemeralStorage: number;
  /** As SandboxStartOptions.runtimeApi. */
  readonly runtimeApi: Server;
  /**
   * Builds the command and environment once the backend knows its view.
   * The view is final: bind() later fills view.taskRoot, it never moves it.
   */
  launch(view: SandboxView): SandboxLaunch;
}

/** A started stem cell: a SandboxProcess whose code is bound later, once. */
export interface CellProcess extends SandboxProcess {
  /**
   * Makes `codeDir` appear, read-only to the sandbox, at the view's task
   * root. Called once, before the runtime is told its function. Rejects
   * when the code could not be bound; the cell is then of no use and must
   * be disposed.
   */
  bind(codeDir: string): Promise<void>;
  /**
   * Called once the cell's runtime waits for its assignment (the sandbox is
   * fully set up): a backend may prepare bind() here. Optional.
   */
  ready?(): void;
}

/** Starts sandboxes on this host: process | namespace | gvisor. */
export interface SandboxBackend {
  readonly name: string;
  /**
   * Starts one sandbox. Rejects when the sandbox could not be created at all
   * (a platform failure); a command that cannot be executed starts and exits
   * instead, as a process would.
   */
  start(options: SandboxStartOptions): Promise<SandboxProcess>;
  /**
   * Starts a stem cell (see CellStartOptions). Absent on backends that
   * cannot bind code into a running sandbox; rejects as start() does.
   */
  startCell?(options: CellStartOptions): Promise<CellProcess>;
  /**
   * Why this backend cannot start stem cells on this host (one line), or
   * undefined when it can (startCell present). Absent: same as undefined.
   */
  readonly stemCellsUnavailable?: string | undefined;
  /**
   * A host directory, readable by every sandbox, where workers keep the
   * built-in runtime's startup snapshots (../runtime-snapshots.ts) and
   * write them as root or the platform's user; every sandbox sees it
   * read-only as view.snapshotDir. Absent: sandboxes start without them.
   */
  readonly snapshotDir?: string;
}

/**
 * A backend cannot run on this host. The message is one line saying what is
 * missing and what to do; `kindling up` prints it and exits 2 rather than
 * falling back to a weaker sandbox.
 */
export class SandboxUnavailableError extends Error {
  override readonly name: string = 'SandboxUnavailableError';
}
