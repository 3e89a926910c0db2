/**
 * Placement's HTTP endpoints on the platform: workers in other processes
 * join and heartbeat here, and `kindling status` reads the fleet.
 *
 *   POST /kindling/v1/workers/heartbeat   (cluster token) join or stay a member
 *   GET  /kindling/v1/code/{sha256 hex}   (cluster token) a deployment package, for workers on other hosts
 *   GET  /kindling/v1/status              the fleet, as `kindling status` prints it
 */
import { createReadStream } from 'node:fs';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { hasBearer, readCappedBodyAsync, replyJson as json } from '../shared/http.js';
import { CODE_PATH, HEARTBEAT_PATH } from '../worker/wire.js';
import type { Heartbeat, HeartbeatReply } from '../worker/wire.js';
import type { StemCellStats } from '../worker/types.js';
import type { Placement } from './placement.js';
import { RemoteWorker } from './remote-worker.js';

export const STATUS_PATH = '/kindling/v1/status';

/** One worker in `kindling status`. */
export interface FleetStatusWorker {
  readonly id: string;
  /** Its process id on its host. */
  readonly pid: number;
  readonly zone: string;
  readonly capacityMB: number;
  readonly usedMB: number;
  readonly idle: number;
  readonly busy: number;
  /** Live sandboxes per function name. */
  readonly functions: Record<string, number>;
  readonly heartbeatAgeMs: number;
  /** Its stem cells (Worker.stemCells); absent when it reports none. */
  readonly stemCells?: StemCellStats | undefined;
}

export interface FleetStatus {
  readonly workers: readonly FleetStatusWorker[];
}

export interface FleetApiOptions {
  readonly placement: Placement;
  readonly token: string;
  /** How often workers should heartbeat. */
  readonly heartbeatMs: number;
  /** The file of a stored deployment package, by hex SHA-256 (undefined when there is none). */
  readonly codeZip: (sha256hex: string) => string | undefined;
  /** Idle or busy, per sandbox id (the worker manager knows). */
  readonly sandboxStates: () => ReadonlyMap<string, 'idle' | 'busy'>;
}

export class FleetApi {
  readonly #o: FleetApiOptions;
  readonly #remotes = new Map<string, { readonly worker: RemoteWorker; readonly url: string; readonly pid: number }>();

  constructor(options: FleetApiOptions) {
    this.#o = options;
  }

  /** True when the request is one of placement's; it is then answered. */
  handle(req: IncomingMessage, res: ServerResponse): boolean {
    const path = req.url ?? '';
    if (path === HEARTBEAT_PATH && req.method === 'POST') {
      if (!hasBearer(req, this.#o.token)) {
        json(res, 401, { message: 'bad cluster token' });
        return true;
      }
      readCappedBodyAsync(req, 1024 * 1024)
        .then((body) => {
          if (!body) return json(res, 413, { message: 'heartbeat too large' });
          json(res, 200, this.heartbeat(JSON.parse(body.toString('utf8')) as Heartbeat));
        })
        .catch((err: unknown) => json(res, 400, { message: err instanceof Error ? err.message : String(err) }));
      return true;
    }
    if (path.startsWith(`${CODE_PATH}/`) && req.method === 'GET') {
      if (!hasBearer(req, this.#o.token)) {
        json(res, 401, { message: 'bad cluster token' });
        return true;
      }
      const hex = path.slice(CODE_PATH.length + 1);
      const file = /^[0-9a-f]{64}$/.test(hex) ? this.#o.codeZip(hex) : undefined;
      if (!file) {
        json(res, 404, { message: `no code ${hex}` });
        return true;
      }
      const stream = createReadStream(file);
      stream.once('open', () => res.writeHead(200, { 'content-type': 'application/zip' }));
      stream.once('error', (err) => (res.headersSent ? res.destroy(err) : json(res, 404, { message: err.message })));
      stream.pipe(res);
      return true;
    }
    if (path === STATUS_PATH && req.method === 'GET') {
      json(res, 200, this.status());
      return true;
    }
    return false;
  }

  /** A worker's heartbeat: joins it to placement if new (or back), applies its sandbox list. */
  heartbeat(beat: Heartbeat): HeartbeatReply {
    const placement = this.#o.placement;
    let remote = this.#remotes.get(beat.id);
    if (!remote || remote.url !== beat.url || !placement.heartbeat(beat.id)) {
      // Workers placement has lost are forgotten here when a new one joins.
      const members = new Set(placement.workers().map((w) => w.id));
      for (const known of this.#remotes.keys()) if (!members.has(known)) this.#remotes.delete(known);
      const id = beat.id;
      const worker = new RemoteWorker({ id, url: beat.url, token: this.#o.token, onUnreachable: (reason) => placement.lose(id, reason) });
      remote = { worker, url: beat.url, pid: beat.pid };
      this.#remotes.set(beat.id, remote);
      placement.register({ worker: remote.worker, zone: beat.zone, capacityMB: beat.capacityMB, heartbeats: true });
    }
    remote.worker.reconcile(beat.sandboxes, beat.createdUpTo);
    remote.worker.noteStemCells(beat.stemCells);
    return { heartbeatMs: this.#o.heartbeatMs, known: remote.worker.sandboxIds() };
  }

  status(): FleetStatus {
    const states = this.#o.sandboxStates();
    return {
      workers: this.#o.placement.workers().map((w) => {
        let idle = 0;
        let busy = 0;
        const byFunction: Record<string, number> = {};
        for (const { id, functionName } of w.sandboxes) {
          const state = states.get(id);
          if (state === 'idle') idle++;
          else if (state === 'busy') busy++;
          byFunction[functionName] = (byFunction[functionName] ?? 0) + 1;
        }
        return { id: w.id, pid: this.#remotes.get(w.id)?.pid ?? process.pid, zone: w.zone, capacityMB: w.capacityMB, usedMB: w.usedMB, idle, busy, functions: byFunction, heartbeatAgeMs: w.heartbeatAgeMs, stemCells: w.stemCells };
      }),
    };
  }
}
