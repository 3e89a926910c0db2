/**
 * The namespace backend with real bubblewrap, real cgroups and real
 * processes, driven through LocalWorker as the platform drives it. Skipped
 * (with the reason `kindling up` would print) where the host cannot run it.
 */
import assert from 'node:assert/strict';
import { existsSync, readFileSync, readdirSync } from 'node:fs';
import { chmod, mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import type { FunctionVersionSpec } from '../../shared/spec.js';
import { LocalWorker } from '../local-worker.js';
import { PROBE_FN, WHOAMI_BOOTSTRAP, codeDirs, json, nodeFn, assertKilledPlatformReclaimed, parentCgroupDirs, stemCellReady, testRequest, testSpec } from '../testing.js';
import type { Sandbox, SandboxInvokeRequest } from '../types.js';
import { detectNamespaceSupport, findExecutable } from './detect.js';
import { NamespaceBackend } from './namespace.js';
import { toSandboxExit } from './sandbox-root.js';

const support = detectNamespaceSupport(process.getuid?.() === 0 ? 1_051_000_000 : undefined);
const skip = support.ok ? false : `namespace sandbox unavailable: ${support.problem}`;

const codeDir = codeDirs('kindling-ns-test-');

/** A nodejs20.x function (256 MB, 10 s). */
const spec = (dir: string, overrides: Partial<FunctionVersionSpec> = {}): FunctionVersionSpec => testSpec(dir, { memorySize: 256, timeout: 10, ...overrides });

const req = (payload: unknown = {}): SandboxInvokeRequest => testRequest(JSON.stringify(payload), true);

/**
 * Host pids whose real uid is in [base, base + count), zombies excepted:
 * bwrap's pid 1 outlives its monitor by a moment and is then reaped by the
 * host's init (which, in some containers, never reaps).
 */
function processesOfUids(base: number, count: number): number[] {
  const out: number[] = [];
  for (const name of readdirSync('/proc')) {
    if (!/^\d+$/.test(name)) continue;
    try {
      const status = readFileSync(`/proc/${name}/status`, 'latin1');
      if (/^State:\s+Z/m.test(status)) continue;
      const m = /^Uid:\s+(\d+)/m.exec(status);
      const uid = m ? Number(m[1]) : -1;
      if (uid >= base && uid < base + count) out.push(Number(name));
    } catch {
      // exited meanwhile
    }
  }
  return out;
}

describe('toSandboxExit', () => {
  it('reads bwrap exit 128+N as signal N and keeps ordinary codes', () => {
    assert.deepEqual(toSandboxExit({ code: 137, signal: null }), { code: null, signal: 'SIGKILL' });
    assert.deepEqual(toSandboxExit({ code: 159, signal: null }), { code: null, signal: 'SIGSYS' });
    assert.deepEqual(toSandboxExit({ code: 3, signal: null }), { code: 3, signal: null });
    assert.deepEqual(toSandboxExit({ code: null, signal: 'SIGKILL' }), { code: null, signal: 'SIGKILL' });
  });
});

describe('NamespaceBackend through LocalWorker', { skip }, () => {
  const uidBase = 1_900_000_000 + (process.pid % 1000) * 1000;
  const cgroupName = `kindling-test-${process.pid}`;
  let backend: NamespaceBackend;
  let worker: LocalWorker;
  const create = (s: FunctionVersionSpec): Promise<Sandbox> => worker.createSandbox(s);

  before(async () => {
    process.env['KINDLING_HOST_SECRET'] = 'must-not-leak';
    backend = await NamespaceBackend.create({
      root: join('/run', `kindling-test-${process.pid}`),
      cgroupName,
      hostUids: { base: uidBase, count: 1000 },
      pidsMax: 128,
    });
    worker = new LocalWorker({ backend, stemCells: 0 });
  });
  after(async () => {
    await worker.close();
    await backend.close();
    delete process.env['KINDLING_HOST_SECRET'];
  });

  it('runs a nodejs function as uid 1051 in its own namespaces, with only Lambda environment', async () => {
    const sb = await create(
      spec(await codeDir(nodeFn(`return { uid: process.getuid(), gid: process.getgid(), hostname: os.hostname(), pid: process.pid, cwd: process.cwd(),
        env: process.env, user: os.userInfo().username, echo: event, runtimeDir: process.env.LAMBDA_RUNTIME_DIR };`))),
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
    assert.ok((body['pid'] as number) < 10, `pid ${String(body['pid'])} is from a fresh pid namespace`);
    const env = body['env'] as Record<string, string>;
    assert.equal(env['KINDLING_HOST_SECRET'], undefined);
    assert.equal(env['LAMBDA_TASK_ROOT'], '/var/task');
    assert.equal(env['AWS_LAMBDA_RUNTIME_API'], '127.0.0.1:9001');
    assert.deepEqual(Object.keys(env).filter((k) => k.startsWith('_KINDLING')), [], 'no Kindling-internal variable reaches the function');
    assert.equal(env['HOME'], undefined);
    assert.ok(out.maxMemoryUsedMB > 0 && out.maxMemoryUsedMB <= 256, String(out.maxMemoryUsedMB));
  });

  it('starts the runtime from its startup snapshot, seen read-only at /var/runtime-snapshots', async () => {
    const probe = nodeFn(`const args = fs.readFileSync('/proc/self/cmdline', 'utf8').split('\\0');
      const blob = args[args.indexOf('--snapshot-blob') + 1];
      return { blob, write: attempt(() => fs.writeFileSync(blob, 'x')).code ?? 'written', add: attempt(() => fs.writeFileSync('/var/runtime-snapshots/x', 'x')).code ?? 'written', execArgv: process.execArgv };`);
    await (await create(spec(await codeDir(probe)))).invoke(req({}));
    await worker.runtimeSnapshotsSettled();
    const out = await (await create(spec(await codeDir(probe)))).invoke(req({}));
    assert.equal(out.functionError, undefined, out.payload.toString());
    const body = json(out.payload);
    assert.match(String(body['blob']), /^\/var\/runtime-snapshots\/w-\d+-\w+\/[0-9a-f]+\.blob$/);
    assert.equal(body['write'], 'EROFS');
    assert.equal(body['add'], 'EROFS');
    assert.ok(!(body['execArgv'] as string[]).includes('--snapshot-blob'));
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

  it('keeps the root read-only, /tmp writable up to EphemeralStorage, and host files out of sight', async () => {
    const sb = await create(
      spec(
        await codeDir(
          nodeFn(`
      const w = (p) => attempt(() => fs.writeFileSync(p, 'x')).code ?? 'written';
      const tmp = w('/tmp/ok');
      const big = attempt(() => { const fd = fs.openSync('/tmp/big', 'w'); const mb = Buffer.alloc(1 << 20, 1); for (let i = 0; i < 64; i++) fs.writeSync(fd, mb); fs.closeSync(fd); });
      return {
        root: w('/x'), task: w('/var/task/x'), runtime: w('/var/runtime/x'), etc: w('/etc/passwd'), usr: w('/usr/x'), opt: w('/opt/x'),
        tmp, big: big.code ?? 'written',
        shadow: fs.existsSync('/etc/shadow'), passwd: fs.readFileSync('/etc/passwd', 'utf8').includes('sbx_user1051'),
        hostRoot: fs.existsSync('/root'), hostHome: fs.existsSync('/home'), proc1: fs.readFileSync('/proc/1/cmdline', 'utf8').split('\\0')[0],
      };`),
        ),
        { ephemeralStorage: 16 },
      ),
    );
    const out = await sb.invoke(req());
    const body = json(out.payload);
    for (const k of ['root', 'task', 'runtime', 'etc', 'usr', 'opt']) {
      assert.ok(body[k] === 'EROFS' || body[k] === 'EACCES', `${k}: ${String(body[k])}`);
    }
    assert.equal(body['tmp'], 'written');
    assert.equal(body['big'], 'ENOSPC', '64 MB do not fit a 16 MB /tmp');
    assert.equal(body['shadow'], false);
    assert.equal(body['passwd'], true);
    assert.equal(body['hostRoot'], false);
    assert.equal(body['hostHome'], false);
    assert.match(String(body['proc1']), /bwrap$/, "pid 1 is bwrap's reaper, not a host process");
  });

  it('kills a function that uses more memory than MemorySize (Runtime.ExitError, signal: killed)', async () => {
    const sb = await create(
      spec(await codeDir(nodeFn(`const keep = []; for (let i = 0; i < 64; i++) keep.push(Buffer.alloc(8 << 20, i)); return keep.length;`)), { memorySize: 128 }),
    );
    const out = await sb.invoke(req());
    assert.equal(out.errorType, 'Runtime.ExitError', out.payload.toString());
    assert.match(String(json(out.payload)['errorMessage']), /Runtime exited with error: signal: killed/);
    assert.equal(out.reusable, false);
    // The REPORT shows the peak of the killed sandbox: up to MemorySize.
    const reported = Number(/Max Memory Used: (\d+) MB/.exec(out.logs ?? '')?.[1]);
    assert.ok(reported >= 120 && reported <= 128, `Max Memory Used: ${reported} MB\n${out.logs ?? ''}`);
    assert.equal(out.maxMemoryUsedMB, reported);
  });

  it('runs init at full CPU and throttles invokes to the MemorySize share', async () => {
    // The same busy loop, in init and in the handler: the share of one CPU
    // it gets over 400 ms of wall time. 128 MB is 7.2% of a vCPU on Lambda,
    // but init is not throttled.
    const spin = `(() => { const t0 = Date.now(), c0 = process.cpuUsage(); while (Date.now() - t0 < 400); const c = process.cpuUsage(c0); return (c.user + c.system) / 1000 / (Date.now() - t0); })()`;
    const sb = await create(
      spec(await codeDir({ 'index.js': `const initShare = ${spin};\nexports.handler = async () => ({ initShare, invokeShare: ${spin} });` }), { memorySize: 128 }),
    );
    const out = await sb.invoke(req());
    assert.equal(out.functionError, undefined, out.payload.toString());
    const { initShare, invokeShare } = json(out.payload) as { initShare: number; invokeShare: number };
    assert.ok(invokeShare < 0.2, `invoke got ${invokeShare} of a CPU; 128 MB is 0.072`);
    assert.ok(initShare > 3 * invokeShare, `init got ${initShare} of a CPU, the invoke ${invokeShare}`);
  });

  it('runs functions whose code lies below a directory its sandbox uid cannot search', async () => {
    // A data directory such as /root/kindling/.kindling: 0700 on the way.
    const privateRoot = await codeDir({});
    await chmod(privateRoot, 0o700);
    const dir = join(privateRoot, 'code');
    await mkdir(dir, { mode: 0o755 });
    await writeFile(join(dir, 'index.js'), `exports.handler = async () => ({ entries: require('node:fs').readdirSync('/var/task'),
      fds: require('node:fs').readdirSync('/proc/self/fd').map((f) => { try { return require('node:fs').readlinkSync('/proc/self/fd/' + f); } catch { return ''; } }) });`);
    const sb = await create(spec(dir));
    const out = await sb.invoke(req());
    assert.equal(out.functionError, undefined, `${out.payload.toString()}\n${out.logs ?? ''}`);
    const body = json(out.payload) as { entries: string[]; fds: string[] };
    assert.deepEqual(body.entries, ['index.js']);
    assert.ok(!body.fds.some((l) => l.includes(privateRoot)), `no host directory is open in the sandbox: ${body.fds.join(', ')}`);
  });

  it('reaches code below a private directory through its code root, bound by the gates made ahead once learned', async () => {
    // A platform's task roots: <data dir, 0700>/tasks/<sha256>, 0755 below it.
    const privateRoot = await codeDir({});
    await chmod(privateRoot, 0o700);
    const tasks = join(privateRoot, 'tasks');
    const fn = async (name: string): Promise<string> => {
      const dir = join(tasks, name);
      await mkdir(dir, { recursive: true, mode: 0o755 });
      await chmod(tasks, 0o755);
      await writeFile(join(dir, 'index.js'), `exports.handler = async () => ({ name: ${JSON.stringify(name)}, entries: require('node:fs').readdirSync('/var/task') });`);
      return dir;
    };
    const [a, b] = [await fn('a'), await fn('b')];
    const before = backend.gatesMadeAtStart;
    for (const [dir, name] of [[a, 'a'], [b, 'b']] as const) {
      const out = await (await create(spec(dir))).invoke(req());
      assert.equal(out.functionError, undefined, `${out.payload.toString()}\n${out.logs ?? ''}`);
      assert.deepEqual(json(out.payload), { name, entries: ['index.js'] });
      // The next gate is made once the first invoke is answered (one turn later).
      await new Promise((resolve) => setImmediate(resolve));
      await backend.gateMadeAhead();
    }
    assert.equal(backend.gatesMadeAtStart, before + 1, 'the first start learned the root in a gate of its own; the second found it bound in the gate made ahead');
  });

  it('shows the function\'s layers read-only at /opt: modules from /opt/nodejs/node_modules, also from a private directory', async () => {
    const privateRoot = await codeDir({});
    await chmod(privateRoot, 0o700);
    const opt = join(privateRoot, 'opt');
    await mkdir(join(opt, 'nodejs', 'node_modules', 'from-layer'), { recursive: true, mode: 0o755 });
    await writeFile(join(opt, 'nodejs', 'node_modules', 'from-layer', 'index.js'), "module.exports = 'layer module';");
    const sb = await create(
      spec(
        await codeDir(
          nodeFn(`return { mod: require('from-layer'), write: attempt(() => fs.writeFileSync('/opt/x', 'x')).code ?? 'written',
            opt: fs.readdirSync('/opt'), nodePath: process.env.NODE_PATH,
            ro: fs.readFileSync('/proc/self/mountinfo', 'utf8').split('\\n').filter((l) => l.split(' ')[4] === '/opt').map((l) => l.split(' ')[5]) };`),
        ),
        { optDir: opt, layers: ['a'.repeat(64)] },
      ),
    );
    const out = await sb.invoke(req());
    assert.equal(out.functionError, undefined, `${out.payload.toString()}\n${out.logs ?? ''}`);
    const body = json(out.payload) as { mod: string; write: string; opt: string[]; nodePath: string; ro: string[] };
    assert.equal(body.mod, 'layer module');
    assert.equal(body.write, 'EROFS');
    assert.deepEqual(body.opt, ['nodejs']);
    assert.match(body.nodePath, /^\/opt\/nodejs\/node20\/node_modules:\/opt\/nodejs\/node_modules:/);
    assert.ok(body.ro.length > 0 && body.ro.every((o) => o.split(',').includes('ro')), `mount options of /opt: ${body.ro.join(' | ')}`);
  });

  it('runs a layer\'s /opt/bootstrap for a provided.al2023 function whose package has none', async () => {
    const opt = await codeDir({ bootstrap: WHOAMI_BOOTSTRAP });
    const sb = await create(spec(await codeDir({ 'function.sh': 'not a bootstrap' }), { runtime: 'provided.al2023', handler: 'x', optDir: opt, layers: ['a'.repeat(64)] }));
    const out = await sb.invoke(req({ n: 1 }));
    assert.equal(out.payload.toString(), '{"uid":1051,"event":{"n":1}}', out.logs ?? '');
  });

  it('without layers, a provided.al2023 package without bootstrap fails in Lambda words', async () => {
    const sb = await create(spec(await codeDir({ 'function.sh': 'x' }), { runtime: 'provided.al2023', handler: 'x' }));
    const out = await sb.invoke(req());
    assert.equal(out.functionError, 'Unhandled');
    assert.match(out.payload.toString(), /Couldn't find valid bootstrap\(s\): \[\/var\/task\/bootstrap \/opt\/bootstrap\]/);
  });

  it('reports Max Memory Used from the cgroup (the whole sandbox)', async () => {
    const sb = await create(
      spec(await codeDir(nodeFn(`globalThis.keep = Buffer.alloc(60 << 20, 7); return globalThis.keep.length;`)), { memorySize: 256 }),
    );
    const out = await sb.invoke(req());
    assert.equal(out.functionError, undefined, out.payload.toString());
    assert.ok(out.maxMemoryUsedMB >= 60 && out.maxMemoryUsedMB <= 256, String(out.maxMemoryUsedMB));
  });

  it('stops a fork bomb at pids.max and keeps serving', async () => {
    const sb = await create(
      spec(
        await codeDir(
          nodeFn(`
      const out = cp.spawnSync('/bin/sh', ['-c', 'n=0; while [ $n -lt 1000 ]; do sleep 60 & n=$((n+1)); done; echo $n'], { encoding: 'utf8', timeout: 8000 });
      const running = fs.readdirSync('/proc').filter((p) => /^\\d+$/.test(p)).length;
      return { running, stderr: out.stderr.slice(0, 200) };`),
        ),
      ),
    );
    const out = await sb.invoke(req());
    const body = json(out.payload);
    assert.ok((body['running'] as number) <= 128, `${String(body['running'])} processes: pids.max is 128 here`);
    assert.match(String(body['stderr']), /fork|Resource temporarily unavailable/i);
    await sb.destroy();
    const next = await create(spec(await codeDir(nodeFn('return "still serving";'))));
    assert.equal((await next.invoke(req())).payload.toString(), '"still serving"');
  });

  it('leaves no process behind after destroy, even setsid and double-forked ones', async () => {
    const sb = await create(
      spec(
        await codeDir(
          nodeFn(`
      cp.spawn('/bin/sh', ['-c', 'setsid sh -c "sleep 1000 & sleep 1000" & sleep 1000'], { detached: true, stdio: 'ignore' }).unref();
      await new Promise((r) => setTimeout(r, 200));
      return fs.readdirSync('/proc').filter((p) => /^\\d+$/.test(p)).length;`),
        ),
      ),
    );
    const out = await sb.invoke(req());
    assert.ok(Number(out.payload.toString()) >= 5, out.payload.toString());
    assert.ok(processesOfUids(uidBase, 1000).length >= 5, 'the sandbox runs as its own unprivileged host uid');
    // Every sandbox of the worker (this one and the earlier tests') goes.
    // What may remain is the backend's one gate for the next sandbox: a
    // shell waiting on its stdin, in its own cgroup.
    await worker.close();
    const isGate = (pid: number) => readFileSync(`/proc/${pid}/cmdline`, 'latin1').includes('kindling-gate');
    const left = processesOfUids(uidBase, 1000);
    assert.ok(left.length <= 1 && left.every(isGate), `left behind: ${left.map((p) => readFileSync(`/proc/${p}/cmdline`, 'latin1')).join(', ')}`);
    for (const d of parentCgroupDirs(cgroupName)) {
      const children = readdirSync(d, { withFileTypes: true }).filter((e) => e.isDirectory());
      assert.ok(children.length <= 1, `${d}: ${children.map((e) => e.name).join(', ')}`);
      for (const c of children) {
        const procs = readFileSync(join(d, c.name, 'cgroup.procs'), 'utf8').split('\n').filter((l) => l !== '').map(Number);
        assert.ok(procs.every(isGate), `${d}/${c.name} holds ${procs.join(', ')}`);
      }
      assert.equal(readFileSync(join(d, 'cgroup.procs'), 'utf8'), '');
    }
    worker = new LocalWorker({ backend, stemCells: 0 });
  });

  it('removes its parent cgroup on close', async () => {
    const other = await NamespaceBackend.create({ root: join('/run', `kindling-test2-${process.pid}`), cgroupName: `${cgroupName}-2`, ...(support.ok ? { support } : {}) });
    assert.ok(parentCgroupDirs(`${cgroupName}-2`).every((d) => existsSync(d)));
    await other.close();
    assert.ok(parentCgroupDirs(`${cgroupName}-2`).every((d) => !existsSync(d)));
  });

  it('removes the root and cgroups of a platform killed with SIGKILL once its data directory is gone, and no other root', async () => {
    await assertKilledPlatformReclaimed({
      module: new URL('./namespace.js', import.meta.url),
      className: 'NamespaceBackend',
      rootPrefix: 'kindling-',
      cgroupPrefix: `${cgroupName}`,
      create: (root, cgroupName) => NamespaceBackend.create({ root, cgroupName, ...(support.ok ? { support } : {}) }),
    });
  });

  it('leaves no process and no cgroup once the backend is closed', async () => {
    await worker.close();
    await backend.close();
    assert.deepEqual(processesOfUids(uidBase, 1000), []);
    assert.ok(parentCgroupDirs(cgroupName).every((d) => !existsSync(d)));
  });
});

// Both ways of making a cell's mounts (NamespaceBackendOptions.bindWith): perl's mount(2) calls, util-linux's mount.
for (const bindWith of ['perl', 'mount'] as const) {
describe(`NamespaceBackend stem cells through LocalWorker (bind with ${bindWith})`, {
  skip: skip || (process.getuid?.() !== 0 && 'stem cells of the namespace backend need root') || (bindWith === 'perl' && findExecutable('perl') === undefined && 'no perl here'),
}, () => {
  const uidBase = (bindWith === 'perl' ? 1_950_000_000 : 1_960_000_000) + (process.pid % 1000) * 1000;
  const cgroupName = `kindling-test-sc-${bindWith}-${process.pid}`;
  const root = join('/run', `kindling-test-sc-${bindWith}-${process.pid}`);
  let backend: NamespaceBackend;
  let cells: LocalWorker;
  let fresh: LocalWorker;

  before(async () => {
    backend = await NamespaceBackend.create({ root, cgroupName, bindWith, hostUids: { base: uidBase, count: 1000 }, ...(support.ok ? { support } : {}) });
    assert.equal(backend.stemCellsUnavailable, undefined);
    cells = new LocalWorker({ backend, stemCells: 3 });
    fresh = new LocalWorker({ backend, stemCells: 0 });
  });
  after(async () => {
    await Promise.all([cells.close(), fresh.close()]);
    await backend.close();
  });

  /** A sandbox made from a stem cell (waits for one to be ready first). */
  async function fromCell(s: FunctionVersionSpec): Promise<Sandbox> {
    await stemCellReady(cells, s);
    const hits = cells.stemCells.hits;
    const sb = await cells.createSandbox(s);
    assert.equal(cells.stemCells.hits, hits + 1, 'made from a cell');
    return sb;
  }

  it('gives a function from a cell exactly the sandbox one started for it has', async () => {
    const s = spec(await codeDir(PROBE_FN), { memorySize: 128, environment: { MY_VAR: 'mine', TZ: 'Asia/Tokyo' } });
    const a = json((await (await fromCell(s)).invoke(req({ n: 1 }))).payload);
    const b = json((await (await fresh.createSandbox(s)).invoke(req({ n: 1 }))).payload);
    const own = (v: string) => v.replace(/\[\$LATEST\][0-9a-f]{32}/g, '<stream>').replace(/Root=1-[^;]+;Parent=[0-9a-f]+/g, '<trace>');
    const same = (p: Record<string, unknown>) => ({
      ...p,
      env: (p['env'] as [string, string][]).map(([k, v]) => [k, own(v)]),
      environ: (p['environ'] as string[]).map(own),
    });
    assert.deepEqual(same(a), same(b), 'environment (and its order), /proc/self/environ, cwd, /var/task, flags, module paths, globals, uid');
    const env = a['env'] as [string, string][];
    assert.deepEqual(a['environ'], env.filter(([k]) => k !== '_X_AMZN_TRACE_ID').map(([k, v]) => `${k}=${v}`), '/proc/self/environ shows the function\'s environment');
    assert.ok(!a['environ'].some((l) => l.startsWith('_KINDLING')), 'no Kindling-internal variable, not even in /proc/self/environ');
    assert.equal(a['uid'], 1051);
    assert.equal(a['cwd'], '/var/task');
    assert.deepEqual(a['task'], ['index.js']);
  });

  it('shows the code read-only and nothing of any other function', async () => {
    const other = await codeDir({ 'secret.js': 'the other function' });
    await fromCell(spec(other, { memorySize: 128 })).then((sb) => sb.invoke(req()));
    const s = spec(
      await codeDir(
        nodeFn(`
      const w = (p) => attempt(() => fs.writeFileSync(p, 'x')).code ?? 'written';
      const mine = fs.readFileSync('/proc/self/mountinfo', 'utf8').split('\\n').filter((l) => l.split(' ')[4] === '/var/task');
      return { task: fs.readdirSync('/var/task').sort(), write: w('/var/task/index.js'), create: w('/var/task/new'),
        remount: cp.spawnSync('/bin/mount', ['-o', 'remount,rw', '/var/task'], { encoding: 'utf8' }).status,
        mounts: mine.map((l) => l.split(' ')[5]) };`),
      ),
      { memorySize: 128 },
    );
    const body = json((await (await fromCell(s)).invoke(req())).payload);
    assert.deepEqual(body['task'], ['index.js']);
    assert.ok(['EROFS', 'EACCES'].includes(String(body['write'])), String(body['write']));
    assert.ok(['EROFS', 'EACCES'].includes(String(body['create'])), String(body['create']));
    assert.notEqual(body['remount'], 0);
    for (const options of body['mounts'] as string[]) assert.match(options, /^ro(,|$)/, `every mount at /var/task is read-only: ${options}`);
  });

  it('enforces MemorySize on a function from a cell (Runtime.ExitError, signal: killed)', async () => {
    const sb = await fromCell(
      spec(await codeDir(nodeFn(`const keep = []; for (let i = 0; i < 64; i++) keep.push(Buffer.alloc(8 << 20, i)); return keep.length;`)), { memorySize: 128 }),
    );
    const out = await sb.invoke(req());
    assert.equal(out.errorType, 'Runtime.ExitError', out.payload.toString());
    assert.match(String(json(out.payload)['errorMessage']), /signal: killed/);
    const reported = Number(/Max Memory Used: (\d+) MB/.exec(out.logs ?? '')?.[1]);
    assert.ok(reported >= 120 && reported <= 128, `Max Memory Used: ${reported} MB`);
  });

  it('throttles invokes of a function from a cell to its MemorySize share, after an unthrottled init', async () => {
    const spin = `(() => { const t0 = Date.now(), c0 = process.cpuUsage(); while (Date.now() - t0 < 400); const c = process.cpuUsage(c0); return (c.user + c.system) / 1000 / (Date.now() - t0); })()`;
    const sb = await fromCell(spec(await codeDir({ 'index.js': `const initShare = ${spin};\nexports.handler = async () => ({ initShare, invokeShare: ${spin} });` }), { memorySize: 128 }));
    const out = await sb.invoke(req());
    const { initShare, invokeShare } = json(out.payload) as { initShare: number; invokeShare: number };
    assert.ok(invokeShare < 0.2, `invoke got ${invokeShare} of a CPU; 128 MB is 0.072`);
    assert.ok(initShare > 3 * invokeShare, `init got ${initShare} of a CPU, the invoke ${invokeShare}`);
  });

  it('binds code that lies below a directory the sandbox uid cannot search', async () => {
    const privateRoot = await codeDir({});
    await chmod(privateRoot, 0o700);
    const dir = join(privateRoot, 'code');
    await mkdir(dir, { mode: 0o755 });
    await writeFile(join(dir, 'index.js'), `exports.handler = async () => require('node:fs').readdirSync('/var/task');`);
    const out = await (await fromCell(spec(dir, { memorySize: 128 }))).invoke(req());
    assert.equal(out.payload.toString(), '["index.js"]');
  });

  it('leaves no process, cgroup or mount behind once closed', async () => {
    await stemCellReady(cells, spec(await codeDir(PROBE_FN), { memorySize: 128 }));
    assert.ok(processesOfUids(uidBase, 1000).length > 0, 'cells run as their own host uids');
    await cells.close();
    await fresh.close();
    await backend.close();
    assert.deepEqual(processesOfUids(uidBase, 1000), []);
    assert.ok(parentCgroupDirs(cgroupName).every((d) => !existsSync(d)));
    assert.ok(!readFileSync('/proc/self/mountinfo', 'utf8').includes(root), 'the host\'s mount table never held a cell\'s mount');
  });
});
}
