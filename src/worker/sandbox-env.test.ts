import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { FunctionVersionSpec } from '../shared/spec.js';
import { PLACEHOLDER_CREDENTIALS, logStreamName, sandboxLaunch } from './sandbox-env.js';

const spec: FunctionVersionSpec = {
  key: 'k',
  functionName: 'orders',
  functionArn: 'arn:aws:lambda:eu-west-1:000000000000:function:orders',
  version: '3',
  runtime: 'nodejs22.x',
  handler: 'src/app.handler',
  memorySize: 1024,
  timeout: 30,
  ephemeralStorage: 512,
  environment: { STAGE: 'prod' },
  codeDir: '/data/code/abc',
  codeSha256: 'x',
  region: 'eu-west-1',
};
const ctx = {
  logStreamName: '2026/01/01/[3]0123456789abcdef0123456789abcdef',
  credentials: PLACEHOLDER_CREDENTIALS,
  nodePath: '/usr/local/bin/node',
  nodeEntry: 'index.js',
};

describe('sandboxLaunch', () => {
  it('starts node as Lambda\'s nodejs bootstrap does, with heap limits from MemorySize', () => {
    const view = { taskRoot: '/var/task', runtimeDir: '/var/runtime', optDir: '/opt', runtimeApi: '127.0.0.1:9001' };
    const l = sandboxLaunch(spec, view, ctx);
    assert.equal(l.command, '/usr/local/bin/node');
    assert.deepEqual(l.args, [
      '--expose-gc',
      '--max-http-header-size',
      '81920',
      '--max-semi-space-size=51',
      '--max-old-space-size=922',
      '/var/runtime/index.js',
    ]);
    assert.equal(l.env['AWS_EXECUTION_ENV'], 'AWS_Lambda_nodejs22.x');
    assert.equal(
      l.env['NODE_PATH'],
      '/opt/nodejs/node22/node_modules:/opt/nodejs/node_modules:/var/runtime/node_modules:/var/task',
    );
    assert.equal(l.env['PATH'], '/usr/local/bin:/usr/local/bin:/usr/bin/:/bin:/opt/bin');
    assert.equal(l.env['AWS_LAMBDA_FUNCTION_VERSION'], '3');
    assert.equal(l.env['AWS_LAMBDA_LOG_STREAM_NAME'], ctx.logStreamName);
    assert.equal(l.env['AWS_LAMBDA_RUNTIME_API'], '127.0.0.1:9001');
    assert.equal(l.env['_HANDLER'], 'src/app.handler');
    assert.equal(l.env['STAGE'], 'prod');
    assert.equal(l.env['NODE_EXTRA_CA_CERTS'], undefined);
  });

  it('maps Lambda paths to the backend\'s view and drops /opt when there is none', () => {
    const view = { taskRoot: '/data/code/abc', runtimeDir: '/srv/kindling/runtime/nodejs', optDir: undefined, runtimeApi: '127.0.0.1:1' };
    const l = sandboxLaunch({ ...spec, runtime: 'nodejs20.x' }, view, ctx);
    assert.equal(l.env['LAMBDA_TASK_ROOT'], '/data/code/abc');
    assert.equal(l.env['LAMBDA_RUNTIME_DIR'], '/srv/kindling/runtime/nodejs');
    assert.equal(
      l.env['NODE_PATH'],
      '/srv/kindling/runtime/nodejs/node_modules:/data/code/abc',
    );
    assert.ok(!l.env['LD_LIBRARY_PATH']?.includes('/opt'));
    assert.equal(l.args.at(-1), '/srv/kindling/runtime/nodejs/index.js');
  });

  it('runs <task root>/bootstrap for custom runtimes, without AWS_EXECUTION_ENV or NODE_PATH', () => {
    const view = { taskRoot: '/var/task', runtimeDir: '/var/runtime', optDir: '/opt', runtimeApi: '127.0.0.1:9001' };
    const l = sandboxLaunch({ ...spec, runtime: 'provided.al2023' }, view, ctx);
    assert.equal(l.command, '/var/task/bootstrap');
    assert.deepEqual(l.args, []);
    assert.equal(l.env['AWS_EXECUTION_ENV'], undefined);
    assert.equal(l.env['NODE_PATH'], undefined);
  });
});

describe('logStreamName', () => {
  it('is YYYY/MM/DD/[VERSION]<hex> in UTC', () => {
    assert.equal(logStreamName(Date.UTC(2026, 2, 5, 23, 59), '$LATEST', 'ab'.repeat(16)), `2026/03/05/[$LATEST]${'ab'.repeat(16)}`);
  });
});
