/**
 * One sandbox's log stream, as Lambda keeps it in CloudWatch Logs: every
 * line the sandbox writes (at init, during an invoke, between invokes) and
 * the platform's own lines (INIT_START, START, the fault line, END, REPORT),
 * one event per line, in the order they happened, appended to the function's
 * log group under the stream named in its AWS_LAMBDA_LOG_STREAM_NAME.
 *
 * Order. An invoke's END and REPORT come after everything the invoke wrote.
 * The built-in runtimes write an end marker to stdout and stderr before
 * posting the result (log-capture.ts), but the worker may learn the result
 * before it has read the pipes up to the markers. So END/REPORT wait — never
 * the invoke, only these lines — until both markers have been read (or the
 * pipes ended, or FLUSH_LIMIT_MS passed, or a short settle for runtimes that
 * write no markers), and what a stream wrote after its marker, and the next
 * START, are held until then.
 *
 * Lines. Text is split on '\n'. The Node.js runtime writes one console call
 * as one line with its inner newlines turned into '\r' (RIC LogPatch, for
 * the stdout transport), so one console call stays one event; the event's
 * message turns those '\r' back into '\n', as Lambda's log events show a
 * multi-line console.log (a trailing '\r' of a CRLF line is dropped). An
 * unterminated last line is kept as its own event when the platform writes
 * a line of its own, when the stream ends (the sandbox died or was killed
 * mid-write), and when the sandbox is torn down. Empty lines are dropped
 * (CloudWatch Logs events have at least one character).
 */
import type { Clock, Timer } from '../shared/clock.js';
import type { CaptureListener } from './log-capture.js';
import type { LogSink } from './types.js';

/**
 * Longest event, in UTF-16 units: at most 3 UTF-8 bytes each, so an event
 * stays within CloudWatch Logs' 256 KB event size. A longer line is split
 * into several events, and an unterminated line that grows past it is
 * written out in pieces (a sandbox cannot make the worker buffer without end).
 */
export const MAX_EVENT_CHARS = Math.floor((256 * 1024 - 26) / 3);

/** Longest wait for the end markers before END/REPORT are written anyway. */
export const FLUSH_LIMIT_MS = 1000;

type Held =
  | { readonly kind: 'text'; readonly stream: 0 | 1; readonly text: string; readonly at: number }
  | { readonly kind: 'marker'; readonly stream: 0 | 1; readonly requestId: string }
  | { readonly kind: 'start'; readonly requestId: string; readonly line: string; readonly at: number }
  | { readonly kind: 'finish'; readonly requestId: string; readonly lines: readonly string[]; readonly at: number };

export interface SandboxLogOptions {
  readonly sink: LogSink;
  readonly logGroupName: string;
  readonly logStreamName: string;
  readonly clock: Clock;
  /** For runtimes that never wrote an end marker: how long END waits for the pipes to be read. */
  readonly settleMs: number;
}

export class SandboxLog implements CaptureListener {
  readonly #o: SandboxLogOptions;
  /** The invoke whose START was written and whose END was not. */
  #current: string | undefined;
  /** Its end marker was read on stdout / stderr. */
  readonly #seen: [boolean, boolean] = [false, false];
  readonly #ended: [boolean, boolean] = [false, false];
  /** END, REPORT (and a fault line before them) waiting for the markers. */
  #endLines: readonly string[] | undefined;
  #endAt = 0;
  #timer: Timer | undefined;
  #held: Held[] = [];
  /** The unterminated last line of each stream, and when its first part came. */
  readonly #partial: [string, string] = ['', ''];
  readonly #partialAt: [number, number] = [0, 0];
  #markers = false;
  #closed = false;

  constructor(options: SandboxLogOptions) {
    this.#o = options;
  }

  get logStreamName(): string {
    return this.#o.logStreamName;
  }

  /** A line of the platform's outside any invoke (INIT_START). */
  platform(line: string): void {
    this.#flushPartials();
    this.#emit(this.#o.clock.now(), line);
  }

  /** The invoke was delivered: its START line. */
  start(requestId: string, line: string): void {
    this.#process({ kind: 'start', requestId, line, at: this.#o.clock.now() });
  }

  /** The invoke's outcome is known: its last lines, written once its output has been read. */
  finish(requestId: string, lines: readonly string[]): void {
    this.#process({ kind: 'finish', requestId, lines, at: this.#o.clock.now() });
  }

  /** The sandbox is gone: END lines waiting go out now, unterminated lines too. Later output (pipes draining) is still kept. */
  close(): void {
    this.#closed = true;
    if (this.#endLines !== undefined) this.#complete();
    this.#flushPartials();
  }

  // ---- CaptureListener ----

  text(stream: 0 | 1, text: string): void {
    this.#process({ kind: 'text', stream, text, at: this.#o.clock.now() });
  }

  marker(stream: 0 | 1, requestId: string): void {
    this.#markers = true;
    this.#process({ kind: 'marker', stream, requestId });
  }

  end(stream: 0 | 1): void {
    this.#ended[stream] = true;
    this.#flushPartial(stream);
    this.#tryComplete();
  }

  // ---- the order ----

  /** True when `item` must wait for the current invoke's END. */
  #blocked(item: Held): boolean {
    if (this.#current === undefined) return false;
    if (item.kind === 'start') return true;
    if (item.kind === 'finish') return item.requestId !== this.#current;
    // What a stream wrote after its marker is the next invoke's (or between invokes).
    return this.#seen[item.stream];
  }

  #process(item: Held): void {
    if (this.#blocked(item)) {
      this.#held.push(item);
      return;
    }
    switch (item.kind) {
      case 'text':
        this.#lines(item.stream, item.text, item.at);
        return;
      case 'marker':
        if (item.requestId !== this.#current) return; // a stale marker changes nothing
        this.#seen[item.stream] = true;
        this.#tryComplete();
        return;
      case 'start':
        this.#flushPartials();
        this.#current = item.requestId;
        this.#seen[0] = false;
        this.#seen[1] = false;
        this.#emit(item.at, item.line);
        return;
      case 'finish':
        if (this.#current === undefined) {
          // No START before it (the caller always writes one): the lines still go out, in order.
          this.#flushPartials();
          for (const line of item.lines) this.#emit(item.at, line);
          return;
        }
        this.#endLines = item.lines;
        this.#endAt = item.at;
        this.#tryComplete();
        return;
    }
  }

  #tryComplete(): void {
    if (this.#endLines === undefined || this.#current === undefined) return;
    const done = (i: 0 | 1): boolean => this.#seen[i] || this.#ended[i];
    if ((done(0) && done(1)) || this.#closed) {
      this.#complete();
      return;
    }
    if (this.#timer === undefined) {
      const wait = this.#markers ? FLUSH_LIMIT_MS : this.#o.settleMs;
      this.#timer = this.#o.clock.setTimeout(() => {
        this.#timer = undefined;
        if (this.#endLines !== undefined) this.#complete();
      }, wait);
    }
  }

  /** Writes END/REPORT, then replays what was held behind them. */
  #complete(): void {
    if (this.#timer) {
      this.#o.clock.clearTimeout(this.#timer);
      this.#timer = undefined;
    }
    const lines = this.#endLines ?? [];
    this.#endLines = undefined;
    this.#current = undefined;
    this.#flushPartials();
    for (const line of lines) this.#emit(this.#endAt, line);
    const held = this.#held;
    this.#held = [];
    for (const item of held) this.#process(item);
  }

  // ---- lines ----

  #lines(stream: 0 | 1, text: string, at: number): void {
    let from = 0;
    for (;;) {
      const nl = text.indexOf('\n', from);
      if (nl < 0) break;
      const piece = text.slice(from, nl);
      if (this.#partial[stream] !== '') {
        this.#emitFunction(this.#partialAt[stream], this.#partial[stream] + piece);
        this.#partial[stream] = '';
      } else {
        this.#emitFunction(at, piece);
      }
      from = nl + 1;
    }
    if (from < text.length) {
      if (this.#partial[stream] === '') this.#partialAt[stream] = at;
      this.#partial[stream] += text.slice(from);
      let rest = this.#partial[stream];
      while (rest.length > MAX_EVENT_CHARS) {
        const cut = splitAt(rest, MAX_EVENT_CHARS);
        this.#emit(this.#partialAt[stream], rest.slice(0, cut));
        rest = rest.slice(cut);
        this.#partialAt[stream] = at;
      }
      this.#partial[stream] = rest;
    }
  }

  #flushPartial(stream: 0 | 1): void {
    const rest = this.#partial[stream];
    if (rest === '') return;
    this.#partial[stream] = '';
    this.#emitFunction(this.#partialAt[stream], rest);
  }

  #flushPartials(): void {
    this.#flushPartial(0);
    this.#flushPartial(1);
  }

  #emitFunction(at: number, line: string): void {
    const message = (line.endsWith('\r') ? line.slice(0, -1) : line).replace(/\r/g, '\n');
    this.#emit(at, message);
  }

  #emit(at: number, message: string): void {
    // Trailing newlines of a platform line ("Task timed out ...\n\n") are the line's end, not its text.
    let text = message.replace(/\n+$/, '');
    if (text === '') return;
    const events = [];
    while (text.length > MAX_EVENT_CHARS) {
      const cut = splitAt(text, MAX_EVENT_CHARS);
      events.push({ timestamp: at, message: text.slice(0, cut) });
      text = text.slice(cut);
    }
    events.push({ timestamp: at, message: text });
    this.#o.sink.append(this.#o.logGroupName, this.#o.logStreamName, events);
  }
}

/** Where to cut `text` at most `max` units in, not between the two halves of a surrogate pair. */
function splitAt(text: string, max: number): number {
  const code = text.charCodeAt(max - 1);
  return code >= 0xd800 && code <= 0xdbff ? max - 1 : max;
}
