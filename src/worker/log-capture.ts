import type { Readable } from 'node:stream';

/**
 * Where an invoke's output ends. A runtime writes what an invoke prints to
 * its stdout and stderr with blocking writes (a shell's echo is one
 * write(2); the built-in Node.js runtime makes its pipes blocking, as node
 * would otherwise queue what a full pipe does not take: blockingStdio in
 * src/runtime/nodejs/index.ts), and only then sends the invoke's result.
 * So when the worker reads the result, every byte the invoke printed before
 * it is already in the pipes, and the pipes are in the same epoll ready list
 * as the Runtime API's socket or an earlier one: libuv reads them all in the
 * poll phase in which it reads the result (it drains each pipe until a short
 * read, and polls again before leaving the phase when its event batch was
 * full). One setImmediate after the result has therefore seen it all.
 *
 * An invoke's log is what the pipes delivered up to that point; what comes
 * later (a timer that fired after the response, a child process still
 * printing) belongs to the next invoke, as on Lambda, where a frozen
 * sandbox's late output shows in its next invoke. A custom runtime
 * (provided.*) needs no help for this as long as its writes block; one
 * written in node that prints more than a pipe holds in one go may see the
 * rest of that output in its next invoke's log.
 */
export function endOfTurn(): Promise<void> {
  return new Promise((resolve) => setImmediate(resolve));
}

/**
 * Most text one invoke's log keeps: the newest 64 KiB of what the function
 * printed (the Invoke API's X-Amz-Log-Result needs only the last 4 KB; the
 * subscriber sees everything).
 */
export const LOG_TEXT_LIMIT = 64 * 1024;

/**
 * Who receives a sandbox's output as it is read, stream by stream
 * (sandbox-log.ts, which keeps every line).
 */
export interface CaptureListener {
  /** Output of stdout (0) or stderr (1), in the order it was read. */
  text(stream: 0 | 1, text: string): void;
  /** The stream ended (what it held before has been delivered). */
  end(stream: 0 | 1): void;
}

/**
 * Reads a sandbox's stdout and stderr and attributes text to invokes the way
 * Lambda does: everything read up to an invoke's end (endOfTurn after its
 * result, including what was printed between the previous invoke and this
 * one) is this invoke's.
 */
export class LogCapture {
  readonly #onText: ((text: string) => void) | undefined;
  /** Text for the current (or next) invoke. */
  #current: string[] = [];
  #currentSize = 0;
  readonly #ended: [boolean, boolean] = [false, false];
  #wake: (() => void) | undefined;
  /** Set by the sandbox that owns the output (a stem cell's before it is taken has none). */
  listener: CaptureListener | undefined;

  constructor(stdout: Readable, stderr: Readable, onText?: (text: string) => void) {
    this.#onText = onText;
    this.#attach(stdout, 0);
    this.#attach(stderr, 1);
  }

  /** True when both streams have ended (the process and every holder of its pipes are gone). */
  get ended(): boolean {
    return this.#ended[0] && this.#ended[1];
  }

  /** Waits until both streams have ended, or `limitMs` passes. */
  untilEnded(limitMs: number): Promise<void> {
    if (this.ended) return Promise.resolve();
    return new Promise<void>((resolve) => {
      const timer = setTimeout(finish, limitMs);
      function finish(): void {
        clearTimeout(timer);
        resolve();
      }
      this.#wake = () => {
        if (this.ended) {
          this.#wake = undefined;
          finish();
        }
      };
    });
  }

  /** Ends the current invoke: returns its text and starts the next one's. */
  take(): string {
    const text = this.#current.length === 0 ? '' : this.#current.join('');
    this.#current = [];
    this.#currentSize = 0;
    return text;
  }

  #attach(stream: Readable, i: 0 | 1): void {
    stream.setEncoding('utf8');
    stream.on('data', (chunk: string) => this.#append(i, chunk));
    stream.on('end', () => {
      this.#ended[i] = true;
      this.listener?.end(i);
      this.#wake?.();
    });
    // A pipe error means the sandbox is gone; the exit path reports it.
    stream.on('error', () => {
      if (!this.#ended[i]) this.listener?.end(i);
      this.#ended[i] = true;
      this.#wake?.();
    });
  }

  #append(i: 0 | 1, text: string): void {
    if (text === '') return;
    this.#onText?.(text);
    this.listener?.text(i, text);
    this.#current.push(text);
    this.#currentSize += text.length;
    if (this.#currentSize > 2 * LOG_TEXT_LIMIT) this.#currentSize = trim(this.#current);
  }
}

/** Drops the oldest text until at most LOG_TEXT_LIMIT characters remain; returns the new size. */
function trim(parts: string[]): number {
  const joined = parts.join('');
  const kept = joined.slice(joined.length - LOG_TEXT_LIMIT);
  parts.length = 0;
  parts.push(kept);
  return kept.length;
}
