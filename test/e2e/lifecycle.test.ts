/**
 * The platform's own life: restarts keep functions, stopping leaves no
 * sandbox behind, idle sandboxes expire, deleted functions stop theirs.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readdirSync, readlinkSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { DeleteFunctionCommand, GetFunctionCommand, InvokeCommand, ListFunctionsCommand, LambdaServiceException } from '@aws-sdk/client-lambda';
import { alive, deploy, eventually, json, startKindling } from './harness.js';

const PID = { 'index.js': `exports.handler = async () => process.pid;` };

test('functions and their code survive a restart of kindling up', async (t) => {
  const dataDir = mkdtempSync(join(tmpdir(), 'kindling-restart-'));
  t.after(() => rmSync(dataDir, { recursive: true, force: true }));
  const first = await startKindling(t, { dataDir });
  await deploy(first.client, 'durable', { 'index.js': `exports.handler = async (e) => ({ got: e.v });` }, { Environment: { Variables: { KEY: 'v' } } });
  assert.equal(await first.stop('SIGTERM'), 0);

  const second = await startKindling(t, { dataDir });
  const list = await second.client.send(new ListFunctionsCommand({}));
  assert.deepEqual(list.Functions?.map((f) => f.FunctionName), ['durable']);
  const fn = await second.client.send(new GetFunctionCommand({ FunctionName: 'durable' }));
  assert.equal(fn.Configuration?.State, 'Active');
  assert.deepEqual(fn.Configuration?.Environment?.Variables, { KEY: 'v' });
  const res = await second.client.send(new InvokeCommand({ FunctionName: 'durable', Payload: Buffer.from('{"v":5}') }));
  assert.deepEqual(json(res.Payload), { got: 5 });
});

test('SIGINT and SIGTERM stop every sandbox process', async (t) => {
  for (const signal of ['SIGINT', 'SIGTERM'] as const) {
    const k = await startKindling(t);
    await deploy(k.client, 'p', { 'index.js': `exports.handler = async (e) => { await new Promise(r => setTimeout(r, e.wait ?? 0)); return process.pid; };` });
    // One sandbox busy when the signal arrives, another idle.
    const busy = k.client.send(new InvokeCommand({ FunctionName: 'p', Payload: Buffer.from('{"wait":10000}') })).catch(() => undefined);
    await new Promise((r) => setTimeout(r, 300));
    const idle = json((await k.client.send(new InvokeCommand({ FunctionName: 'p' }))).Payload) as number;
    assert.ok(alive(idle));
    assert.ok(processesIn(k.dataDir).length >= 2, 'both sandboxes run in the data dir');
    assert.equal(await k.stop(signal), 0, `exit code after ${signal}`);
    await busy;
    await eventually(() => !alive(idle), 3000, `sandbox ${idle} to be gone after ${signal}`);
    await eventually(() => processesIn(k.dataDir).length === 0, 3000, 'no process left working in the data dir');
  }
});

test('idle sandboxes stop after --keep-alive; DeleteFunction stops them at once', async (t) => {
  const k = await startKindling(t, { args: ['--keep-alive', '1'] });
  await deploy(k.client, 'brief', PID);
  const pid = json((await k.client.send(new InvokeCommand({ FunctionName: 'brief' }))).Payload) as number;
  await eventually(() => !alive(pid), 5000, 'the idle sandbox to expire');
  const pid2 = json((await k.client.send(new InvokeCommand({ FunctionName: 'brief' }))).Payload) as number;
  assert.notEqual(pid2, pid, 'a new sandbox after expiry');

  const k2 = await startKindling(t);
  await deploy(k2.client, 'doomed', PID);
  const doomed = json((await k2.client.send(new InvokeCommand({ FunctionName: 'doomed' }))).Payload) as number;
  const del = await k2.client.send(new DeleteFunctionCommand({ FunctionName: 'doomed' }));
  assert.equal(del.$metadata.httpStatusCode, 204);
  await eventually(() => !alive(doomed), 3000, 'the deleted function\'s sandbox to stop');
  await assert.rejects(k2.client.send(new InvokeCommand({ FunctionName: 'doomed' })), (err: LambdaServiceException) => err.name === 'ResourceNotFoundException');
});

/** Pids of live processes whose working directory is inside `dir` (sandboxes run in their task root). */
function processesIn(dir: string): number[] {
  const pids: number[] = [];
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      if (readlinkSync(`/proc/${entry}/cwd`).startsWith(dir)) pids.push(Number(entry));
    } catch {
      // the process ended while we looked, or is not ours to inspect
    }
  }
  return pids;
}
