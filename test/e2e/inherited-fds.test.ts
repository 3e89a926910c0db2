/**
 * A descriptor the platform was started with (a supervisor's or a shell's,
 * left open across exec) must not reach function code: a sandbox has one
 * channel, the one its worker made.
 */
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { it } from 'node:test';
import { InvokeCommand, LambdaClient } from '@aws-sdk/client-lambda';
import { CLI, E2E_SANDBOX, deploy, json } from './harness.js';

it('a descriptor kindling up inherited does not reach sandboxes', { skip: process.platform !== 'linux' }, async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'kindling-fds-'));
  const secret = join(dir, 'inherited-secret');
  writeFileSync(secret, 'not for functions\n');
  const args = [CLI, 'up', '--port', '0', '--data-dir', join(dir, 'data'), ...(E2E_SANDBOX ? ['--sandbox', E2E_SANDBOX] : [])];
  // bash opens fd 200 on the file and execs the platform with it open.
  const child = spawn('/bin/bash', ['-c', `exec "$0" "$@" 200<${JSON.stringify(secret)}`, process.execPath, ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  child.stdout.setEncoding('utf8').on('data', (d: string) => (out += d));
  child.stderr.setEncoding('utf8').on('data', (d: string) => (out += d));
  const exited = new Promise((r) => child.once('exit', r));
  t.after(async () => {
    child.kill('SIGTERM');
    await exited;
    rmSync(dir, { recursive: true, force: true });
  });
  const url = await new Promise<string>((resolve, reject) => {
    child.stdout.on('data', () => {
      const m = /^listening on (http:\/\/\S+)$/m.exec(out);
      if (m) resolve(m[1]!);
    });
    void exited.then(() => reject(new Error(`kindling up exited:\n${out}`)));
  });
  const client = new LambdaClient({ endpoint: url, region: 'us-east-1', credentials: { accessKeyId: 'test', secretAccessKey: 'test' }, maxAttempts: 1 });
  t.after(() => client.destroy());
  await deploy(client, 'fds', {
    'index.mjs': `import { readdirSync, readlinkSync } from 'node:fs';
      export const handler = async () => readdirSync('/proc/self/fd').map((f) => { try { return readlinkSync('/proc/self/fd/' + f); } catch { return ''; } });`,
  });
  const links = json((await client.send(new InvokeCommand({ FunctionName: 'fds' }))).Payload) as string[];
  assert.ok(links.length > 0);
  assert.ok(!links.some((l) => l.includes('inherited-secret')), `the sandbox holds ${JSON.stringify(links)}`);
});
