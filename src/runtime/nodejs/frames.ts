/**
 * Kindling's framed Runtime API channel: the wire format between a worker's
 * Runtime API (src/worker/runtime-api.ts) and the built-in Node.js runtime.
 * Not Lambda's API: custom runtimes keep the HTTP Runtime API, which carries
 * the same calls with the same meaning.
 *
 * Why: on the warm path an HTTP invoke costs the worker three HTTP messages
 * (the event as the answer to a parked GET /next, then the pipelined POST
 * /response and GET /next, and a 202 for the POST) and the sandbox a wake-up
 * for that 202. Framed, an invoke is one write each way: the event, and the
 * result with the next request behind it. Nothing is acknowledged: the
 * runtime ignores the answer to its POST anyway (see RuntimeApiClient).
 *
 * The runtime asks for the channel with an HTTP upgrade on a connection of
 * its Runtime API (GET FRAMES_PATH, `Upgrade: FRAMES_PROTOCOL`); a server
 * that answers anything but 101 speaks HTTP only, and the runtime stays on
 * HTTP. This file is the only definition of the format: the worker imports
 * it from the runtime's tree (the runtime imports nothing from the worker).
 *
 * A frame: u32 big-endian length of everything after these 4 bytes; u8 type;
 * u8 field count; each field a u16 big-endian byte length and its bytes;
 * then the payload, the rest of the frame.
 */

export const FRAMES_PATH = '/kindling/runtime/frames';
export const FRAMES_PROTOCOL = 'kindling-runtime-frames/1';

/** Runtime → worker: the runtime waits for its next event (GET /invocation/next). No fields, no payload. */
export const FRAME_NEXT = 1;
/** Runtime → worker: fields [request id]; payload the result (POST /invocation/{id}/response). */
export const FRAME_RESPONSE = 2;
/** Runtime → worker: fields [request id, error type or ""]; payload the error (POST /invocation/{id}/error). */
export const FRAME_ERROR = 3;
/**
 * Worker → runtime: fields [request id, deadline ms, invoked function ARN,
 * trace id, client context (may be absent)]; payload the event.
 */
export const FRAME_EVENT = 4;

/** Bytes before a frame's fields: length, type, field count. */
const PREFIX = 6;
/** Fields of one frame together may not exceed this (ids, ARNs, a client context of at most 3583 bytes). */
export const MAX_FIELDS_SIZE = 16 * 1024;

/** The 101 a worker answers FRAMES_PATH with; what follows on the connection is frames. */
export const SWITCHING_PROTOCOLS = `HTTP/1.1 101 Switching Protocols\r\nConnection: Upgrade\r\nUpgrade: ${FRAMES_PROTOCOL}\r\n\r\n`;

/** One frame in one Buffer: a single write. Fields are UTF-8; a string payload is written as UTF-8. */
export function encodeFrame(type: number, fields: readonly string[], payload?: Buffer | string): Buffer {
  let size = PREFIX;
  const lengths: number[] = [];
  for (const f of fields) {
    const n = Buffer.byteLength(f);
    lengths.push(n);
    size += 2 + n;
  }
  if (size - PREFIX > MAX_FIELDS_SIZE) throw new RangeError('frame fields too large');
  const payloadSize = payload === undefined ? 0 : typeof payload === 'string' ? Buffer.byteLength(payload) : payload.length;
  const buf = Buffer.allocUnsafe(size + payloadSize);
  buf.writeUInt32BE(size + payloadSize - 4, 0);
  buf[4] = type;
  buf[5] = fields.length;
  let at = PREFIX;
  fields.forEach((f, i) => {
    buf.writeUInt16BE(lengths[i]!, at);
    at += 2;
    at += buf.write(f, at, 'utf8');
  });
  if (typeof payload === 'string') buf.write(payload, at, 'utf8');
  else if (payload !== undefined) payload.copy(buf, at);
  return buf;
}

/** What a FrameReader reports. */
export interface FrameSink {
  /**
   * A complete frame. `payload` may point into the pushed chunk: with a
   * borrowed chunk (see FrameReader) it is valid only during the call.
   */
  frame(type: number, fields: string[], payload: Buffer): void;
  /** A frame whose payload exceeds the reader's limit; its payload is skipped as it arrives. */
  oversized(type: number, fields: string[]): void;
  /** The bytes are not frames; the reader accepts nothing more. */
  malformed(reason: string): void;
}

/**
 * Reads frames from a byte stream. A frame that arrives in one chunk costs
 * no copy; a payload over `maxPayload` is never held in memory.
 */
export class FrameReader {
  readonly #sink: FrameSink;
  readonly #maxPayload: number;
  /** Chunks are the caller's read buffer, overwritten after push(): keep copies, not views. */
  readonly #borrowed: boolean;
  /** `latin1` decodes fields as node:http decodes header values (the runtime's side); `utf8` otherwise. */
  readonly #fieldEncoding: BufferEncoding;
  /** Bytes of an incomplete frame. */
  #pending: Buffer[] = [];
  #pendingSize = 0;
  /** Payload bytes of an oversized frame still to skip. */
  #skip = 0;
  #failed = false;

  constructor(sink: FrameSink, options: { maxPayload: number; borrowed?: boolean; fieldEncoding?: BufferEncoding }) {
    this.#sink = sink;
    this.#maxPayload = options.maxPayload;
    this.#borrowed = options.borrowed ?? false;
    this.#fieldEncoding = options.fieldEncoding ?? 'utf8';
  }

  push(chunk: Buffer): void {
    if (this.#failed) return;
    if (this.#skip > 0) {
      if (chunk.length <= this.#skip) {
        this.#skip -= chunk.length;
        return;
      }
      chunk = chunk.subarray(this.#skip);
      this.#skip = 0;
    }
    let buf = chunk;
    let owned = !this.#borrowed;
    if (this.#pendingSize > 0) {
      this.#pending.push(this.#borrowed ? Buffer.from(chunk) : chunk);
      this.#pendingSize += chunk.length;
      const end = frameEnd(this.#pending);
      if (end === undefined) return;
      // A frame that may be valid is joined once, when it is complete. One
      // larger than any valid frame is joined as it comes (its fields are
      // at most MAX_FIELDS_SIZE, after which #one skips or refuses it).
      if (this.#pendingSize < end && end <= this.#largestFrame()) return;
      buf = Buffer.concat(this.#pending, this.#pendingSize);
      owned = true;
      this.#pending = [];
      this.#pendingSize = 0;
    }
    let at = 0;
    while (!this.#failed && this.#skip === 0 && at < buf.length) {
      const used = this.#one(buf, at);
      if (used === 0) break;
      at += used;
    }
    if (this.#failed || this.#skip > 0 || at >= buf.length) return;
    const rest = buf.subarray(at);
    this.#pending = [owned ? rest : Buffer.from(rest)];
    this.#pendingSize = rest.length;
  }

  /** Bytes of the largest frame that can be valid: length, header, fields and payload at their limits. */
  #largestFrame(): number {
    return 4 + PREFIX + MAX_FIELDS_SIZE + this.#maxPayload;
  }

  /** Consumes one frame at `at`; returns the bytes used, or 0 when the frame is incomplete. */
  #one(buf: Buffer, at: number): number {
    const available = buf.length - at;
    if (available < PREFIX) return 0;
    const length = buf.readUInt32BE(at);
    if (length < PREFIX - 4) return this.#fail('frame shorter than its header');
    const type = buf[at + 4]!;
    const count = buf[at + 5]!;
    // Fields first: they are needed even when the payload is too large.
    const fields: string[] = [];
    let p = at + PREFIX;
    const end = at + 4 + length;
    for (let i = 0; i < count; i++) {
      if (p + 2 > buf.length) return available > MAX_FIELDS_SIZE + PREFIX ? this.#fail('frame fields too large') : 0;
      const n = buf.readUInt16BE(p);
      if (p + 2 + n > end) return this.#fail('frame field past the frame');
      if (p + 2 + n > buf.length) return available > MAX_FIELDS_SIZE + PREFIX ? this.#fail('frame fields too large') : 0;
      fields.push(buf.toString(this.#fieldEncoding, p + 2, p + 2 + n));
      p += 2 + n;
    }
    if (p - at - PREFIX > MAX_FIELDS_SIZE) return this.#fail('frame fields too large');
    const payloadSize = end - p;
    if (payloadSize > this.#maxPayload) {
      this.#sink.oversized(type, fields);
      const here = Math.min(buf.length, end);
      this.#skip = end - here;
      return here - at;
    }
    if (end > buf.length) return 0;
    this.#sink.frame(type, fields, buf.subarray(p, end));
    return end - at;
  }

  #fail(reason: string): number {
    this.#failed = true;
    this.#pending = [];
    this.#pendingSize = 0;
    this.#sink.malformed(reason);
    return 0;
  }
}

/** Where the first pending frame ends (from the start of the pending bytes), once its length is known. */
function frameEnd(pending: readonly Buffer[]): number | undefined {
  const first = pending[0]!;
  if (first.length >= 4) return 4 + first.readUInt32BE(0);
  const head = Buffer.concat(pending.slice(0, 4)).subarray(0, 4);
  return head.length < 4 ? undefined : 4 + head.readUInt32BE(0);
}
