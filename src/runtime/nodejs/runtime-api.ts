/**
 * Client of the Lambda Runtime API (2018-06-01): a small HTTP/1.1 client on
 * one keep-alive net.Socket, as the RIC's RAPIDClient keeps one connection.
 *
 * Why not node:http: when many sandboxes share a host each sees few invokes
 * per second, so V8 runs whatever the warm path executes mostly
 * unoptimised; ClientRequest, Agent, IncomingMessage and their streams cost
 * several hundred µs of CPU per invoke there. Here the end of an invoke is
 * one write (the result POST with the next GET pipelined behind it) and one
 * small parse per response.
 *
 * Framed channel: Kindling's worker also offers the invoke loop (next,
 * response, error) as frames on an upgraded connection (frames.ts), one
 * write each way per invoke and no acknowledgement. The first next() asks
 * for it; when the server refuses (any Runtime API but Kindling's), every
 * call stays on HTTP. Rare calls (init errors, an error that ends the
 * process, a stem cell's assignment) always use HTTP.
 *
 * Pipelining: the worker's server (node:http) reads pipelined requests in
 * order and answers them in order, so the GET /next written behind a POST is
 * parked as soon as the POST is read, and the next event needs no extra
 * round trip. Any other request waits until nothing is in flight, as it did
 * behind node:http's Agent with maxSockets: 1.
 */
import { connect } from 'node:net';
import type { Socket } from 'node:net';
import { FRAME_ERROR, FRAME_EVENT, FRAME_NEXT, FRAME_RESPONSE, FRAMES_PATH, FRAMES_PROTOCOL, FrameReader, encodeFrame } from './frames.js';

/** Response headers: names lower-cased, values latin1 (as node:http decodes them), repeats joined with ', '. */
export type ResponseHeaders = Readonly<Record<string, string | undefined>>;

/** One invocation as GET /runtime/invocation/next returned it. */
export interface NextInvocation {
  /** The event, undecoded (the handler's JSON.parse is the only parse). */
  readonly body: string;
  readonly headers: ResponseHeaders;
}

const NEXT_PATH = '/2018-06-01/runtime/invocation/next';
const INVOCATION_PATH = '/2018-06-01/runtime/invocation/';
const INIT_ERROR_PATH = '/2018-06-01/runtime/init/error';
/**
 * Kindling's stem-cell assignment (not Lambda's API): the same path as
 * ASSIGNMENT_PATH in src/worker/runtime-api.ts, which this tree cannot import.
 */
const ASSIGNMENT_PATH = '/kindling/stem-cell/assignment';

/**
 * Largest response head (or chunk-size line) accepted: Lambda's nodejs
 * bootstrap runs node with --max-http-header-size 81920, which is what
 * bounded node:http's client here.
 */
const MAX_HEAD_SIZE = 81920;

/** Size of a connection's read buffer: an event of up to this size arrives in one read. */
const READ_BUFFER_SIZE = 64 * 1024;

/** Body length states besides a byte count. */
const CHUNKED = -1;
const UNTIL_CLOSE = -2;

/** One request to the Runtime API. */
interface Exchange {
  /** The request, head and body, as written (kept to write it again once). */
  readonly bytes: string;
  /** `body` may point into the connection's read buffer: valid only during the call. */
  readonly onResponse: (status: number, headers: ResponseHeaders, body: Buffer) => void;
  readonly onFailure: (err: Error) => void;
  /** Already written again once after its connection failed. */
  resent: boolean;
}

/** Where the Runtime API listens: a unix socket path, or host and port. */
type ConnectTarget = { readonly path: string } | { readonly path?: undefined; readonly host: string; readonly port: number };

/** What a Connection reports to its client. */
interface ConnectionOwner {
  /** Nothing is in flight any more: queued requests may be written. */
  idle(): void;
  /** The connection is gone; `unanswered` were written and got no complete answer. */
  dead(conn: Connection, err: Error, unanswered: Exchange[], partial: boolean): void;
}

/** Connects to the Runtime API; reads go into `buffer` (`onread`: no Readable stream machinery per read) and `n` bytes of it to `read`. */
function connectTo(target: ConnectTarget, buffer: Buffer, read: (n: number) => boolean): Socket {
  const onread = { buffer, callback: read };
  return target.path !== undefined ? connect({ path: target.path, onread }) : connect({ host: target.host, port: target.port, noDelay: true, onread });
}

/** One keep-alive connection and its response parser; answers go to requests in order. */
class Connection {
  readonly #socket: Socket;
  readonly #owner: ConnectionOwner;
  /** Written and not yet answered, oldest first. */
  readonly #inflight: Exchange[] = [];
  /** A response was read here before: this is a reused keep-alive connection. */
  #reused = false;
  #dead = false;
  /** Bytes read and not yet parsed. */
  #buf: Buffer | undefined;
  // The response being read, once its head is parsed.
  #status = 0;
  #headers: Record<string, string> | undefined;
  /** Body bytes still expected, or CHUNKED, or UNTIL_CLOSE. */
  #remaining = 0;
  #chunks: Buffer[] = [];

  /** Where the socket reads into (`onread`: no Readable stream machinery per read); reused by every read. */
  readonly #readBuffer = Buffer.allocUnsafeSlow(READ_BUFFER_SIZE);

  constructor(target: ConnectTarget, owner: ConnectionOwner) {
    this.#owner = owner;
    const socket = connectTo(target, this.#readBuffer, (n) => this.#data(n));
    this.#socket = socket;
    socket.on('end', () => this.#end());
    socket.on('error', (err) => this.#die(err));
    socket.on('close', () => this.#die(hangUp()));
  }

  get dead(): boolean {
    return this.#dead;
  }

  get reused(): boolean {
    return this.#reused;
  }

  /** Nothing written here awaits an answer. */
  get free(): boolean {
    return this.#inflight.length === 0;
  }

  /** Writes requests in one write (one syscall, one segment when they fit). */
  write(exchanges: readonly Exchange[]): void {
    // The socket keeps the process alive only while an answer is awaited: a
    // runtime whose handler is done must let 'beforeExit' fire.
    if (this.#inflight.length === 0) this.#socket.ref();
    let bytes = '';
    for (const ex of exchanges) {
      this.#inflight.push(ex);
      bytes += ex.bytes;
    }
    this.#socket.write(bytes);
  }

  #die(err: Error): void {
    if (this.#dead) return;
    this.#dead = true;
    this.#socket.destroy();
    const partial = this.#buf !== undefined || this.#headers !== undefined;
    this.#owner.dead(this, err, this.#inflight.splice(0), partial);
  }

  #end(): void {
    if (this.#headers !== undefined && this.#remaining === UNTIL_CLOSE) {
      // A body delimited by the end of the connection is complete now.
      if (this.#buf !== undefined) this.#chunks.push(this.#buf);
      this.#buf = undefined;
      this.#complete();
    }
    this.#die(hangUp());
  }

  /**
   * `n` bytes arrived in #readBuffer. They are parsed in place; whatever
   * must outlive this call (an incomplete head or body) is copied, since the
   * next read overwrites the buffer.
   */
  #data(n: number): boolean {
    if (this.#dead) return true;
    const chunk = this.#readBuffer.subarray(0, n);
    this.#buf = this.#buf === undefined ? chunk : Buffer.concat([this.#buf, chunk]);
    try {
      while (this.#buf !== undefined && !this.#dead) {
        if (!(this.#headers === undefined ? this.#head(this.#buf) : this.#body(this.#buf))) break;
      }
      if (this.#buf !== undefined && this.#buf.buffer === this.#readBuffer.buffer) this.#buf = Buffer.from(this.#buf);
    } catch (err) {
      this.#die(err as Error);
    }
    return true;
  }

  /** Parses a response head; false when more bytes are needed. */
  #head(buf: Buffer): boolean {
    const end = buf.indexOf('\r\n\r\n');
    if (end < 0 || end > MAX_HEAD_SIZE) {
      if (end > MAX_HEAD_SIZE || buf.length > MAX_HEAD_SIZE) throw new Error('Parse Error: Header overflow');
      return false;
    }
    const lines = buf.toString('latin1', 0, end).split('\r\n');
    const statusLine = lines[0]!;
    // HTTP/1.x SSS[ reason]
    const status = statusLine.startsWith('HTTP/1.') && statusLine.charCodeAt(8) === 32 && !(statusLine.charCodeAt(12) > 32) ? Number(statusLine.slice(9, 12)) : NaN;
    if (!(status >= 100 && status <= 999)) throw new Error('Parse Error: Invalid status line');
    const headers: Record<string, string> = Object.create(null) as Record<string, string>;
    for (let i = 1; i < lines.length; i++) {
      const line = lines[i]!;
      const colon = line.indexOf(':');
      if (colon <= 0) throw new Error('Parse Error: Invalid header line');
      const name = line.slice(0, colon).toLowerCase();
      const value = line.slice(colon + 1).trim();
      const prev = headers[name];
      headers[name] = prev === undefined ? value : prev + ', ' + value;
    }
    this.#buf = buf.length > end + 4 ? buf.subarray(end + 4) : undefined;
    if (status < 200) return true; // interim (100 Continue): the final response follows
    this.#status = status;
    this.#headers = headers;
    this.#chunks = [];
    const te = headers['transfer-encoding'];
    const cl = headers['content-length'];
    if (te !== undefined && te.toLowerCase().endsWith('chunked')) {
      this.#remaining = CHUNKED;
    } else if (cl !== undefined) {
      if (!/^\d{1,15}$/.test(cl)) throw new Error('Parse Error: Invalid Content-Length');
      this.#remaining = Number(cl);
    } else {
      this.#remaining = status === 204 || status === 304 ? 0 : UNTIL_CLOSE;
    }
    if (this.#remaining === 0) this.#complete();
    return true;
  }

  /** Consumes body bytes; false when more bytes are needed. */
  #body(buf: Buffer): boolean {
    const remaining = this.#remaining;
    if (remaining >= 0) {
      if (buf.length < remaining) {
        this.#chunks.push(this.#own(buf));
        this.#remaining = remaining - buf.length;
        this.#buf = undefined;
        return false;
      }
      this.#chunks.push(buf.length === remaining ? buf : buf.subarray(0, remaining));
      this.#buf = buf.length > remaining ? buf.subarray(remaining) : undefined;
      this.#complete();
      return true;
    }
    if (remaining === UNTIL_CLOSE) {
      this.#chunks.push(this.#own(buf));
      this.#buf = undefined;
      return false;
    }
    // Chunked: <hex size>[;ext] CRLF <data> CRLF ... 0 CRLF [trailers] CRLF
    const lineEnd = buf.indexOf('\r\n');
    if (lineEnd < 0) {
      if (buf.length > MAX_HEAD_SIZE) throw new Error('Parse Error: Invalid chunk size');
      return false;
    }
    const sizeText = buf.toString('latin1', 0, lineEnd).split(';')[0]!.trim();
    if (!/^[0-9a-fA-F]{1,8}$/.test(sizeText)) throw new Error('Parse Error: Invalid chunk size');
    const size = Number.parseInt(sizeText, 16);
    if (size === 0) {
      // The last chunk; trailers (ignored) end with an empty line. Searching
      // from the size line's own CRLF finds CRLF CRLF right there when there
      // are none.
      const end = buf.indexOf('\r\n\r\n', lineEnd);
      if (end < 0) {
        if (buf.length > MAX_HEAD_SIZE) throw new Error('Parse Error: Header overflow');
        return false;
      }
      this.#buf = buf.length > end + 4 ? buf.subarray(end + 4) : undefined;
      this.#complete();
      return true;
    }
    const start = lineEnd + 2;
    if (buf.length < start + size + 2) return false;
    if (buf[start + size] !== 13 || buf[start + size + 1] !== 10) throw new Error('Parse Error: Invalid chunk');
    this.#chunks.push(this.#own(buf.subarray(start, start + size)));
    this.#buf = buf.length > start + size + 2 ? buf.subarray(start + size + 2) : undefined;
    return true;
  }

  /** `bytes` as a Buffer that later reads do not overwrite. */
  #own(bytes: Buffer): Buffer {
    return bytes.buffer === this.#readBuffer.buffer ? Buffer.from(bytes) : bytes;
  }

  #complete(): void {
    const chunks = this.#chunks;
    const body = chunks.length === 1 ? chunks[0]! : Buffer.concat(chunks);
    const headers = this.#headers!;
    this.#headers = undefined;
    this.#chunks = [];
    this.#reused = true;
    const ex = this.#inflight.shift();
    if (ex === undefined) throw new Error('Parse Error: Response without a request');
    if (this.#inflight.length === 0) this.#socket.unref();
    ex.onResponse(this.#status, headers, body);
    if (headers['connection']?.toLowerCase() === 'close') {
      // The server closes after this response; what was pipelined behind it
      // goes to a new connection (see RuntimeApiClient#dead).
      this.#die(hangUp());
    } else if (this.#inflight.length === 0 && !this.#dead) {
      this.#owner.idle();
    }
  }
}

/** node:http's error for a connection that closed under a request. */
function hangUp(): Error {
  return Object.assign(new Error('socket hang up'), { code: 'ECONNRESET' });
}

const NOOP = (): void => {};

/** Owner of a connection used for one request: a failure fails it, nothing is retried. */
const ONE_SHOT: ConnectionOwner = {
  idle: NOOP,
  dead: (_conn, err, unanswered) => {
    for (const ex of unanswered) ex.onFailure(err);
  },
};

/** Largest event a framed channel accepts: the worker's own limit (6 MB request payload) with room to spare. */
const MAX_FRAMED_EVENT = 16 * 1024 * 1024;

const NEXT_FRAME = encodeFrame(FRAME_NEXT, []);

/** The invoke loop on a framed channel (frames.ts), once the upgrade succeeded. */
class FramedConnection {
  readonly #socket: Socket;
  readonly #reader: FrameReader;
  readonly #readBuffer = Buffer.allocUnsafeSlow(READ_BUFFER_SIZE);
  /** Settles the upgrade: true once switched, false when refused or failed before. */
  #upgrade: ((ok: boolean) => void) | undefined;
  /** Bytes of the upgrade's answer read so far. */
  #head = '';
  /** The caller of the next() in flight. */
  #waiter: { resolve: (next: NextInvocation) => void; reject: (err: Error) => void } | undefined;
  #dead = false;

  constructor(target: ConnectTarget, hostHeader: string, upgraded: (ok: boolean) => void) {
    this.#upgrade = upgraded;
    this.#reader = new FrameReader(
      {
        frame: (type, fields, payload) => {
          if (type !== FRAME_EVENT || fields.length < 4) return this.#die(new Error('Parse Error: Invalid frame'));
          this.#deliver(fields, payload);
        },
        oversized: () => this.#die(new Error('Parse Error: Event too large')),
        malformed: (reason) => this.#die(new Error(`Parse Error: ${reason}`)),
      },
      { maxPayload: MAX_FRAMED_EVENT, borrowed: true, fieldEncoding: 'latin1' },
    );
    const socket = connectTo(target, this.#readBuffer, (n) => this.#data(n));
    this.#socket = socket;
    socket.on('error', (err) => this.#die(err));
    socket.on('close', () => this.#die(hangUp()));
    socket.write(`GET ${FRAMES_PATH} HTTP/1.1\r\nHost: ${hostHeader}\r\nConnection: Upgrade\r\nUpgrade: ${FRAMES_PROTOCOL}\r\n\r\n`);
  }

  next(): Promise<NextInvocation> {
    return this.#await(NEXT_FRAME);
  }

  /** The result and the next request, in one write. */
  respondAndNext(requestId: string, body: string): Promise<NextInvocation> {
    return this.#await(encodeFrame(FRAME_RESPONSE, [requestId], body));
  }

  failAndNext(requestId: string, body: string, errorType: string): Promise<NextInvocation> {
    // The HTTP header's rule: an errorType a header could not carry is left out.
    return this.#await(encodeFrame(FRAME_ERROR, [requestId, isHeaderSafe(errorType) ? errorType : ''], body));
  }

  #await(frame: Buffer): Promise<NextInvocation> {
    return new Promise((resolve, reject) => {
      if (this.#dead) return reject(hangUp());
      if (this.#waiter !== undefined) return reject(new Error('a next invocation is already awaited'));
      this.#waiter = { resolve, reject };
      // Referenced only while an event is awaited, as an HTTP connection is.
      this.#socket.ref();
      if (frame === NEXT_FRAME) {
        this.#socket.write(NEXT_FRAME);
      } else {
        this.#socket.cork();
        this.#socket.write(frame);
        this.#socket.write(NEXT_FRAME);
        this.#socket.uncork();
      }
    });
  }

  #data(n: number): boolean {
    if (this.#dead) return true;
    const chunk = this.#readBuffer.subarray(0, n);
    if (this.#upgrade === undefined) {
      this.#reader.push(chunk);
      return true;
    }
    // The upgrade's answer: an HTTP head, then (after a 101) frames.
    this.#head += chunk.toString('latin1');
    const end = this.#head.indexOf('\r\n\r\n');
    if (end < 0) {
      if (this.#head.length > MAX_HEAD_SIZE) this.#refused();
      return true;
    }
    if (!/^HTTP\/1\.1 101 /.test(this.#head)) {
      this.#refused();
      return true;
    }
    const upgraded = this.#upgrade;
    this.#upgrade = undefined;
    const rest = Buffer.from(this.#head.slice(end + 4), 'latin1');
    this.#head = '';
    this.#socket.unref();
    upgraded(true);
    if (rest.length > 0) this.#reader.push(rest);
    return true;
  }

  #deliver(fields: string[], payload: Buffer): void {
    const waiter = this.#waiter;
    if (waiter === undefined) return this.#die(new Error('Parse Error: Event without a request'));
    this.#waiter = undefined;
    this.#socket.unref();
    const headers: Record<string, string> = {
      'content-type': 'application/json',
      'lambda-runtime-aws-request-id': fields[0]!,
      'lambda-runtime-deadline-ms': fields[1]!,
      'lambda-runtime-invoked-function-arn': fields[2]!,
      'lambda-runtime-trace-id': fields[3]!,
    };
    if (fields[4] !== undefined) headers['lambda-runtime-client-context'] = fields[4];
    waiter.resolve({ body: payload.toString(), headers });
  }

  #refused(): void {
    const upgraded = this.#upgrade;
    this.#upgrade = undefined;
    this.#dead = true;
    this.#socket.destroy();
    upgraded?.(false);
  }

  #die(err: Error): void {
    if (this.#dead) return;
    if (this.#upgrade !== undefined) return this.#refused();
    this.#dead = true;
    this.#socket.destroy();
    const waiter = this.#waiter;
    this.#waiter = undefined;
    waiter?.reject(err);
  }
}

/** The Runtime API over HTTP/1.1; `endpoint` is AWS_LAMBDA_RUNTIME_API (host:port). */
export class RuntimeApiClient implements ConnectionOwner {
  readonly #target: ConnectTarget;
  readonly #hostHeader: string;
  readonly #nextBytes: string;
  #conn: Connection | undefined;
  /** The framed channel: undefined until the first next(), a promise while it is asked for, null when refused. */
  #framed: FramedConnection | Promise<FramedConnection | null> | null | undefined;
  /** Requests waiting for the connection to be free; each group is written in one write. */
  readonly #waiting: Exchange[][] = [];

  /**
   * `socketPath`: a unix socket the Runtime API also listens on (Kindling's
   * namespace backend names it in _KINDLING_RUNTIME_API_SOCKET); used instead
   * of TCP when given. The Host header still names `endpoint`.
   * `options.framed: false`: never ask for the framed channel (the tests of
   * the HTTP transport).
   */
  constructor(endpoint: string, socketPath?: string, options: { framed?: boolean } = {}) {
    // Without the framed channel every call is HTTP from the start.
    if (options.framed === false) this.#framed = null;
    if (socketPath !== undefined && socketPath !== '') {
      this.#target = { path: socketPath };
    } else {
      const colon = endpoint.lastIndexOf(':');
      const host = colon < 0 ? endpoint : endpoint.slice(0, colon);
      this.#target = {
        host: host.startsWith('[') && host.endsWith(']') ? host.slice(1, -1) : host,
        port: colon < 0 ? 80 : Number.parseInt(endpoint.slice(colon + 1), 10),
      };
    }
    this.#hostHeader = endpoint;
    this.#nextBytes = `GET ${NEXT_PATH} HTTP/1.1\r\nHost: ${endpoint}\r\n\r\n`;
  }

  /**
   * Kindling stem cells only: GET the assignment, which blocks until the
   * worker gives this runtime its function. Resolves with the function's
   * complete environment.
   */
  assignment(): Promise<Record<string, string>> {
    return new Promise((resolve, reject) => {
      this.#send([
        {
          bytes: `GET ${ASSIGNMENT_PATH} HTTP/1.1\r\nHost: ${this.#hostHeader}\r\n\r\n`,
          onResponse: (status, _headers, body) => {
            const text = body.toString('utf8');
            if (status !== 200) return reject(new Error(`Failed to get the stem cell's assignment, HTTP ${status}: ${text}`));
            try {
              const env: unknown = JSON.parse(text);
              if (env === null || typeof env !== 'object' || Array.isArray(env) || !Object.values(env).every((v) => typeof v === 'string')) {
                throw new Error('not an object of strings');
              }
              resolve(env as Record<string, string>);
            } catch (err) {
              reject(new Error(`The stem cell's assignment is not an environment: ${String(err)}`));
            }
          },
          onFailure: reject,
          resent: false,
        },
      ]);
    });
  }

  /**
   * Asks for the framed channel now, unless asked already: a stem cell does
   * while it waits for its function, so that its first next() writes a NEXT
   * frame on a channel already open instead of connecting and upgrading
   * first. Without it the first next() asks.
   */
  openChannel(): void {
    if (this.#framed !== undefined) return;
    this.#framed = new Promise<FramedConnection | null>((resolve) => {
      const conn = new FramedConnection(this.#target, this.#hostHeader, (ok) => {
        this.#framed = ok ? conn : null;
        resolve(ok ? conn : null);
      });
    });
  }

  /** GET /runtime/invocation/next: blocks until the worker has an event. The first call asks for the framed channel (see openChannel). */
  next(): Promise<NextInvocation> {
    this.openChannel();
    const framed = this.#framed;
    if (framed instanceof FramedConnection) return framed.next();
    if (framed === null) return this.#httpNext();
    return (framed as Promise<FramedConnection | null>).then(() => this.next());
  }

  #httpNext(): Promise<NextInvocation> {
    return new Promise((resolve, reject) => this.#send([this.#nextExchange(resolve, reject)]));
  }

  /**
   * POST /runtime/invocation/{id}/response with an already serialised body,
   * and GET /next pipelined behind it. Resolves with the next event. The
   * POST's own answer changes nothing: whatever it is, or if the POST
   * fails, the next step is the GET (as it was when the GET followed it).
   */
  respondAndNext(requestId: string, body: string): Promise<NextInvocation> {
    const framed = this.#framed;
    if (framed instanceof FramedConnection) return framed.respondAndNext(requestId, body);
    return this.#postAndNext(INVOCATION_PATH + encodeURIComponent(requestId) + '/response', body, undefined);
  }

  /** POST /runtime/invocation/{id}/error, then GET /next, as respondAndNext. */
  failAndNext(requestId: string, body: string, errorType: string): Promise<NextInvocation> {
    const framed = this.#framed;
    if (framed instanceof FramedConnection) return framed.failAndNext(requestId, body, errorType);
    return this.#postAndNext(INVOCATION_PATH + encodeURIComponent(requestId) + '/error', body, errorType);
  }

  /** POST /runtime/invocation/{id}/error alone; `done` once answered or failed. */
  postError(requestId: string, body: string, errorType: string, done: () => void): void {
    this.#postAlone(INVOCATION_PATH + encodeURIComponent(requestId) + '/error', body, errorType, done);
  }

  /** POST /runtime/init/error; `done` once answered or failed. */
  postInitError(body: string, errorType: string, done: () => void): void {
    this.#postAlone(INIT_ERROR_PATH, body, errorType, done);
  }

  #postAndNext(path: string, body: string, errorType: string | undefined): Promise<NextInvocation> {
    return new Promise((resolve, reject) => {
      this.#send([this.#postExchange(path, body, errorType, NOOP), this.#nextExchange(resolve, reject)]);
    });
  }

  /**
   * Calls `done` once the worker has answered, or once the request failed:
   * a transport failure cannot be reported anywhere, and the caller's next
   * step is the right one either way.
   */
  #postAlone(path: string, body: string, errorType: string | undefined, done: () => void): void {
    let called = false;
    const once = (): void => {
      if (!called) {
        called = true;
        done();
      }
    };
    const ex = this.#postExchange(path, body, errorType, once);
    const conn = this.#connection();
    if (this.#waiting.length === 0 && conn.free) {
      conn.write([ex]);
    } else {
      // A GET /next is in flight (an uncaught error after the response, or
      // while idle), and its answer may be hours away: the error goes on a
      // connection of its own so the runtime can exit now.
      new Connection(this.#target, ONE_SHOT).write([ex]);
    }
  }

  #postExchange(path: string, body: string, errorType: string | undefined, done: () => void): Exchange {
    let head = `POST ${path} HTTP/1.1\r\nHost: ${this.#hostHeader}\r\nContent-Type: application/json\r\nContent-Length: ${Buffer.byteLength(body)}\r\n`;
    // Header values cannot hold control characters; an errorType that does
    // (it is the user's error.name) is left out rather than failing the post.
    if (errorType !== undefined && isHeaderSafe(errorType)) head += `Lambda-Runtime-Function-Error-Type: ${errorType}\r\n`;
    return { bytes: head + '\r\n' + body, onResponse: done, onFailure: done, resent: false };
  }

  #nextExchange(resolve: (next: NextInvocation) => void, reject: (err: Error) => void): Exchange {
    return {
      bytes: this.#nextBytes,
      onResponse: (status, headers, body) => {
        const text = body.toString(); // utf8, as before
        if (status === 200) resolve({ body: text, headers });
        else reject(new Error(`Failed to get next invocation, HTTP ${status}: ${text}`));
      },
      onFailure: reject,
      resent: false,
    };
  }

  #connection(): Connection {
    let conn = this.#conn;
    if (conn === undefined || conn.dead) {
      conn = new Connection(this.#target, this);
      this.#conn = conn;
    }
    return conn;
  }

  #send(group: Exchange[]): void {
    if (this.#waiting.length === 0) {
      const conn = this.#connection();
      if (conn.free) {
        conn.write(group);
        return;
      }
    }
    this.#waiting.push(group);
  }

  /** @internal ConnectionOwner */
  idle(): void {
    this.#pump();
  }

  /** Writes the oldest waiting group when the connection is free. */
  #pump(): void {
    if (this.#waiting.length === 0) return;
    const conn = this.#connection();
    if (conn.free) conn.write(this.#waiting.shift()!);
  }

  /** @internal ConnectionOwner */
  dead(conn: Connection, err: Error, unanswered: Exchange[], partial: boolean): void {
    if (this.#conn === conn) this.#conn = undefined;
    // The worker may close a keep-alive connection that sat idle during a
    // long invoke just as a request reuses it; node:http's documented remedy
    // is to retry once on a fresh connection. Requests pipelined behind a
    // response that closed the connection are not answered either. So each
    // request of which no answer byte was read on a reused connection is
    // written once more on a new one; the rest fail.
    const again: Exchange[] = [];
    unanswered.forEach((ex, i) => {
      if (conn.reused && !ex.resent && !(i === 0 && partial)) {
        ex.resent = true;
        again.push(ex);
      } else {
        ex.onFailure(err);
      }
    });
    if (again.length > 0) this.#waiting.unshift(again);
    this.#pump();
  }
}

function isHeaderSafe(value: string): boolean {
  // RFC 9110 field-value: visible ASCII, space and tab (node:http rejects the rest).
  return /^[\t\x20-\x7e]*$/.test(value);
}
