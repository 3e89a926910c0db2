import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { ManualClock } from '../shared/clock.js';
import type { CellShape } from './sandbox-env.js';
import { StemCellPolicy, StemCellPool, stemCellBound } from './stem-cells.js';
import type { PoolCell } from './stem-cells.js';

const IDLE = 60_000;

function policy(maxCells: number, clock = new ManualClock()): { p: StemCellPolicy; clock: ManualClock } {
  return { p: new StemCellPolicy({ maxCells, idleMs: IDLE, clock }), clock };
}

const targets = (p: StemCellPolicy) => Object.fromEntries(p.targets());

describe('stemCellBound', () => {
  it('is one cell per 512 MB of worker capacity, at least 4 and at most 64', () => {
    assert.equal(stemCellBound(128), 4);
    assert.equal(stemCellBound(2048), 4);
    assert.equal(stemCellBound(2559), 4);
    assert.equal(stemCellBound(4096), 8);
    assert.equal(stemCellBound(5120), 10);
    assert.equal(stemCellBound(22_118), 43, "90% of this machine's 24 GiB");
    assert.equal(stemCellBound(32_768), 64);
    assert.equal(stemCellBound(1_048_576), 64);
    assert.throws(() => stemCellBound(Number.NaN), /capacityMB/);
  });
});

describe('StemCellPolicy', () => {
  it('grows a shape by one cell per cold start that found none, up to the bound', () => {
    const { p } = policy(3);
    assert.deepEqual(targets(p), {});
    p.record('a', false);
    assert.deepEqual(targets(p), { a: 1 });
    p.record('a', true);
    assert.deepEqual(targets(p), { a: 1 }, 'a hit: the pool was big enough');
    for (let i = 0; i < 5; i++) p.record('a', false);
    assert.deepEqual(targets(p), { a: 3 }, 'never above maxCells');
  });

  it('shrinks a shape nobody asked for by one cell per idle period, and forgets it at zero', () => {
    const { p, clock } = policy(4);
    for (let i = 0; i < 3; i++) p.record('a', false);
    clock.advance(IDLE - 1);
    assert.deepEqual(targets(p), { a: 3 });
    assert.equal(p.nextChange(), clock.now() + 1);
    clock.advance(1);
    assert.deepEqual(targets(p), { a: 2 });
    clock.advance(IDLE / 2);
    p.record('a', true); // asked for: the idle period starts again
    clock.advance(IDLE - 1);
    assert.deepEqual(targets(p), { a: 2 });
    clock.advance(1 + IDLE);
    assert.deepEqual(targets(p), {});
    assert.equal(p.nextChange(), undefined);
  });

  it('keeps a seeded shape at its floor however long it is idle', () => {
    const { p, clock } = policy(4);
    p.seed('default', 1);
    assert.deepEqual(targets(p), { default: 1 });
    p.record('default', false);
    assert.deepEqual(targets(p), { default: 2 });
    clock.advance(10 * IDLE);
    assert.deepEqual(targets(p), { default: 1 });
    assert.equal(p.nextChange(), undefined);
  });

  it('at the bound, moves a cell from the shape asked for least recently to the one that missed', () => {
    const { p, clock } = policy(2);
    p.record('old', false);
    clock.advance(1000);
    p.record('recent', false);
    clock.advance(1000);
    p.record('new', false);
    assert.deepEqual(targets(p), { recent: 1, new: 1 });
    clock.advance(1000);
    p.record('new', false);
    assert.deepEqual(targets(p), { new: 2 });
    p.record('new', false);
    assert.deepEqual(targets(p), { new: 2 }, 'no other shape to take from');
  });

  it('keeps no cell at all with maxCells 0', () => {
    const { p } = policy(0);
    p.seed('default', 1);
    p.record('a', false);
    assert.deepEqual(targets(p), {});
  });
});

/** A cell whose readiness and death the test decides. */
class FakeCell implements PoolCell {
  static made: FakeCell[] = [];
  readonly ready: Promise<void>;
  readonly exited: Promise<void>;
  destroyed = false;
  makeReady!: () => void;
  fail!: (err: Error) => void;
  #exit!: () => void;
  constructor(readonly shape: CellShape) {
    this.ready = new Promise((resolve, reject) => {
      this.makeReady = resolve;
      this.fail = reject;
    });
    this.ready.catch(() => undefined);
    this.exited = new Promise((r) => (this.#exit = r));
    FakeCell.made.push(this);
  }
  die(): void {
    this.fail(new Error('died'));
    this.#exit();
  }
  destroy(): Promise<void> {
    this.destroyed = true;
    this.#exit();
    return Promise.resolve();
  }
}

const shapeOf = (memorySize: number): CellShape => ({ key: `nodejs/${memorySize}/512`, family: 'nodejs', memorySize, ephemeralStorage: 512 });
const S128 = shapeOf(128);
const S512 = shapeOf(512);
const settle = () => new Promise((r) => setImmediate(r));

function pool(maxCells: number, start?: (shape: CellShape) => Promise<FakeCell>) {
  const clock = new ManualClock();
  const errors: unknown[] = [];
  const made: FakeCell[] = [];
  const p = new StemCellPool<FakeCell>({
    maxCells,
    idleMs: IDLE,
    clock,
    start:
      start ??
      ((shape) => {
        const c = new FakeCell(shape);
        made.push(c);
        return Promise.resolve(c);
      }),
    onError: (err) => errors.push(err),
  });
  return { p, clock, errors, made };
}

describe('StemCellPool', () => {
  it('starts the seeded cell, hands it out once, and grows after misses', async () => {
    const { p, made } = pool(4);
    p.seed(S128, 1);
    await settle();
    assert.equal(made.length, 1);
    assert.equal(p.take(S128), undefined, 'not ready yet: a miss');
    made[0]!.makeReady();
    await settle();
    const cell = p.take(S128);
    assert.equal(cell, made[0]);
    assert.equal(p.take(S128), undefined, 'a cell is handed out once');
    // The first miss grew the target to 2, so once the first cell was ready
    // the pool started the next one; taken cells are no longer counted.
    assert.equal(made.length, 2);
    assert.equal(p.size, 1);
    made[1]!.makeReady();
    await settle();
    // The second miss grew it to 3 waiting cells, started one at a time.
    assert.equal(made.length, 3);
    made[2]!.makeReady();
    await settle();
    assert.equal(made.length, 4);
    made[3]!.makeReady();
    await settle();
    p.refill();
    await settle();
    assert.equal(made.length, 4, 'at the target');
    assert.equal(p.readyCount(S128), 3);
    const a = p.take(S128);
    const b = p.take(S128);
    assert.ok(a && b && a !== b && a !== cell && b !== cell, 'two cold starts never share a cell');
    await p.close();
  });

  it('keeps cells per shape: a cell of one shape never serves another', async () => {
    const { p, made } = pool(4);
    p.take(S512); // a miss: the shape is wanted now
    p.refill();
    await settle();
    assert.equal(made.length, 1);
    assert.equal(made[0]!.shape, S512);
    made[0]!.makeReady();
    await settle();
    assert.equal(p.take(S128), undefined);
    assert.equal(p.take(S512), made[0]);
    await p.close();
  });

  it('destroys cells beyond the target once their shape has been idle', async () => {
    const { p, clock, made } = pool(4);
    for (let i = 0; i < 3; i++) p.take(S512);
    for (let i = 0; i < 3; i++) {
      p.refill();
      await settle();
      made.at(-1)!.makeReady();
      await settle();
    }
    assert.equal(p.readyCount(S512), 3);
    clock.advance(IDLE);
    await settle();
    assert.equal(p.readyCount(S512), 2);
    assert.deepEqual(
      made.map((c) => c.destroyed),
      [true, false, false],
      'the oldest goes',
    );
    clock.advance(2 * IDLE);
    await settle();
    assert.equal(p.readyCount(S512), 0);
    assert.equal(p.size, 0);
    await p.close();
  });

  it('waits before starting again after a failure, longer after each', async () => {
    let attempts = 0;
    const { p, clock, errors } = pool(2, () => {
      attempts++;
      return Promise.reject(new Error('no sandbox for you'));
    });
    p.seed(S128, 1);
    await settle();
    assert.equal(attempts, 1);
    assert.equal(errors.length, 1);
    p.refill();
    await settle();
    assert.equal(attempts, 1, 'no retry before the wait is over');
    clock.advance(1000);
    await settle();
    assert.equal(attempts, 2);
    clock.advance(1000);
    await settle();
    assert.equal(attempts, 2, 'the second wait is longer');
    clock.advance(1000);
    await settle();
    assert.equal(attempts, 3);
    await p.close();
  });

  it('replaces a cell that died while it waited', async () => {
    const { p, clock, made, errors } = pool(2);
    p.seed(S128, 1);
    await settle();
    made[0]!.makeReady();
    await settle();
    made[0]!.die();
    await settle();
    assert.equal(p.readyCount(S128), 0);
    assert.equal(errors.length, 1);
    clock.advance(1000);
    await settle();
    assert.equal(made.length, 2);
    made[1]!.makeReady();
    await settle();
    assert.equal(p.take(S128), made[1]);
    await p.close();
  });

  it('close() destroys ready cells and those still starting', async () => {
    const { p, made } = pool(2);
    p.seed(S128, 2);
    await settle();
    made[0]!.makeReady();
    await settle();
    assert.equal(made.length, 2, 'the second starts once the first is ready');
    const closing = p.close();
    made[1]!.makeReady();
    await closing;
    assert.deepEqual(
      made.map((c) => c.destroyed),
      [true, true],
    );
    assert.equal(p.take(S128), undefined);
    p.refill();
    await settle();
    assert.equal(made.length, 2, 'nothing starts after close');
  });
});
