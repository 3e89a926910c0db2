import type { Readable } from 'node:stream';

/**
 * The end-of-invoke marker the built-in runtimes write to fd 1 and fd 2
 * before posting an invoke's result: `\0KINDLING-END <requestId>\0\n`. Seeing
 * it on a stream proves everything the invoke printed there has been read.
 * Markers never reach any log. The runtime side defines the same format in
 * src/runtime/marker.ts (neither tree may import the other): change both together.
 */
export const LOG_MARKER_PREFIX = '\u0000KINDLING-END ';
const MARKER_SUFFIX = '\u0000\n';
/** A marker longer than this is not one (request ids are short). */
const MAX_MARKER_LENGTH = LOG_MARKER_PREFIX.length + 256 + MARKER_SUFFIX.length;

/**
 * Most text one invoke's log keeps: the newest 64 KiB of what the function
 * printed (the Invoke API's X-Amz-Log-Result needs only the last 4 KB; the
 * subscriber sees everything).
 */
export const LOG_TEXT_LIMIT = 64 * 1024;

/**
 * Who receives a sandbox's output as it is read, stream by stream, with the
 * end markers where they were (sandbox-log.ts, which keeps every line).
 */
export interface CaptureListener {
  /** Output of stdout (0) or stderr (1), markers stripped, in the order it was read. */
  text(stream: 0 | 1, text: string): void;
  /** The runtime's end marker of `requestId` on that stream. */
  marker(stream: 0 | 1, requestId: string): void;
  /** The stream ended (what it held before has been delivered). */
  end(stream: 0 | 1): void;
}

/**
 * Reads a sandbox's stdout and stderr, strips the runtime's end markers, and
 * attributes text to invokes the way Lambda does: everything printed up to
 * an invoke's end (including what was printed between the previous invoke
 * and this one) is this invoke's; text a stream prints after its marker
 * belongs to the next invoke.
 */
export class LogCapture {
  readonly #onText: ((text: string) => void) | undefined;
  /** Text for the current (or next) invoke. */
  #current: string[] = [];
  #currentSize = 0;
  /** Text a stream printed after its marker for the current invoke. */
  #after: string[] = [];
  #afterSize = 0;
  #expected: string | undefined;
  readonly #seen: [boolean, boolean] = [false, false];
  readonly #ended: [boolean, boolean] = [false, false];
  readonly #carry: [string, string] = ['', ''];
  #wake: (() => void) | undefined;
  #writesMarkers = false;
  /** Set by the sandbox that owns the output (a stem cell's before it is taken has none). */
  listener: CaptureListener | undefined;

  constructor(stdout: Readable, stderr: Readable, onText?: (text: string) => void) {
    this.#onText = onText;
    this.#attach(stdout, 0);
    this.#attach(stderr, 1);
  }

  /** Starts an invoke: its marker is the one to wait for. */
  begin(requestId: string): void {
    this.#expected = requestId;
    this.#seen[0] = false;
    this.#seen[1] = false;
  }

  /** True when both streams have shown the current invoke's marker, or ended. */
  get flushed(): boolean {
    return (this.#seen[0] || this.#ended[0]) && (this.#seen[1] || this.#ended[1]);
  }

  /** True once the runtime has written an end marker for an invoke: it is one of the built-in runtimes. */
  get writesMarkers(): boolean {
    return this.#writesMarkers;
  }

  /** True when both streams have ended (the process and every holder of its pipes are gone). */
  get ended(): boolean {
    return this.#ended[0] && this.#ended[1];
  }

  /**
   * Waits until `ready()` holds (re-checked whenever text, a marker or an end
   * arrives), or `limitMs` passes, or — with `ready` undefined — just `limitMs`.
   */
  wait(limitMs: number, ready?: () => boolean): Promise<void> {
    if (ready?.()) return Promise.resolve();
    return new Promise<void>((resolve) => {
      const finish = (): void => {
        clearTimeout(timer);
        this.#wake = undefined;
        resolve();
      };
      const timer = setTimeout(finish, limitMs);
      if (ready) {
        this.#wake = () => {
          if (ready()) finish();
        };
      }
    });
  }

  /** Ends the current invoke: returns its text and starts the next one's. */
  take(): string {
    const text = this.#current.length === 0 ? '' : this.#current.join('');
    this.#current = this.#after;
    this.#currentSize = this.#afterSize;
    this.#after = [];
    this.#afterSize = 0;
    this.#expected = undefined;
    this.#seen[0] = false;
    this.#seen[1] = false;
    return text;
  }

  #attach(stream: Readable, i: 0 | 1): void {
    stream.setEncoding('utf8');
    stream.on('data', (chunk: string) => this.#data(i, chunk));
    stream.on('end', () => {
      this.#ended[i] = true;
      const carry = this.#carry[i];
      if (carry !== '') {
        this.#carry[i] = '';
        this.#append(i, carry);
      }
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

  #data(i: 0 | 1, chunk: string): void {
    let text = this.#carry[i] === '' ? chunk : this.#carry[i] + chunk;
    this.#carry[i] = '';
    for (;;) {
      const nul = text.indexOf('\u0000');
      if (nul < 0) {
        this.#append(i, text);
        break;
      }
      if (nul > 0) this.#append(i, text.slice(0, nul));
      const rest = nul > 0 ? text.slice(nul) : text;
      if (rest.startsWith(LOG_MARKER_PREFIX)) {
        const end = rest.indexOf(MARKER_SUFFIX, LOG_MARKER_PREFIX.length);
        if (end >= 0 && end <= MAX_MARKER_LENGTH) {
          this.#marker(i, rest.slice(LOG_MARKER_PREFIX.length, end));
          text = rest.slice(end + MARKER_SUFFIX.length);
          continue;
        }
        if (end < 0 && rest.length < MAX_MARKER_LENGTH) {
          this.#carry[i] = rest; // the marker continues in the next chunk
          break;
        }
      } else if (rest.length < LOG_MARKER_PREFIX.length && LOG_MARKER_PREFIX.startsWith(rest)) {
        this.#carry[i] = rest;
        break;
      }
      // A NUL that starts no marker is the function's own output.
      this.#append(i, '\u0000');
      text = rest.slice(1);
    }
    this.#wake?.();
  }

  #marker(i: 0 | 1, requestId: string): void {
    // A stale marker (of an invoke already finished) changes nothing.
    if (requestId === this.#expected) this.#seen[i] = true;
    this.#writesMarkers = true;
    this.listener?.marker(i, requestId);
  }

  #append(i: 0 | 1, text: string): void {
    if (text === '') return;
    this.#onText?.(text);
    this.listener?.text(i, text);
    if (this.#seen[i]) {
      this.#after.push(text);
      this.#afterSize += text.length;
      if (this.#afterSize > 2 * LOG_TEXT_LIMIT) this.#afterSize = trim(this.#after);
    } else {
      this.#current.push(text);
      this.#currentSize += text.length;
      if (this.#currentSize > 2 * LOG_TEXT_LIMIT) this.#currentSize = trim(this.#current);
    }
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
