import type { FunctionVersionSpec } from '../shared/spec.js';
import type { Sandbox, Worker } from '../worker/types.js';
import { LambdaError } from '../shared/errors.js';

/**
 * The Placement Service: knows the workers and chooses the one that hosts a
 * new sandbox.
 *
 * The all-in-one platform has one in-process worker; the policy below already
 * works over many: it places a new sandbox on the worker hosting the fewest
 * live sandboxes. Packing by memory, zones and leases come with the worker
 * fleet (see the issue on counting, fleet and placement).
 */
export class Placement {
  readonly #workers: Worker[] = [];
  readonly #live = new Map<Worker, number>();

  /** Adds a worker to the pool placement chooses from. */
  register(worker: Worker): void {
    this.#workers.push(worker);
    this.#live.set(worker, 0);
  }

  /** Creates a sandbox for `spec` on the chosen worker. */
  async createSandbox(spec: FunctionVersionSpec): Promise<Sandbox> {
    const worker = this.#choose();
    this.#live.set(worker, (this.#live.get(worker) ?? 0) + 1);
    let sandbox: Sandbox;
    try {
      sandbox = await worker.createSandbox(spec);
    } catch (err) {
      this.#live.set(worker, (this.#live.get(worker) ?? 1) - 1);
      throw err;
    }
    void sandbox.exited.then(() => this.#live.set(worker, (this.#live.get(worker) ?? 1) - 1));
    return sandbox;
  }

  /** Live sandboxes per worker id. */
  liveSandboxes(): Map<string, number> {
    return new Map(this.#workers.map((w) => [w.id, this.#live.get(w) ?? 0]));
  }

  async close(): Promise<void> {
    await Promise.all(this.#workers.map((w) => w.close()));
  }

  #choose(): Worker {
    let best: Worker | undefined;
    for (const w of this.#workers) {
      if (!best || (this.#live.get(w) ?? 0) < (this.#live.get(best) ?? 0)) best = w;
    }
    if (!best) throw new LambdaError('ServiceException', 'No worker is available to run the function.');
    return best;
  }
}
