/**
 * Asynchronous invocation (InvocationType Event): Lambda's separate data
 * plane for events, on Kindling's durable queue.
 *
 *   front end ── accept() ──▶ EventQueue (durable before the 202)
 *                                 │ claim under a lease, fairly across functions
 *                              Poller × N ── run() ──▶ the synchronous invoke path
 *                                 │ settle: done + destinations | retry later
 *
 * Each event is delivered at least once: an attempt whose poller died
 * before settling it is made again once the lease runs out (or at once after
 * a restart of the embedded platform). Lambda's rules (AWS docs,
 * "Asynchronous invocation", "Error handling and automatic retries"):
 *  - a function error (an error returned, a timeout, a crash) is retried up
 *    to MaximumRetryAttempts (default 2) times, one minute before the
 *    second attempt and two minutes before the third, with the same
 *    request id every time;
 *  - a throttle (429) or a platform error is retried with exponential
 *    backoff (from 1 s, at most 5 minutes), counting no attempt, until the
 *    event is MaximumEventAgeInSeconds old (default 6 hours);
 *  - reserved concurrency 0 sends the event straight to its failure
 *    destination (condition ZeroReservedConcurrency, approximateInvokeCount 0);
 *  - the outcome goes to the OnSuccess / OnFailure destination, and a
 *    failure also to the function's dead-letter queue.
 *
 * Every duration here (retry delays, backoff, event age) is multiplied by
 * `timeScale`, so that tests and demos run Lambda's schedule in seconds.
 */
import { randomUUID } from 'node:crypto';
import type { InvokeCommand, InvokeResponse } from '../frontend/types.js';
import type { Clock, Timer } from '../shared/clock.js';
import { LambdaError } from '../shared/errors.js';
import type { EventQueue, NewEvent, QueuedEvent, Settlement } from '../store/event-queue.js';
import { followUps } from './destinations.js';
import type { AttemptResult, Condition, DeliveryKind, Outcome } from './destinations.js';

/** Delay before retry n (1-based) of a function error: one minute, then two. */
const RETRY_DELAY_MS = 60_000;
/** Backoff of throttles and platform errors: from 1 s, doubling, at most 5 minutes. */
const BACKOFF_FIRST_MS = 1000;
const BACKOFF_MAX_MS = 300_000;
/** A poller's lease on an event it works on, renewed while the attempt runs. */
export const EVENT_LEASE_MS = 60_000;
const LEASE_RENEW_MS = 20_000;
/** How often an idle poller looks at the queue even without being woken. */
const IDLE_POLL_MS = 1000;

/**
 * The settings an event is delivered with: the version's EventInvokeConfig
 * (Lambda's defaults filled in) and DeadLetterConfig (control/event-invoke-config.ts).
 */
export interface AsyncSettings {
  readonly maximumRetryAttempts: number;
  readonly maximumEventAgeInSeconds: number;
  readonly onSuccess: string | undefined;
  readonly onFailure: string | undefined;
  readonly deadLetterTarget: string | undefined;
}

/** What async/ needs from the control plane. */
export interface AsyncSettingsSource {
  /** undefined when the function (or that qualifier) no longer exists. */
  asyncSettings(functionName: string, qualifier: string | undefined): AsyncSettings | undefined;
}

/** What async/ needs from the front end: the synchronous invoke path. */
export interface EventRunner {
  invoke(command: InvokeCommand): Promise<InvokeResponse>;
}

/** What async/ needs from counting: a function's reserved concurrency (undefined: none). */
export interface ReservationSource {
  reservedConcurrency(functionName: string): number | undefined;
}

/** What happened, for /metrics and the log. */
export interface AsyncEvents {
  /** One delivery attempt: the function ran (success or function_error), or it did not (throttled, error). */
  attempted?(functionName: string, outcome: 'success' | 'function_error' | 'throttled' | 'error'): void;
  /** The event will be tried again (after a function error, a throttle or a platform error). */
  retried?(functionName: string, reason: 'function_error' | 'throttled' | 'error'): void;
  /** The event left the queue. */
  finished?(functionName: string, condition: Condition | 'FunctionDeleted', ageMs: number): void;
  /** A record or message was written to a destination. */
  delivered?(kind: DeliveryKind, condition: Condition): void;
}

export interface AsyncInvokeOptions {
  readonly queue: EventQueue;
  readonly runner: EventRunner;
  readonly settings: AsyncSettingsSource;
  readonly reservations: ReservationSource;
  readonly clock: Clock;
  /** The function ARN of a name and version, as records carry it. */
  readonly functionArn: (name: string, version: string) => string;
  /** Pollers (each claims under its own lease owner). Default 2. */
  readonly pollers?: number;
  /** Events each poller runs at once. Default 32. */
  readonly pollerConcurrency?: number;
  /** Multiplies retry delays, backoff and event ages. Default 1 (Lambda's schedule). */
  readonly timeScale?: number;
  readonly events?: AsyncEvents;
  readonly logger?: { error(message: string, err?: unknown): void };
}

/** Why an attempt did not reach an outcome of the function. */
type Failure = { kind: 'throttled' } | { kind: 'error'; message: string } | { kind: 'gone' };

/**
 * The async invoke service: accepts events durably and runs the pollers
 * that deliver them.
 */
export class AsyncInvoke {
  readonly #o: AsyncInvokeOptions;
  readonly #scale: number;
  readonly #pollers: Poller[] = [];
  /** Attempts in flight per function, over every poller of this process. */
  readonly #running = new Map<string, number>();
  #closed = false;

  constructor(options: AsyncInvokeOptions) {
    this.#o = options;
    this.#scale = options.timeScale ?? 1;
    if (!(this.#scale > 0)) throw new Error('timeScale must be positive');
    for (let i = 0; i < (options.pollers ?? 2); i++) {
      this.#pollers.push(new Poller(this, `poller-${i}-${randomUUID()}`, options.pollerConcurrency ?? 32));
    }
  }

  /** Starts the pollers. */
  start(): void {
    for (const p of this.#pollers) p.wake();
  }

  /** Accepts an event: resolves once it is durable (the 202 may then be sent). */
  async accept(event: NewEvent): Promise<void> {
    if (this.#closed) throw new LambdaError('ServiceException', 'Kindling is shutting down; the event was not accepted.');
    await this.#o.queue.enqueue([event]);
    for (const p of this.#pollers) p.wake();
  }

  /** Stops claiming, waits for the attempts in flight (they settle or leave their lease to run out). */
  async close(): Promise<void> {
    this.#closed = true;
    await Promise.all(this.#pollers.map((p) => p.close()));
  }

  get closed(): boolean {
    return this.#closed;
  }

  get queue(): EventQueue {
    return this.#o.queue;
  }

  get clock(): Clock {
    return this.#o.clock;
  }

  /**
   * How many more events of `functionName` may start now: what its reserved
   * concurrency leaves beside the attempts already running (unbounded
   * without one). Pollers claim no more than this, so that a backlog of a
   * function with reserved concurrency drains at its concurrency instead of
   * throttling and backing off (up to 5 minutes) event by event. Throttles
   * still happen when synchronous invokes hold the slots, and are retried
   * as on Lambda. Reserved concurrency 0 is not held back: those events fail
   * at once (ZeroReservedConcurrency).
   */
  roomFor(functionName: string): number {
    const reserved = this.#o.reservations.reservedConcurrency(functionName);
    if (reserved === undefined || reserved === 0) return Number.POSITIVE_INFINITY;
    return Math.max(0, reserved - (this.#running.get(functionName) ?? 0));
  }

  /** Runs one claimed event, counted in roomFor while it runs; every poller looks again when it ends. */
  run(event: QueuedEvent, owner: string): Promise<void> {
    const fn = event.functionName;
    this.#running.set(fn, (this.#running.get(fn) ?? 0) + 1);
    return this.deliver(event, owner).finally(() => {
      const left = (this.#running.get(fn) ?? 1) - 1;
      if (left === 0) this.#running.delete(fn);
      else this.#running.set(fn, left);
      // A slot of this function is free: a poller that held its events back claims them now.
      for (const p of this.#pollers) p.wake();
    });
  }

  #ms(lambdaMs: number): number {
    return lambdaMs * this.#scale;
  }

  /**
   * One delivery attempt of a claimed event, to its settlement. Never
   * rejects: whatever happens, the event is settled or its lease runs out.
   */
  async deliver(event: QueuedEvent, owner: string): Promise<void> {
    const { clock, queue } = this.#o;
    const renewal = new LeaseRenewal(clock, () => queue.renew(event.id, owner, clock.now() + EVENT_LEASE_MS));
    try {
      const settlement = await this.#attempt(event);
      if (settlement) await queue.settle(event.id, owner, settlement, clock.now());
    } catch (err) {
      // The store failed: the lease runs out and another attempt is made.
      this.#o.logger?.error(`async event ${event.id} of ${event.functionName}: attempt failed, will be delivered again`, err);
    } finally {
      renewal.stop();
    }
  }

  async #attempt(event: QueuedEvent): Promise<Settlement | undefined> {
    const now = this.#o.clock.now();
    const settings = this.#o.settings.asyncSettings(event.functionName, event.qualifier);
    if (!settings) return this.#finish(event, 'FunctionDeleted', undefined, undefined);
    const version = event.qualifier ?? '$LATEST';
    const arn = this.#o.functionArn(event.functionName, version);
    const maxAgeMs = this.#ms(settings.maximumEventAgeInSeconds * 1000);
    if (now - event.acceptedAt >= maxAgeMs) return this.#finish(event, 'EventAgeExceeded', settings, undefined, arn);
    if (this.#o.reservations.reservedConcurrency(event.functionName) === 0) {
      return this.#finish(event, 'ZeroReservedConcurrency', settings, undefined, arn);
    }

    let response: InvokeResponse | undefined;
    let failure: Failure | undefined;
    try {
      response = await this.#o.runner.invoke({
        requestId: event.id,
        functionName: event.functionName,
        qualifier: event.qualifier,
        invocationType: 'RequestResponse',
        logType: 'None',
        clientContext: event.clientContext,
        payload: event.payload,
      });
    } catch (err) {
      failure = classify(err);
    }
    const after = this.#o.clock.now();
    // Shutting down stops the sandboxes under attempts in flight: their
    // failure says nothing of the event. It is left under its lease, which
    // the next start ends, so it is delivered again (at least once).
    if (this.#closed && (failure !== undefined || response?.functionError !== undefined)) return undefined;

    if (failure?.kind === 'gone') return this.#finish(event, 'FunctionDeleted', undefined, undefined);
    if (failure) {
      this.#o.events?.attempted?.(event.functionName, failure.kind);
      const delay = this.#ms(Math.min(BACKOFF_MAX_MS, BACKOFF_FIRST_MS * 2 ** event.deferrals));
      if (after + delay - event.acceptedAt >= maxAgeMs) return this.#finish(event, 'EventAgeExceeded', settings, undefined, arn);
      if (failure.kind === 'error') this.#o.logger?.error(`async event ${event.id} of ${event.functionName}: ${failure.message}; retrying`);
      this.#o.events?.retried?.(event.functionName, failure.kind);
      return { kind: 'retry', notBefore: after + delay, attempts: event.attempts, deferrals: event.deferrals + 1 };
    }

    const result: AttemptResult = { executedVersion: response!.executedVersion ?? version, functionError: response!.functionError, payload: response!.payload };
    const ran: QueuedEvent = { ...event, attempts: event.attempts + 1 };
    const executedArn = this.#o.functionArn(event.functionName, result.executedVersion);
    this.#o.events?.attempted?.(event.functionName, result.functionError === undefined ? 'success' : 'function_error');
    if (result.functionError === undefined) return this.#finish(ran, 'Success', settings, result, executedArn);
    if (ran.attempts > settings.maximumRetryAttempts) return this.#finish(ran, 'RetriesExhausted', settings, result, executedArn);
    const notBefore = after + this.#ms(RETRY_DELAY_MS * ran.attempts);
    if (notBefore - event.acceptedAt >= maxAgeMs) return this.#finish(ran, 'EventAgeExceeded', settings, result, executedArn);
    this.#o.events?.retried?.(event.functionName, 'function_error');
    return { kind: 'retry', notBefore, attempts: ran.attempts, deferrals: event.deferrals };
  }

  #finish(event: QueuedEvent, condition: Condition | 'FunctionDeleted', settings: AsyncSettings | undefined, result: AttemptResult | undefined, functionArn?: string): Settlement {
    const now = this.#o.clock.now();
    this.#o.events?.finished?.(event.functionName, condition, now - event.acceptedAt);
    if (condition === 'FunctionDeleted' || !settings || functionArn === undefined) {
      this.#o.logger?.error(`async event ${event.id}: function ${event.functionName}${event.qualifier ? `:${event.qualifier}` : ''} no longer exists; the event is dropped`);
      return { kind: 'done' };
    }
    if (condition !== 'Success') {
      this.#o.logger?.error(`async event ${event.id} of ${event.functionName}: ${condition} after ${event.attempts} attempt(s)`);
    }
    const outcome: Outcome = { event, condition, functionArn, result, now };
    const targets = { destination: condition === 'Success' ? settings.onSuccess : settings.onFailure, deadLetter: settings.deadLetterTarget };
    const { then, delivered } = followUps(outcome, targets, (arn) => this.#o.logger?.error(`async event ${event.id}: cannot deliver to ${arn}`));
    for (const kind of delivered) this.#o.events?.delivered?.(kind, condition);
    return { kind: 'done', then };
  }
}

/** Sorts an invoke failure: a throttle, a platform error (both retried with backoff), or a function that is gone. */
function classify(err: unknown): Failure {
  if (err instanceof LambdaError) {
    if (err.code === 'TooManyRequestsException') return { kind: 'throttled' };
    if (err.code === 'ResourceNotFoundException') return { kind: 'gone' };
    return { kind: 'error', message: `${err.code}: ${err.message}` };
  }
  return { kind: 'error', message: err instanceof Error ? err.message : String(err) };
}

/** Renews a lease every LEASE_RENEW_MS until stopped. */
class LeaseRenewal {
  #timer: Timer | undefined;
  #stopped = false;

  constructor(
    readonly clock: Clock,
    readonly renew: () => Promise<boolean>,
  ) {
    this.#schedule();
  }

  #schedule(): void {
    this.#timer = this.clock.setTimeout(() => {
      if (this.#stopped) return;
      this.renew().then(
        () => this.#schedule(),
        () => this.#schedule(),
      );
    }, LEASE_RENEW_MS);
  }

  stop(): void {
    this.#stopped = true;
    if (this.#timer) this.clock.clearTimeout(this.#timer);
  }
}

/**
 * One poller: claims ready events under its own lease owner, going round
 * the functions that have some (an equal share of its free slots per
 * function per round), so a flooded function does not starve the others,
 * and runs up to `concurrency` of them at once.
 */
export class Poller {
  readonly #service: AsyncInvoke;
  readonly owner: string;
  readonly #concurrency: number;
  readonly #inFlight = new Set<Promise<void>>();
  /** Where the next round starts in the list of ready functions. */
  #cursor = 0;
  #running = false;
  #again = false;
  #timer: Timer | undefined;

  constructor(service: AsyncInvoke, owner: string, concurrency: number) {
    this.#service = service;
    this.owner = owner;
    this.#concurrency = concurrency;
  }

  /** Looks at the queue now (after an enqueue, a finished attempt, a timer). */
  wake(): void {
    if (this.#service.closed) return;
    if (this.#running) {
      this.#again = true;
      return;
    }
    this.#running = true;
    void this.#poll()
      .catch(() => undefined)
      .finally(() => {
        this.#running = false;
        if (this.#again) {
          this.#again = false;
          this.wake();
        }
      });
  }

  async #poll(): Promise<void> {
    const { queue, clock } = this.#service;
    if (this.#timer) clock.clearTimeout(this.#timer);
    this.#timer = undefined;
    /** Events of a function at its reserved concurrency were left queued. */
    let heldBack = false;
    try {
      let functions = await queue.readyFunctions(clock.now());
      while (functions.length > 0 && this.#inFlight.size < this.#concurrency && !this.#service.closed) {
        const start = this.#cursor % functions.length;
        const round = [...functions.slice(start), ...functions.slice(0, start)];
        const drained = new Set<string>();
        // An equal share of the free slots per function and round (at least one).
        const share = Math.max(1, Math.floor((this.#concurrency - this.#inFlight.size) / round.length));
        for (const fn of round) {
          const free = this.#concurrency - this.#inFlight.size;
          if (free <= 0 || this.#service.closed) break;
          const room = this.#service.roomFor(fn);
          if (room <= 0) {
            // Its reserved concurrency is in use: the end of one of its attempts wakes the pollers.
            drained.add(fn);
            heldBack = true;
            continue;
          }
          const events = await queue.claim(fn, this.owner, Math.min(share, free, room), clock.now(), EVENT_LEASE_MS);
          this.#cursor++;
          if (events.length === 0) drained.add(fn);
          for (const event of events) {
            const task: Promise<void> = this.#service.run(event, this.owner).finally(() => {
              this.#inFlight.delete(task);
              this.wake();
            });
            this.#inFlight.add(task);
          }
        }
        functions = functions.filter((f) => !drained.has(f));
      }
    } finally {
      if (!this.#service.closed) {
        // Sleep until the next event is due (a retry's delay), at most IDLE_POLL_MS.
        // At capacity, a finished attempt wakes the poller instead; so it
        // does when events were held back (the next due is then one of
        // theirs, due now: a timer would spin).
        const next = this.#inFlight.size >= this.#concurrency || heldBack ? undefined : await queue.nextReadyAt().catch(() => undefined);
        const wait = next === undefined ? IDLE_POLL_MS : Math.max(1, Math.min(IDLE_POLL_MS, next - clock.now()));
        this.#timer = clock.setTimeout(() => this.wake(), wait);
      }
    }
  }

  async close(): Promise<void> {
    if (this.#timer) this.#service.clock.clearTimeout(this.#timer);
    while (this.#inFlight.size > 0) await Promise.allSettled([...this.#inFlight]);
  }
}
