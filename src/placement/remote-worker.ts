/**
 * The platform's side of a worker in another process: a FleetWorker whose
 * sandboxes live there, reached over the wire of worker/wire.ts.
 *
 * Failure is the point of this file. A worker that dies (kill -9, a crashed
 * host) resets its connections, and the invokes in flight fail at once; a
 * worker that hangs is lost by placement when its heartbeats stop, and
 * lose() aborts whatever is still waiting on it. Either way the caller gets
 * a ServiceException that says what happened, never a hang.
 */
import { Agent, request as httpRequest } from 'node:http';
import type { IncomingMessage } from 'node:http';
import { LambdaError } from '../shared/errors.js';
import type { FunctionVersionSpec } from '../shared/spec.js';
import { SandboxUnreachableError } from '../worker/types.js';
import type { Sandbox, SandboxInvokeOutcome, SandboxInvokeRequest, StemCellStats } from '../worker/types.js';
import { H_CLIENT_CONTEXT, H_INVOKED_ARN, H_OUTCOME, H_PAYLOAD_LENGTH, H_REQUEST_ID, H_WANT_LOGS, SANDBOXES_PATH } from '../worker/wire.js';
import type { Created, OutcomeHead } from '../worker/wire.js';
import { outcomeFrom } from '../worker/wire.js';
import type { FleetWorker } from './placement.js';

export interface RemoteWorkerOptions {
  readonly id: string;
  /** http://host:port of the worker. */
  readonly url: string;
  readonly token: string;
  /**
   * Told when the worker refuses connections: nothing listens there any
   * more, so it is gone (placement loses it at once instead of waiting for
   * its heartbeats to time out).
   */
  readonly onUnreachable?: (reason: string) => void;
}

/** How long a sandbox creation may take on the worker (the runtime's start, not its init). */
const CREATE_TIMEOUT_MS = 30_000;
/** How long a best-effort destroy waits for the worker. */
const DESTROY_TIMEOUT_MS = 5_000;

interface Reply {
  readonly status: number;
  readonly headers: IncomingMessage['headers'];
  readonly body: Buffer;
}

export class RemoteWorker implements FleetWorker {
  readonly id: string;
  readonly #url: string;
  readonly #auth: string;
  /** Idle connections are dropped after 30 s, before the worker would close them (65 s). */
  readonly #agent = new Agent({ keepAlive: true, maxSockets: Infinity, timeout: 30_000 });
  /** Aborts every request in flight when the worker is lost. */
  readonly #abort = new AbortController();
  readonly #sandboxes = new Map<string, RemoteSandbox>();
  readonly #onUnreachable: ((reason: string) => void) | undefined;
  #lostReason: string | undefined;
  #stemCells: StemCellStats | undefined;

  constructor(options: RemoteWorkerOptions) {
    this.id = options.id;
    this.#onUnreachable = options.onUnreachable;
    this.#url = options.url;
    this.#auth = `Bearer ${options.token}`;
  }

  /** As the worker's last heartbeat reported them. */
  get stemCells(): StemCellStats | undefined {
    return this.#stemCells;
  }

  /** A heartbeat's stem-cell counters. */
  noteStemCells(stats: StemCellStats | undefined): void {
    this.#stemCells = stats;
  }

  async createSandbox(spec: FunctionVersionSpec): Promise<Sandbox> {
    const reply = await this.#deliver('POST', SANDBOXES_PATH, {}, Buffer.from(JSON.stringify(spec)), CREATE_TIMEOUT_MS);
    if (reply.status !== 201) throw this.#failure(`could not start a sandbox: ${errorText(reply)}`);
    const created = JSON.parse(reply.body.toString('utf8')) as Created;
    const sandbox = new RemoteSandbox(this, created.id, created.seq, spec);
    if (this.#lostReason !== undefined) {
      sandbox.markExited();
    } else {
      this.#sandboxes.set(sandbox.id, sandbox);
      void sandbox.exited.then(() => this.#sandboxes.delete(sandbox.id));
    }
    return sandbox;
  }

  /**
   * Applies a heartbeat's list of live sandboxes: a sandbox the platform
   * knows, created no later than the list was written, and missing from it,
   * has exited on the worker.
   */
  reconcile(live: readonly string[], createdUpTo: number): void {
    const alive = new Set(live);
    for (const sandbox of this.#sandboxes.values()) {
      if (sandbox.seq <= createdUpTo && !alive.has(sandbox.id)) sandbox.markExited();
    }
  }

  /** Ids of the sandboxes the platform holds on this worker. */
  sandboxIds(): string[] {
    return [...this.#sandboxes.keys()];
  }

  lose(reason: string): void {
    if (this.#lostReason !== undefined) return;
    this.#lostReason = reason;
    this.#abort.abort();
    for (const sandbox of this.#sandboxes.values()) sandbox.markExited();
    this.#agent.destroy();
  }

  /** Destroys every sandbox on the worker (best effort), then lets it go. */
  async close(): Promise<void> {
    await Promise.all([...this.#sandboxes.values()].map((s) => s.destroy()));
    this.lose('the platform is closing');
  }

  /** @internal used by RemoteSandbox */
  async invokeOn(sandbox: RemoteSandbox, request: SandboxInvokeRequest): Promise<SandboxInvokeOutcome> {
    const headers: Record<string, string> = {
      [H_REQUEST_ID]: request.requestId,
      [H_INVOKED_ARN]: request.invokedFunctionArn,
    };
    if (request.clientContext !== undefined) headers[H_CLIENT_CONTEXT] = Buffer.from(request.clientContext, 'utf8').toString('base64');
    if (request.wantLogs) headers[H_WANT_LOGS] = '1';
    // No timeout of our own: the worker enforces the function's; a worker
    // that stops answering is lost by its heartbeats, which aborts this.
    const reply = await this.#deliver('POST', `${SANDBOXES_PATH}/${encodeURIComponent(sandbox.id)}/invoke`, headers, request.payload, undefined);
    if (reply.status !== 200) {
      if (reply.status === 404) sandbox.markExited();
      throw this.#failure(`the invoke failed on the worker: ${errorText(reply)}`);
    }
    const head = JSON.parse(String(reply.headers[H_OUTCOME])) as OutcomeHead;
    return outcomeFrom(head, reply.body, Number(reply.headers[H_PAYLOAD_LENGTH]));
  }

  /** @internal used by RemoteSandbox */
  async destroyOn(sandbox: RemoteSandbox): Promise<void> {
    if (this.#lostReason !== undefined) return;
    try {
      await this.#request('DELETE', `${SANDBOXES_PATH}/${encodeURIComponent(sandbox.id)}`, {}, undefined, DESTROY_TIMEOUT_MS);
    } catch {
      // The worker is unreachable: if it is gone its sandboxes went with it;
      // if it comes back, it stops every sandbox the platform no longer knows.
    }
  }

  #failure(what: string): LambdaError {
    return new LambdaError('ServiceException', `Worker ${this.id} ${what}`);
  }

  /**
   * A request the worker must act on at most once. Not delivered on a
   * pooled connection (it was stale, or the worker is gone), it goes once
   * more on a fresh one; not delivered there either, it rejects with
   * SandboxUnreachableError: the worker did nothing, the caller may go elsewhere.
   */
  async #deliver(method: string, path: string, headers: Record<string, string>, body: Buffer | undefined, timeoutMs: number | undefined): Promise<Reply> {
    try {
      return await this.#request(method, path, headers, body, timeoutMs);
    } catch (err) {
      if (!(err instanceof UndeliveredError)) throw err;
    }
    try {
      return await this.#request(method, path, headers, body, timeoutMs, true);
    } catch (err) {
      throw err instanceof UndeliveredError ? new SandboxUnreachableError(err.message) : err;
    }
  }

  /**
   * One request. It rejects with UndeliveredError when the worker surely
   * did not act on it: nothing listens (refused), or the connection failed
   * before any answer — for an invoke, before the worker's 102 — while it
   * could not have done anything yet.
   */
  #request(method: string, path: string, headers: Record<string, string>, body: Buffer | undefined, timeoutMs: number | undefined, fresh = false): Promise<Reply> {
    // A lost worker's sandboxes are gone: nothing was delivered, another sandbox may serve.
    if (this.#lostReason !== undefined) return Promise.reject(new SandboxUnreachableError(`Worker ${this.id} is lost (${this.#lostReason}).`));
    return new Promise<Reply>((resolve, reject) => {
      let answered = false;
      const fail = (err: Error) => reject(this.#connectionFailure(err, answered));
      const req = httpRequest(
        `${this.#url}${path}`,
        {
          method,
          // A fresh connection of its own for a retry: not a pooled one.
          agent: fresh ? false : this.#agent,
          signal: this.#abort.signal,
          headers: { ...headers, authorization: this.#auth, 'content-length': body?.length ?? 0 },
          ...(timeoutMs === undefined ? {} : { timeout: timeoutMs }),
        },
        (res) => {
          answered = true;
          const chunks: Buffer[] = [];
          res.on('data', (c: Buffer) => chunks.push(c));
          res.on('end', () => resolve({ status: res.statusCode ?? 500, headers: res.headers, body: Buffer.concat(chunks) }));
          res.on('error', fail);
        },
      );
      req.on('information', () => (answered = true));
      if (timeoutMs !== undefined) req.on('timeout', () => req.destroy(new Error(`no answer within ${timeoutMs} ms`)));
      req.on('error', fail);
      req.end(body);
    });
  }

  #connectionFailure(err: Error, answered: boolean): Error {
    if (this.#lostReason !== undefined) return this.#failure(`was lost during the request (${this.#lostReason}).`);
    if ((err as NodeJS.ErrnoException).code === 'ECONNREFUSED') {
      // Nothing listens where the worker was: it is gone.
      const reason = `it refuses connections (${err.message})`;
      this.#onUnreachable?.(reason);
      return new UndeliveredError(`Worker ${this.id} is unreachable: ${reason}.`);
    }
    if (!answered && (err as NodeJS.ErrnoException).code === 'ECONNRESET') {
      return new UndeliveredError(`Worker ${this.id} closed the connection before taking the request (${err.message}).`);
    }
    return this.#failure(`failed during the request (${err.message}).`);
  }
}

/** The worker did not act on the request (see #request). */
class UndeliveredError extends Error {
  override readonly name = 'UndeliveredError';
}

function errorText(reply: Reply): string {
  try {
    const parsed = JSON.parse(reply.body.toString('utf8')) as { message?: unknown };
    if (typeof parsed.message === 'string') return parsed.message;
  } catch {
    // not JSON: fall through
  }
  return `status ${reply.status}`;
}

/** A sandbox on a remote worker. */
class RemoteSandbox implements Sandbox {
  readonly exited: Promise<void>;
  #resolveExited!: () => void;
  #gone = false;

  constructor(
    readonly worker: RemoteWorker,
    readonly id: string,
    /** The worker's creation number (see RemoteWorker.reconcile). */
    readonly seq: number,
    readonly spec: FunctionVersionSpec,
  ) {
    this.exited = new Promise((resolve) => (this.#resolveExited = resolve));
  }

  invoke(request: SandboxInvokeRequest): Promise<SandboxInvokeOutcome> {
    return this.worker.invokeOn(this, request);
  }

  async destroy(): Promise<void> {
    if (!this.#gone) await this.worker.destroyOn(this);
    this.markExited();
  }

  markExited(): void {
    if (this.#gone) return;
    this.#gone = true;
    this.#resolveExited();
  }
}
