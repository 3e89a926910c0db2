/**
 * The AWS CLI works against Kindling unchanged: create, wait, invoke, errors.
 * Skipped (with the reason) only where no `aws` command is installed; .ci/run
 * installs Debian's awscli when the machine has none.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFile, execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { startKindling, zip, ROLE } from './harness.js';

function awsVersion(): string | undefined {
  try {
    return execFileSync('aws', ['--version'], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] }).trim();
  } catch {
    return undefined;
  }
}

const version = awsVersion();

test('the AWS CLI deploys, waits for, invokes and inspects a function', { skip: version ? false : 'no `aws` command on this machine' }, async (t) => {
  const k = await startKindling(t);
  const dir = mkdtempSync(join(tmpdir(), 'kindling-cli-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  writeFileSync(join(dir, 'fn.zip'), await zip({ 'index.js': `exports.handler = async (e) => { console.log('cli says', e.name); return { hello: e.name }; };` }));

  const env = {
    PATH: process.env.PATH ?? '',
    HOME: dir,
    AWS_ACCESS_KEY_ID: 'test',
    AWS_SECRET_ACCESS_KEY: 'test',
    AWS_DEFAULT_REGION: 'us-east-1',
    AWS_PAGER: '',
    AWS_EC2_METADATA_DISABLED: 'true',
  };
  const aws = (...args: string[]) =>
    new Promise<{ code: number; stdout: string; stderr: string }>((resolve) => {
      execFile('aws', [...args, '--endpoint-url', k.url, '--output', 'json'], { env, cwd: dir }, (err, stdout, stderr) =>
        resolve({ code: err ? ((err as { code?: number }).code ?? 1) : 0, stdout, stderr }),
      );
    });

  const created = await aws('lambda', 'create-function', '--function-name', 'cli-fn', '--runtime', 'nodejs20.x', '--handler', 'index.handler', '--role', ROLE, '--zip-file', 'fileb://fn.zip');
  assert.equal(created.code, 0, created.stderr);
  assert.equal((JSON.parse(created.stdout) as { State: string }).State, 'Pending');

  const waited = await aws('lambda', 'wait', 'function-active-v2', '--function-name', 'cli-fn');
  assert.equal(waited.code, 0, waited.stderr);

  // AWS CLI v2 reads blob arguments as base64 unless told otherwise; v1 sends them raw.
  const binaryFormat = version!.startsWith('aws-cli/1') ? [] : ['--cli-binary-format', 'raw-in-base64-out'];
  const invoked = await aws('lambda', 'invoke', '--function-name', 'cli-fn', '--payload', '{"name":"cli"}', ...binaryFormat, '--log-type', 'Tail', 'out.json');
  assert.equal(invoked.code, 0, invoked.stderr);
  const meta = JSON.parse(invoked.stdout) as { StatusCode: number; ExecutedVersion: string; LogResult: string };
  assert.equal(meta.StatusCode, 200);
  assert.equal(meta.ExecutedVersion, '$LATEST');
  assert.match(Buffer.from(meta.LogResult, 'base64').toString(), /\tINFO\tcli says cli/);
  assert.deepEqual(JSON.parse(readFileSync(join(dir, 'out.json'), 'utf8')), { hello: 'cli' });

  const config = await aws('lambda', 'get-function-configuration', '--function-name', 'cli-fn');
  assert.equal((JSON.parse(config.stdout) as { State: string; Runtime: string }).Runtime, 'nodejs20.x');

  const missing = await aws('lambda', 'get-function', '--function-name', 'nope');
  assert.notEqual(missing.code, 0);
  assert.match(missing.stderr, /ResourceNotFoundException/);
  assert.match(missing.stderr, /Function not found: arn:aws:lambda:us-east-1:000000000000:function:nope/);
});
