import { timingSafeEqual } from 'node:crypto';
import type { IncomingMessage, ServerResponse } from 'node:http';

/**
 * Reads a request body of at most `cap` bytes and calls back with it, or
 * with undefined when it is larger. Over the cap the data is no longer kept
 * but the rest is drained, so the answer (a 413) reaches a client that is
 * still sending and a keep-alive connection stays usable. A request aborted
 * midway never calls back (its connection is gone; node:http emits no
 * 'error' on it without a listener).
 *
 * Callback style because the worker's Runtime API reads every invoke's
 * result through it: no promise per body on that path.
 */
export function readCappedBody(req: IncomingMessage, cap: number, done: (body: Buffer | undefined) => void): void {
  const declared = Number(req.headers['content-length']);
  let tooLarge = Number.isFinite(declared) && declared > cap;
  const chunks: Buffer[] = [];
  let size = 0;
  req.on('data', (chunk: Buffer) => {
    if (tooLarge) return;
    size += chunk.length;
    if (size > cap) {
      tooLarge = true;
      chunks.length = 0;
      return;
    }
    chunks.push(chunk);
  });
  req.on('end', () => {
    if (tooLarge) done(undefined);
    else done(chunks.length === 1 ? chunks[0]! : Buffer.concat(chunks, size));
  });
}

/** readCappedBody as a promise; rejects if the request is aborted midway. */
export function readCappedBodyAsync(req: IncomingMessage, cap: number): Promise<Buffer | undefined> {
  return new Promise((resolve, reject) => {
    req.once('close', () => {
      if (!req.complete) reject(new Error('the request was aborted before its body was complete'));
    });
    readCappedBody(req, cap, resolve);
  });
}

/**
 * URL-decodes one path segment; a segment that is not valid
 * percent-encoding is returned as given (its own validation then reports it).
 */
export function decodePathSegment(raw: string): string {
  if (!raw.includes('%')) return raw;
  try {
    return decodeURIComponent(raw);
  } catch {
    return raw;
  }
}

/** True when the request carries `Authorization: Bearer <token>` (compared in constant time). */
export function hasBearer(req: IncomingMessage, token: string): boolean {
  const expected = Buffer.from(`Bearer ${token}`);
  const got = Buffer.from(req.headers.authorization ?? '');
  return got.length === expected.length && timingSafeEqual(got, expected);
}

/** Answers with a JSON body. */
export function replyJson(res: ServerResponse, status: number, body: unknown): void {
  const text = JSON.stringify(body);
  res.writeHead(status, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(text) });
  res.end(text);
}
