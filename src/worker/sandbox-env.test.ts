import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { FunctionVersionSpec } from '../shared/spec.js';
import { PLACEHOLDER_CREDENTIALS, STEM_CELL_ENV, cellLaunch, cellShape, logStreamName, sandboxLaunch } from './sandbox-env.js';

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

  it('starts node from the runtime\'s startup snapshot for its flags when the context has one', () => {
    const view = { taskRoot: '/var/task', runtimeDir: '/var/runtime/nodejs', optDir: '/opt', runtimeApi: '127.0.0.1:9001', snapshotDir: '/var/runtime-snapshots' };
    const asked: unknown[] = [];
    const withBlob = sandboxLaunch(spec, view, { ...ctx, runtimeSnapshot: (args, v) => (asked.push([args, v]), '/var/runtime-snapshots/w/1.blob') });
    const flags = ['--expose-gc', '--max-http-header-size', '81920', '--max-semi-space-size=51', '--max-old-space-size=922'];
    assert.deepEqual(asked, [[flags, view]]);
    assert.deepEqual(withBlob.args, [...flags, '--snapshot-blob', '/var/runtime-snapshots/w/1.blob', '/var/runtime/nodejs/index.js']);
    const without = sandboxLaunch(spec, view, { ...ctx, runtimeSnapshot: () => undefined });
    assert.deepEqual(without.args, [...flags, '/var/runtime/nodejs/index.js']);
    const custom = sandboxLaunch({ ...spec, runtime: 'provided.al2023' }, view, { ...ctx, runtimeSnapshot: () => assert.fail('only the nodejs runtime has a snapshot') });
    assert.deepEqual(custom.args, []);
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

describe('sandboxLaunch with layers', () => {
  it('points NODE_PATH, PATH and LD_LIBRARY_PATH at the view\'s /opt (a host directory on the process backend)', () => {
    const view = { taskRoot: '/data/code/abc', runtimeDir: '/srv/runtime/nodejs', optDir: '/data/tasks/opt1', runtimeApi: '127.0.0.1:1' };
    const l = sandboxLaunch({ ...spec, runtime: 'nodejs20.x', optDir: '/data/tasks/opt1', layers: ['a'.repeat(64)] }, view, ctx);
    assert.equal(l.env['NODE_PATH'], '/data/tasks/opt1/nodejs/node20/node_modules:/data/tasks/opt1/nodejs/node_modules:/srv/runtime/nodejs/node_modules:/data/code/abc');
    assert.ok(l.env['PATH']?.endsWith(':/data/tasks/opt1/bin'));
    assert.ok(l.env['LD_LIBRARY_PATH']?.endsWith(':/data/tasks/opt1/lib'));
  });

  it('runs <opt>/bootstrap for a custom runtime when told the package has none', () => {
    const view = { taskRoot: '/var/task', runtimeDir: '/var/runtime', optDir: '/opt', runtimeApi: '127.0.0.1:9001' };
    assert.equal(sandboxLaunch({ ...spec, runtime: 'provided.al2023' }, view, { ...ctx, bootstrapFromOpt: true }).command, '/opt/bootstrap');
    assert.equal(sandboxLaunch({ ...spec, runtime: 'provided.al2023' }, view, { ...ctx, bootstrapFromOpt: false }).command, '/var/task/bootstrap');
  });

  it('gives no stem cell to a function with layers (a cell\'s /opt is fixed when it starts)', () => {
    assert.ok(cellShape(spec));
    assert.equal(cellShape({ ...spec, optDir: '/data/tasks/opt1', layers: ['a'.repeat(64)] }), undefined);
  });
});

describe('logStreamName', () => {
  it('is YYYY/MM/DD/[VERSION]<hex> in UTC', () => {
    assert.equal(logStreamName(Date.UTC(2026, 2, 5, 23, 59), '$LATEST', 'ab'.repeat(16)), `2026/03/05/[$LATEST]${'ab'.repeat(16)}`);
  });
});

describe('cellShape and cellLaunch (stem cells)', () => {
  const view = { taskRoot: '/var/task', runtimeDir: '/var/runtime/nodejs', optDir: '/opt', runtimeApi: '127.0.0.1:9001' };

  it('groups functions by what is fixed at process start: family, MemorySize, EphemeralStorage', () => {
    const a = cellShape(spec);
    assert.deepEqual(a, { key: 'nodejs/1024/512', family: 'nodejs', memorySize: 1024, ephemeralStorage: 512 });
    assert.deepEqual(cellShape({ ...spec, runtime: 'nodejs20.x', functionName: 'other', environment: { A: 'b' } }), a, 'nodejs20.x and 22.x share cells');
    assert.equal(cellShape({ ...spec, memorySize: 128 })?.key, 'nodejs/128/512');
    assert.equal(cellShape({ ...spec, ephemeralStorage: 1024 })?.key, 'nodejs/1024/1024');
  });

  it('serves no custom runtime and no function that sets a variable read at process start', () => {
    assert.equal(cellShape({ ...spec, runtime: 'provided.al2023' }), undefined);
    assert.equal(cellShape({ ...spec, egress: 'internet' }), undefined, 'a cell has no network');
    assert.ok(cellShape({ ...spec, egress: 'none' }));
    for (const k of ['NODE_OPTIONS', 'NODE_EXTRA_CA_CERTS', 'LD_PRELOAD', 'LD_LIBRARY_PATH', 'LANG', 'LC_ALL', 'UV_THREADPOOL_SIZE', 'MALLOC_ARENA_MAX', 'GLIBC_TUNABLES']) {
      assert.equal(cellShape({ ...spec, environment: { [k]: 'x' } }), undefined, k);
    }
    assert.ok(cellShape({ ...spec, environment: { TZ: 'Asia/Tokyo', PATH: '/x', NODEJS_MODE: 'y' } }), 'TZ applies at once; PATH is read per exec');
  });

  it('starts the command of a function of its shape, with a subset of its environment that the assignment replaces', () => {
    const shape = cellShape(spec);
    assert.ok(shape);
    const cell = cellLaunch(shape, view, { nodePath: ctx.nodePath, nodeEntry: ctx.nodeEntry });
    const fn = sandboxLaunch(spec, view, ctx);
    assert.equal(cell.command, fn.command);
    assert.deepEqual(cell.args, fn.args, 'heap limits of the same MemorySize');
    assert.match(cell.env[STEM_CELL_ENV] ?? '', /^1 +$/);
    assert.ok((cell.env[STEM_CELL_ENV] ?? '').length > 8192, 'room for the function\'s environment in the process\'s environment block');
    for (const [k, v] of Object.entries(cell.env)) {
      if (k === STEM_CELL_ENV) continue;
      assert.ok(k in fn.env, `${k} is in every function's launch, so the assignment replaces it`);
      if (k !== 'NODE_PATH') assert.equal(fn.env[k], v, k);
    }
    for (const k of ['AWS_LAMBDA_FUNCTION_NAME', 'STAGE', '_HANDLER', 'AWS_ACCESS_KEY_ID', 'AWS_LAMBDA_LOG_STREAM_NAME']) assert.equal(cell.env[k], undefined, `${k} names the function`);
  });
});
