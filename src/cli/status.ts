/**
 * `kindling status`: the fleet as a table — each worker's zone, memory in
 * use against its capacity, its sandboxes (idle, busy, per function) and
 * its stem cells (pooled out of its bound, and the cold starts that found
 * one or none).
 */
import type { FleetStatus } from '../placement/fleet-api.js';
import { STATUS_PATH } from '../placement/fleet-api.js';

export async function printStatus(endpoint: string, raw: boolean): Promise<void> {
  const res = await fetch(`${endpoint}${STATUS_PATH}`);
  if (!res.ok) throw new Error(`${endpoint} answered ${res.status} ${await res.text()}`);
  const status = (await res.json()) as FleetStatus;
  if (raw) {
    console.log(JSON.stringify(status, null, 2));
    return;
  }
  console.log(formatStatus(status));
}

/** The table `kindling status` prints. */
export function formatStatus(status: FleetStatus): string {
  const rows = [['WORKER', 'ZONE', 'MEMORY (MB)', 'UTIL', 'IDLE', 'BUSY', 'STEM CELLS', 'FUNCTIONS']];
  let used = 0;
  let capacity = 0;
  for (const w of status.workers) {
    used += w.usedMB;
    capacity += w.capacityMB;
    const fns = Object.entries(w.functions)
      .sort(([a], [b]) => a.localeCompare(b))
      .map(([name, n]) => `${name}×${n}`)
      .join(' ');
    const cells = w.stemCells ? `${w.stemCells.pooled}/${w.stemCells.bound} (${w.stemCells.hits} hits, ${w.stemCells.misses} misses)` : '-';
    rows.push([w.id, w.zone, `${w.usedMB}/${w.capacityMB}`, percent(w.usedMB, w.capacityMB), String(w.idle), String(w.busy), cells, fns || '-']);
  }
  const widths = rows[0]!.map((_, i) => Math.max(...rows.map((r) => r[i]!.length)));
  const lines = rows.map((r) => r.map((cell, i) => (i === r.length - 1 ? cell : cell.padEnd(widths[i]!))).join('  '));
  const inUse = status.workers.filter((w) => w.usedMB > 0).length;
  lines.push('', `${status.workers.length} workers (${inUse} in use), ${used}/${capacity} MB = ${percent(used, capacity)} of the fleet's memory`);
  return lines.join('\n');
}

function percent(part: number, whole: number): string {
  return whole > 0 ? `${((100 * part) / whole).toFixed(1)}%` : '-';
}
