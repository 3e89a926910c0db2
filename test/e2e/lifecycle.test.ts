/**
 * The platform's own life: restarts keep functions, stopping leaves no
 * sandbox behind, idle sandboxes expire, deleted functions stop theirs.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readdirSync, readlinkSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { LambdaServiceException } from '@aws-sdk/client-lambda';
import { DeleteFunctionCommand, GetFunctionCommand, InvokeCommand, ListFunctionsCommand } from '@aws-sdk/client-lambda';
import { alive, deploy, eventually, json, runningSandboxes, sandboxesOf, startKindling, E2E_SANDBOX, SANDBOX_ID } from './harness.js';

const WHO = { 'index.js': `exports.handler = async () => ${SANDBOX_ID};` };

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
    await deploy(k.client, 'p', { 'index.js': `exports.handler = async (e) => { await new Promise(r => setTimeout(r, e.wait ?? 0)); return ${SANDBOX_ID}; };` });
    // One sandbox busy when the signal arrives, another idle.
    const busy = k.client.send(new InvokeCommand({ FunctionName: 'p', Payload: Buffer.from('{"wait":10000}') })).catch(() => undefined);
    await new Promise((r) => setTimeout(r, 500));
    const idle = json((await k.client.send(new InvokeCommand({ FunctionName: 'p' }))).Payload) as string;
    const all = sandboxesOf('p');
    assert.ok(all.includes(idle));
    assert.equal(runningSandboxes(all).length, 2, 'two sandboxes run before the signal');
    assert.equal(await k.stop(signal), 0, `exit code after ${signal}`);
    await busy;
    await eventually(() => runningSandboxes(all).length === 0, 3000, `no sandbox process left after ${signal}`);
    if (!E2E_SANDBOX || E2E_SANDBOX === 'process') await eventually(() => processesIn(k.dataDir).length === 0, 3000, 'no process left working in the data dir');
  }
});

test('idle sandboxes stop after --keep-alive; DeleteFunction stops them at once', async (t) => {
  const k = await startKindling(t, { args: ['--keep-alive', '1'] });
  await deploy(k.client, 'brief', WHO);
  const first = json((await k.client.send(new InvokeCommand({ FunctionName: 'brief' }))).Payload) as string;
  assert.ok(alive(first));
  await eventually(() => !alive(first), 5000, 'the idle sandbox to expire');
  const second = json((await k.client.send(new InvokeCommand({ FunctionName: 'brief' }))).Payload) as string;
  assert.notEqual(second, first, 'a new sandbox after expiry');

  const k2 = await startKindling(t);
  await deploy(k2.client, 'doomed', WHO);
  const doomed = json((await k2.client.send(new InvokeCommand({ FunctionName: 'doomed' }))).Payload) as string;
  assert.ok(alive(doomed));
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
