import { test } from 'node:test';
import assert from 'node:assert/strict';
import { concentrateAndPack, roundRobin } from './policy.js';
import type { WorkerView } from './policy.js';

function worker(id: string, zone: string, usedMB: number, functions: Record<string, number> = {}, capacityMB = 1024): WorkerView {
  return { id, zone, capacityMB, usedMB, sandboxesByFunction: new Map(Object.entries(functions)) };
}

const req = (functionName = 'f', memoryMB = 128) => ({ functionName, memoryMB });

test('never exceeds a worker capacity; none fits → undefined', () => {
  const workers = [worker('w1', 'a', 960), worker('w2', 'a', 896)];
  assert.equal(concentrateAndPack(req('f', 128), workers), 'w2');
  assert.equal(concentrateAndPack(req('f', 256), workers), undefined);
  assert.equal(roundRobin()(req('f', 256), workers), undefined);
});

test('packs by memory: a worker already in use beats an empty one, the fullest that fits first', () => {
  const workers = [worker('w1', 'a', 0), worker('w2', 'a', 256, { g: 2 }), worker('w3', 'a', 512, { h: 4 })];
  assert.equal(concentrateAndPack(req('f'), workers), 'w3');
  // w3 cannot fit 600 MB more; w2 can, and is in use: w1 stays empty.
  assert.equal(concentrateAndPack(req('f', 600), workers), 'w2');
});

test("spreads one function's sandboxes across zones, even onto an empty worker", () => {
  const workers = [worker('w1', 'a', 512, { f: 4 }), worker('w2', 'b', 0), worker('w3', 'b', 128, { g: 1 })];
  // Zone a holds f already; zone b does not: the fuller worker of zone b.
  assert.equal(concentrateAndPack(req('f'), workers), 'w3');
  // Another function has no sandbox anywhere: plain packing, the fullest.
  assert.equal(concentrateAndPack(req('other'), workers), 'w1');
});

test('mixes workloads: among equally full workers, the one with fewest sandboxes of this function', () => {
  const workers = [worker('w1', 'a', 512, { f: 4 }), worker('w2', 'a', 512, { g: 2, h: 2 })];
  assert.equal(concentrateAndPack(req('f'), workers), 'w2');
  assert.equal(concentrateAndPack(req('g'), workers), 'w1');
});

test('concentrates a stream of placements on few workers; round-robin spreads them over all', () => {
  const ids = ['w1', 'w2', 'w3', 'w4'];
  const used = new Map(ids.map((id) => [id, 0]));
  const rr = roundRobin();
  const rrUsed = new Map(ids.map((id) => [id, 0]));
  for (let i = 0; i < 8; i++) {
    const fn = `fn${i}`;
    const views = ids.map((id) => worker(id, 'a', used.get(id)!));
    const chosen = concentrateAndPack(req(fn), views)!;
    used.set(chosen, used.get(chosen)! + 128);
    const rrChosen = rr(req(fn), ids.map((id) => worker(id, 'a', rrUsed.get(id)!)))!;
    rrUsed.set(rrChosen, rrUsed.get(rrChosen)! + 128);
  }
  assert.deepEqual([...used.values()], [1024, 0, 0, 0]);
  assert.deepEqual([...rrUsed.values()], [256, 256, 256, 256]);
});

test('round-robin skips a full worker and is deterministic', () => {
  const rr = roundRobin();
  const workers = [worker('w1', 'a', 0), worker('w2', 'a', 1000), worker('w3', 'a', 0)];
  assert.deepEqual([rr(req(), workers), rr(req(), workers), rr(req(), workers)], ['w1', 'w3', 'w1']);
});
