/**
 * Where an asynchronous invoke's outcome goes, in Lambda's shapes:
 * destination records (OnSuccess / OnFailure of the EventInvokeConfig) and
 * dead-letter messages (the function's DeadLetterConfig).
 *
 * Lambda's record (AWS docs, "Capturing records of Lambda asynchronous
 * invocations"):
 *   {"version":"1.0","timestamp":"2019-11-14T18:16:05.568Z",
 *    "requestContext":{"requestId":"…","functionArn":"arn:…:function:NAME:$LATEST",
 *                      "condition":"RetriesExhausted","approximateInvokeCount":3},
 *    "requestPayload":{…},
 *    "responseContext":{"statusCode":200,"executedVersion":"$LATEST","functionError":"Unhandled"},
 *    "responsePayload":{…}}
 * A function destination is invoked asynchronously with the record as its
 * event; a queue destination receives it as the message body. A dead-letter
 * queue receives the event itself, with the attributes RequestID, ErrorCode
 * and ErrorMessage.
 */
import { randomUUID } from 'node:crypto';
import { parseDestinationArn } from '../control/destination-arn.js';
import type { Partition } from '../shared/arn.js';
import type { FollowUps, NewEvent, NewMessage, QueuedEvent } from '../store/event-queue.js';

/** Why an event ends (Lambda's requestContext.condition). */
export type Condition = 'Success' | 'RetriesExhausted' | 'EventAgeExceeded' | 'ZeroReservedConcurrency';

/** The queue ARN of a Kindling queue name (what `kindling queue` prints). */
export function queueArn(partition: Partition, name: string): string {
  return `arn:aws:sqs:${partition.region}:${partition.accountId}:${name}`;
}

/** What the last attempt gave, when the function ran. */
export interface AttemptResult {
  readonly executedVersion: string;
  /** X-Amz-Function-Error ('Unhandled'), undefined on success. */
  readonly functionError: string | undefined;
  readonly payload: Buffer;
}

export interface Outcome {
  readonly event: QueuedEvent;
  readonly condition: Condition;
  /** The version's ARN, qualified ($LATEST included), as Lambda writes requestContext.functionArn. */
  readonly functionArn: string;
  /** The last attempt, when the function ran at all. */
  readonly result: AttemptResult | undefined;
  readonly now: number;
}

/** The JSON of the caller's event or the function's response; text that is not JSON stays a string. */
function asJson(bytes: Buffer): unknown {
  const text = bytes.toString('utf8');
  try {
    return JSON.parse(text) as unknown;
  } catch {
    return text;
  }
}

/** Lambda's destination record for an outcome. */
export function destinationRecord(o: Outcome): Record<string, unknown> {
  const record: Record<string, unknown> = {
    version: '1.0',
    timestamp: new Date(o.now).toISOString(),
    requestContext: {
      requestId: o.event.id,
      functionArn: o.functionArn,
      condition: o.condition,
      approximateInvokeCount: o.event.attempts,
    },
    requestPayload: asJson(o.event.payload),
  };
  if (o.result) {
    const responseContext: Record<string, unknown> = { statusCode: 200, executedVersion: o.result.executedVersion };
    if (o.result.functionError !== undefined) responseContext['functionError'] = o.result.functionError;
    record['responseContext'] = responseContext;
    record['responsePayload'] = asJson(o.result.payload);
  }
  return record;
}

export type DeliveryKind = 'function' | 'queue' | 'dead-letter';

/** Where one event's outcome is written: the destination (OnSuccess or OnFailure) and, on failure, the dead-letter queue. */
export interface Targets {
  readonly destination: string | undefined;
  readonly deadLetter: string | undefined;
}

/**
 * The writes an outcome makes, for the queue's settle(): a new event for a
 * function destination, a message for a queue destination or the
 * dead-letter queue. ARNs Kindling cannot deliver to are reported to `skip`.
 */
export function followUps(o: Outcome, targets: Targets, skip: (arn: string) => void): { then: FollowUps; delivered: DeliveryKind[] } {
  const messages: NewMessage[] = [];
  const events: NewEvent[] = [];
  const delivered: DeliveryKind[] = [];
  const source = { sourceFunction: o.event.functionName, sourceQualifier: o.event.qualifier, redrivePayload: o.event.payload.toString('utf8') };
  if (targets.destination !== undefined) {
    const d = parseDestinationArn(targets.destination);
    const body = JSON.stringify(destinationRecord(o));
    if (d?.kind === 'function') {
      events.push({ id: randomUUID(), functionName: d.name, qualifier: d.qualifier, payload: Buffer.from(body), clientContext: undefined, acceptedAt: o.now });
      delivered.push('function');
    } else if (d?.kind === 'queue') {
      messages.push({ queue: d.name, body, attributes: {}, ...source });
      delivered.push('queue');
    } else skip(targets.destination);
  }
  if (targets.deadLetter !== undefined && o.condition !== 'Success') {
    const d = parseDestinationArn(targets.deadLetter);
    if (d?.kind === 'queue') {
      messages.push({
        queue: d.name,
        body: source.redrivePayload,
        attributes: deadLetterAttributes(o),
        ...source,
      });
      delivered.push('dead-letter');
    } else skip(targets.deadLetter);
  }
  return { then: { messages, events }, delivered };
}

/**
 * A dead-letter message's attributes (AWS docs, "Dead-letter queues"):
 * RequestID, ErrorCode (the response's status code) and ErrorMessage (the
 * first 1 KB of the error message).
 */
function deadLetterAttributes(o: Outcome): Record<string, string> {
  const attributes: Record<string, string> = { RequestID: o.event.id, ErrorCode: '200' };
  let message: string = o.condition;
  if (o.result?.functionError !== undefined) {
    const response = asJson(o.result.payload);
    const m = response !== null && typeof response === 'object' ? (response as Record<string, unknown>)['errorMessage'] : undefined;
    message = typeof m === 'string' ? m : o.result.payload.toString('utf8');
  }
  attributes['ErrorMessage'] = Buffer.from(message).subarray(0, 1024).toString('utf8');
  return attributes;
}
