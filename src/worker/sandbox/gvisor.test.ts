/**
 * The gvisor backend with real runsc, real cgroups and real processes,
 * driven through LocalWorker as the platform drives it. Skipped (with the
 * reason `kindling up` would print) where the host cannot run it.
 */
import assert from 'node:assert/strict';
import { existsSync, readFileSync, readdirSync, writeFileSync } from 'node:fs';
import { mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import type { FunctionVersionSpec } from '../../shared/spec.js';
import { LocalWorker } from '../local-worker.js';
import { PROBE_FN, WHOAMI_BOOTSTRAP, codeDirs, json, nodeFn, assertKilledPlatformReclaimed, parentCgroupDirs, stemCellReady, testRequest, testSpec } from '../testing.js';
import type { Sandbox, SandboxInvokeRequest } from '../types.js';
import { GvisorBackend, detectGvisorSupport } from './gvisor.js';

const support = detectGvisorSupport();
const skip = support.ok ? false : `gvisor sandbox unavailable: ${support.problem}`;

const codeDir = codeDirs('kindling-gv-test-');

/** A nodejs20.x function (512 MB, 20 s). */
const spec = (dir: string, overrides: Partial<FunctionVersionSpec> = {}): FunctionVersionSpec => testSpec(dir, { memorySize: 512, timeout: 20, ...overrides });

const req = (payload: unknown = {}): SandboxInvokeRequest => testRequest(JSON.stringify(payload), true);

/** Host pids of runsc's processes (run, gofer, sandbox) that name `text` on their command line. */
function runscProcesses(text: string): string[] {
  const out: string[] = [];
  for (const name of readdirSync('/proc')) {
    if (!/^\d+$/.test(name)) continue;
    try {
      if (/^State:\s+Z/m.test(readFileSync(`/proc/${name}/status`, 'latin1'))) continue;
      const cmd = readFileSync(`/proc/${name}/cmdline`, 'latin1').split('\0').join(' ');
      if (/runsc/.test(cmd) && cmd.includes(text)) out.push(`${name}: ${cmd.slice(0, 120)}`);
    } catch {
      // exited meanwhile
    }
  }
  return out;
}

describe('GvisorBackend through LocalWorker', { skip }, () => {
  const root = join('/run', `kindling-gvt-${process.pid}`);
  let backend: GvisorBackend;
  let worker: LocalWorker;
  const create = (s: FunctionVersionSpec): Promise<Sandbox> => worker.createSandbox(s);

  before(async () => {
    process.env['KINDLING_HOST_SECRET'] = 'must-not-leak';
    backend = await GvisorBackend.create({ root, cgroupName: `kindling-gvt-${process.pid}`, pidsMax: 256, ...(support.ok ? { support } : {}) });
    worker = new LocalWorker({ backend, stemCells: 0 });
  });
  after(async () => {
    await worker.close();
    await backend.close();
    delete process.env['KINDLING_HOST_SECRET'];
  });

  it('runs a nodejs function as uid 1051 under gVisor, with only Lambda environment', async () => {
    const sb = await create(
      spec(
        await codeDir(
          nodeFn(`return { uid: process.getuid(), gid: process.getgid(), user: os.userInfo().username, hostname: os.hostname(), cwd: process.cwd(),
        env: process.env, echo: event, kernel: fs.readFileSync('/proc/version', 'utf8'), hostRoot: fs.existsSync('/root'), shadow: fs.existsSync('/etc/shadow') };`),
        ),
      ),
    );
    const out = await sb.invoke(req({ hello: 'world' }));
    assert.equal(out.functionError, undefined, out.payload.toString());
    const body = json(out.payload);
    assert.deepEqual(body['echo'], { hello: 'world' });
    assert.equal(body['uid'], 1051);
    assert.equal(body['gid'], 1051);
    assert.equal(body['user'], 'sbx_user1051');
    assert.equal(body['hostname'], 'localhost');
    assert.equal(body['cwd'], '/var/task');
    // gVisor's own kernel answers, not the host's.
    assert.notEqual(body['kernel'], readFileSync('/proc/version', 'utf8'));
    assert.equal(body['hostRoot'], false);
    assert.equal(body['shadow'], false);
    const env = body['env'] as Record<string, string>;
    assert.equal(env['KINDLING_HOST_SECRET'], undefined);
    assert.equal(env['LAMBDA_TASK_ROOT'], '/var/task');
    assert.equal(env['AWS_LAMBDA_RUNTIME_API'], '127.0.0.1:9001');
    assert.equal(env['HOME'], undefined);
    assert.ok(out.maxMemoryUsedMB > 0 && out.maxMemoryUsedMB <= 512, String(out.maxMemoryUsedMB));
    const again = await sb.invoke(req({ n: 2 }));
    assert.deepEqual(json(again.payload)['echo'], { n: 2 });
  });

  it('runs a provided.al2023 bash + curl function through the 127.0.0.1:9001 forwarder', async () => {
    const sb = await create(spec(await codeDir({ bootstrap: WHOAMI_BOOTSTRAP }), { runtime: 'provided.al2023', handler: 'x' }));
    const r = req({ n: 1 });
    const first = await sb.invoke(r);
    assert.equal(first.payload.toString(), '{"uid":1051,"event":{"n":1}}');
    assert.match(first.logs ?? '', new RegExp(`handling ${r.requestId} as sbx_user1051`));
    const second = await sb.invoke(req({ n: 2 }));
    assert.equal(second.payload.toString(), '{"uid":1051,"event":{"n":2}}');
  });

  it('shows the function\'s layers read-only at /opt and runs a layer\'s /opt/bootstrap', async () => {
    const opt = await codeDir({ bootstrap: WHOAMI_BOOTSTRAP });
    await mkdir(join(opt, 'nodejs', 'node_modules', 'from-layer'), { recursive: true, mode: 0o755 });
    await writeFile(join(opt, 'nodejs', 'node_modules', 'from-layer', 'index.js'), "module.exports = 'layer module';");
    const layers = ['a'.repeat(64)];
    const node = await create(
      spec(await codeDir(nodeFn(`return { mod: require('from-layer'), write: attempt(() => fs.writeFileSync('/opt/x', 'x')).code ?? 'written' };`)), { optDir: opt, layers }),
    );
    const out = await node.invoke(req());
    assert.equal(out.functionError, undefined, `${out.payload.toString()}\n${out.logs ?? ''}`);
    const body = json(out.payload);
    assert.equal(body['mod'], 'layer module');
    assert.ok(body['write'] === 'EROFS' || body['write'] === 'EACCES', String(body['write']));
    const custom = await create(spec(await codeDir({ 'function.sh': 'x' }), { runtime: 'provided.al2023', handler: 'x', optDir: opt, layers }));
    assert.equal((await custom.invoke(req({ n: 1 }))).payload.toString(), '{"uid":1051,"event":{"n":1}}');
  });

  it('keeps the root read-only and /tmp writable up to EphemeralStorage', async () => {
    const sb = await create(
      spec(
        await codeDir(
          nodeFn(`
      const w = (p) => attempt(() => fs.writeFileSync(p, 'x')).code ?? 'written';
      const tmp = w('/tmp/ok');
      const big = attempt(() => { const fd = fs.openSync('/tmp/big', 'w'); const mb = Buffer.alloc(1 << 20, 1); for (let i = 0; i < 64; i++) fs.writeSync(fd, mb); fs.closeSync(fd); });
      return { root: w('/x'), task: w('/var/task/x'), runtime: w('/var/runtime/x'), etc: w('/etc/passwd'), usr: w('/usr/x'), opt: w('/opt/x'), tmp, big: big.code ?? 'written' };`),
        ),
        { ephemeralStorage: 16 },
      ),
    );
    const body = json((await sb.invoke(req())).payload);
    for (const k of ['root', 'task', 'runtime', 'etc', 'usr', 'opt']) {
      assert.ok(body[k] === 'EROFS' || body[k] === 'EACCES', `${k}: ${String(body[k])}`);
    }
    assert.equal(body['tmp'], 'written');
    assert.equal(body['big'], 'ENOSPC', '64 MB do not fit a 16 MB /tmp');
  });

  it('kills a function that uses more memory than MemorySize (Runtime.ExitError, signal: killed)', async () => {
    const sb = await create(
      spec(await codeDir(nodeFn(`const keep = []; for (let i = 0; i < 64; i++) keep.push(Buffer.alloc(8 << 20, i)); return keep.length;`)), { memorySize: 128 }),
    );
    const out = await sb.invoke(req());
    assert.equal(out.errorType, 'Runtime.ExitError', out.payload.toString());
    assert.match(String(json(out.payload)['errorMessage']), /Runtime exited with error: signal: killed/);
    assert.equal(out.reusable, false);
  });

  it('kills the whole sandbox when the OOM killer takes a process other than the Sentry (signal: killed, not a timeout)', async () => {
    // The gofer made the OOM killer's first choice: what the kernel may pick
    // by itself (a gofer, a ptrace stub), which leaves the Sentry stuck.
    const cgroupDirs = parentCgroupDirs(`kindling-gvt-${process.pid}`);
    const before = new Set(cgroupDirs.flatMap((d) => readdirSync(d)));
    const sb = await create(
      spec(await codeDir(nodeFn(`if (!event.hog) return 'ready'; const keep = []; for (let i = 0; i < 64; i++) keep.push(Buffer.alloc(8 << 20, i)); return keep.length;`)), { memorySize: 128 }),
    );
    assert.equal(json((await sb.invoke(req())).payload), 'ready');
    const dir = cgroupDirs.flatMap((d) => readdirSync(d, { withFileTypes: true }).filter((e) => e.isDirectory() && !before.has(e.name)).map((e) => join(d, e.name)))[0];
    assert.ok(dir, 'the new sandbox has a cgroup');
    const procs = readFileSync(join(dir, 'cgroup.procs'), 'utf8').split('\n').filter((l) => l !== '');
    const gofer = procs.find((pid) => readFileSync(`/proc/${pid}/cmdline`, 'latin1').includes('gofer'));
    assert.ok(gofer, `a gofer among ${procs.join(', ')}`);
    writeFileSync(`/proc/${gofer}/oom_score_adj`, '1000');
    const out = await sb.invoke(req({ hog: true }));
    assert.equal(out.errorType, 'Runtime.ExitError', out.payload.toString());
    assert.match(String(json(out.payload)['errorMessage']), /Runtime exited with error: signal: killed/);
  });

  it('leaves no runsc process, no state and no bundle behind after destroy', async () => {
    const sb = await create(
      spec(
        await codeDir(
          nodeFn(`cp.spawn('/bin/sh', ['-c', 'setsid sh -c "sleep 1000 & sleep 1000" & sleep 1000'], { detached: true, stdio: 'ignore' }).unref();
      await new Promise((r) => setTimeout(r, 200)); return 'spawned';`),
        ),
      ),
    );
    assert.equal((await sb.invoke(req())).payload.toString(), '"spawned"');
    assert.ok(runscProcesses(root).length >= 3, 'runsc run, its gofer and its sandbox are running');
    await worker.close();
    assert.deepEqual(runscProcesses(root), []);
    assert.deepEqual(readdirSync(join(root, 'state')), []);
    assert.deepEqual(readdirSync(join(root, 'sb')), []);
    worker = new LocalWorker({ backend, stemCells: 0 });
  });

  it('removes the root and cgroups of a platform killed with SIGKILL once its data directory is gone, and no other root', async () => {
    await assertKilledPlatformReclaimed({
      module: new URL('./gvisor.js', import.meta.url),
      className: 'GvisorBackend',
      rootPrefix: 'kindling-gv-',
      cgroupPrefix: `kindling-gvt-${process.pid}`,
      create: (root, cgroupName) => GvisorBackend.create({ root, cgroupName, ...(support.ok ? { support } : {}) }),
    });
  });

  it('removes its root on close', async () => {
    await worker.close();
    await backend.close();
    assert.equal(existsSync(root), false);
    assert.deepEqual(runscProcesses(root), []);
  });
});

describe('GvisorBackend stem cells through LocalWorker', { skip }, () => {
  const root = join('/run', `kindling-gvc-${process.pid}`);
  let backend: GvisorBackend;
  let cells: LocalWorker;
  let fresh: LocalWorker;

  before(async () => {
    backend = await GvisorBackend.create({ root, cgroupName: `kindling-gvc-${process.pid}`, pidsMax: 256, ...(support.ok ? { support } : {}) });
    assert.equal(backend.stemCellsUnavailable, undefined);
    cells = new LocalWorker({ backend, stemCells: 1 });
    fresh = new LocalWorker({ backend, stemCells: 0 });
  });
  after(async () => {
    await Promise.all([cells.close(), fresh.close()]);
    await backend.close();
  });

  it('gives a function from a cell exactly the sandbox one started for it has, its code read-only', async () => {
    const dir = await codeDir(PROBE_FN);
    const s = spec(dir, { memorySize: 128, environment: { MY_VAR: 'mine' } });
    await stemCellReady(cells, s, 60_000);
    const viaCell = await cells.createSandbox(s);
    assert.equal(cells.stemCells.hits, 1);
    const a = json((await viaCell.invoke(req({ n: 1 }))).payload);
    const b = json((await (await fresh.createSandbox(s)).invoke(req({ n: 1 }))).payload);
    const own = (v: string) => v.replace(/\[\$LATEST\][0-9a-f]{32}/g, '<stream>').replace(/Root=1-[^;]+;Parent=[0-9a-f]+/g, '<trace>');
    // Sorted: runsc passes a sandbox's environment on in an order of its own.
    const same = (p: Record<string, unknown>) => ({ ...p, env: (p['env'] as [string, string][]).map(([k, v]) => `${k}=${own(v)}`).sort(), environ: undefined });
    assert.deepEqual(same(a), same(b));
    assert.equal(a['uid'], 1051);
    assert.deepEqual(a['task'], ['index.js']);
    const write = await fresh.createSandbox(spec(await codeDir(nodeFn(`return attempt(() => fs.writeFileSync('/var/task/index.js', 'x')).code ?? 'written';`)), { memorySize: 128 }));
    assert.notEqual(json((await write.invoke(req())).payload), 'written');
    // The cell's copy of the code: a write through it would be a write to the code itself.
    const probe = nodeFn(`return [attempt(() => fs.writeFileSync('/var/task/index.js', 'x')).code ?? 'written', attempt(() => fs.writeFileSync('/var/task/new', 'x')).code ?? 'written'];`);
    const s2 = spec(await codeDir(probe), { memorySize: 128 });
    await stemCellReady(cells, s2, 60_000);
    const out = JSON.parse((await (await cells.createSandbox(s2)).invoke(req())).payload.toString()) as string[];
    assert.ok(out.every((c) => c === 'EROFS' || c === 'EACCES'), out.join(', '));
  });

  it('leaves no runsc process and no bundle behind once closed', async () => {
    await cells.close();
    await fresh.close();
    assert.deepEqual(runscProcesses(root), []);
    assert.deepEqual(readdirSync(join(root, 'sb')), []);
    await backend.close();
    assert.equal(existsSync(root), false);
  });
});
