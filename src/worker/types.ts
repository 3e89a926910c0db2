import type { FunctionVersionSpec } from '../shared/spec.js';

/** One invoke delivered to one sandbox. */
export interface SandboxInvokeRequest {
  /** x-amzn-RequestId of the invoke; becomes context.awsRequestId. */
  readonly requestId: string;
  /** The event, already validated as JSON by the API ('{}' when it was empty). */
  readonly payload: Buffer;
  /** The ARN the caller invoked (qualified when a qualifier was given). */
  readonly invokedFunctionArn: string;
  /** Decoded X-Amz-Client-Context (JSON text), if any. */
  readonly clientContext: string | undefined;
  /** When true, the outcome carries the invoke's log text (for X-Amz-Log-Type: Tail). */
  readonly wantLogs: boolean;
}

/**
 * How an invoke ended. invoke() resolves with an outcome for everything the
 * function can do (return, throw, time out, crash, exceed limits) and rejects
 * only when the platform itself failed.
 */
export interface SandboxInvokeOutcome {
  /** Response body for the caller: the function's result, or Lambda's error JSON. */
  readonly payload: Buffer;
  /** 'Unhandled' when the function failed (X-Amz-Function-Error), else undefined. */
  readonly functionError: 'Unhandled' | undefined;
  /** Lambda's errorType when the function failed, e.g. 'Sandbox.Timedout', 'Runtime.ExitError'. */
  readonly errorType: string | undefined;
  /** The invoke's log (its own lines, START/END/REPORT), when wantLogs was set. */
  readonly logs: string | undefined;
  /** False when the sandbox must not serve another invoke (timeout, crash, init failure). */
  readonly reusable: boolean;
  /** True when this invoke paid the sandbox's init (a cold start). */
  readonly cold: boolean;
  readonly durationMs: number;
  readonly initDurationMs: number | undefined;
  readonly maxMemoryUsedMB: number;
}

/**
 * invoke() rejected before the event reached the sandbox (its worker could
 * not be reached at all): the function did not run, so the caller may send
 * the event to another sandbox. Any other rejection may follow a partial run.
 */
export class SandboxUnreachableError extends Error {
  override readonly name = 'SandboxUnreachableError';
}

/** A running sandbox: one function version, one invoke at a time. */
export interface Sandbox {
  readonly id: string;
  readonly spec: FunctionVersionSpec;
  invoke(request: SandboxInvokeRequest): Promise<SandboxInvokeOutcome>;
  /** Stops the sandbox and everything it started. Idempotent. */
  destroy(): Promise<void>;
  /** Resolves when the sandbox is gone, for whatever reason. */
  readonly exited: Promise<void>;
}

/** How a worker's stem cells are doing (Worker.stemCells). */
export interface StemCellStats {
  /** Cells started or starting, waiting for a function. */
  readonly pooled: number;
  /** Most cells the pool keeps (`--stem-cells`, or the default for the worker's capacity); 0 when stem cells are off. */
  readonly bound: number;
  /** Cold starts that took a cell. */
  readonly hits: number;
  /** Cold starts of a function a cell could serve that found none. */
  readonly misses: number;
}

/** A worker: provisions sandboxes on one host. */
export interface Worker {
  readonly id: string;
  /** Its stem cells' counters, as last known (a remote worker's come with its heartbeats); absent when it reports none. */
  readonly stemCells?: StemCellStats | undefined;
  /**
   * Starts a sandbox for the spec. Resolves once the sandbox process is
   * started (its init may still be running; the first invoke waits for it).
   */
  createSandbox(spec: FunctionVersionSpec): Promise<Sandbox>;
  /** Destroys every sandbox of this worker. */
  close(): Promise<void>;
}

/** One log line for a LogSink: when it reached the worker, and its text without the newline. */
export interface LogSinkEvent {
  readonly timestamp: number;
  readonly message: string;
}

/**
 * Where a worker's sandbox logs go (store/sqlite-log-store.ts in-process;
 * over the wire to the platform for a worker process). Must not block:
 * it is called on the invoke path.
 */
export interface LogSink {
  append(logGroupName: string, logStreamName: string, events: readonly LogSinkEvent[]): void;
}
