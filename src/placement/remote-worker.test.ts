/**
 * A worker host over the real wire: the platform's FleetApi and Placement on
 * one side, a LocalWorker (process backend, real sandboxes) behind
 * startWorkerServer on the other, talking HTTP on loopback.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { createHash, randomUUID } from 'node:crypto';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { ZipFile } from 'yazl';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { systemClock } from '../shared/clock.js';
import { LocalWorker } from '../worker/local-worker.js';
import { ProcessBackend } from '../worker/sandbox/process.js';
import { codeDirs, json, nodeFn, testRequest, testSpec } from '../worker/testing.js';
import { startWorkerServer } from '../worker/worker-server.js';
import type { WorkerServer } from '../worker/worker-server.js';
import { FleetApi } from './fleet-api.js';
import { Placement } from './placement.js';

const makeCode = codeDirs('kindling-remote-');

async function setup(t: import('node:test').TestContext, heartbeatTimeoutMs = 3000) {
  const lost: string[] = [];
  const placement = new Placement({ clock: systemClock, heartbeatTimeoutMs, onWorkerLost: (id) => lost.push(id) });
  const zips = new Map<string, string>();
  const fleet = new FleetApi({ placement, token: 'secret', heartbeatMs: 100, sandboxStates: () => new Map(), codeZip: (hex) => zips.get(hex) });
  const platform = createServer((req, res) => {
    if (!fleet.handle(req, res)) res.writeHead(404).end();
  });
  await new Promise<void>((r) => platform.listen(0, '127.0.0.1', r));
  const join_ = `http://127.0.0.1:${(platform.address() as AddressInfo).port}`;
  const root = await mkdtemp(join(tmpdir(), 'kindling-remote-root-'));
  const servers: WorkerServer[] = [];
  const startWorker = async (id: string, zone = 'a') => {
    const worker = new LocalWorker({ id, backend: new ProcessBackend({ root: join(root, id) }) });
    const server = await startWorkerServer({
      worker, token: 'secret', join: join_, zone, capacityMB: 1024, host: '127.0.0.1', port: 0, unknownGraceMs: 200, codeCacheDir: join(root, `${id}-code`),
    });
    servers.push(server);
    while (!placement.workers().some((w) => w.id === id)) await new Promise((r) => setTimeout(r, 10));
    return { server, worker };
  };
  t.after(async () => {
    await placement.close();
    for (const s of servers) await s.close();
    platform.closeAllConnections();
    await new Promise((r) => platform.close(r));
    await rm(root, { recursive: true, force: true });
  });
  /** Stores a package as the platform's blob store would, returning its base64 SHA-256. */
  const storeZip = async (files: Record<string, string>): Promise<string> => {
    const bytes = await zipOf(files);
    const file = join(root, `${randomUUID()}.zip`);
    await writeFile(file, bytes);
    const digest = createHash('sha256').update(bytes).digest();
    zips.set(digest.toString('hex'), file);
    return digest.toString('base64');
  };
  return { placement, fleet, lost, startWorker, storeZip, join: join_ };
}

test('a sandbox on a worker process runs invokes with the same outcome as a local one', async (t) => {
  const { placement, startWorker } = await setup(t);
  await startWorker('w1');
  const dir = await makeCode(nodeFn('console.log("hi from", event.n); return { n: event.n, pid: process.pid };'));
  const sandbox = await placement.createSandbox(testSpec(dir));
  const first = await sandbox.invoke(testRequest('{"n":1}', true));
  assert.equal(first.functionError, undefined);
  assert.equal(json(first.payload)['n'], 1);
  assert.equal(first.cold, true);
  assert.match(first.logs ?? '', /hi from 1/);
  assert.match(first.logs ?? '', /REPORT RequestId/);
  const second = await sandbox.invoke(testRequest('{"n":2}', false));
  assert.equal(second.cold, false);
  assert.equal(second.logs, undefined);
  assert.equal(json(second.payload)['pid'], json(first.payload)['pid'], 'the same warm sandbox');
  assert.deepEqual(placement.workers()[0]!.sandboxes.map((s) => s.id), [sandbox.id]);
  await sandbox.destroy();
  await sandbox.exited;
});

test('a function error and a crash come back as outcomes, not platform failures', async (t) => {
  const { placement, startWorker } = await setup(t);
  await startWorker('w1');
  const dir = await makeCode(nodeFn('if (event.crash) process.exit(3); throw new TypeError("bad");'));
  const sandbox = await placement.createSandbox(testSpec(dir));
  const failed = await sandbox.invoke(testRequest('{}', false));
  assert.equal(failed.functionError, 'Unhandled');
  assert.equal(json(failed.payload)['errorType'], 'TypeError');
  const crashed = await sandbox.invoke(testRequest('{"crash":true}', false));
  assert.equal(crashed.errorType, 'Runtime.ExitError');
  assert.equal(crashed.reusable, false);
  // The worker reports the exit at once: the platform's sandbox is gone too.
  await sandbox.exited;
  assert.deepEqual(placement.workers()[0]!.sandboxes, []);
});

test('a lost worker fails its in-flight invoke at once with a ServiceException, never a hang', async (t) => {
  const { placement, startWorker } = await setup(t);
  await startWorker('w1');
  const dir = await makeCode(nodeFn('await new Promise((r) => setTimeout(r, 5000)); return "late";'));
  const sandbox = await placement.createSandbox(testSpec(dir, { timeout: 10 }));
  const inFlight = sandbox.invoke(testRequest('{}', false));
  await new Promise((r) => setTimeout(r, 200));
  placement.lose('w1', 'no heartbeat for 3000 ms');
  await assert.rejects(inFlight, (err: Error & { code?: string }) => {
    assert.equal(err.code, 'ServiceException');
    assert.equal(err.message, 'Worker w1 was lost during the request (no heartbeat for 3000 ms).');
    return true;
  });
  await sandbox.exited;
});

test('a worker that went silent joins again, and stops the sandboxes the platform no longer knows', async (t) => {
  const { placement, startWorker } = await setup(t);
  const { worker } = await startWorker('w1');
  const dir = await makeCode(nodeFn('return 1;'));
  const sandbox = await placement.createSandbox(testSpec(dir));
  assert.equal(worker.size, 1);
  placement.lose('w1', 'test');
  await sandbox.exited;
  // Its next heartbeat registers it afresh with nothing known; after the
  // grace (200 ms here) the worker stops the orphan.
  for (let i = 0; i < 100 && worker.size > 0; i++) await new Promise((r) => setTimeout(r, 50));
  assert.equal(worker.size, 0);
  assert.deepEqual(placement.workers().map((w) => w.id), ['w1'], 'it is a member again');
  const fresh = await placement.createSandbox(testSpec(dir));
  assert.equal((await fresh.invoke(testRequest('{}', false))).payload.toString(), '1');
});

function zipOf(files: Record<string, string>): Promise<Buffer> {
  const z = new ZipFile();
  for (const [name, text] of Object.entries(files)) z.addBuffer(Buffer.from(text), name);
  z.end();
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    z.outputStream.on('data', (c: Buffer) => chunks.push(c));
    z.outputStream.on('end', () => resolve(Buffer.concat(chunks)));
    z.outputStream.on('error', reject);
  });
}

test("a worker on another host fetches the package by its SHA-256 when the platform's code directory is not there", async (t) => {
  const { placement, startWorker, storeZip } = await setup(t);
  await startWorker('far');
  const sha = await storeZip(nodeFn('return { from: __dirname };'));
  const spec = testSpec('/nonexistent/platform/tasks/abc', { codeSha256: sha });
  const [a, b] = await Promise.all([placement.createSandbox(spec), placement.createSandbox(spec)]);
  const out = json((await a.invoke(testRequest('{}', false))).payload);
  assert.match(String(out['from']), /far-code\/tasks\/[0-9a-f]{64}$/, 'unpacked in the worker\'s own data directory');
  assert.equal((await b.invoke(testRequest('{}', false))).functionError, undefined);

  // Layers come the same way: each zip by its SHA-256, merged in order into the worker's own /opt.
  const hex = (b64: string) => Buffer.from(b64, 'base64').toString('hex');
  const first = await storeZip({ 'nodejs/node_modules/greet/index.js': "module.exports = 'first';", 'nodejs/node_modules/only-first/index.js': 'module.exports = 1;' });
  const second = await storeZip({ 'nodejs/node_modules/greet/index.js': "module.exports = 'second';" });
  const usesLayers = await storeZip(nodeFn("return { greet: require('greet'), first: require('only-first'), nodePath: process.env.NODE_PATH };"));
  const layered = testSpec('/nonexistent/platform/tasks/ghi', { codeSha256: usesLayers, optDir: '/nonexistent/platform/tasks/opt', layers: [hex(first), hex(second)] });
  const withLayers = await placement.createSandbox(layered);
  const got = await withLayers.invoke(testRequest('{}', false));
  assert.equal(got.functionError, undefined, got.payload.toString());
  const body = json(got.payload);
  assert.equal(body['greet'], 'second');
  assert.equal(body['first'], 1);
  assert.match(String(body['nodePath']), /far-code\/tasks\/[0-9a-f]{64}\/nodejs\/node20\/node_modules:/);

  // A package the platform does not have: the creation fails, clearly.
  const missing = testSpec('/nonexistent/platform/tasks/def', { codeSha256: Buffer.alloc(32, 7).toString('base64') });
  await assert.rejects(placement.createSandbox(missing), (err: Error & { code?: string }) => {
    assert.equal(err.code, 'ServiceException');
    assert.match(err.message, /Worker far could not start a sandbox: .*404/);
    return true;
  });
});
