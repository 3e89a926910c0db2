/**
 * Stem cells: a small pool of started, code-less sandboxes per shape
 * (sandbox-env.ts CellShape: runtime family, MemorySize, EphemeralStorage),
 * so that a cold start only binds code and loads the handler.
 *
 * StemCellPolicy decides how many cells each shape should have; it is pure
 * bookkeeping on an injected clock. StemCellPool keeps that many started,
 * through a start function the worker gives it, one cell at a time in the
 * background. Both know nothing of sandboxes beyond PoolCell.
 */
import type { Clock, Timer } from '../shared/clock.js';
import type { CellShape } from './sandbox-env.js';

/** Default bound of a worker's stem cells when its capacity is not known (LocalWorkerOptions.stemCells). */
export const DEFAULT_STEM_CELLS = 4;
/** Memory of a worker's capacity per stem cell of its default bound (stemCellBound). */
export const CAPACITY_MB_PER_STEM_CELL = 512;
/** The default bound's range (stemCellBound). */
export const MIN_STEM_CELL_BOUND = 4;
export const MAX_STEM_CELL_BOUND = 64;

/**
 * The default bound of the stem cells of a worker offering `capacityMB` to
 * sandboxes: one per CAPACITY_MB_PER_STEM_CELL, within [MIN, MAX]
 * (4 at 2 GB and less, 64 from 32 GB on).
 *
 * Why it grows with the worker: a burst of cold starts beyond the pool runs
 * a runtime start each, which CPU bounds (32 node starts at once, without
 * any platform, manage about 54 a second on 2 cores: bench/RESULTS.md);
 * only cells started before the burst make sandboxes faster than that. The
 * bound is what a burst can find ready once the pool has learned it
 * (the policy grows a shape by one per miss). A bound of 4 on a worker
 * that holds a hundred sandboxes made every burst past the fourth sandbox
 * a cold start, however often it came back.
 *
 * What it costs: nothing until misses ask for cells (the worker seeds one);
 * a full pool holds one started runtime per 512 MB of capacity, about 12 MB
 * each for nodejs (bench "memory per idle sandbox", runtime column), so at
 * most ~2.5 % of the capacity, outside it (cells are not sandboxes and
 * reserve no MemorySize); the pool gives one back per minute unused.
 */
export function stemCellBound(capacityMB: number): number {
  if (!(capacityMB >= 0)) throw new Error('capacityMB must be >= 0');
  return Math.min(MAX_STEM_CELL_BOUND, Math.max(MIN_STEM_CELL_BOUND, Math.floor(capacityMB / CAPACITY_MB_PER_STEM_CELL)));
}

/** Default time after which a shape whose cells go untaken loses one. */
export const DEFAULT_STEM_CELL_IDLE_MS = 60_000;

/** Options of StemCellPolicy. */
export interface StemCellPolicyOptions {
  /** Most cells over all shapes. 0: none, ever. */
  readonly maxCells: number;
  /** A shape whose cells nobody asked for during this long loses one; then again after as long. */
  readonly idleMs: number;
  readonly clock: Clock;
}

interface ShapeDemand {
  /** Cells wanted. */
  target: number;
  /** Never shrunk below this (see seed). */
  floor: number;
  /** When the shape last lost a cell for idleness, or was last asked for. */
  since: number;
  /** When a cold start of the shape last asked for a cell. */
  lastAsked: number;
}

/**
 * How many cells each shape should have.
 *
 * - Grows on demand: every cold start that found no cell of its shape (a
 *   miss) adds one to that shape's target. A burst grows the pool as fast as
 *   it misses; a steady trickle of cold starts that the refill keeps up with
 *   leaves it as it is.
 * - Bounded: the targets never sum to more than maxCells. A miss of a shape
 *   when the bound is reached moves one cell from the shape asked for least
 *   recently (if that is another one).
 * - Shrinks when unused: a shape nobody asked for during idleMs loses one
 *   cell, and one more after every further idleMs, down to its floor; a
 *   shape at 0 is forgotten.
 */
export class StemCellPolicy {
  readonly #max: number;
  readonly #idleMs: number;
  readonly #clock: Clock;
  readonly #shapes = new Map<string, ShapeDemand>();

  constructor(options: StemCellPolicyOptions) {
    if (!(Number.isInteger(options.maxCells) && options.maxCells >= 0)) throw new Error('maxCells must be a whole number >= 0');
    if (!(options.idleMs > 0)) throw new Error('idleMs must be > 0');
    this.#max = options.maxCells;
    this.#idleMs = options.idleMs;
    this.#clock = options.clock;
  }

  /**
   * Keeps at least `count` cells of `shape` whatever the demand (within
   * maxCells): the worker's guess of its most common cold start, so that
   * even the first one finds a cell.
   */
  seed(shape: string, count: number): void {
    const s = this.#demand(shape, this.#clock.now());
    s.floor = Math.max(s.floor, count);
    while (s.target < s.floor && this.#total() < this.#max) s.target++;
    if (s.target === 0) this.#shapes.delete(shape);
  }

  /** A cold start of `shape` found a cell (hit) or none (miss). */
  record(shape: string, hit: boolean): void {
    const now = this.#clock.now();
    this.#shrink(now);
    const s = this.#demand(shape, now);
    s.lastAsked = now;
    s.since = now;
    if (!hit) this.#grow(shape, s);
    if (s.target === 0 && s.floor === 0) this.#shapes.delete(shape);
  }

  /** The number of cells each shape should have now; shapes not listed should have none. */
  targets(): ReadonlyMap<string, number> {
    this.#shrink(this.#clock.now());
    const out = new Map<string, number>();
    for (const [k, s] of this.#shapes) if (s.target > 0) out.set(k, s.target);
    return out;
  }

  /** When targets() next changes without a record() (a shape shrinking), or undefined. */
  nextChange(): number | undefined {
    let next: number | undefined;
    for (const s of this.#shapes.values()) {
      if (s.target <= s.floor) continue;
      const at = s.since + this.#idleMs;
      if (next === undefined || at < next) next = at;
    }
    return next;
  }

  #demand(shape: string, now: number): ShapeDemand {
    let s = this.#shapes.get(shape);
    if (s === undefined) {
      s = { target: 0, floor: 0, since: now, lastAsked: now };
      this.#shapes.set(shape, s);
    }
    return s;
  }

  #total(): number {
    let n = 0;
    for (const s of this.#shapes.values()) n += s.target;
    return n;
  }

  #grow(shape: string, s: ShapeDemand): void {
    if (this.#max === 0) return;
    if (this.#total() < this.#max) {
      s.target++;
      return;
    }
    // At the bound: the cell of the shape asked for least recently moves here.
    let victim: [string, ShapeDemand] | undefined;
    for (const entry of this.#shapes) {
      const [k, v] = entry;
      if (k === shape || v.target === 0) continue;
      if (victim === undefined || v.lastAsked < victim[1].lastAsked) victim = entry;
    }
    if (victim === undefined) return;
    victim[1].target--;
    if (victim[1].target === 0 && victim[1].floor === 0) this.#shapes.delete(victim[0]);
    s.target++;
  }

  #shrink(now: number): void {
    for (const [k, s] of this.#shapes) {
      while (s.target > s.floor && now - s.since >= this.#idleMs) {
        s.target--;
        s.since += this.#idleMs;
      }
      if (s.target === 0 && s.floor === 0) this.#shapes.delete(k);
    }
  }
}

/** What the pool needs of a cell. */
export interface PoolCell {
  /** Resolves once the cell's runtime waits for its assignment; rejects if the cell failed first. */
  readonly ready: Promise<void>;
  /** Resolves when the cell is gone, for whatever reason. */
  readonly exited: Promise<void>;
  /** Stops the cell and everything it started. Idempotent; never rejects. */
  destroy(): Promise<void>;
}

/** Options of StemCellPool. */
export interface StemCellPoolOptions<C extends PoolCell> {
  /** Most cells (started or starting) over all shapes. */
  readonly maxCells: number;
  /** See StemCellPolicyOptions.idleMs. Default DEFAULT_STEM_CELL_IDLE_MS. */
  readonly idleMs?: number;
  /**
   * Cells started at once. Default 1: a cell's start costs what a cold
   * start costs (a runtime's start, ~25 ms of CPU for node), and the pool
   * refills in the background, beside the invokes it is there to speed up.
   */
  readonly concurrency?: number;
  readonly clock: Clock;
  /** Starts one cell of `shape`; rejects when it could not. */
  readonly start: (shape: CellShape) => Promise<C>;
  /** A cell failed to start or died while waiting; the pool retries later. */
  readonly onError?: (err: unknown) => void;
}

/** First wait after a cell failed, doubled after every further failure. */
const RETRY_FIRST_MS = 1_000;
const RETRY_MAX_MS = 60_000;

/**
 * Keeps StemCellPolicy's number of cells started, per shape.
 *
 * A taken cell leaves the pool for good: it becomes its function's sandbox
 * and is destroyed with it, never given to another function. The pool does
 * not refill at once after a take: the worker calls refill() once the cold
 * start that took the cell (or missed) has finished its init, so that
 * starting the next cell does not compete with it for the CPU. refill() also
 * runs on the pool's own timer (a shape shrinking, a retry after a failure)
 * and whenever a cell becomes ready or dies.
 *
 * A cell that fails to start, or dies while it waits, makes the pool wait
 * before it starts another (1 s, doubling up to 60 s, reset by a success),
 * so a backend that cannot start cells costs nothing but a log line a minute.
 */
export class StemCellPool<C extends PoolCell> {
  readonly #policy: StemCellPolicy;
  readonly #clock: Clock;
  readonly #start: (shape: CellShape) => Promise<C>;
  readonly #onError: (err: unknown) => void;
  readonly #concurrency: number;
  readonly #shapes = new Map<string, CellShape>();
  /** Ready cells by shape key, oldest first. */
  readonly #ready = new Map<string, C[]>();
  /** Cells being started, by shape key. */
  readonly #starting = new Map<string, number>();
  #startingTotal = 0;
  /** Every start in flight, so close() can wait for it. */
  readonly #inflight = new Set<Promise<void>>();
  #failures = 0;
  #retryAt = 0;
  #timer: Timer | undefined;
  #timerAt = 0;
  #closed: Promise<void> | undefined;
  /** Most cells the pool keeps (StemCellPoolOptions.maxCells). */
  readonly maxCells: number;

  constructor(options: StemCellPoolOptions<C>) {
    this.maxCells = options.maxCells;
    this.#clock = options.clock;
    this.#policy = new StemCellPolicy({ maxCells: options.maxCells, idleMs: options.idleMs ?? DEFAULT_STEM_CELL_IDLE_MS, clock: options.clock });
    this.#start = options.start;
    this.#onError = options.onError ?? (() => undefined);
    this.#concurrency = Math.max(1, options.concurrency ?? 1);
  }

  /** Cells started or starting (taken ones are no longer the pool's). */
  get size(): number {
    let n = this.#startingTotal;
    for (const list of this.#ready.values()) n += list.length;
    return n;
  }

  /** Cells of `shape` ready to be taken. */
  readyCount(shape: CellShape): number {
    return this.#ready.get(shape.key)?.length ?? 0;
  }

  /** Keeps at least `count` cells of `shape` (StemCellPolicy.seed) and starts them. */
  seed(shape: CellShape, count: number): void {
    if (this.#closed) return;
    this.#shapes.set(shape.key, shape);
    this.#policy.seed(shape.key, count);
    this.refill();
  }

  /**
   * A ready cell of `shape`, now the caller's, or undefined (a miss, which
   * grows the shape's target). Records the demand either way; call refill()
   * once the cold start is under way.
   */
  take(shape: CellShape): C | undefined {
    if (this.#closed) return undefined;
    this.#shapes.set(shape.key, shape);
    const list = this.#ready.get(shape.key);
    const cell = list?.shift();
    if (list?.length === 0) this.#ready.delete(shape.key);
    this.#policy.record(shape.key, cell !== undefined);
    return cell;
  }

  /** Starts and stops cells to match the policy now. */
  refill(): void {
    if (this.#closed) return;
    const targets = this.#policy.targets();
    // Too many: the oldest ready cells go (cells still starting count too).
    for (const [key, list] of this.#ready) {
      const want = targets.get(key) ?? 0;
      while (list.length > 0 && list.length + (this.#starting.get(key) ?? 0) > want) void (list.shift() as C).destroy();
      if (list.length === 0) this.#ready.delete(key);
    }
    const now = this.#clock.now();
    if (now >= this.#retryAt) {
      for (const [key, want] of targets) {
        const shape = this.#shapes.get(key);
        if (shape === undefined) continue;
        while (this.#startingTotal < this.#concurrency && (this.#ready.get(key)?.length ?? 0) + (this.#starting.get(key) ?? 0) < want) this.#startOne(shape);
      }
    }
    this.#arm();
  }

  /** Destroys every cell, including those still starting, and stops refilling. */
  close(): Promise<void> {
    this.#closed ??= (async () => {
      if (this.#timer) this.#clock.clearTimeout(this.#timer);
      this.#timer = undefined;
      const ready = [...this.#ready.values()].flat();
      this.#ready.clear();
      await Promise.all([...ready.map((c) => c.destroy()), ...this.#inflight]);
    })();
    return this.#closed;
  }

  #startOne(shape: CellShape): void {
    const key = shape.key;
    this.#startingTotal++;
    this.#starting.set(key, (this.#starting.get(key) ?? 0) + 1);
    const run = (async () => {
      let cell: C | undefined;
      let ok = false;
      try {
        cell = await this.#start(shape);
        await cell.ready;
        ok = true;
      } catch (err) {
        this.#failed(err);
      } finally {
        this.#startingTotal--;
        const n = (this.#starting.get(key) ?? 1) - 1;
        if (n === 0) this.#starting.delete(key);
        else this.#starting.set(key, n);
      }
      if (cell === undefined) return;
      if (!ok || this.#closed) {
        await cell.destroy();
        return;
      }
      this.#failures = 0;
      const ready = cell;
      const list = this.#ready.get(key) ?? [];
      list.push(ready);
      this.#ready.set(key, list);
      void ready.exited.then(() => this.#gone(key, ready));
    })();
    this.#inflight.add(run);
    void run.finally(() => {
      this.#inflight.delete(run);
      this.refill();
    });
  }

  /** A cell left: taken (nothing to do) or died while waiting in the pool. */
  #gone(key: string, cell: C): void {
    const list = this.#ready.get(key);
    const at = list?.indexOf(cell) ?? -1;
    if (list === undefined || at < 0) return;
    list.splice(at, 1);
    if (list.length === 0) this.#ready.delete(key);
    if (this.#closed) return;
    this.#failed(new Error('a stem cell exited while it waited for a function'));
    this.refill();
  }

  #failed(err: unknown): void {
    this.#failures++;
    this.#retryAt = this.#clock.now() + Math.min(RETRY_MAX_MS, RETRY_FIRST_MS * 2 ** (this.#failures - 1));
    this.#onError(err);
  }

  /** One timer, at the policy's next change or the retry time, whichever is first and still to come. */
  #arm(): void {
    const now = this.#clock.now();
    const candidates = [this.#policy.nextChange(), this.#retryAt > now ? this.#retryAt : undefined].filter((t): t is number => t !== undefined);
    const at = candidates.length === 0 ? undefined : Math.min(...candidates);
    if (this.#timer && at === this.#timerAt) return;
    if (this.#timer) this.#clock.clearTimeout(this.#timer);
    this.#timer = undefined;
    if (at === undefined) return;
    this.#timerAt = at;
    this.#timer = this.#clock.setTimeout(() => {
      this.#timer = undefined;
      this.refill();
    }, Math.max(0, at - now));
  }
}
