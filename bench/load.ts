/**
 * A small closed-loop HTTP load generator with keep-alive: `concurrency`
 * loops, each on its own connection, each sending its next request when the
 * previous one answers. Raw HTTP on purpose: SigV4 signing in an SDK would cost more than
 * what is being measured, for both sides alike.
 */
import http from 'node:http';
import net from 'node:net';

export interface Target {
  /**
   * Where to send. With several URLs, loop i sends to urls[i % length]: one
   * server per connection, as sandboxes are.
   */
  readonly url: URL | readonly URL[];
  /** The request body, or a function making each one. */
  readonly body: Buffer | (() => Buffer);
  readonly headers?: Readonly<Record<string, string>>;
  /** The status that counts as success. Default 200. */
  readonly expectStatus?: number;
}

export interface LoadResult {
  readonly requests: number;
  readonly seconds: number;
  readonly latenciesMs: Float64Array;
  readonly errors: number;
}

export function percentile(sorted: Float64Array, p: number): number {
  if (sorted.length === 0) return NaN;
  const i = Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1));
  return sorted[i]!;
}

/** Sends one request; resolves with the status and body. */
export function request(agent: http.Agent, target: Target, url: URL = urlOf(target, 0)): Promise<{ status: number; body: Buffer }> {
  return new Promise((resolve, reject) => {
    const body = typeof target.body === 'function' ? target.body() : target.body;
    const req = http.request(
      url,
      { method: 'POST', agent, headers: { 'content-type': 'application/json', 'content-length': body.length, ...target.headers } },
      (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => chunks.push(c));
        res.on('end', () => resolve({ status: res.statusCode ?? 0, body: Buffer.concat(chunks) }));
        res.on('error', reject);
      },
    );
    req.on('error', reject);
    req.end(body);
  });
}

function urlOf(target: Target, loop: number): URL {
  const urls = target.url;
  return urls instanceof URL ? urls : urls[loop % urls.length]!;
}

/**
 * Runs `concurrency` loops until `count` requests were sent or `seconds`
 * passed, whichever first. Each loop owns one keep-alive connection.
 */
export async function load(target: Target, concurrency: number, limits: { count?: number; seconds?: number }): Promise<LoadResult> {
  const maxCount = limits.count ?? Number.MAX_SAFE_INTEGER;
  const deadline = limits.seconds === undefined ? Number.POSITIVE_INFINITY : performance.now() + limits.seconds * 1000;
  const expect = target.expectStatus ?? 200;
  const latencies: number[] = [];
  let sent = 0;
  let errors = 0;
  const start = performance.now();
  const loop = async (i: number) => {
    const url = urlOf(target, i);
    const fixed = typeof target.body === 'function' ? undefined : requestBytes(url, target, target.body);
    let conn: RawConnection | undefined;
    while (sent < maxCount && performance.now() < deadline) {
      sent++;
      const t0 = performance.now();
      try {
        conn ??= await RawConnection.open(url);
        const status = await conn.exchange(fixed ?? requestBytes(url, target, (target.body as () => Buffer)()));
        if (status !== expect) errors++;
        if (!conn.reusable) {
          conn.close();
          conn = undefined;
        }
      } catch {
        errors++;
        conn?.close();
        conn = undefined;
      }
      latencies.push(performance.now() - t0);
    }
    conn?.close();
  };
  await Promise.all(Array.from({ length: concurrency }, (_, i) => loop(i)));
  const seconds = (performance.now() - start) / 1000;
  const sorted = Float64Array.from(latencies).sort();
  return { requests: latencies.length, seconds, latenciesMs: sorted, errors };
}

/** One request's bytes: head and body in one buffer, one write. */
function requestBytes(url: URL, target: Target, body: Buffer): Buffer {
  let head = `POST ${url.pathname}${url.search} HTTP/1.1\r\nHost: ${url.host}\r\ncontent-type: application/json\r\ncontent-length: ${body.length}\r\n`;
  for (const [k, v] of Object.entries(target.headers ?? {})) head += `${k}: ${v}\r\n`;
  return Buffer.concat([Buffer.from(`${head}\r\n`, 'latin1'), body]);
}

const HEAD_END = Buffer.from('\r\n\r\n');
const LAST_CHUNK = Buffer.from('\r\n0\r\n\r\n');

/**
 * A keep-alive HTTP/1.1 client connection as lean as wrk's: the request is
 * written as prepared bytes, and the answer is read only as far as its
 * status and its end (Content-Length, or the end of a chunked body). The
 * load generator shares the machine's cores with what it measures, so what
 * it spends per request is taken from both sides of a comparison; node:http's
 * client costs several times this.
 */
class RawConnection {
  readonly #socket: net.Socket;
  #buffered: Buffer = Buffer.alloc(0);
  #settle: ((err?: Error) => void) | undefined;
  #status = 0;
  /** False once an answer said `connection: close`, or the socket failed. */
  reusable = true;

  private constructor(socket: net.Socket) {
    this.#socket = socket;
    socket.setNoDelay(true);
    socket.on('data', (chunk: Buffer) => {
      this.#buffered = this.#buffered.length === 0 ? chunk : Buffer.concat([this.#buffered, chunk]);
      this.#parse();
    });
    const fail = (err?: Error): void => {
      this.reusable = false;
      this.#settle?.(err ?? new Error('connection closed'));
    };
    socket.on('error', fail);
    socket.on('close', () => fail());
  }

  static open(url: URL): Promise<RawConnection> {
    return new Promise((resolve, reject) => {
      const socket = net.connect({ host: url.hostname, port: Number(url.port || 80) });
      socket.once('connect', () => {
        socket.off('error', reject);
        resolve(new RawConnection(socket));
      });
      socket.once('error', reject);
    });
  }

  /** Sends one request; resolves with the answer's status once the whole answer is read. */
  exchange(bytes: Buffer): Promise<number> {
    return new Promise((resolve, reject) => {
      this.#settle = (err) => {
        this.#settle = undefined;
        if (err) reject(err);
        else resolve(this.#status);
      };
      this.#socket.write(bytes);
    });
  }

  close(): void {
    this.#socket.destroy();
  }

  #parse(): void {
    const buf = this.#buffered;
    const headEnd = buf.indexOf(HEAD_END);
    if (headEnd < 0) return;
    const head = buf.toString('latin1', 0, headEnd).toLowerCase();
    const bodyStart = headEnd + HEAD_END.length;
    let end: number;
    const length = /\r\ncontent-length: *(\d+)/.exec(head);
    if (length) {
      end = bodyStart + Number(length[1]);
      if (buf.length < end) return;
    } else if (/\r\ntransfer-encoding: *chunked/.test(head)) {
      // The last chunk of a chunked body (no trailers in these answers).
      const last = buf.indexOf(LAST_CHUNK, bodyStart - 2);
      if (last < 0) return;
      end = last + LAST_CHUNK.length;
    } else end = bodyStart; // 204, 304, or a 1xx: no body
    this.#status = Number(head.slice(9, 12));
    if (/\r\nconnection: *close/.test(head)) this.reusable = false;
    this.#buffered = buf.subarray(end);
    this.#settle?.();
  }
}
