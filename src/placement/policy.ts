/**
 * Placement policies: which worker hosts a new sandbox.
 *
 * A policy is one pure function from the request and a snapshot of the fleet
 * to a worker id (or undefined when no worker can take it). Placement owns
 * the state; the policy only chooses, so each rule is tested on plain data.
 */

/** What placement knows of one worker when it chooses. */
export interface WorkerView {
  readonly id: string;
  readonly zone: string;
  readonly capacityMB: number;
  /** Memory of the sandboxes it hosts (each counts its function's MemorySize). */
  readonly usedMB: number;
  /** Live sandboxes per function name. */
  readonly sandboxesByFunction: ReadonlyMap<string, number>;
}

/** The sandbox to place. */
export interface PlacementRequest {
  readonly functionName: string;
  readonly memoryMB: number;
}

export type PlacementPolicy = (request: PlacementRequest, workers: readonly WorkerView[]) => string | undefined;

/**
 * Concentrate and pack, Lambda's utilization rule ("99% 99% 99% 0% 0% 0%,
 * not 60% everywhere"), in order of precedence:
 *
 * 1. Never exceed a worker's memory capacity.
 * 2. Spread one function's sandboxes across zones: prefer the zones holding
 *    the fewest of this function's sandboxes, so losing a zone loses the
 *    smallest share of its warm capacity.
 * 3. Pack by memory: prefer workers already in use, fullest first (best
 *    fit), so the fewest workers are busy and the rest stay empty.
 * 4. Mix workloads: among equally full workers, prefer the one holding the
 *    fewest sandboxes of this function, so one worker multiplexes many
 *    different functions whose peaks rarely coincide.
 *
 * Ties break on the worker id, so the choice is deterministic.
 */
export const concentrateAndPack: PlacementPolicy = (request, workers) => {
  const fits = workers.filter((w) => w.usedMB + request.memoryMB <= w.capacityMB);
  if (fits.length === 0) return undefined;

  const perZone = new Map<string, number>();
  for (const w of workers) {
    perZone.set(w.zone, (perZone.get(w.zone) ?? 0) + (w.sandboxesByFunction.get(request.functionName) ?? 0));
  }
  const zoneLoad = (w: WorkerView) => perZone.get(w.zone) ?? 0;
  const same = (w: WorkerView) => w.sandboxesByFunction.get(request.functionName) ?? 0;

  let best: WorkerView | undefined;
  for (const w of fits) {
    if (!best || better(w, best)) best = w;
  }
  return best?.id;

  function better(a: WorkerView, b: WorkerView): boolean {
    if (zoneLoad(a) !== zoneLoad(b)) return zoneLoad(a) < zoneLoad(b);
    const aInUse = a.usedMB > 0;
    const bInUse = b.usedMB > 0;
    if (aInUse !== bInUse) return aInUse;
    if (a.usedMB !== b.usedMB) return a.usedMB > b.usedMB;
    if (same(a) !== same(b)) return same(a) < same(b);
    return a.id < b.id;
  }
};

/**
 * Round-robin balancing: the classic load balancer, the baseline the
 * placement benchmark compares against. Each new sandbox goes to the next
 * worker in id order that has room; load spreads evenly over every worker.
 */
export function roundRobin(): PlacementPolicy {
  let last: string | undefined;
  return (request, workers) => {
    const ordered = [...workers].sort((a, b) => (a.id < b.id ? -1 : a.id > b.id ? 1 : 0));
    const start = last === undefined ? 0 : ordered.findIndex((w) => w.id > last!);
    for (let i = 0; i < ordered.length; i++) {
      const w = ordered[(Math.max(0, start) + i) % ordered.length]!;
      if (w.usedMB + request.memoryMB <= w.capacityMB) {
        last = w.id;
        return w.id;
      }
    }
    return undefined;
  };
}
