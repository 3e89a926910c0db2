/**
 * One sandbox's log stream, as Lambda keeps it in CloudWatch Logs: every
 * line the sandbox writes (at init, during an invoke, between invokes) and
 * the platform's own lines (INIT_START, START, the fault line, END, REPORT),
 * one event per line, in the order they happened, appended to the function's
 * log group under the stream named in its AWS_LAMBDA_LOG_STREAM_NAME.
 *
 * Order. An invoke's END and REPORT come after everything the invoke wrote:
 * the worker writes them once the pipes have been read up to the invoke's
 * result (endOfTurn in log-capture.ts), and a sandbox runs one invoke at a
 * time, so its next START comes after them.
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
import type { Clock } from '../shared/clock.js';
import type { CaptureListener } from './log-capture.js';
import type { LogSink, LogSinkEvent } from './types.js';

/**
 * Longest event, in UTF-16 units: at most 3 UTF-8 bytes each, so an event
 * stays within CloudWatch Logs' 256 KB event size. A longer line is split
 * into several events, and an unterminated line that grows past it is
 * written out in pieces (a sandbox cannot make the worker buffer without end).
 */
export const MAX_EVENT_CHARS = Math.floor((256 * 1024 - 26) / 3);

export interface SandboxLogOptions {
  readonly sink: LogSink;
  readonly logGroupName: string;
  readonly logStreamName: string;
  readonly clock: Clock;
}

export class SandboxLog implements CaptureListener {
  readonly #o: SandboxLogOptions;
  /** The unterminated last line of each stream, and when its first part came. */
  readonly #partial: [string, string] = ['', ''];
  readonly #partialAt: [number, number] = [0, 0];

  constructor(options: SandboxLogOptions) {
    this.#o = options;
  }

  get logStreamName(): string {
    return this.#o.logStreamName;
  }

  /**
   * Lines of the platform's (INIT_START, START, a fault line, END, REPORT),
   * after every unterminated line of the function's; empty ones are skipped.
   */
  platform(...lines: readonly string[]): void {
    this.#flushPartials();
    this.#emit(this.#o.clock.now(), ...lines);
  }

  /** The sandbox is gone: its unterminated lines go out now (later output, pipes draining, is still kept). */
  close(): void {
    this.#flushPartials();
  }

  // ---- CaptureListener ----

  text(stream: 0 | 1, text: string): void {
    this.#lines(stream, text, this.#o.clock.now());
  }

  end(stream: 0 | 1): void {
    this.#flushPartial(stream);
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

  /** The messages, all stamped `at`, in one append. */
  #emit(at: number, ...messages: readonly string[]): void {
    const events: LogSinkEvent[] = [];
    for (const message of messages) eventsOf(at, message, events);
    if (events.length > 0) this.#o.sink.append(this.#o.logGroupName, this.#o.logStreamName, events);
  }
}

/** Appends the events of one line to `events`: none for an empty line, several for a line past MAX_EVENT_CHARS. */
function eventsOf(at: number, message: string, events: LogSinkEvent[]): void {
  // Trailing newlines of a platform line ("Task timed out ...\n\n") are the line's end, not its text.
  let text = message.replace(/\n+$/, '');
  if (text === '') return;
  while (text.length > MAX_EVENT_CHARS) {
    const cut = splitAt(text, MAX_EVENT_CHARS);
    events.push({ timestamp: at, message: text.slice(0, cut) });
    text = text.slice(cut);
  }
  events.push({ timestamp: at, message: text });
}

/** Where to cut `text` at most `max` units in, not between the two halves of a surrogate pair. */
function splitAt(text: string, max: number): number {
  const code = text.charCodeAt(max - 1);
  return code >= 0xd800 && code <= 0xdbff ? max - 1 : max;
}
