import { Server } from 'node:http';
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Duplex } from 'node:stream';
import { FRAME_ERROR, FRAME_EVENT, FRAME_NEXT, FRAME_RESPONSE, FRAMES_PATH, FRAMES_PROTOCOL, FrameReader, SWITCHING_PROTOCOLS, encodeFrame } from '../runtime/nodejs/frames.js';
import { decodePathSegment, readCappedBody } from '../shared/http.js';

/**
 * Largest response (and error) body a runtime may post: 6 MiB + 100 bytes,
 * as Lambda's RAPID (RIE internal/lambda/interop/model.go MaxPayloadSize).
 */
export const MAX_RUNTIME_PAYLOAD_SIZE = 6 * 1024 * 1024 + 100;

/** One event as the Runtime API hands it to the runtime on /invocation/next. */
export interface RuntimeInvocation {
  readonly requestId: string;
  readonly payload: Buffer;
  /** Epoch milliseconds (Lambda-Runtime-Deadline-Ms). */
  readonly deadlineMs: number;
  readonly invokedFunctionArn: string;
  readonly traceId: string;
  /** JSON text of the decoded client context, if any. */
  readonly clientContext: string | undefined;
}

/** What the Runtime API reports to its sandbox. Called synchronously, on the request's turn. */
export interface RuntimeApiListener {
  /** The runtime asked for the next event; the first call ends its init. */
  onNext(): void;
  /** The runtime posted the result of the current invoke. */
  onResponse(requestId: string, body: Buffer): void;
  /** The runtime posted a result larger than MAX_RUNTIME_PAYLOAD_SIZE (it got 413). */
  onResponseTooLarge(requestId: string): void;
  /** The runtime posted an error for the current invoke; body as posted. */
  onError(requestId: string, errorType: string | undefined, body: Buffer): void;
  /** The runtime posted /runtime/init/error before its first /next. */
  onInitError(errorType: string | undefined, body: Buffer): void;
  /**
   * Stem cells only: the runtime asked for its assignment (ASSIGNMENT_PATH)
   * for the first time, so it has started and waits. Optional.
   */
  onAwaitingAssignment?(): void;
}

/** Options of RuntimeApi. */
export interface RuntimeApiOptions {
  /**
   * The sandbox is a stem cell: its runtime starts without a function and
   * asks ASSIGNMENT_PATH for one, once; see RuntimeApi.assign. Default false.
   */
  readonly stemCell?: boolean;
}

/**
 * Kindling's own path on a stem cell's Runtime API: the built-in runtime's
 * long-poll for its function (src/runtime/nodejs/runtime-api.ts has the same
 * constant). Not part of Lambda's API. It answers once, before any function
 * code is loaded; afterwards, and on every sandbox that is not a stem cell,
 * it is an unknown path (404), so a function never reaches it.
 */
export const ASSIGNMENT_PATH = '/kindling/stem-cell/assignment';

const NEXT_PATH = '/2018-06-01/runtime/invocation/next';
const INVOCATION_PREFIX = '/2018-06-01/runtime/invocation/';
const INIT_ERROR_PATH = '/2018-06-01/runtime/init/error';

// Bodies exactly as RAPID renders them: Go's json.Encoder, fields in struct
// order (errorMessage, errorType), and a trailing newline.
const ACCEPTED = Buffer.from('{"status":"OK"}\n');
const INVALID_REQUEST_ID = Buffer.from('{"errorMessage":"Invalid request ID","errorType":"InvalidRequestID"}\n');
const TOO_LARGE = Buffer.from(
  `{"errorMessage":"Exceeded maximum allowed payload size (${MAX_RUNTIME_PAYLOAD_SIZE} bytes).","errorType":"RequestEntityTooLarge"}\n`,
);
// Content-Length explicit: after writeHead() node:http would send the body chunked.
const ACCEPTED_HEADERS = ['Content-Type', 'application/json', 'Content-Length', String(ACCEPTED.length)];
const INVALID_REQUEST_ID_HEADERS = ['Content-Type', 'application/json', 'Content-Length', String(INVALID_REQUEST_ID.length)];
const TOO_LARGE_HEADERS = ['Content-Type', 'application/json', 'Content-Length', String(TOO_LARGE.length)];

/**
 * Runtime states, named as RAPID names them in its InvalidStateTransition
 * messages (RIE internal/lambda/core/runtime_state_names.go).
 */
type RuntimeState = 'Started' | 'Running' | 'RuntimeResponseSentState' | 'InitError';

/**
 * The Runtime API (2018-06-01) of one sandbox, as Lambda's RAPID serves it
 * (aws-lambda-runtime-interface-emulator, internal/lambda/rapi): /next
 * long-polls until the worker delivers an event; /response and /error are
 * checked for the request id first (400 InvalidRequestID), then for the
 * state (403 InvalidStateTransition, e.g. a second response); /init/error is
 * accepted only before the first /next.
 *
 * Hot path: payloads stay Buffers end to end (no JSON parsing, no copy when a
 * body arrives in one chunk), headers are written as one flat array, and the
 * server keeps connections alive without timeouts (a /next can wait for
 * hours while the sandbox is idle).
 */
/** Connections one sandbox may hold open to its Runtime API at once. */
export const MAX_CONNECTIONS = 16;

export class RuntimeApi {
  /** The HTTP server; the sandbox backend makes it reachable. */
  readonly server: RuntimeApiServer;
  readonly #listener: RuntimeApiListener;
  #state: RuntimeState = 'Started';
  /** The last delivered event; kept after its response so a double post gets 403, not 400. */
  #current: RuntimeInvocation | undefined;
  /** Delivered while no /next was parked. */
  #queued: RuntimeInvocation | undefined;
  /** A /next waiting for an event: an HTTP request, or a framed channel's NEXT. */
  #parked: ServerResponse | FramedChannel | undefined;
  /**
   * Stem cells: 'waiting' until the runtime has its assignment, then
   * 'served'; 'none' for every other sandbox.
   */
  #cell: 'none' | 'waiting' | 'served';
  /** The assignment, given before the runtime asked for it. */
  #assignment: Buffer | undefined;
  /** The runtime's parked assignment request. */
  #assignmentWait: ServerResponse | undefined;
  #awaitingReported = false;

  constructor(listener: RuntimeApiListener, options: RuntimeApiOptions = {}) {
    this.#listener = listener;
    this.#cell = options.stemCell === true ? 'waiting' : 'none';
    this.server = new RuntimeApiServer(
      {
        keepAlive: true,
        noDelay: true,
        // A parked /next lasts as long as the sandbox stays idle: no request
        // timeout (Node's default of 300 s would cut it), no keep-alive timeout.
        requestTimeout: 0,
        keepAliveTimeout: 0,
      },
      (req, res) => this.#route(req, res),
    );
    this.server.on('upgrade', (req: IncomingMessage, socket: Duplex, head: Buffer) => this.#upgrade(req, socket, head));
    // Every connection is a file descriptor of the platform's: a runtime
    // needs one or two (a custom runtime's curl opens one per request, in
    // turn), so a function that opens them in a loop is cut off here instead
    // of exhausting the platform's descriptors.
    this.server.maxConnections = MAX_CONNECTIONS;
  }

  /** Hands an event to the runtime: to the parked /next, or to the next one. */
  deliver(invocation: RuntimeInvocation): void {
    this.#current = invocation;
    const parked = this.#parked;
    this.#parked = undefined;
    if (parked && !parked.destroyed) {
      this.#sendTo(parked, invocation);
    } else {
      this.#queued = invocation;
    }
  }

  /**
   * Stem cells: hands the runtime its assignment (the body is the
   * function's complete environment as JSON, see sandboxLaunch), now or
   * when it asks. Once; later calls are ignored.
   */
  assign(body: Buffer): void {
    if (this.#cell !== 'waiting' || this.#assignment !== undefined) return;
    const waiting = this.#assignmentWait;
    this.#assignmentWait = undefined;
    if (waiting && !waiting.destroyed) this.#sendAssignment(waiting, body);
    else this.#assignment = body;
  }

  #route(req: IncomingMessage, res: ServerResponse): void {
    const url = req.url ?? '';
    if (url === NEXT_PATH) {
      if (req.method !== 'GET') return methodNotAllowed(req, res);
      return this.#next(res);
    }
    if (url === ASSIGNMENT_PATH && this.#cell === 'waiting') {
      if (req.method !== 'GET') return methodNotAllowed(req, res);
      return this.#awaitAssignment(req, res);
    }
    if (url.startsWith(INVOCATION_PREFIX)) {
      const slash = url.indexOf('/', INVOCATION_PREFIX.length);
      const action = slash < 0 ? '' : url.slice(slash + 1);
      if (action === 'response' || action === 'error') {
        if (req.method !== 'POST') return methodNotAllowed(req, res);
        const id = url.slice(INVOCATION_PREFIX.length, slash);
        return this.#result(req, res, decodePathSegment(id), action);
      }
    } else if (url === INIT_ERROR_PATH) {
      if (req.method !== 'POST') return methodNotAllowed(req, res);
      return this.#initError(req, res);
    }
    req.resume();
    res.writeHead(404, ['Content-Type', 'text/plain; charset=utf-8', 'X-Content-Type-Options', 'nosniff']);
    res.end('404 page not found\n');
  }

  #awaitAssignment(req: IncomingMessage, res: ServerResponse): void {
    req.resume();
    const ready = this.#assignment;
    if (ready !== undefined) {
      this.#assignment = undefined;
      this.#sendAssignment(res, ready);
      return;
    }
    // A second request while one is parked: a runtime bug; the newest wins.
    this.#assignmentWait?.destroy();
    this.#assignmentWait = res;
    if (!this.#awaitingReported) {
      this.#awaitingReported = true;
      this.#listener.onAwaitingAssignment?.();
    }
  }

  #sendAssignment(res: ServerResponse, body: Buffer): void {
    this.#cell = 'served';
    res.writeHead(200, ['Content-Type', 'application/json', 'Content-Length', String(body.length)]);
    res.end(body);
  }

  /** A /next, over HTTP or as a framed channel's NEXT frame. */
  #next(waiter: ServerResponse | FramedChannel): void {
    if (this.#state === 'InitError') {
      // Init failed: the runtime has nothing to run. HTTP answers 403; a
      // channel, which acknowledges nothing, closes, and the runtime exits on it.
      if (waiter instanceof FramedChannel) return waiter.destroy();
      return forbidden(waiter, this.#state, 'Ready');
    }
    this.#state = 'Running';
    this.#listener.onNext();
    const queued = this.#queued;
    if (queued) {
      this.#queued = undefined;
      this.#sendTo(waiter, queued);
      return;
    }
    // Two parked /next at once is a runtime bug; the newest wins.
    if (this.#parked !== waiter) this.#parked?.destroy();
    this.#parked = waiter;
  }

  #sendTo(waiter: ServerResponse | FramedChannel, invocation: RuntimeInvocation): void {
    if (waiter instanceof FramedChannel) waiter.send(invocation);
    else this.#sendEvent(waiter, invocation);
  }

  /**
   * GET FRAMES_PATH with `Upgrade: FRAMES_PROTOCOL`: the connection becomes
   * a framed channel (src/runtime/nodejs/frames.ts). Any other upgrade is
   * refused, as an unknown path.
   */
  #upgrade(req: IncomingMessage, socket: Duplex, head: Buffer): void {
    socket.on('error', () => socket.destroy());
    if (req.url !== FRAMES_PATH || req.method !== 'GET' || req.headers['upgrade'] !== FRAMES_PROTOCOL) {
      socket.end('HTTP/1.1 404 Not Found\r\nContent-Type: text/plain; charset=utf-8\r\nContent-Length: 19\r\nConnection: close\r\n\r\n404 page not found\n');
      return;
    }
    socket.write(SWITCHING_PROTOCOLS);
    const channel = new FramedChannel(socket, this);
    this.server.framed.add(socket);
    socket.once('close', () => {
      this.server.framed.delete(socket);
      if (this.#parked === channel) this.#parked = undefined;
    });
    socket.on('data', (chunk: Buffer) => channel.read(chunk));
    if (head.length > 0) channel.read(head);
  }

  /** @internal FramedChannel: a NEXT frame. */
  framedNext(channel: FramedChannel): void {
    this.#next(channel);
  }

  /**
   * @internal FramedChannel: a RESPONSE or ERROR frame, or one whose payload
   * is over MAX_RUNTIME_PAYLOAD_SIZE (`body` undefined). The checks are
   * #result's; what HTTP would answer with 400 or 403 is dropped here, since
   * nothing is acknowledged on the channel.
   */
  framedResult(id: string, action: 'response' | 'error', errorType: string | undefined, body: Buffer | undefined): void {
    if (this.#accept(id) !== 'accepted') return;
    if (body === undefined) this.#listener.onResponseTooLarge(id);
    else if (action === 'response') this.#listener.onResponse(id, body);
    else this.#listener.onError(id, errorType, body);
  }

  /** Checks a posted result against the current invoke and the state; on success the state moves on. */
  #accept(id: string): 'accepted' | 'invalid-id' | 'forbidden' {
    const current = this.#current;
    if (current === undefined || id !== current.requestId) return 'invalid-id';
    if (this.#state !== 'Running') return 'forbidden';
    this.#state = 'RuntimeResponseSentState';
    return 'accepted';
  }

  #sendEvent(res: ServerResponse, inv: RuntimeInvocation): void {
    const headers = [
      'Content-Type',
      'application/json',
      // Explicit: after writeHead(), node:http no longer computes it at
      // end(body) and would frame the body as chunked instead.
      'Content-Length',
      String(inv.payload.length),
      'Lambda-Runtime-Aws-Request-Id',
      inv.requestId,
      'Lambda-Runtime-Deadline-Ms',
      String(inv.deadlineMs),
      'Lambda-Runtime-Invoked-Function-Arn',
      inv.invokedFunctionArn,
      'Lambda-Runtime-Trace-Id',
      inv.traceId,
    ];
    if (inv.clientContext !== undefined) {
      // Header values are bytes: pass the JSON's UTF-8 bytes through (Node
      // refuses characters above U+00FF in a header string).
      headers.push('Lambda-Runtime-Client-Context', toHeaderBytes(inv.clientContext));
    }
    res.writeHead(200, headers);
    res.end(inv.payload);
  }

  #result(req: IncomingMessage, res: ServerResponse, id: string, action: 'response' | 'error'): void {
    const state = this.#state;
    // The transition happens before the body is read, as in RAPID: a second
    // post racing the first gets 403.
    const accepted = this.#accept(id);
    if (accepted === 'invalid-id') {
      req.resume();
      res.writeHead(400, INVALID_REQUEST_ID_HEADERS);
      res.end(INVALID_REQUEST_ID);
      return;
    }
    if (accepted === 'forbidden') {
      req.resume();
      return forbidden(res, state, action === 'response' ? 'InvocationResponse' : 'InvocationErrorResponse');
    }
    const errorType = action === 'error' ? headerValue(req, 'lambda-runtime-function-error-type') : undefined;
    readCappedBody(req, MAX_RUNTIME_PAYLOAD_SIZE, (body) => {
      if (body === undefined) {
        this.#listener.onResponseTooLarge(id);
        res.writeHead(413, TOO_LARGE_HEADERS);
        res.end(TOO_LARGE);
        return;
      }
      if (action === 'response') this.#listener.onResponse(id, body);
      else this.#listener.onError(id, errorType, body);
      res.writeHead(202, ACCEPTED_HEADERS);
      res.end(ACCEPTED);
    });
  }

  #initError(req: IncomingMessage, res: ServerResponse): void {
    if (this.#state !== 'Started') {
      req.resume();
      return forbidden(res, this.#state, 'InitError');
    }
    this.#state = 'InitError';
    const errorType = headerValue(req, 'lambda-runtime-function-error-type');
    readCappedBody(req, MAX_RUNTIME_PAYLOAD_SIZE, (body) => {
      // An oversized init error is cut to its first bytes rather than lost:
      // the invoke still has to fail with it.
      this.#listener.onInitError(errorType, body ?? Buffer.from(`{"errorMessage":"Init error too large","errorType":"${errorType ?? 'Runtime.Unknown'}"}`));
      res.writeHead(202, ACCEPTED_HEADERS);
      res.end(ACCEPTED);
    });
  }
}

/**
 * The Runtime API's HTTP server. It also knows its framed channels, which
 * node:http forgets once a connection is upgraded, so that closing every
 * connection (as a backend does when its sandbox goes) closes them too.
 */
class RuntimeApiServer extends Server {
  /** Sockets upgraded to framed channels. */
  readonly framed = new Set<Duplex>();

  override closeAllConnections(): void {
    super.closeAllConnections();
    for (const socket of this.framed) socket.destroy();
    this.framed.clear();
  }
}

/** One framed channel of a RuntimeApi (see src/runtime/nodejs/frames.ts). */
class FramedChannel {
  readonly #socket: Duplex;
  readonly #reader: FrameReader;

  constructor(socket: Duplex, api: RuntimeApi) {
    this.#socket = socket;
    this.#reader = new FrameReader(
      {
        frame: (type, fields, payload) => {
          if (type === FRAME_NEXT && fields.length === 0 && payload.length === 0) api.framedNext(this);
          else if (type === FRAME_RESPONSE && fields.length === 1) api.framedResult(fields[0]!, 'response', undefined, payload);
          else if (type === FRAME_ERROR && fields.length === 2) api.framedResult(fields[0]!, 'error', fields[1] || undefined, payload);
          else this.destroy();
        },
        oversized: (type, fields) => {
          if ((type === FRAME_RESPONSE || type === FRAME_ERROR) && fields.length >= 1) api.framedResult(fields[0]!, type === FRAME_RESPONSE ? 'response' : 'error', undefined, undefined);
          else this.destroy();
        },
        malformed: () => this.destroy(),
      },
      { maxPayload: MAX_RUNTIME_PAYLOAD_SIZE, fieldEncoding: 'latin1' },
    );
  }

  get destroyed(): boolean {
    return this.#socket.destroyed;
  }

  read(chunk: Buffer): void {
    this.#reader.push(chunk);
  }

  send(inv: RuntimeInvocation): void {
    const fields = [inv.requestId, String(inv.deadlineMs), inv.invokedFunctionArn, inv.traceId];
    if (inv.clientContext !== undefined) fields.push(inv.clientContext);
    this.#socket.write(encodeFrame(FRAME_EVENT, fields, inv.payload));
  }

  destroy(): void {
    this.#socket.destroy();
  }
}

function forbidden(res: ServerResponse, from: RuntimeState, to: string): void {
  const body = Buffer.from(
    JSON.stringify({
      errorMessage: `State transition from ${from} to ${to} failed for runtime. Error: State transition is not allowed`,
      errorType: 'InvalidStateTransition',
    }) + '\n',
  );
  res.writeHead(403, ['Content-Type', 'application/json', 'Content-Length', String(body.length)]);
  res.end(body);
}

function methodNotAllowed(req: IncomingMessage, res: ServerResponse): void {
  req.resume();
  res.writeHead(405);
  res.end();
}

function headerValue(req: IncomingMessage, name: string): string | undefined {
  const v = req.headers[name];
  return typeof v === 'string' && v !== '' ? v : undefined;
}


function toHeaderBytes(s: string): string {
  return /^[\x20-\x7e]*$/.test(s) ? s : Buffer.from(s, 'utf8').toString('latin1');
}
