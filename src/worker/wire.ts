/**
 * The wire between the platform and a worker in another process (a host of
 * the fleet): paths, headers and the framing of an invoke's outcome. Both
 * ends import it, so they cannot disagree.
 *
 *   platform → worker   POST   /kindling/v1/sandboxes                 spec JSON → 201 {id, seq}
 *                       POST   /kindling/v1/sandboxes/{id}/invoke     event → outcome
 *                       DELETE /kindling/v1/sandboxes/{id}            → 204
 *   worker → platform   POST   /kindling/v1/workers/heartbeat         Heartbeat → HeartbeatReply
 *                       GET    /kindling/v1/code/{sha256 hex}         the deployment package (zip)
 *                       POST   /kindling/v1/workers/logs              LogBatch → 200 {} (the sandboxes' log lines)
 *
 * Every request carries `Authorization: Bearer <cluster token>`.
 */
import type { LogSinkEvent, SandboxInvokeOutcome, StemCellStats } from './types.js';

export const SANDBOXES_PATH = '/kindling/v1/sandboxes';
/** What a worker sends the platform is under this path (the platform serves it while it stops). */
export const WORKER_TO_PLATFORM_PREFIX = '/kindling/v1/workers/';
export const HEARTBEAT_PATH = `${WORKER_TO_PLATFORM_PREFIX}heartbeat`;
export const CODE_PATH = '/kindling/v1/code';
export const LOGS_INGEST_PATH = `${WORKER_TO_PLATFORM_PREFIX}logs`;

/** Log lines a worker's sandboxes wrote, for the platform's log store, in the order they were written. */
export interface LogBatch {
  readonly streams: readonly { readonly logGroupName: string; readonly logStreamName: string; readonly events: readonly LogSinkEvent[] }[];
}

/** Invoke request headers (the body is the event). */
export const H_REQUEST_ID = 'x-kindling-request-id';
export const H_INVOKED_ARN = 'x-kindling-invoked-function-arn';
/** Base64 of the decoded client context JSON. */
export const H_CLIENT_CONTEXT = 'x-kindling-client-context';
export const H_WANT_LOGS = 'x-kindling-want-logs';
/** Invoke response: the outcome without payload and logs, as JSON. */
export const H_OUTCOME = 'x-kindling-outcome';
/** Invoke response: the body is payload bytes followed by the log text; this many bytes are payload. */
export const H_PAYLOAD_LENGTH = 'x-kindling-payload-length';

/** What a worker tells the platform every heartbeat (and at once when a sandbox exits). */
export interface Heartbeat {
  readonly id: string;
  /** Where the platform reaches the worker: http://host:port */
  readonly url: string;
  /** The worker's process id on its host (for operators: `kindling status`). */
  readonly pid: number;
  readonly zone: string;
  readonly capacityMB: number;
  /** Its live sandboxes. */
  readonly sandboxes: readonly string[];
  /** The highest creation number the worker had handed out when it wrote this list. */
  readonly createdUpTo: number;
  /** Its stem cells' counters (Worker.stemCells). */
  readonly stemCells?: StemCellStats | undefined;
}

export interface HeartbeatReply {
  /** How often the platform wants heartbeats. */
  readonly heartbeatMs: number;
  /** The sandboxes the platform knows on this worker; the worker stops the others (after a grace). */
  readonly known: readonly string[];
}

/** The reply to a sandbox creation. */
export interface Created {
  readonly id: string;
  /** The worker's creation number, ordered with Heartbeat.createdUpTo. */
  readonly seq: number;
}

/** An outcome minus its two large parts, which travel as the body. */
export type OutcomeHead = Omit<SandboxInvokeOutcome, 'payload' | 'logs'> & { readonly hasLogs: boolean };

export function outcomeHead(o: SandboxInvokeOutcome): OutcomeHead {
  const { payload: _payload, logs, ...rest } = o;
  return { ...rest, hasLogs: logs !== undefined };
}

/** Rebuilds an outcome from its head and body (payload ‖ logs). */
export function outcomeFrom(head: OutcomeHead, body: Buffer, payloadLength: number): SandboxInvokeOutcome {
  const { hasLogs, ...rest } = head;
  return {
    ...rest,
    payload: body.subarray(0, payloadLength),
    logs: hasLogs ? body.subarray(payloadLength).toString('utf8') : undefined,
  };
}
