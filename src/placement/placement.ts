import type { Clock, Timer } from '../shared/clock.js';
import type { FunctionVersionSpec } from '../shared/spec.js';
import { SandboxUnreachableError } from '../worker/types.js';
import type { Sandbox, StemCellStats, Worker } from '../worker/types.js';
import { concentrateAndPack } from './policy.js';
import type { PlacementPolicy, WorkerView } from './policy.js';

/** A worker placement can hand sandboxes to. */
export interface FleetWorker extends Worker {
  /**
   * The worker is gone (it stopped heartbeating): fail its in-flight invokes
   * at once and resolve every sandbox's `exited`, without talking to it.
   */
  lose(reason: string): void;
}

/** How a worker joins the fleet. */
export interface WorkerRegistration {
  readonly worker: FleetWorker;
  readonly zone: string;
  readonly capacityMB: number;
  /**
   * True for a worker in another process: it must heartbeat, and is lost
   * when it has not for heartbeatTimeoutMs. An in-process worker lives as
   * long as placement does.
   */
  readonly heartbeats: boolean;
}

/** No worker has room for the sandbox; the worker manager may free some and retry. */
export class NoCapacityError extends Error {
  constructor(readonly memoryMB: number) {
    super(`no worker has room for a ${memoryMB} MB sandbox`);
    this.name = 'NoCapacityError';
  }
}

/** One worker as `kindling status` and /metrics show it. */
export interface WorkerStatus {
  readonly id: string;
  readonly zone: string;
  readonly capacityMB: number;
  readonly usedMB: number;
  /** Its live sandboxes. */
  readonly sandboxes: readonly { readonly id: string; readonly functionName: string }[];
  /** Milliseconds since its last heartbeat (0 for an in-process worker). */
  readonly heartbeatAgeMs: number;
  /** Its stem cells (Worker.stemCells). */
  readonly stemCells: StemCellStats | undefined;
}

export interface PlacementOptions {
  readonly clock: Clock;
  /** Default: concentrateAndPack. */
  readonly policy?: PlacementPolicy;
  /** A heartbeating worker silent for this long is lost. Default 3000 ms. */
  readonly heartbeatTimeoutMs?: number;
  /** Told when a worker is lost (for the log). */
  readonly onWorkerLost?: (workerId: string, reason: string) => void;
}

/** How many workers a sandbox creation tries when the chosen ones are unreachable. */
const CREATE_ATTEMPTS = 3;

interface Member {
  readonly reg: WorkerRegistration;
  usedMB: number;
  readonly byFunction: Map<string, number>;
  readonly sandboxes: Map<string, Sandbox>;
  lastHeartbeat: number;
}

/**
 * The Placement Service: worker membership (registration, heartbeats, loss)
 * and the choice of the worker that hosts each new sandbox.
 *
 * Memory is reserved on the chosen worker before the sandbox starts (so
 * concurrent cold starts never overcommit a worker) and given back when the
 * sandbox exits, whatever ends it. The choice itself is a PlacementPolicy.
 */
export class Placement {
  readonly #clock: Clock;
  readonly #policy: PlacementPolicy;
  readonly #timeoutMs: number;
  readonly #onLost: ((workerId: string, reason: string) => void) | undefined;
  readonly #members = new Map<string, Member>();
  #timer: Timer | undefined;
  #closed = false;

  constructor(options: PlacementOptions) {
    this.#clock = options.clock;
    this.#policy = options.policy ?? concentrateAndPack;
    this.#timeoutMs = options.heartbeatTimeoutMs ?? 3000;
    this.#onLost = options.onWorkerLost;
    this.#arm();
  }

  /** Adds a worker (a worker that registers again under its id replaces itself). */
  register(reg: WorkerRegistration): void {
    if (this.#closed) throw new Error('placement is closed');
    const previous = this.#members.get(reg.worker.id);
    if (previous) this.#lose(previous, 'it registered again');
    this.#members.set(reg.worker.id, { reg, usedMB: 0, byFunction: new Map(), sandboxes: new Map(), lastHeartbeat: this.#clock.now() });
  }

  /** Records a heartbeat; false when the worker is not (or no longer) a member. */
  heartbeat(workerId: string): boolean {
    const m = this.#members.get(workerId);
    if (!m) return false;
    m.lastHeartbeat = this.#clock.now();
    return true;
  }

  /** Takes a worker out of the fleet now (it failed): see FleetWorker.lose. */
  lose(workerId: string, reason: string): void {
    const m = this.#members.get(workerId);
    if (m) this.#lose(m, reason);
  }

  /**
   * Creates a sandbox for `spec` on the worker the policy chooses; when that
   * worker turns out to be unreachable, on the next choice (a few times).
   */
  async createSandbox(spec: FunctionVersionSpec): Promise<Sandbox> {
    for (let attempt = 1; ; attempt++) {
      try {
        return await this.#createOnce(spec);
      } catch (err) {
        if (!(err instanceof SandboxUnreachableError) || attempt >= CREATE_ATTEMPTS) throw err;
      }
    }
  }

  async #createOnce(spec: FunctionVersionSpec): Promise<Sandbox> {
    if (this.#closed) throw new Error('placement is closed');
    const views: WorkerView[] = [];
    for (const m of this.#members.values()) {
      views.push({ id: m.reg.worker.id, zone: m.reg.zone, capacityMB: m.reg.capacityMB, usedMB: m.usedMB, sandboxesByFunction: m.byFunction });
    }
    const chosen = this.#policy({ functionName: spec.functionName, memoryMB: spec.memorySize }, views);
    const member = chosen === undefined ? undefined : this.#members.get(chosen);
    if (!member) throw new NoCapacityError(spec.memorySize);

    const release = this.#reserve(member, spec);
    let sandbox: Sandbox;
    try {
      sandbox = await member.reg.worker.createSandbox(spec);
    } catch (err) {
      release();
      throw err;
    }
    member.sandboxes.set(sandbox.id, sandbox);
    void sandbox.exited.then(() => {
      member.sandboxes.delete(sandbox.id);
      release();
    });
    return sandbox;
  }

  /** The fleet now. */
  workers(): WorkerStatus[] {
    const now = this.#clock.now();
    return [...this.#members.values()].map((m) => ({
      id: m.reg.worker.id,
      zone: m.reg.zone,
      capacityMB: m.reg.capacityMB,
      usedMB: m.usedMB,
      sandboxes: [...m.sandboxes.values()].map((s) => ({ id: s.id, functionName: s.spec.functionName })),
      heartbeatAgeMs: m.reg.heartbeats ? now - m.lastHeartbeat : 0,
      stemCells: m.reg.worker.stemCells,
    }));
  }

  /** Closes every worker (their sandboxes stop) and stops watching heartbeats. */
  async close(): Promise<void> {
    this.#closed = true;
    if (this.#timer) this.#clock.clearTimeout(this.#timer);
    const members = [...this.#members.values()];
    this.#members.clear();
    await Promise.all(members.map((m) => m.reg.worker.close()));
  }

  /** Reserves the sandbox's memory on the member; the returned release is idempotent. */
  #reserve(member: Member, spec: FunctionVersionSpec): () => void {
    member.usedMB += spec.memorySize;
    member.byFunction.set(spec.functionName, (member.byFunction.get(spec.functionName) ?? 0) + 1);
    let released = false;
    return () => {
      if (released) return;
      released = true;
      member.usedMB -= spec.memorySize;
      const left = (member.byFunction.get(spec.functionName) ?? 1) - 1;
      if (left > 0) member.byFunction.set(spec.functionName, left);
      else member.byFunction.delete(spec.functionName);
    };
  }

  #lose(member: Member, reason: string): void {
    if (this.#members.get(member.reg.worker.id) === member) this.#members.delete(member.reg.worker.id);
    this.#onLost?.(member.reg.worker.id, reason);
    // Resolves the exits of its sandboxes: their memory is released above
    // and the worker manager forgets them.
    member.reg.worker.lose(reason);
  }

  /** Loses heartbeating workers that went silent; re-arms itself. */
  #sweep(): void {
    const cutoff = this.#clock.now() - this.#timeoutMs;
    for (const m of [...this.#members.values()]) {
      if (m.reg.heartbeats && m.lastHeartbeat < cutoff) this.#lose(m, `no heartbeat for ${this.#timeoutMs} ms`);
    }
    this.#arm();
  }

  #arm(): void {
    if (this.#closed) return;
    this.#timer = this.#clock.setTimeout(() => this.#sweep(), Math.max(50, Math.min(1000, this.#timeoutMs / 4)));
  }
}
