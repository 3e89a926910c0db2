import type { Clock, Timer } from '../shared/clock.js';
import { LambdaError } from '../shared/errors.js';
import type { FunctionVersionSpec } from '../shared/spec.js';
import type { Sandbox } from '../worker/types.js';
import { NoCapacityError } from '../placement/placement.js';

/**
 * What the worker manager needs to get a new sandbox (the cold path):
 * placement. It rejects with NoCapacityError when no worker has room.
 */
export interface SandboxProvider {
  createSandbox(spec: FunctionVersionSpec): Promise<Sandbox>;
}

/** What the worker manager needs from counting on the cold path: the per-function scaling rate. */
export interface ScalingLimiter {
  /** Takes one new-sandbox token for the function, or answers the throttle Reason. */
  tryStart(functionName: string): { readonly ok: true } | { readonly ok: false; readonly reason: string };
}

/** Which warm sandbox serves the next invoke. */
export type Routing = 'most-recently-used' | 'least-recently-used';

/** Counts the worker manager reports (for /metrics). */
export interface WorkerManagerEvents {
  onClaim?(functionName: string, cold: boolean): void;
}

/** A claimed sandbox and its release. */
export interface Claim {
  readonly sandbox: Sandbox;
  /** True when the sandbox was started for this claim (a cold start). */
  readonly cold: boolean;
  /**
   * Gives the sandbox back: to the idle pool when `reusable`, else it is
   * destroyed. Idempotent: only the first call counts.
   */
  release(reusable: boolean): void;
}

export interface WorkerManagerOptions {
  readonly provider: SandboxProvider;
  readonly clock: Clock;
  /** How long an idle sandbox stays warm before it is stopped. */
  readonly keepAliveMs: number;
  /**
   * A sandbox's lease: the longest it lives, however busy. When it ends the
   * sandbox is retired at its next idle moment and replaced on demand (as
   * Lambda recycles execution environments after some hours). Default 6 hours.
   */
  readonly maxLifetimeMs?: number;
  /**
   * most-recently-used (the default) concentrates load on few sandboxes so
   * the rest expire; least-recently-used spreads it evenly (the round-robin
   * baseline of the placement benchmark).
   */
  readonly routing?: Routing;
  /** Per-function scaling rate on the cold path. Default: unlimited. */
  readonly scaling?: ScalingLimiter;
  readonly events?: WorkerManagerEvents;
}

/** Lambda recycles execution environments after some hours; Kindling's default lease. */
export const DEFAULT_SANDBOX_LIFETIME_MS = 6 * 3600_000;

interface Idle {
  readonly sandbox: Sandbox;
  /** When it became idle. */
  readonly since: number;
  /** When its lease ends. */
  readonly expires: number;
}

/** The sandboxes of one spec.key: one function version with one code + configuration. */
interface Pool {
  readonly key: string;
  readonly functionName: string;
  readonly version: string;
  /** A stack: the most recently used sandbox is at the end and is claimed first. */
  readonly idle: Idle[];
  readonly busy: Set<Sandbox>;
  /** Sandboxes being created for this pool (cold starts in flight). */
  starting: number;
  retired: boolean;
}

/**
 * The Worker Manager: tracks idle and busy sandboxes per function version and
 * routes each invoke to a warm one.
 *
 * Most recently used first: the sandbox that finished last is claimed next,
 * so load concentrates on few sandboxes and the rest grow idle and expire
 * after the keep-alive (Lambda's "concentrate the load" rule).
 *
 * A pool is retired when its function changes (new code or configuration: a
 * new spec.key) or is deleted: its idle sandboxes stop at once, busy ones
 * when their invoke ends.
 */
export class WorkerManager {
  readonly #provider: SandboxProvider;
  readonly #clock: Clock;
  readonly #keepAliveMs: number;
  readonly #lifetimeMs: number;
  readonly #routing: Routing;
  readonly #scaling: ScalingLimiter | undefined;
  readonly #events: WorkerManagerEvents | undefined;
  readonly #pools = new Map<string, Pool>();
  /** When each live sandbox's lease ends. */
  readonly #expires = new WeakMap<Sandbox, number>();
  readonly #dead = new WeakSet<Sandbox>();
  readonly #stopping = new Set<Promise<void>>();
  #sweepTimer: Timer | undefined;
  #closed = false;

  constructor(options: WorkerManagerOptions) {
    this.#provider = options.provider;
    this.#clock = options.clock;
    this.#keepAliveMs = options.keepAliveMs;
    this.#lifetimeMs = options.maxLifetimeMs ?? DEFAULT_SANDBOX_LIFETIME_MS;
    this.#routing = options.routing ?? 'most-recently-used';
    this.#scaling = options.scaling;
    this.#events = options.events;
    this.#armSweep();
  }

  /** Claims a warm sandbox for `spec`, or starts a new one. */
  async claim(spec: FunctionVersionSpec): Promise<Claim> {
    if (this.#closed) throw new Error('worker manager is closed');
    const pool = this.#pool(spec);
    const now = this.#clock.now();
    for (;;) {
      const idle = this.#routing === 'most-recently-used' ? pool.idle.pop() : pool.idle.shift();
      if (!idle) break;
      if (idle.expires <= now) {
        this.#destroy(idle.sandbox);
        continue;
      }
      pool.busy.add(idle.sandbox);
      this.#events?.onClaim?.(spec.functionName, false);
      return this.#claimOf(pool, idle.sandbox, false);
    }
    const allowed = this.#scaling?.tryStart(spec.functionName);
    if (allowed && !allowed.ok) throw new LambdaError('TooManyRequestsException', 'Rate Exceeded.', { Reason: allowed.reason });
    pool.starting++;
    let sandbox: Sandbox;
    try {
      sandbox = await this.#create(spec);
    } finally {
      pool.starting--;
    }
    if (this.#closed) {
      this.#destroy(sandbox);
      throw new Error('worker manager is closed');
    }
    this.#expires.set(sandbox, this.#clock.now() + this.#lifetimeMs);
    void sandbox.exited.then(() => this.#forget(pool, sandbox));
    pool.busy.add(sandbox);
    this.#events?.onClaim?.(spec.functionName, true);
    return this.#claimOf(pool, sandbox, true);
  }

  /**
   * Asks placement for a sandbox. When no worker has room, the idle sandbox
   * unused for longest (of any function) is stopped to make some, and
   * placement is asked again; busy sandboxes are never taken.
   */
  async #create(spec: FunctionVersionSpec): Promise<Sandbox> {
    for (;;) {
      try {
        return await this.#provider.createSandbox(spec);
      } catch (err) {
        if (!(err instanceof NoCapacityError)) throw err;
        const victim = this.#oldestIdle();
        if (!victim) {
          throw new LambdaError('ServiceException', `No worker has room for a ${spec.memorySize} MB sandbox: every worker's memory is held by busy sandboxes. Try again later.`);
        }
        this.#destroy(victim);
        await victim.exited;
      }
    }
  }

  #oldestIdle(): Sandbox | undefined {
    let oldest: { pool: Pool; index: number; since: number } | undefined;
    for (const pool of this.#pools.values()) {
      pool.idle.forEach((e, index) => {
        if (!oldest || e.since < oldest.since) oldest = { pool, index, since: e.since };
      });
    }
    if (!oldest) return undefined;
    return oldest.pool.idle.splice(oldest.index, 1)[0]!.sandbox;
  }

  /**
   * Retires every sandbox of a function (after its code or configuration
   * changed, or it was deleted).
   */
  retireFunction(functionName: string): void {
    for (const pool of this.#pools.values()) {
      if (pool.functionName === functionName) this.#retire(pool);
    }
  }

  /** Whether each live sandbox (by id) is idle or busy, for status. */
  sandboxStates(): Map<string, 'idle' | 'busy'> {
    const out = new Map<string, 'idle' | 'busy'>();
    for (const pool of this.#pools.values()) {
      for (const { sandbox } of pool.idle) out.set(sandbox.id, 'idle');
      for (const sandbox of pool.busy) out.set(sandbox.id, 'busy');
    }
    return out;
  }

  /** Idle and busy sandboxes per function name, for status and tests. */
  counts(): Map<string, { idle: number; busy: number }> {
    const out = new Map<string, { idle: number; busy: number }>();
    for (const pool of this.#pools.values()) {
      const c = out.get(pool.functionName) ?? { idle: 0, busy: 0 };
      c.idle += pool.idle.length;
      c.busy += pool.busy.size;
      out.set(pool.functionName, c);
    }
    return out;
  }

  /** Stops every sandbox; later claims fail. */
  async close(): Promise<void> {
    this.#closed = true;
    if (this.#sweepTimer) this.#clock.clearTimeout(this.#sweepTimer);
    for (const pool of this.#pools.values()) {
      this.#retire(pool);
      for (const sandbox of pool.busy) this.#destroy(sandbox);
    }
    await Promise.all(this.#stopping);
  }

  #pool(spec: FunctionVersionSpec): Pool {
    let pool = this.#pools.get(spec.key);
    if (pool) return pool;
    // A new key for a function version means its code or configuration
    // changed: the sandboxes of the previous key must not serve again.
    for (const other of this.#pools.values()) {
      if (other.functionName === spec.functionName && other.version === spec.version) this.#retire(other);
    }
    pool = { key: spec.key, functionName: spec.functionName, version: spec.version, idle: [], busy: new Set(), starting: 0, retired: false };
    this.#pools.set(spec.key, pool);
    return pool;
  }

  #claimOf(pool: Pool, sandbox: Sandbox, cold: boolean): Claim {
    let released = false;
    return {
      sandbox,
      cold,
      release: (reusable: boolean) => {
        if (released) return;
        released = true;
        pool.busy.delete(sandbox);
        const now = this.#clock.now();
        const expires = this.#expires.get(sandbox) ?? now;
        if (reusable && expires > now && !pool.retired && !this.#closed && !this.#dead.has(sandbox)) {
          pool.idle.push({ sandbox, since: now, expires });
        } else {
          this.#destroy(sandbox);
        }
      },
    };
  }

  #retire(pool: Pool): void {
    pool.retired = true;
    if (this.#pools.get(pool.key) === pool) this.#pools.delete(pool.key);
    for (const { sandbox } of pool.idle.splice(0)) this.#destroy(sandbox);
  }

  /** A sandbox is gone (crash, kill, destroy): it must never be claimed again. */
  #forget(pool: Pool, sandbox: Sandbox): void {
    this.#dead.add(sandbox);
    const i = pool.idle.findIndex((e) => e.sandbox === sandbox);
    if (i >= 0) pool.idle.splice(i, 1);
  }

  #destroy(sandbox: Sandbox): void {
    const p = sandbox.destroy().catch(() => {
      // destroy() only fails if the process is already gone; nothing leaks.
    });
    this.#stopping.add(p);
    void p.finally(() => this.#stopping.delete(p));
  }

  /** Stops sandboxes idle for longer than the keep-alive or past their lease; re-arms itself. */
  #sweep(): void {
    const now = this.#clock.now();
    const cutoff = now - this.#keepAliveMs;
    for (const pool of this.#pools.values()) {
      // The stack is ordered by `since`: the oldest idle sandboxes are at the bottom.
      while (pool.idle.length > 0 && pool.idle[0]!.since <= cutoff) {
        this.#destroy(pool.idle.shift()!.sandbox);
      }
      for (let i = pool.idle.length - 1; i >= 0; i--) {
        if (pool.idle[i]!.expires <= now) this.#destroy(pool.idle.splice(i, 1)[0]!.sandbox);
      }
      if (pool.idle.length === 0 && pool.busy.size === 0 && pool.starting === 0) this.#pools.delete(pool.key);
    }
    this.#armSweep();
  }

  #armSweep(): void {
    if (this.#closed) return;
    this.#sweepTimer = this.#clock.setTimeout(() => this.#sweep(), Math.min(this.#keepAliveMs, 1000));
  }
}
