/**
 * The log sink of a worker in its own process: sends its sandboxes' log
 * lines to the platform's log store over the worker channel (POST
 * LOGS_INGEST_PATH, wire.ts), batched: append() only buffers; a timer sends
 * what is buffered every SHIP_MS, one request at a time, so an invoke never
 * waits for it. While the platform cannot be reached the lines stay
 * buffered (up to maxBufferedBytes; past it the oldest go, and the worker
 * says how many on stderr) and are sent once it answers again.
 */
import { systemClock } from '../shared/clock.js';
import type { Clock, Timer } from '../shared/clock.js';
import type { LogSink, LogSinkEvent } from './types.js';
import type { LogBatch } from './wire.js';

/** How long lines wait before they are sent. */
export const SHIP_MS = 200;
/** Most bytes of messages in one request. */
const BATCH_BYTES = 1024 * 1024;

interface Buffered {
  readonly group: string;
  readonly stream: string;
  readonly event: LogSinkEvent;
  readonly bytes: number;
}

export interface LogShipperOptions {
  /** Sends one batch; rejects when the platform did not take it. */
  readonly send: (batch: LogBatch) => Promise<unknown>;
  readonly clock?: Clock;
  /** Default 16 MB. */
  readonly maxBufferedBytes?: number;
  /** Told when sending fails (once per outage) or lines had to be dropped. */
  readonly onError?: (message: string) => void;
}

export class LogShipper implements LogSink {
  readonly #o: LogShipperOptions;
  readonly #clock: Clock;
  readonly #max: number;
  #buffer: Buffered[] = [];
  #bytes = 0;
  #dropped = 0;
  #timer: Timer | undefined;
  #sending: Promise<void> | undefined;
  #failing = false;

  constructor(options: LogShipperOptions) {
    this.#o = options;
    this.#clock = options.clock ?? systemClock;
    this.#max = options.maxBufferedBytes ?? 16 * 1024 * 1024;
  }

  append(logGroupName: string, logStreamName: string, events: readonly LogSinkEvent[]): void {
    for (const event of events) {
      const bytes = Buffer.byteLength(event.message) + 64;
      this.#buffer.push({ group: logGroupName, stream: logStreamName, event, bytes });
      this.#bytes += bytes;
    }
    while (this.#bytes > this.#max && this.#buffer.length > 0) {
      this.#bytes -= this.#buffer.shift()!.bytes;
      this.#dropped++;
    }
    this.#timer ??= this.#clock.setTimeout(() => void this.#ship(), SHIP_MS);
  }

  /** Sends everything buffered now; resolves once the platform took it (rejects if it did not). */
  async flush(): Promise<void> {
    if (this.#timer) {
      this.#clock.clearTimeout(this.#timer);
      this.#timer = undefined;
    }
    while (this.#sending) await this.#sending;
    while (this.#buffer.length > 0) await this.#sendOne();
  }

  async #ship(): Promise<void> {
    this.#timer = undefined;
    if (this.#sending) return;
    try {
      while (this.#buffer.length > 0) await this.#sendOne();
    } catch {
      // Kept buffered; try again later.
      this.#timer ??= this.#clock.setTimeout(() => void this.#ship(), SHIP_MS * 5);
    }
  }

  /** Sends the oldest batch; on failure puts it back in front. */
  async #sendOne(): Promise<void> {
    let size = 0;
    let n = 0;
    while (n < this.#buffer.length && (n === 0 || size + this.#buffer[n]!.bytes <= BATCH_BYTES)) size += this.#buffer[n++]!.bytes;
    const items = this.#buffer.splice(0, n);
    this.#bytes -= size;
    const streams: { logGroupName: string; logStreamName: string; events: LogSinkEvent[] }[] = [];
    for (const it of items) {
      const last = streams.at(-1);
      if (last && last.logGroupName === it.group && last.logStreamName === it.stream) last.events.push(it.event);
      else streams.push({ logGroupName: it.group, logStreamName: it.stream, events: [it.event] });
    }
    const done = this.#o.send({ streams }).then(
      () => {
        if (this.#failing) this.#o.onError?.('function logs reach the platform again');
        this.#failing = false;
        if (this.#dropped > 0) {
          this.#o.onError?.(`${this.#dropped} function log lines were dropped while the platform could not be reached`);
          this.#dropped = 0;
        }
      },
      (err: unknown) => {
        this.#buffer = items.concat(this.#buffer);
        this.#bytes += size;
        if (!this.#failing) this.#o.onError?.(`function logs cannot reach the platform (${err instanceof Error ? err.message : String(err)}); kept and retried`);
        this.#failing = true;
        throw err;
      },
    );
    this.#sending = done.then(
      () => undefined,
      () => undefined,
    );
    try {
      await done;
    } finally {
      this.#sending = undefined;
    }
  }
}
