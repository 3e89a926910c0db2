/**
 * Metrics of asynchronous invocation, on the platform's registry: what the
 * pollers did (AsyncEvents, counted as it happens) and the queues' state
 * (read from the store when Prometheus scrapes).
 */
import { Counter, Gauge } from 'prom-client';
import type { Registry } from 'prom-client';
import type { AsyncEvents } from '../async/async-invoke.js';
import type { Condition, DeliveryKind } from '../async/destinations.js';
import type { EventQueue, MessageQueues } from '../store/event-queue.js';
import type { Clock } from '../shared/clock.js';

export class AsyncMetrics implements AsyncEvents {
  readonly #attempts: Counter<'function' | 'outcome'>;
  readonly #retries: Counter<'function' | 'reason'>;
  readonly #finished: Counter<'function' | 'condition'>;
  readonly #deliveries: Counter<'destination' | 'condition'>;

  constructor(registry: Registry, sources: { queue: EventQueue; queues: MessageQueues; clock: Clock }) {
    const registers = [registry];
    this.#attempts = new Counter({
      name: 'kindling_async_attempts_total',
      help: 'Delivery attempts of Event invokes, by outcome: success, function_error (the function ran and failed), throttled, error (the platform could not run it).',
      labelNames: ['function', 'outcome'],
      registers,
    });
    this.#retries = new Counter({
      name: 'kindling_async_retries_total',
      help: 'Event invokes scheduled for another attempt, by reason (function_error, throttled, error).',
      labelNames: ['function', 'reason'],
      registers,
    });
    this.#finished = new Counter({
      name: 'kindling_async_events_total',
      help: 'Event invokes that left the queue, by condition (Success, RetriesExhausted, EventAgeExceeded, ZeroReservedConcurrency, FunctionDeleted).',
      labelNames: ['function', 'condition'],
      registers,
    });
    this.#deliveries = new Counter({
      name: 'kindling_async_destination_deliveries_total',
      help: 'Records written to destinations (function, queue) and events to dead-letter queues, by condition.',
      labelNames: ['destination', 'condition'],
      registers,
    });
    new Gauge({
      name: 'kindling_async_queue_depth',
      help: 'Event invokes accepted and not yet finished (waiting, in flight or waiting for a retry), per function.',
      labelNames: ['function'],
      registers,
      async collect() {
        this.reset();
        for (const [fn, s] of await sources.queue.stats()) this.set({ function: fn }, s.depth);
      },
    });
    new Gauge({
      name: 'kindling_async_oldest_event_age_seconds',
      help: 'Age of the oldest unfinished Event invoke, per function.',
      labelNames: ['function'],
      registers,
      async collect() {
        this.reset();
        const now = sources.clock.now();
        for (const [fn, s] of await sources.queue.stats()) this.set({ function: fn }, Math.max(0, now - s.oldestAcceptedAt) / 1000);
      },
    });
    new Gauge({
      name: 'kindling_queue_messages',
      help: "Messages in each of Kindling's named queues (destinations and dead-letter queues).",
      labelNames: ['queue'],
      registers,
      async collect() {
        this.reset();
        for (const q of await sources.queues.list()) this.set({ queue: q.name }, q.messages);
      },
    });
  }

  attempted(functionName: string, outcome: 'success' | 'function_error' | 'throttled' | 'error'): void {
    this.#attempts.inc({ function: functionName, outcome });
  }

  retried(functionName: string, reason: 'function_error' | 'throttled' | 'error'): void {
    this.#retries.inc({ function: functionName, reason });
  }

  finished(functionName: string, condition: Condition | 'FunctionDeleted'): void {
    this.#finished.inc({ function: functionName, condition });
  }

  delivered(kind: DeliveryKind, condition: Condition): void {
    this.#deliveries.inc({ destination: kind, condition });
  }
}
