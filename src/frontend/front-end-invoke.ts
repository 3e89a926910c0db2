import type { InvokeCommand, InvokeResponse } from './types.js';
import type { FunctionVersionSpec } from '../shared/spec.js';
import type { AcquireResult } from '../counting/counting.js';
import { throttled } from '../counting/counting.js';
import type { Claim } from '../worker-manager/worker-manager.js';
import { LambdaError } from '../shared/errors.js';
import { SandboxUnreachableError } from '../worker/types.js';
import type { SandboxInvokeOutcome } from '../worker/types.js';
import type { NewEvent } from '../store/event-queue.js';

/** What the front end needs from the control plane: the deployed version to run. */
export interface FunctionResolver {
  resolveForInvoke(
    functionName: string,
    qualifier: string | undefined,
  ): {
    readonly spec: FunctionVersionSpec;
    readonly executedVersion: string;
    readonly invokedFunctionArn: string;
    /** The qualifier the caller gave (in the name or as ?Qualifier=), undefined for unqualified. */
    readonly qualifier: string | undefined;
  };
}

/** What the front end needs from counting: a concurrency slot or a throttle. */
export interface ConcurrencyLimiter {
  acquire(functionName: string, leaseMs: number): AcquireResult;
}

/** What the front end needs from the worker manager: a sandbox for one invoke. */
export interface SandboxClaimer {
  claim(spec: FunctionVersionSpec): Promise<Claim>;
}

/** What the front end needs from the async path: durable acceptance of an Event invoke. */
export interface EventAcceptor {
  /** Resolves once the event is durable: the 202 may then be sent. */
  accept(event: NewEvent): Promise<void>;
}

export interface FrontEndInvokeOptions {
  readonly functions: FunctionResolver;
  readonly counting: ConcurrencyLimiter;
  readonly sandboxes: SandboxClaimer;
  /** Event invokes go here; without it they are refused. */
  readonly events?: EventAcceptor;
  /** Epoch ms now (an event's age counts from its acceptance). Default Date.now. */
  readonly now?: () => number;
}

/** Lambda's X-Amz-Log-Result carries the last 4 KB of the invoke's log. */
const LOG_TAIL_BYTES = 4096;
/** How many sandboxes an event may be offered to when their workers turn out to be gone. */
const MAX_DELIVERY_ATTEMPTS = 5;
/** A slot's lease outlives the invoke's own timeout by the init limit (10 s) and a margin. */
const LEASE_MARGIN_MS = 15_000;

/**
 * Front End Invoke: orchestrates one invoke. Resolves the function version,
 * takes a concurrency slot, claims a sandbox, runs the event, and gives
 * everything back in `finally` — so neither a slot nor a sandbox leaks
 * whatever the function or the platform does.
 */
export class FrontEndInvoke {
  readonly #functions: FunctionResolver;
  readonly #counting: ConcurrencyLimiter;
  readonly #sandboxes: SandboxClaimer;
  readonly #events: EventAcceptor | undefined;
  readonly #now: () => number;

  constructor(options: FrontEndInvokeOptions) {
    this.#functions = options.functions;
    this.#counting = options.counting;
    this.#sandboxes = options.sandboxes;
    this.#events = options.events;
    this.#now = options.now ?? Date.now;
  }

  async invoke(command: InvokeCommand): Promise<InvokeResponse> {
    const { spec, executedVersion, invokedFunctionArn, qualifier } = this.#functions.resolveForInvoke(command.functionName, command.qualifier);

    if (command.invocationType === 'DryRun') {
      // DryRun: "Validate parameter values and verify that the user or role has permission to invoke the function."
      return { statusCode: 204, executedVersion: undefined, functionError: undefined, logResult: undefined, payload: Buffer.alloc(0) };
    }
    if (command.invocationType === 'Event') {
      if (!this.#events) throw new LambdaError('ServiceException', 'Asynchronous invocation is not configured on this Kindling platform.');
      // Durable before the 202: the async path delivers it later, with the
      // same request id. It is resolved again at delivery (an update in
      // between runs the new code, as on Lambda).
      await this.#events.accept({
        id: command.requestId,
        functionName: spec.functionName,
        qualifier,
        payload: command.payload,
        clientContext: command.clientContext,
        acceptedAt: this.#now(),
      });
      return { statusCode: 202, executedVersion: undefined, functionError: undefined, logResult: undefined, payload: Buffer.alloc(0) };
    }

    const acquired = this.#counting.acquire(spec.functionName, spec.timeout * 1000 + LEASE_MARGIN_MS);
    // Over the function's reserved concurrency or the account's unreserved pool: 429 with counting's Reason.
    if (!acquired.lease) throw throttled(acquired.throttle);
    let claim: Claim | undefined;
    let reusable = false;
    try {
      const request = {
        requestId: command.requestId,
        payload: command.payload,
        invokedFunctionArn,
        clientContext: command.clientContext,
        wantLogs: command.logType === 'Tail',
      };
      let outcome: SandboxInvokeOutcome | undefined;
      for (let attempt = 1; !outcome; attempt++) {
        claim = await this.#sandboxes.claim(spec);
        try {
          outcome = await claim.sandbox.invoke(request);
        } catch (err) {
          // The event never reached the sandbox (its worker is gone): the
          // function did not run, so another sandbox may take it.
          if (!(err instanceof SandboxUnreachableError)) throw err;
          if (attempt >= MAX_DELIVERY_ATTEMPTS) throw new LambdaError('ServiceException', err.message);
          claim.release(false);
          claim = undefined;
        }
      }
      reusable = outcome.reusable;
      return {
        statusCode: 200,
        executedVersion,
        functionError: outcome.functionError,
        logResult: outcome.logs === undefined ? undefined : logTail(outcome.logs),
        payload: outcome.payload,
      };
    } finally {
      // Whatever happened (a platform failure — the sandbox could not start,
      // its channel broke — propagates as is: api/ answers it as a logged
      // ServiceException without leaking its details), nothing leaks.
      claim?.release(reusable);
      acquired.lease.release();
    }
  }
}

/** Base64 of the last 4096 bytes of the log, as X-Amz-Log-Result. */
export function logTail(logs: string): string {
  const bytes = Buffer.from(logs, 'utf8');
  return bytes.subarray(Math.max(0, bytes.length - LOG_TAIL_BYTES)).toString('base64');
}
