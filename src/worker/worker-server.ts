/**
 * A worker as a host of the fleet: serves one Worker (a LocalWorker and its
 * sandboxes) to the platform over HTTP, and heartbeats to the platform's
 * placement so that it is known, chosen, and declared lost when it stops.
 *
 * The platform drives; the worker answers (see wire.ts for the protocol).
 */
import { createServer, request as httpRequest } from 'node:http';
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { systemClock } from '../shared/clock.js';
import type { Clock, Timer } from '../shared/clock.js';
import { decodePathSegment, hasBearer, readCappedBodyAsync, replyJson as json } from '../shared/http.js';
import type { FunctionVersionSpec } from '../shared/spec.js';
import type { Sandbox, Worker } from './types.js';
import { CodeCache } from './code-cache.js';
import { listen } from '../shared/listen.js';
import { MAX_RUNTIME_PAYLOAD_SIZE } from './runtime-api.js';
import {
  H_CLIENT_CONTEXT,
  H_INVOKED_ARN,
  H_OUTCOME,
  H_PAYLOAD_LENGTH,
  H_REQUEST_ID,
  H_WANT_LOGS,
  CODE_PATH,
  HEARTBEAT_PATH,
  SANDBOXES_PATH,
  outcomeHead,
} from './wire.js';
import type { Created, Heartbeat, HeartbeatReply } from './wire.js';

export interface WorkerServerOptions {
  readonly worker: Worker;
  /** Shared secret of the fleet; every request both ways carries it. */
  readonly token: string;
  /** The platform's URL (http://host:port). */
  readonly join: string;
  readonly zone: string;
  /** Memory the worker offers to sandboxes, in MB. */
  readonly capacityMB: number;
  /** Where to listen (port 0 picks one). */
  readonly host: string;
  readonly port: number;
  /** The URL the platform should use; default http://<host>:<port actually bound>. */
  readonly advertiseUrl?: string;
  readonly clock?: Clock;
  /**
   * A sandbox the platform does not know (it was lost, restarted, or gave
   * up on a creation) is stopped once it is older than this. Default 10 s:
   * longer than any creation reply can be in flight.
   */
  readonly unknownGraceMs?: number;
  /**
   * Where packages fetched from the platform are kept, for specs whose code
   * directory is not on this host. Default: none (every codeDir must exist here).
   */
  readonly codeCacheDir?: string;
  /** Told when a heartbeat fails or recovers (for the log). */
  readonly onHeartbeatError?: (err: Error | undefined) => void;
}

export interface WorkerServer {
  readonly url: string;
  /** Stops heartbeating and serving, and destroys every sandbox. */
  close(): Promise<void>;
}

/** The largest spec a creation request can carry (environment ≤ 4 KB, paths, names). */
const MAX_SPEC_BYTES = 256 * 1024;

interface Hosted {
  readonly sandbox: Sandbox;
  readonly seq: number;
  readonly createdAt: number;
}

export async function startWorkerServer(options: WorkerServerOptions): Promise<WorkerServer> {
  const clock = options.clock ?? systemClock;
  const graceMs = options.unknownGraceMs ?? 10_000;
  const hosted = new Map<string, Hosted>();
  const code = options.codeCacheDir === undefined ? undefined : new CodeCache(options.codeCacheDir, (hex) => getBytes(`${options.join}${CODE_PATH}/${hex}`, options.token));
  let seq = 0;
  let closed = false;

  const fail = (res: ServerResponse, status: number, err: unknown): void => {
    if (res.headersSent) {
      res.destroy();
      return;
    }
    json(res, status, { message: err instanceof Error ? err.message : String(err) });
  };

  async function create(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const body = await readCappedBodyAsync(req, MAX_SPEC_BYTES);
    if (!body) return fail(res, 413, 'sandbox spec too large');
    const spec = JSON.parse(body.toString('utf8')) as FunctionVersionSpec;
    const sandbox = await options.worker.createSandbox(code ? await code.localize(spec) : spec);
    const entry: Hosted = { sandbox, seq: ++seq, createdAt: clock.now() };
    hosted.set(sandbox.id, entry);
    void sandbox.exited.then(() => {
      hosted.delete(sandbox.id);
      // Tell the platform now rather than at the next beat, so that it never
      // hands an invoke to a sandbox that is gone.
      beatSoon();
    });
    const created: Created = { id: sandbox.id, seq: entry.seq };
    json(res, 201, created);
  }

  async function invoke(req: IncomingMessage, res: ServerResponse, entry: Hosted): Promise<void> {
    const payload = await readCappedBodyAsync(req, MAX_RUNTIME_PAYLOAD_SIZE);
    if (!payload) return fail(res, 413, 'event too large');
    const clientContext = req.headers[H_CLIENT_CONTEXT];
    // 102 Processing: the event is here. A platform that never saw it knows
    // the function did not run and may send the event elsewhere.
    res.writeProcessing();
    const outcome = await entry.sandbox.invoke({
      requestId: String(req.headers[H_REQUEST_ID] ?? ''),
      invokedFunctionArn: String(req.headers[H_INVOKED_ARN] ?? entry.sandbox.spec.functionArn),
      clientContext: typeof clientContext === 'string' ? Buffer.from(clientContext, 'base64').toString('utf8') : undefined,
      wantLogs: req.headers[H_WANT_LOGS] === '1',
      payload,
    });
    const logs = outcome.logs === undefined ? undefined : Buffer.from(outcome.logs, 'utf8');
    res.writeHead(200, {
      [H_OUTCOME]: JSON.stringify(outcomeHead(outcome)),
      [H_PAYLOAD_LENGTH]: outcome.payload.length,
      'content-length': outcome.payload.length + (logs?.length ?? 0),
    });
    if (logs) res.write(outcome.payload);
    res.end(logs ?? outcome.payload);
  }

  // Idle connections stay open longer than the platform keeps them in its
  // pool (RemoteWorker's agent), so the platform never reuses one that this
  // side is closing.
  const server = createServer({ keepAlive: true, keepAliveTimeout: 65_000 }, (req, res) => {
    if (!hasBearer(req, options.token)) return fail(res, 401, 'bad cluster token');
    const path = req.url ?? '';
    let work: Promise<void> | undefined;
    if (path === SANDBOXES_PATH && req.method === 'POST') {
      work = create(req, res);
    } else if (path.startsWith(`${SANDBOXES_PATH}/`)) {
      const [rawId, action] = path.slice(SANDBOXES_PATH.length + 1).split('/');
      const entry = hosted.get(decodePathSegment(rawId ?? ''));
      if (req.method === 'POST' && action === 'invoke') {
        if (!entry) return fail(res, 404, 'no such sandbox (it exited)');
        work = invoke(req, res, entry);
      } else if (req.method === 'DELETE' && action === undefined) {
        work = (entry?.sandbox.destroy() ?? Promise.resolve()).then(() => {
          res.writeHead(204).end();
        });
      }
    }
    if (!work) return fail(res, 404, `no route for ${req.method ?? ''} ${path}`);
    work.catch((err: unknown) => fail(res, 500, err));
  });

  await listen(server, options.port, options.host);
  const address = server.address() as AddressInfo;
  const host = address.family === 'IPv6' ? `[${address.address}]` : address.address;
  const url = options.advertiseUrl ?? `http://${host}:${address.port}`;

  // Heartbeats: one in flight at a time; `again` asks for another right after.
  let heartbeatMs = 500;
  let timer: Timer | undefined;
  let inFlight = false;
  let again = false;
  let failing = false;

  function beatSoon(): void {
    if (closed) return;
    if (inFlight) {
      again = true;
      return;
    }
    if (timer) clock.clearTimeout(timer);
    timer = clock.setTimeout(beat, 0);
  }

  function beat(): void {
    timer = undefined;
    if (closed) return;
    inFlight = true;
    const sent: Heartbeat = {
      id: options.worker.id,
      url,
      pid: process.pid,
      zone: options.zone,
      capacityMB: options.capacityMB,
      sandboxes: [...hosted.keys()],
      createdUpTo: seq,
      stemCells: options.worker.stemCells,
    };
    postJson<HeartbeatReply>(`${options.join}${HEARTBEAT_PATH}`, options.token, sent)
      .then((reply) => {
        heartbeatMs = reply.heartbeatMs;
        if (failing) options.onHeartbeatError?.(undefined);
        failing = false;
        stopUnknown(new Set(reply.known));
      })
      .catch((err: unknown) => {
        if (!failing) options.onHeartbeatError?.(err instanceof Error ? err : new Error(String(err)));
        failing = true;
      })
      .finally(() => {
        inFlight = false;
        if (closed) return;
        if (again) {
          again = false;
          beatSoon();
        } else {
          timer = clock.setTimeout(beat, heartbeatMs);
        }
      });
  }

  /** Stops sandboxes the platform does not know, once past the grace for replies in flight. */
  function stopUnknown(known: ReadonlySet<string>): void {
    const cutoff = clock.now() - graceMs;
    for (const [id, entry] of hosted) {
      if (!known.has(id) && entry.createdAt <= cutoff) void entry.sandbox.destroy();
    }
  }

  beat();

  let closing: Promise<void> | undefined;
  return {
    url,
    close() {
      closing ??= (async () => {
        closed = true;
        if (timer) clock.clearTimeout(timer);
        const serverClosed = new Promise<void>((r) => server.close(() => r()));
        server.closeIdleConnections();
        await options.worker.close();
        server.closeAllConnections();
        await serverClosed;
      })();
      return closing;
    },
  };
}

/** POSTs JSON and parses the JSON reply; rejects on a non-2xx status. */
export function postJson<T>(url: string, token: string, body: unknown, timeoutMs = 5000): Promise<T> {
  const data = Buffer.from(JSON.stringify(body));
  return new Promise<T>((resolve, reject) => {
    const req = httpRequest(
      url,
      {
        method: 'POST',
        headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json', 'content-length': data.length },
        timeout: timeoutMs,
      },
      (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => chunks.push(c));
        res.on('end', () => {
          const text = Buffer.concat(chunks).toString('utf8');
          if ((res.statusCode ?? 500) >= 300) {
            reject(new Error(`${url}: ${res.statusCode ?? '?'} ${text}`));
            return;
          }
          try {
            resolve(JSON.parse(text) as T);
          } catch (err) {
            reject(err instanceof Error ? err : new Error(String(err)));
          }
        });
        res.on('error', reject);
      },
    );
    req.on('timeout', () => req.destroy(new Error(`${url}: no answer within ${timeoutMs} ms`)));
    req.on('error', reject);
    req.end(data);
  });
}

/** GETs bytes; rejects on a non-200 status. */
function getBytes(url: string, token: string, timeoutMs = 60_000): Promise<Buffer> {
  return new Promise<Buffer>((resolve, reject) => {
    const req = httpRequest(url, { headers: { authorization: `Bearer ${token}` }, timeout: timeoutMs }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () => {
        const body = Buffer.concat(chunks);
        if (res.statusCode !== 200) reject(new Error(`${url}: ${res.statusCode ?? '?'} ${body.toString('utf8').slice(0, 200)}`));
        else resolve(body);
      });
      res.on('error', reject);
    });
    req.on('timeout', () => req.destroy(new Error(`${url}: no answer within ${timeoutMs} ms`)));
    req.on('error', reject);
    req.end();
  });
}
