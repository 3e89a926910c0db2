/**
 * `kindling worker`: one worker host as its own OS process. Opens the
 * sandbox backend, runs a LocalWorker on it, serves it to the platform and
 * heartbeats (worker-server.ts). `kindling up --workers N` starts N of these
 * as children; on another machine one joins with --join.
 */
import { mkdirSync } from 'node:fs';
import { hostname } from 'node:os';
import { resolve } from 'node:path';
import { openBackend } from './backends.js';
import type { SandboxKind } from './backends.js';
import { LocalWorker } from './local-worker.js';
import type { GvisorPlatform } from './sandbox/gvisor.js';
import { LogShipper } from './log-shipper.js';
import { LOGS_INGEST_PATH } from './wire.js';
import { stemCellBound } from './stem-cells.js';
import { postJson, startWorkerServer } from './worker-server.js';
import type { WorkerServer } from './worker-server.js';

export interface WorkerProcessOptions {
  /** The platform's URL. */
  readonly join: string;
  readonly token: string;
  readonly zone: string;
  readonly capacityMB: number;
  readonly sandbox: SandboxKind;
  /** Most pre-started, code-less nodejs sandboxes this worker keeps (0: none). Default stemCellBound(capacityMB). */
  readonly stemCells?: number;
  /** Start nodejs sandboxes from the runtime's startup snapshots (LocalWorkerOptions.runtimeSnapshots). */
  readonly runtimeSnapshots: boolean;
  readonly gvisorPlatform?: GvisorPlatform;
  /** The worker's own data directory (backend root key, process sandboxes' files). */
  readonly dataDir: string;
  readonly host: string;
  readonly port: number;
  /** Default: <hostname>-<pid>. */
  readonly id?: string;
  /** Which worker of this host (disjoint sandbox uids). Default 0. */
  readonly slot?: number;
}

export interface RunningWorker {
  readonly id: string;
  readonly url: string;
  close(): Promise<void>;
}

export async function startWorkerProcess(options: WorkerProcessOptions): Promise<RunningWorker> {
  const dataDir = resolve(options.dataDir);
  mkdirSync(dataDir, { recursive: true });
  const opened = await openBackend({ kind: options.sandbox, dataDir, slot: options.slot ?? 0, ...(options.gvisorPlatform ? { gvisorPlatform: options.gvisorPlatform } : {}) });
  const id = options.id ?? `${hostname()}-${process.pid}`;
  // The sandboxes' logs go to the platform's log store over the worker channel.
  const logs = new LogShipper({
    send: (batch) => postJson(`${options.join}${LOGS_INGEST_PATH}`, options.token, batch),
    onError: (message) => console.error(`kindling worker ${id}: ${message}`),
  });
  const stemCells = options.stemCells ?? stemCellBound(options.capacityMB);
  const worker = new LocalWorker({ id, backend: opened.backend, stemCells, runtimeSnapshots: options.runtimeSnapshots, logSink: logs });
  if (stemCells > 0 && worker.stemCellsOff) console.error(`kindling worker ${id}: stem cells are off: ${worker.stemCellsOff}`);
  let server: WorkerServer;
  try {
    server = await startWorkerServer({
      worker,
      token: options.token,
      join: options.join,
      zone: options.zone,
      capacityMB: options.capacityMB,
      host: options.host,
      port: options.port,
      codeCacheDir: dataDir,
      onHeartbeatError: (err) => {
        if (err) console.error(`kindling worker ${id}: cannot reach the platform at ${options.join}: ${err.message}; retrying`);
        else console.error(`kindling worker ${id}: the platform answers again`);
      },
    });
  } catch (err) {
    await worker.close();
    await opened.close();
    throw err;
  }
  let closing: Promise<void> | undefined;
  return {
    id,
    url: server.url,
    close() {
      closing ??= (async () => {
        await server.close();
        // The sandboxes are gone: their last lines go to the platform (if it still answers).
        await logs.flush().catch(() => undefined);
        await opened.close();
      })();
      return closing;
    },
  };
}
