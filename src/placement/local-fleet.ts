/**
 * The worker processes of `kindling up --workers N`: N `kindling worker`
 * children on this host, each with its zone, capacity and data directory,
 * joined to this platform. A child that dies is started again after a pause
 * (as a failed host is replaced); until then placement serves from the others.
 */
import { spawn } from 'node:child_process';
import type { ChildProcess } from 'node:child_process';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { SandboxKind } from '../worker/backends.js';
import type { GvisorPlatform } from '../worker/sandbox/gvisor.js';

/** dist/src/cli/main.js, from this file's place (dist/src/placement/). */
const CLI_ENTRY = fileURLToPath(new URL('../cli/main.js', import.meta.url));

export interface LocalFleetOptions {
  readonly count: number;
  /** Zones, assigned to the workers in turn. */
  readonly zones: readonly string[];
  readonly capacityMB: number;
  readonly join: string;
  readonly token: string;
  readonly sandbox: SandboxKind;
  readonly stemCells: number;
  readonly runtimeSnapshots: boolean;
  readonly gvisorPlatform?: GvisorPlatform;
  /** Worker i keeps its files in <dataDir>/workers/<i>. */
  readonly dataDir: string;
  /** Pause before a dead worker is started again. Default 1000 ms. */
  readonly restartDelayMs?: number;
  readonly log: (message: string) => void;
}

export interface LocalFleet {
  /** The pids of the live worker processes, by slot. */
  pids(): (number | undefined)[];
  /** Stops every worker (SIGTERM, then SIGKILL after 10 s) and waits for them. */
  close(): Promise<void>;
}

export function startLocalFleet(options: LocalFleetOptions): LocalFleet {
  const children: (ChildProcess | undefined)[] = [];
  const restarts: (NodeJS.Timeout | undefined)[] = [];
  let closing = false;

  const start = (slot: number): void => {
    const zone = options.zones[slot % options.zones.length]!;
    const args = [
      CLI_ENTRY,
      'worker',
      '--join', options.join,
      '--zone', zone,
      '--capacity', String(options.capacityMB),
      '--sandbox', options.sandbox,
      '--stem-cells', String(options.stemCells),
      ...(options.runtimeSnapshots ? [] : ['--no-runtime-snapshots']),
      '--data-dir', join(options.dataDir, 'workers', String(slot)),
      '--slot', String(slot),
      ...(options.gvisorPlatform ? ['--gvisor-platform', options.gvisorPlatform] : []),
    ];
    // The IPC channel is the lifeline: a worker whose platform is gone (even
    // kill -9) sees it disconnect and stops its sandboxes.
    const child = spawn(process.execPath, args, {
      stdio: ['ignore', 'ignore', 'inherit', 'ipc'],
      env: { ...process.env, KINDLING_CLUSTER_TOKEN: options.token },
    });
    children[slot] = child;
    child.on('exit', (code, signal) => {
      if (children[slot] === child) children[slot] = undefined;
      if (closing) return;
      options.log(`worker ${slot} (pid ${child.pid ?? '?'}, zone ${zone}) exited (${signal ?? `code ${code ?? '?'}`}); starting it again`);
      const t = setTimeout(() => {
        restarts[slot] = undefined;
        if (!closing) start(slot);
      }, options.restartDelayMs ?? 1000);
      t.unref();
      restarts[slot] = t;
    });
  };

  for (let slot = 0; slot < options.count; slot++) start(slot);

  return {
    pids: () => children.map((c) => c?.pid),
    async close() {
      closing = true;
      for (const t of restarts) if (t) clearTimeout(t);
      await Promise.all(
        children.map(
          (child) =>
            new Promise<void>((resolve) => {
              if (!child || child.exitCode !== null || child.signalCode !== null) return resolve();
              const kill = setTimeout(() => child.kill('SIGKILL'), 10_000);
              child.once('exit', () => {
                clearTimeout(kill);
                resolve();
              });
              child.kill('SIGTERM');
            }),
        ),
      );
    },
  };
}
