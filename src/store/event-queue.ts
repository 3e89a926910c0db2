/**
 * The durable state of asynchronous invocation, behind two small interfaces:
 *
 *  - EventQueue: accepted Event invokes waiting for delivery, partitioned by
 *    function. Pollers claim events under leases (a visibility timeout: a
 *    poller that dies lets its lease run out and another poller delivers the
 *    event), and settle each one when its delivery attempt has an outcome.
 *  - MessageQueues: Kindling's named queues (`arn:aws:sqs:REGION:ACCOUNT:NAME`),
 *    the destination people can read without writing a function: on-success
 *    and on-failure records and dead-lettered events land there, to be
 *    inspected and redriven.
 *
 * Settling an event and writing what follows from it (a message for a queue
 * destination, a new event for a function destination, a retry) happen in
 * one transaction, so a crash between them neither loses nor duplicates the
 * follow-up. Delivery to the function is at-least-once: an attempt whose
 * poller died before settling is made again.
 *
 * The embedded implementation is SQLite (sqlite-event-queue.ts); a
 * distributed one (Redis) implements the same interfaces, and the contract
 * tests (event-queue.contract.ts) run against every implementation.
 */

/** An event as accepted by the front end (InvocationType Event). */
export interface NewEvent {
  /** The request id: x-amzn-RequestId of the 202, the function's awsRequestId on every attempt. */
  readonly id: string;
  /** The function's name: the queue's partition key. */
  readonly functionName: string;
  /** The qualifier it was invoked with (version or alias), undefined for unqualified. */
  readonly qualifier: string | undefined;
  /** The event: valid JSON. */
  readonly payload: Buffer;
  /** X-Amz-Client-Context, decoded (JSON text). */
  readonly clientContext: string | undefined;
  /** Epoch ms at which it was accepted (its age counts from here). */
  readonly acceptedAt: number;
  /** Epoch ms before which it is not delivered (retries; now for a new event). */
  readonly notBefore?: number;
}

/** An event in the queue, as a poller sees it. */
export interface QueuedEvent extends NewEvent {
  /** Times the function ran it (Lambda's approximateInvokeCount). */
  readonly attempts: number;
  /** Times it was throttled or failed before reaching the function (backoff grows with it). */
  readonly deferrals: number;
}

/** A message for a named queue. */
export interface NewMessage {
  readonly queue: string;
  /** The message body: a destination record (JSON) or, from a dead-letter queue, the event itself. */
  readonly body: string;
  /** SQS-style message attributes (DLQ: RequestID, ErrorCode, ErrorMessage). */
  readonly attributes: Readonly<Record<string, string>>;
  /** The function whose event this came from, and how it was invoked (for redrive). */
  readonly sourceFunction: string;
  readonly sourceQualifier: string | undefined;
  /** The event to invoke again on redrive (the original payload). */
  readonly redrivePayload: string;
}

export interface Message extends NewMessage {
  readonly messageId: string;
  readonly sentAt: number;
  readonly receiveCount: number;
}

/** What follows from one delivery attempt, written atomically with it. */
export type Settlement =
  /** Done: the event leaves the queue; `then` are the destinations' writes. */
  | { readonly kind: 'done'; readonly then?: FollowUps }
  /** Try again at `notBefore`, with the counters updated. */
  | { readonly kind: 'retry'; readonly notBefore: number; readonly attempts: number; readonly deferrals: number };

export interface FollowUps {
  /** Messages for queue destinations and dead-letter queues. */
  readonly messages?: readonly NewMessage[];
  /** Events for function destinations (Lambda invokes them asynchronously). */
  readonly events?: readonly NewEvent[];
}

export interface PartitionStats {
  /** Events waiting or in flight. */
  readonly depth: number;
  /** acceptedAt of the oldest. */
  readonly oldestAcceptedAt: number;
}

export interface EventQueue {
  /** Durable when it resolves: a crash after that loses none of them. */
  enqueue(events: readonly NewEvent[]): Promise<void>;
  /**
   * Functions that have an event ready (notBefore passed, no live lease),
   * in name order. Pollers go round them, so that a flooded function does
   * not starve the others.
   */
  readyFunctions(now: number): Promise<string[]>;
  /**
   * Leases up to `limit` ready events of one function to `owner` until
   * `now + leaseMs`, oldest first. A leased event is invisible to other
   * claims until it is settled or its lease runs out.
   */
  claim(functionName: string, owner: string, limit: number, now: number, leaseMs: number): Promise<QueuedEvent[]>;
  /** Extends the owner's lease; false when the owner no longer holds it (it ran out and another took it). */
  renew(id: string, owner: string, until: number): Promise<boolean>;
  /**
   * Records the outcome of the owner's attempt (with its follow-ups, in one
   * transaction). False, and nothing written, when the owner no longer holds
   * the lease: another poller has the event and will settle it.
   */
  settle(id: string, owner: string, settlement: Settlement, now: number): Promise<boolean>;
  /** Epoch ms at which the next event becomes ready (undefined: the queue is empty). */
  nextReadyAt(): Promise<number | undefined>;
  /** Depth and oldest event per function, for /metrics. */
  stats(): Promise<Map<string, PartitionStats>>;
}

export interface MessageQueues {
  /** Sends messages (outside of any settlement: redrive, tests). */
  send(messages: readonly NewMessage[], now: number): Promise<void>;
  /**
   * Receives up to `max` visible messages of `queue`, oldest first, hiding
   * them for `visibilityMs` (SQS's visibility timeout); `visibilityMs` 0 only
   * peeks.
   */
  receive(queue: string, max: number, now: number, visibilityMs: number): Promise<Message[]>;
  /** Deletes one message; false when it was not there. */
  delete(queue: string, messageId: string): Promise<boolean>;
  /**
   * Moves every message of `queue` that names a source function back onto
   * the event queue as a new Event invoke of it (new request id, its
   * original payload), in one transaction. Returns how many moved.
   */
  redrive(queue: string, now: number, newId: () => string): Promise<number>;
  /** Queues with their message counts, in name order. */
  list(): Promise<{ name: string; messages: number }[]>;
}
