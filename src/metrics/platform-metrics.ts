/**
 * The platform's Prometheus metrics, served at GET /metrics.
 *
 * Counters and histograms are updated where things happen (an invoke ends,
 * a sandbox is claimed); gauges of state (concurrency, sandboxes, worker
 * memory) are read from the components when Prometheus scrapes, so the hot
 * path pays nothing for them. Its own registry: nothing global.
 */
import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from 'prom-client';
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { StemCellStats } from '../worker/types.js';

export const METRICS_PATH = '/metrics';

/** What the metrics read at scrape time. */
export interface MetricsSources {
  /** Concurrent executions per function now. */
  readonly concurrency: () => ReadonlyMap<string, number>;
  /** Every worker with its memory and sandboxes by state. */
  readonly workers: () => readonly {
    readonly id: string;
    readonly zone: string;
    readonly capacityMB: number;
    readonly usedMB: number;
    readonly idle: number;
    readonly busy: number;
    readonly stemCells?: StemCellStats | undefined;
  }[];
}

const MiB = 1024 * 1024;

export class PlatformMetrics {
  readonly registry = new Registry();
  readonly #invocations: Counter<'function' | 'outcome'>;
  readonly #throttles: Counter<'reason'>;
  readonly #starts: Counter<'function' | 'start'>;
  readonly #duration: Histogram<'function'>;

  constructor(sources: MetricsSources) {
    const registers = [this.registry];
    collectDefaultMetrics({ register: this.registry, prefix: 'kindling_process_' });
    this.#invocations = new Counter({
      name: 'kindling_invocations_total',
      help: 'Invokes answered, by function and outcome (success, function_error, throttled, error).',
      labelNames: ['function', 'outcome'],
      registers,
    });
    this.#throttles = new Counter({
      name: 'kindling_throttles_total',
      help: 'Invokes refused with 429 TooManyRequestsException, by Reason.',
      labelNames: ['reason'],
      registers,
    });
    this.#starts = new Counter({
      name: 'kindling_sandbox_claims_total',
      help: 'Sandboxes claimed for an invoke: start="cold" started one, start="warm" reused an idle one.',
      labelNames: ['function', 'start'],
      registers,
    });
    this.#duration = new Histogram({
      name: 'kindling_invoke_duration_seconds',
      help: 'Synchronous invoke latency at the front end, from the request to the response.',
      labelNames: ['function'],
      buckets: [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300, 900],
      registers,
    });
    new Gauge({
      name: 'kindling_concurrent_executions',
      help: 'Concurrency slots held now, per function.',
      labelNames: ['function'],
      registers,
      collect() {
        this.reset();
        for (const [fn, n] of sources.concurrency()) this.set({ function: fn }, n);
      },
    });
    new Gauge({
      name: 'kindling_account_concurrent_executions',
      help: 'Concurrency slots held now across the account.',
      registers,
      collect() {
        let total = 0;
        for (const n of sources.concurrency().values()) total += n;
        this.set(total);
      },
    });
    new Gauge({
      name: 'kindling_sandboxes',
      help: 'Sandboxes per worker, by state (idle or busy).',
      labelNames: ['worker', 'zone', 'state'],
      registers,
      collect() {
        this.reset();
        for (const w of sources.workers()) {
          this.set({ worker: w.id, zone: w.zone, state: 'idle' }, w.idle);
          this.set({ worker: w.id, zone: w.zone, state: 'busy' }, w.busy);
        }
      },
    });
    new Gauge({
      name: 'kindling_stem_cells',
      help: 'Stem cells a worker keeps started or starting, waiting for a function.',
      labelNames: ['worker', 'zone'],
      registers,
      collect() {
        this.reset();
        for (const w of sources.workers()) if (w.stemCells) this.set({ worker: w.id, zone: w.zone }, w.stemCells.pooled);
      },
    });
    new Gauge({
      name: 'kindling_stem_cell_bound',
      help: 'Most stem cells a worker keeps (0: stem cells off); its pool grows toward it with bursts of cold starts.',
      labelNames: ['worker', 'zone'],
      registers,
      collect() {
        this.reset();
        for (const w of sources.workers()) if (w.stemCells) this.set({ worker: w.id, zone: w.zone }, w.stemCells.bound);
      },
    });
    new Counter({
      name: 'kindling_stem_cell_cold_starts_total',
      help: 'Cold starts a stem cell could serve, by worker and result: hit took a cell, miss found none and started a sandbox.',
      labelNames: ['worker', 'zone', 'result'],
      registers,
      collect() {
        // The workers count; this reads their totals (a worker that restarts starts again from 0).
        this.reset();
        for (const w of sources.workers()) {
          if (!w.stemCells) continue;
          this.inc({ worker: w.id, zone: w.zone, result: 'hit' }, w.stemCells.hits);
          this.inc({ worker: w.id, zone: w.zone, result: 'miss' }, w.stemCells.misses);
        }
      },
    });
    new Gauge({
      name: 'kindling_worker_memory_used_bytes',
      help: "Memory reserved by a worker's sandboxes (each counts its function's MemorySize).",
      labelNames: ['worker', 'zone'],
      registers,
      collect() {
        this.reset();
        for (const w of sources.workers()) this.set({ worker: w.id, zone: w.zone }, w.usedMB * MiB);
      },
    });
    new Gauge({
      name: 'kindling_worker_memory_capacity_bytes',
      help: 'Memory a worker offers to sandboxes.',
      labelNames: ['worker', 'zone'],
      registers,
      collect() {
        this.reset();
        for (const w of sources.workers()) this.set({ worker: w.id, zone: w.zone }, w.capacityMB * MiB);
      },
    });
  }

  /** A sandbox was claimed for an invoke (WorkerManager's onClaim). */
  claimed(functionName: string, cold: boolean): void {
    this.#starts.inc({ function: functionName, start: cold ? 'cold' : 'warm' });
  }

  /** A synchronous invoke ended. */
  invoked(functionName: string, outcome: 'success' | 'function_error' | 'throttled' | 'error', seconds: number): void {
    this.#invocations.inc({ function: functionName, outcome });
    this.#duration.observe({ function: functionName }, seconds);
  }

  throttled(reason: string): void {
    this.#throttles.inc({ reason });
  }

  /** Answers GET /metrics; false for any other request. */
  handle(req: IncomingMessage, res: ServerResponse): boolean {
    if (req.url !== METRICS_PATH || req.method !== 'GET') return false;
    this.registry.metrics().then(
      (text) => {
        res.writeHead(200, { 'content-type': this.registry.contentType, 'content-length': Buffer.byteLength(text) });
        res.end(text);
      },
      (err: unknown) => {
        res.writeHead(500, { 'content-type': 'text/plain' });
        res.end(String(err));
      },
    );
    return true;
  }
}
