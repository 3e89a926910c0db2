/**
 * What egress 'internet' costs a cold start, side by side with egress
 * 'none' in one run: the namespace backend through LocalWorker (as the
 * platform drives it; stem cells off, since 'internet' functions never take
 * one), a no-op nodejs function, create + first invoke, the two egresses
 * alternating so that both see the same machine. Also the memory of one
 * sandbox's NAT (slirp4netns's proportional set size), which the function's
 * MemorySize does not pay for. Root only.
 *
 *   npm run build && node dist/bench/egress.js [--count 40]
 */
import { randomUUID } from 'node:crypto';
import { chmodSync, mkdtempSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Egress } from '../src/shared/spec.js';
import { fakeSpec } from '../src/shared/testing.js';
import { LocalWorker } from '../src/worker/local-worker.js';
import { NamespaceBackend } from '../src/worker/sandbox/namespace.js';
import { percentile } from './load.js';

const argv = process.argv.slice(2);
const count = argv.includes('--count') ? Number(argv[argv.indexOf('--count') + 1]) : 40;

function pssKb(pid: number): number {
  try {
    const m = /^Pss:\s+(\d+) kB$/m.exec(readFileSync(`/proc/${pid}/smaps_rollup`, 'utf8'));
    return m ? Number(m[1]) : 0;
  } catch {
    return 0;
  }
}

/** This process's slirp4netns children. */
function nats(): number[] {
  return readdirSync('/proc')
    .filter((e) => /^\d+$/.test(e))
    .filter((e) => {
      try {
        const stat = readFileSync(`/proc/${e}/stat`, 'latin1');
        return stat.includes('(slirp4netns)') && Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]) === process.pid;
      } catch {
        return false;
      }
    })
    .map(Number);
}

const codeDir = mkdtempSync(join(tmpdir(), 'kindling-bench-egress-'));
chmodSync(codeDir, 0o755);
writeFileSync(join(codeDir, 'index.js'), 'exports.handler = async () => ({ ok: true });\n', { mode: 0o644 });
const backend = await NamespaceBackend.create({ root: `/run/kindling-bench-eg-${process.pid}`, cgroupName: `kindling-bench-eg-${process.pid}`, hostUids: { base: 1_970_000_000, count: 1000 } });
const worker = new LocalWorker({ backend, stemCells: 0 });
const times: Record<Egress, number[]> = { none: [], internet: [] };
let natKb = 0;
try {
  for (let i = 0; i < count * 2; i++) {
    const egress: Egress = i % 2 === 0 ? 'none' : 'internet';
    const spec = fakeSpec({ key: randomUUID(), functionName: 'fn', codeDir, egress });
    const t0 = performance.now();
    const sb = await worker.createSandbox(spec);
    const out = await sb.invoke({ requestId: randomUUID(), payload: Buffer.from('{}'), invokedFunctionArn: spec.functionArn, clientContext: undefined, wantLogs: false });
    times[egress].push(performance.now() - t0);
    if (out.payload.toString() !== '{"ok":true}') throw new Error(`invoke failed: ${out.payload.toString()}`);
    if (egress === 'internet' && natKb === 0) natKb = nats().reduce((kb, pid) => kb + pssKb(pid), 0);
    await sb.destroy();
  }
} finally {
  await worker.close();
  await backend.close();
  rmSync(codeDir, { recursive: true, force: true });
}
const sorted = (e: Egress) => Float64Array.from(times[e]).sort();
const row = (e: Egress) => `| ${e} | ${percentile(sorted(e), 50).toFixed(1)} ms | ${percentile(sorted(e), 99).toFixed(1)} ms |`;
console.log(`### Cold start by egress (namespace backend, no-op nodejs, create + first invoke, ${count} each, alternating)\n`);
console.log('| egress | p50 | p99 |\n|---|---|---|');
console.log(row('none'));
console.log(row('internet'));
console.log(`\n'internet' costs +${(percentile(sorted('internet'), 50) - percentile(sorted('none'), 50)).toFixed(1)} ms at p50; its NAT (slirp4netns) holds ${(natKb / 1024).toFixed(1)} MB PSS per sandbox.`);
