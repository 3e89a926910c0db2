/**
 * The escape suite: functions that try to break out of their sandbox, each
 * in a test that asserts the attempt fails and the platform keeps serving.
 * Runs for every isolating backend that can run on this machine; one that
 * cannot is reported as skipped with the reason `kindling up` gave. (The
 * `process` backend isolates nothing by design and is not tested here.)
 */
import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { createServer, type Server } from 'node:net';
import { readdirSync, rmSync } from 'node:fs';
import { networkInterfaces } from 'node:os';
import { InvokeCommand } from '@aws-sdk/client-lambda';
import { deploy, json, launchKindling, type Kindling } from '../e2e/harness.js';
import { startFakeInternet } from './fake-internet.js';

/** The probe every hostile function runs: `attempt` is the body of an async function(event) returning a result object. */
function hostile(attempt: string): Record<string, string> {
  return {
    'index.js': `
const fs = require('node:fs');
const net = require('node:net');
const cp = require('node:child_process');
const outcome = (fn) => { try { return { ok: true, value: fn() }; } catch (e) { return { ok: false, code: e.code ?? null, message: String(e.message) }; } };
exports.handler = async (event) => { ${attempt} };`,
  };
}

const backends = ['namespace', 'gvisor'] as const;

/**
 * For functions that start processes: under gVisor a fork and exec cost the
 * Sentry enough CPU that, at 128 MB (0.072 of a vCPU, Lambda's share), one
 * spawnSync took 3-5 s on a host where it had taken well under 3 s.
 */
const SPAWNS = { Timeout: 30 } as const;

for (const backend of backends) {
  let kindling: Kindling | undefined;
  let skip: string | false = false;
  try {
    kindling = await launchKindling({ args: ['--sandbox', backend, '--keep-alive', '60'] });
  } catch (err) {
    // `kindling up` refused the backend with its one-line reason.
    const lines = String((err as Error).message).split('\n').filter((l) => l.startsWith('kindling:'));
    skip = `${backend} sandbox unavailable here: ${lines.at(-1) ?? (err as Error).message}`;
  }

  describe(`escape attempts, ${backend} backend`, { skip }, () => {
    const k = kindling!;
    let hostService: Server;
    let hostPort = 0;
    let otherCodeDir = '';

    const invoke = async (name: string, event: unknown = {}) => {
      const res = await k.client.send(new InvokeCommand({ FunctionName: name, Payload: Buffer.from(JSON.stringify(event)) }));
      return { error: res.FunctionError, body: json(res.Payload) as Record<string, unknown> };
    };
    /** After every attempt the platform still serves an ordinary function. */
    const stillServes = async () => assert.deepEqual((await invoke('healthy')).body, { ok: true });

    before(async () => {
      hostService = createServer((s) => s.end('secret from the host\n'));
      await new Promise<void>((r) => hostService.listen(0, '127.0.0.1', () => r()));
      hostPort = (hostService.address() as { port: number }).port;
      await deploy(k.client, 'healthy', { 'index.js': 'exports.handler = async () => ({ ok: true });' });
      await deploy(k.client, 'victim', { 'index.js': 'exports.handler = async () => "the victim\'s secret code";' });
      await invoke('victim');
      otherCodeDir = `${k.dataDir}/tasks/${readdirSync(`${k.dataDir}/tasks`)[0]}`;
    });

    after(async () => {
      hostService.close();
      k.client.destroy();
      await k.stop();
      rmSync(k.dataDir, { recursive: true, force: true });
    });

    it('runs as an unprivileged user with no capabilities', async () => {
      await deploy(k.client, 'whoami', hostile(`return {
        uid: process.getuid(), gid: process.getgid(), status: fs.readFileSync('/proc/self/status', 'utf8'),
        dump: cp.spawnSync('/usr/bin/setpriv', ['--dump'], { encoding: 'utf8' }).stdout ?? '',
      };`), SPAWNS);
      const { body } = await invoke('whoami');
      assert.equal(body.uid, 1051);
      assert.match(String(body.status), /^CapEff:\s+0+$/m);
      // no_new_privs as the kernel answers prctl(PR_GET_NO_NEW_PRIVS) —
      // Linux's or gVisor's. gVisor's /proc/<pid>/status has no NoNewPrivs
      // line, so the line is checked only where the kernel prints it.
      assert.match(String(body.dump), /^no_new_privs:\s+1$/m);
      if (/^NoNewPrivs:/m.test(String(body.status))) assert.match(String(body.status), /^NoNewPrivs:\s+1$/m);
    });

    it('cannot read the host\'s /etc/shadow, the platform\'s data dir, or another function\'s code', async () => {
      await deploy(k.client, 'reader', hostile(`return Object.fromEntries(event.paths.map((p) => [p, outcome(() => fs.readFileSync(p, 'utf8').slice(0, 100))]));`));
      const paths = ['/etc/shadow', `${k.dataDir}/kindling.db`, `${otherCodeDir}/index.js`, '/root/.bashrc'];
      const { body } = await invoke('reader', { paths });
      for (const p of paths) assert.equal((body[p] as { ok: boolean }).ok, false, `read ${p}`);
      await stillServes();
    });

    it('cannot see or signal the host\'s or other sandboxes\' processes', async () => {
      await deploy(k.client, 'pids', hostile(`
        const pids = fs.readdirSync('/proc').filter((d) => /^\\d+$/.test(d)).map(Number);
        return { pids, kill: outcome(() => process.kill(event.target, 'SIGKILL')) };`));
      const { body } = await invoke('pids', { target: k.process.pid });
      assert.ok((body.pids as number[]).length < 10, `sees ${(body.pids as number[]).length} processes`);
      assert.ok(!(body.pids as number[]).includes(k.process.pid!), 'sees the platform');
      assert.equal((body.kill as { ok: boolean }).ok, false);
      await stillServes();
    });

    it('cannot write anywhere but /tmp', async () => {
      await deploy(k.client, 'writer', hostile(`return Object.fromEntries(['/var/task/x', '/var/runtime/x', '/usr/x', '/x', '/etc/x', '/opt/x', '/tmp/x'].map((p) => [p, outcome(() => fs.writeFileSync(p, 'x'))]));`));
      const { body } = await invoke('writer');
      for (const [p, r] of Object.entries(body)) assert.equal((r as { ok: boolean }).ok, p === '/tmp/x', `write ${p}`);
      await stillServes();
    });

    it('cannot fill /tmp past its EphemeralStorage size', async () => {
      await deploy(k.client, 'filler', hostile(`
        const chunk = Buffer.alloc(8 << 20, 1); let written = 0; let error = null;
        try { const fd = fs.openSync('/tmp/fill', 'w'); for (;;) { fs.writeSync(fd, chunk); written += chunk.length; if (written > (1 << 30)) break; } } catch (e) { error = e.code; }
        fs.rmSync('/tmp/fill', { force: true });
        return { written, error };`), { MemorySize: 1024, Timeout: 60, EphemeralStorage: { Size: 512 } });
      const { body } = await invoke('filler');
      assert.equal(body.error, 'ENOSPC');
      assert.ok((body.written as number) <= 512 * 1024 * 1024, `wrote ${String(body.written)} bytes`);
      await stillServes();
    });

    it('is killed when it allocates past MemorySize, and the next invoke works', async () => {
      await deploy(k.client, 'hog', hostile(`
        if (event.hog) { const keep = []; for (;;) keep.push(Buffer.alloc(16 << 20, 1)); }
        return 'fine';`), { MemorySize: 128, Timeout: 30 });
      const res = await invoke('hog', { hog: true });
      assert.equal(res.error, 'Unhandled');
      assert.equal(res.body.errorType, 'Runtime.ExitError');
      assert.match(String(res.body.errorMessage), /Runtime exited with error: signal: killed/);
      assert.equal((await invoke('hog')).body, 'fine');
      await stillServes();
    });

    it('a fork bomb is contained and the platform keeps serving', async () => {
      await deploy(k.client, 'bomb', hostile(`
        const r = outcome(() => cp.execFileSync('/bin/sh', ['-c', 'b() { b | b & }; b; sleep 2'], { timeout: 4000 }));
        return { done: true };`), { Timeout: 8 });
      const bomb = await invoke('bomb');
      // Contained means refused (fork fails with EAGAIN and the function goes
      // on), timed out, or killed at MemorySize — never the sandbox itself
      // breaking (gVisor's Sentry, starved of host threads, exits 2).
      assert.ok(
        bomb.error === undefined || bomb.body.errorType === 'Sandbox.Timedout' || /signal: killed/.test(String(bomb.body.errorMessage)),
        `the fork bomb ended the sandbox otherwise: ${JSON.stringify(bomb.body)}`,
      );
      await stillServes();
    });

    it('a function spinning every CPU does not stop others from answering', async () => {
      await deploy(k.client, 'spinner', hostile(`
        const { Worker } = require('node:worker_threads');
        for (let i = 0; i < 4; i++) new Worker('for(;;){}', { eval: true });
        const end = Date.now() + event.ms; while (Date.now() < end) {}
        return 'spun';`), { Timeout: 10, MemorySize: 512 });
      const spinning = invoke('spinner', { ms: 3000 });
      await new Promise((r) => setTimeout(r, 300));
      await stillServes();
      await spinning;
    });

    it('cannot reach the platform\'s API port or the host\'s loopback services', async () => {
      await deploy(k.client, 'netprobe', hostile(`
        const tryConnect = (port) => new Promise((resolve) => {
          const s = net.connect({ host: '127.0.0.1', port, timeout: 2000 });
          s.on('connect', () => { s.destroy(); resolve('connected'); });
          s.on('timeout', () => { s.destroy(); resolve('timeout'); });
          s.on('error', (e) => resolve(e.code));
        });
        return { api: await tryConnect(event.api), host: await tryConnect(event.host) };`), { Timeout: 10 });
      const { body } = await invoke('netprobe', { api: Number(new URL(k.url).port), host: hostPort });
      assert.notEqual(body.api, 'connected');
      assert.notEqual(body.host, 'connected');
      await stillServes();
    });

    // A function's egress is 'none' unless it says otherwise (test/isolation/egress.test.ts tests 'internet').
    const noFakeInternet = process.getuid?.() === 0 ? false : 'needs root (builds a fake internet with ip netns)';
    it('with the default egress, reaches no network: not the internet, the host\'s addresses, its subnets or metadata', { skip: noFakeInternet }, async () => {
      const fake = await startFakeInternet();
      const hostAll = createServer((c) => c.end('host service\n'));
      try {
        await new Promise<void>((r) => hostAll.listen(0, '0.0.0.0', () => r()));
        const port = (hostAll.address() as { port: number }).port;
        const hostAddresses = Object.values(networkInterfaces()).flat().filter((a) => a?.family === 'IPv4' && !a.internal).map((a) => a!.address);
        const targets = [
          [fake.server, fake.port], [fake.neighbour, fake.port], [fake.linkLocal, fake.port], [fake.privateAddress, fake.port],
          ['169.254.169.254', 80], ['10.0.2.2', port], ['10.0.2.3', port], ...hostAddresses.map((a) => [a, port]),
        ];
        await deploy(k.client, 'egressprobe', hostile(`
          const tryConnect = ([host, port]) => new Promise((resolve) => {
            const s = net.connect({ host, port, timeout: 2000 });
            s.on('connect', () => { s.destroy(); resolve('connected'); });
            s.on('timeout', () => { s.destroy(); resolve('timeout'); });
            s.on('error', (e) => resolve(e.code));
          });
          const results = await Promise.all(event.targets.map(tryConnect));
          return Object.fromEntries(event.targets.map((t, i) => [t.join(':'), results[i]]));`), { Timeout: 10 });
        const { body } = await invoke('egressprobe', { targets });
        assert.equal(Object.keys(body).length, targets.length);
        for (const [target, result] of Object.entries(body)) assert.notEqual(result, 'connected', `reached ${target}`);
        await stillServes();
      } finally {
        hostAll.close();
        await fake.close();
      }
    });

    it('cannot mount, unshare or ptrace', async () => {
      await deploy(k.client, 'syscalls', hostile(`
        const run = (cmd, args) => { const r = cp.spawnSync(cmd, args, { encoding: 'utf8' }); return { status: r.status, stderr: (r.stderr ?? '') + (r.error ? String(r.error) : '') }; };
        return {
          unshare: run('/usr/bin/unshare', ['-U', '-r', 'true']),
          unshareNet: run('/usr/bin/unshare', ['-n', 'true']),
          mount: run('/usr/bin/mount', ['-t', 'tmpfs', 'none', '/tmp']),
          ptrace: fs.existsSync('/usr/bin/strace') ? run('/usr/bin/strace', ['-f', 'true']) : { status: 1, stderr: 'no strace' },
        };`), SPAWNS);
      const { error, body } = await invoke('syscalls');
      // Every attempt ran (a timed-out invoke has no status to check).
      assert.equal(error, undefined, JSON.stringify(body));
      assert.deepEqual(Object.keys(body).sort(), ['mount', 'ptrace', 'unshare', 'unshareNet']);
      for (const [what, r] of Object.entries(body)) assert.notEqual((r as { status: number }).status, 0, `${what} succeeded: ${JSON.stringify(r)}`);
      await stillServes();
    });

    it('sees none of the host\'s environment, in its own process or any other it can read', async () => {
      await deploy(k.client, 'env', hostile(`
        const environs = fs.readdirSync('/proc').filter((d) => /^\\d+$/.test(d)).map((p) => outcome(() => fs.readFileSync('/proc/' + p + '/environ', 'utf8')).value ?? '');
        return { env: process.env, environs };`));
      const { body } = await invoke('env');
      const everything = JSON.stringify(body);
      for (const leak of ['NODE_EXTRA_CA_CERTS', 'HOME=/root', 'npm_config', 'INIT_CWD', k.dataDir]) {
        assert.ok(!everything.includes(leak), `${leak} visible inside the sandbox`);
      }
    });

    it('cannot take another function\'s assignment, whether or not its sandbox was a stem cell', async () => {
      // 128 MB nodejs: the shape kindling up keeps a stem cell of. The
      // assignment path answers once, before any function code is loaded.
      await deploy(k.client, 'assignment', hostile(`
        const http = require('node:http');
        const get = (path) => new Promise((resolve) => {
          const req = http.get({ socketPath: '/run/kindling/runtime-api.sock', path }, (res) => { res.resume(); resolve(res.statusCode); });
          req.on('error', (e) => resolve(e.code));
        });
        return { assignment: await get('/kindling/stem-cell/assignment'), environ: fs.readFileSync('/proc/self/environ', 'latin1') };`));
      const { body } = await invoke('assignment');
      assert.equal(body.assignment, 404);
      // The runtime rewrites its environment block through /proc/self/mem;
      // gVisor offers no /proc/self/mem (EACCES), so there the block keeps
      // what the sandbox started with (names of Kindling's, no secrets).
      if (backend !== 'gvisor') assert.ok(!String(body.environ).includes('_KINDLING'), 'no Kindling-internal variable in the process\'s own environment record');
      await stillServes();
    });
  });
}
