import type { Server } from 'node:http';
import type { Readable } from 'node:stream';

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
  /** Host path of the runtime directory (shown as view.runtimeDir). */
  readonly runtimeDir: string;
  /** MB; backends that can enforce it do (cgroups). */
  readonly memorySize: number;
  /** MB of private /tmp; backends that can enforce it do. */
  readonly ephemeralStorage: number;
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

/** Starts sandboxes on this host: process | namespace | gvisor. */
export interface SandboxBackend {
  readonly name: string;
  /**
   * Starts one sandbox. Rejects when the sandbox could not be created at all
   * (a platform failure); a command that cannot be executed starts and exits
   * instead, as a process would.
   */
  start(options: SandboxStartOptions): Promise<SandboxProcess>;
}

/**
 * A backend cannot run on this host. The message is one line saying what is
 * missing and what to do; `kindling up` prints it and exits 2 rather than
 * falling back to a weaker sandbox.
 */
export class SandboxUnavailableError extends Error {
  override readonly name: string = 'SandboxUnavailableError';
}
