/**
 * Client of the Lambda Runtime API (2018-06-01) over one keep-alive
 * connection, as the RIC's RAPIDClient (which keeps maxSockets: 1).
 */
import { Agent, request } from 'node:http';
import type { IncomingHttpHeaders, IncomingMessage } from 'node:http';

/** One invocation as GET /runtime/invocation/next returned it. */
export interface NextInvocation {
  /** The event, undecoded (the handler's JSON.parse is the only parse). */
  readonly body: string;
  /** Response headers, lower-cased by node:http. */
  readonly headers: IncomingHttpHeaders;
}

const NEXT_PATH = '/2018-06-01/runtime/invocation/next';
const INVOCATION_PATH = '/2018-06-01/runtime/invocation/';
const INIT_ERROR_PATH = '/2018-06-01/runtime/init/error';
const ERROR_TYPE_HEADER = 'Lambda-Runtime-Function-Error-Type';

/** The Runtime API over HTTP/1.1; `endpoint` is AWS_LAMBDA_RUNTIME_API (host:port). */
export class RuntimeApiClient {
  readonly #hostname: string;
  readonly #port: number;
  // One socket, kept alive across invokes: the warm path pays no connect.
  // An idle keep-alive socket is unref'd by the agent, so it does not keep
  // the event loop alive ('beforeExit' still fires when user work is done).
  readonly #agent = new Agent({ keepAlive: true, maxSockets: 1 });

  constructor(endpoint: string) {
    const colon = endpoint.lastIndexOf(':');
    this.#hostname = colon < 0 ? endpoint : endpoint.slice(0, colon);
    this.#port = colon < 0 ? 80 : Number.parseInt(endpoint.slice(colon + 1), 10);
  }

  /** GET /runtime/invocation/next: blocks until the worker has an event. */
  next(): Promise<NextInvocation> {
    return new Promise((resolve, reject) => {
      const req = request(
        { hostname: this.#hostname, port: this.#port, path: NEXT_PATH, method: 'GET', agent: this.#agent },
        (res) => {
          readBody(res, (body) => {
            if (res.statusCode !== 200) {
              reject(new Error(`Failed to get next invocation, HTTP ${res.statusCode}: ${body}`));
            } else {
              resolve({ body, headers: res.headers });
            }
          });
          res.on('error', reject);
        },
      );
      req.on('error', reject);
      req.end();
    });
  }

  /** POST /runtime/invocation/{id}/response with an already serialised body. */
  postResponse(requestId: string, body: string, done: () => void): void {
    this.#post(INVOCATION_PATH + encodeURIComponent(requestId) + '/response', body, undefined, done);
  }

  /** POST /runtime/invocation/{id}/error; `errorType` goes in Lambda-Runtime-Function-Error-Type. */
  postError(requestId: string, body: string, errorType: string, done: () => void): void {
    this.#post(INVOCATION_PATH + encodeURIComponent(requestId) + '/error', body, errorType, done);
  }

  /** POST /runtime/init/error. */
  postInitError(body: string, errorType: string, done: () => void): void {
    this.#post(INIT_ERROR_PATH, body, errorType, done);
  }

  /**
   * Calls `done` once the worker has answered, or once the request failed:
   * a transport failure cannot be reported anywhere, and the caller's next
   * step (GET /next, or exit) is the right one either way.
   */
  #post(path: string, body: string, errorType: string | undefined, onDone: () => void, retried = false): void {
    let called = false;
    const done = (): void => {
      if (!called) {
        called = true;
        onDone();
      }
    };
    const headers: Record<string, string | number> = {
      'Content-Type': 'application/json',
      'Content-Length': Buffer.byteLength(body),
    };
    // Header values cannot hold control characters; an errorType that does
    // (it is the user's error.name) is left out rather than failing the post.
    if (errorType !== undefined && isHeaderSafe(errorType)) headers[ERROR_TYPE_HEADER] = errorType;
    const req = request(
      { hostname: this.#hostname, port: this.#port, path, method: 'POST', headers, agent: this.#agent },
      (res) => {
        res.on('error', done);
        readBody(res, () => done());
      },
    );
    req.on('error', (err: NodeJS.ErrnoException) => {
      // The worker may close a keep-alive socket that sat idle during a long
      // invoke just as this request reuses it; Node's documented remedy is to
      // retry once on a fresh socket.
      if (!retried && req.reusedSocket && err.code === 'ECONNRESET') {
        called = true;
        this.#post(path, body, errorType, onDone, true);
      } else {
        done();
      }
    });
    req.end(body);
  }
}

function readBody(res: IncomingMessage, onEnd: (body: string) => void): void {
  let first: Buffer | undefined;
  let rest: Buffer[] | undefined;
  res.on('data', (chunk: Buffer) => {
    if (first === undefined) first = chunk;
    else (rest ??= [first]).push(chunk);
  });
  res.on('end', () => {
    onEnd(rest !== undefined ? Buffer.concat(rest).toString() : first !== undefined ? first.toString() : '');
  });
}

function isHeaderSafe(value: string): boolean {
  // RFC 9110 field-value: visible ASCII, space and tab (node:http rejects the rest).
  return /^[\t\x20-\x7e]*$/.test(value);
}
