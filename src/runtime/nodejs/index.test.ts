/**
 * End-to-end tests of the Node.js runtime: a fake Runtime API (node:http)
 * in the test, the real runtime process spawned against it with a cleared,
 * Lambda-only environment, and task roots written to temporary directories.
 */
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { mkdtempSync, mkdirSync, rmSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:http';
import type { IncomingMessage, Server, ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';

const RUNTIME = join(__dirname, 'index.js');
const roots: string[] = [];
after(() => {
  for (const r of roots) rmSync(r, { recursive: true, force: true });
});

/** Writes a task root: { 'relative/path': 'content' }. */
function taskRoot(files: Record<string, string>): string {
  const root = mkdtempSync(join(tmpdir(), 'kindling-rt-'));
  roots.push(root);
  for (const [name, content] of Object.entries(files)) {
    mkdirSync(dirname(join(root, name)), { recursive: true });
    writeFileSync(join(root, name), content);
  }
  return root;
}

interface Posted {
  readonly kind: 'response' | 'error';
  readonly body: string;
  readonly errorType: string | undefined;
}

interface InvokeOptions {
  readonly requestId?: string;
  readonly clientContext?: string;
  readonly identity?: string;
  readonly deadlineMs?: number;
}

/** The worker side of the Runtime API, reduced to what the runtime can observe. */
class FakeRuntimeApi {
  readonly #server: Server;
  readonly #waitingNext: ServerResponse[] = [];
  readonly #queued: Array<(res: ServerResponse) => void> = [];
  readonly #posted = new Map<string, (p: Posted) => void>();
  #initError: ((p: Posted) => void) | undefined;
  readonly initError: Promise<Posted>;
  nextCalls = 0;
  #seq = 0;

  constructor() {
    this.initError = new Promise((resolve) => (this.#initError = resolve));
    this.#server = createServer((req, res) => this.#serve(req, res));
  }

  async listen(): Promise<string> {
    await new Promise<void>((resolve) => this.#server.listen(0, '127.0.0.1', resolve));
    return `127.0.0.1:${(this.#server.address() as AddressInfo).port}`;
  }

  close(): void {
    this.#server.closeAllConnections();
    this.#server.close();
  }

  #serve(req: IncomingMessage, res: ServerResponse): void {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const body = Buffer.concat(chunks).toString();
      const errorType = req.headers['lambda-runtime-function-error-type'] as string | undefined;
      const url = req.url ?? '';
      if (req.method === 'GET' && url === '/2018-06-01/runtime/invocation/next') {
        this.nextCalls++;
        const send = this.#queued.shift();
        if (send) send(res);
        else this.#waitingNext.push(res);
        return;
      }
      res.writeHead(202, { 'content-type': 'application/json' }).end('{"status":"OK"}');
      if (url === '/2018-06-01/runtime/init/error') {
        this.#initError?.({ kind: 'error', body, errorType });
        return;
      }
      const m = /^\/2018-06-01\/runtime\/invocation\/([^/]+)\/(response|error)$/.exec(url);
      if (m) this.#posted.get(decodeURIComponent(m[1]!))?.({ kind: m[2] as 'response' | 'error', body, errorType });
    });
  }

  /** Delivers one event and resolves with what the runtime posts for it. */
  invoke(payload: unknown, options: InvokeOptions = {}): Promise<Posted> {
    const id = options.requestId ?? `req-${++this.#seq}-${Math.random().toString(16).slice(2)}`;
    const outcome = new Promise<Posted>((resolve) => this.#posted.set(id, resolve));
    const send = (res: ServerResponse): void => {
      const headers: Record<string, string> = {
        'Lambda-Runtime-Aws-Request-Id': id,
        'Lambda-Runtime-Deadline-Ms': String(options.deadlineMs ?? Date.now() + 30_000),
        'Lambda-Runtime-Invoked-Function-Arn': 'arn:aws:lambda:us-east-1:000000000000:function:fn',
        'Lambda-Runtime-Trace-Id': 'Root=1-5759e988-bd862e3fe1be46a994272793;Parent=53995c3f42cd8ad8;Sampled=1',
        'Content-Type': 'application/json',
      };
      if (options.clientContext !== undefined) headers['Lambda-Runtime-Client-Context'] = options.clientContext;
      if (options.identity !== undefined) headers['Lambda-Runtime-Cognito-Identity'] = options.identity;
      res.writeHead(200, headers).end(JSON.stringify(payload));
    };
    const waiting = this.#waitingNext.shift();
    if (waiting) send(waiting);
    else this.#queued.push(send);
    return outcome;
  }
}

/**
 * One event-loop turn: the worker's rule for where an invoke's output ends
 * (src/worker/log-capture.ts endOfTurn, which this tree cannot import). The
 * runtime prints synchronously before it posts a result, so one turn after
 * the POST arrived, the pipes have been read up to it.
 */
const endOfTurn = (): Promise<void> => new Promise((resolve) => setImmediate(resolve));

interface RuntimeProcess {
  readonly api: FakeRuntimeApi;
  stdout(): string;
  stderr(): string;
  /** Resolves once `text` has appeared on stdout. */
  waitForStdout(text: string): Promise<void>;
  waitForStderr(text: string): Promise<void>;
  readonly exited: Promise<number | null>;
}

/** Starts the real runtime against a fresh fake Runtime API, with Lambda's variables only. */
async function startRuntime(root: string, handler: string, env: Record<string, string> = {}): Promise<RuntimeProcess> {
  const api = new FakeRuntimeApi();
  const endpoint = await api.listen();
  const child = spawn(process.execPath, [RUNTIME], {
    env: {
      AWS_LAMBDA_RUNTIME_API: endpoint,
      _HANDLER: handler,
      LAMBDA_TASK_ROOT: root,
      LAMBDA_RUNTIME_DIR: '/var/runtime',
      AWS_LAMBDA_FUNCTION_NAME: 'fn',
      AWS_LAMBDA_FUNCTION_VERSION: '$LATEST',
      AWS_LAMBDA_FUNCTION_MEMORY_SIZE: '128',
      AWS_LAMBDA_LOG_GROUP_NAME: '/aws/lambda/fn',
      AWS_LAMBDA_LOG_STREAM_NAME: '2024/01/01/[$LATEST]0123456789abcdef',
      AWS_REGION: 'us-east-1',
      TZ: ':UTC',
      ...env,
    },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let out = '';
  let err = '';
  const watchers: Array<() => void> = [];
  child.stdout.setEncoding('utf8').on('data', (d: string) => {
    out += d;
    for (const w of watchers.splice(0)) w();
  });
  child.stderr.setEncoding('utf8').on('data', (d: string) => {
    err += d;
    for (const w of watchers.splice(0)) w();
  });
  const exited = new Promise<number | null>((resolve) => child.on('exit', (code) => resolve(code)));
  after(() => {
    child.kill('SIGKILL');
    api.close();
  });
  // stdout and stderr are separate pipes: what is on one may not have been read from the other yet.
  const waitFor = async (stream: () => string, name: string, text: string): Promise<void> => {
    while (!stream().includes(text)) {
      const more = new Promise<void>((resolve) => watchers.push(resolve));
      const ended = exited.then(() => {
        throw new Error(`runtime exited before printing ${JSON.stringify(text)} on ${name}; ${name}: ${stream()}`);
      });
      await Promise.race([more, ended]);
    }
  };
  return {
    api,
    stdout: () => out,
    stderr: () => err,
    waitForStdout: (text) => waitFor(() => out, 'stdout', text),
    waitForStderr: (text) => waitFor(() => err, 'stderr', text),
    exited,
  };
}

/** The parsed body of a posted error. */
function errorBody(p: Posted): { errorType: string; errorMessage: string; trace: string[] } {
  return JSON.parse(p.body) as { errorType: string; errorMessage: string; trace: string[] };
}

/** The log records on stdout. */
function records(stdout: string): string[] {
  return stdout.split('\n').filter((l) => l !== '');
}

const ISO = '\\d{4}-\\d\\d-\\d\\dT\\d\\d:\\d\\d:\\d\\d\\.\\d{3}Z';

test('CommonJS async handler: result, context fields, and init code run once', async () => {
  const root = taskRoot({
    'index.js': `
      let count = 0;
      console.log('init');
      exports.handler = async (event, context) => {
        count++;
        return {
          event, count,
          functionName: context.functionName, functionVersion: context.functionVersion,
          memoryLimitInMB: context.memoryLimitInMB, logGroupName: context.logGroupName,
          logStreamName: context.logStreamName, invokedFunctionArn: context.invokedFunctionArn,
          awsRequestId: context.awsRequestId, clientContext: context.clientContext, identity: context.identity,
          waits: context.callbackWaitsForEmptyEventLoop, trace: process.env._X_AMZN_TRACE_ID,
          cwd: process.cwd(),
        };
      };`,
  });
  const rt = await startRuntime(root, 'index.handler');
  const first = await rt.api.invoke({ hello: 'world' }, {
    requestId: 'r-1',
    clientContext: JSON.stringify({ client: { app_title: 'demo' }, custom: { k: 'v' }, env: {} }),
    identity: JSON.stringify({ cognitoIdentityId: 'id-1', cognitoIdentityPoolId: 'pool-1' }),
  });
  assert.equal(first.kind, 'response');
  assert.deepEqual(JSON.parse(first.body), {
    event: { hello: 'world' }, count: 1,
    functionName: 'fn', functionVersion: '$LATEST', memoryLimitInMB: '128', logGroupName: '/aws/lambda/fn',
    logStreamName: '2024/01/01/[$LATEST]0123456789abcdef',
    invokedFunctionArn: 'arn:aws:lambda:us-east-1:000000000000:function:fn', awsRequestId: 'r-1',
    clientContext: { client: { app_title: 'demo' }, custom: { k: 'v' }, env: {} },
    identity: { cognitoIdentityId: 'id-1', cognitoIdentityPoolId: 'pool-1' },
    waits: true, trace: 'Root=1-5759e988-bd862e3fe1be46a994272793;Parent=53995c3f42cd8ad8;Sampled=1',
    cwd: root,
  });
  const second = await rt.api.invoke(7, { requestId: 'r-2' });
  assert.equal((JSON.parse(second.body) as { count: number }).count, 2, 'module globals survive between invokes');
  assert.equal((JSON.parse(second.body) as { clientContext?: unknown }).clientContext, undefined);
  await endOfTurn();
  const initLines = records(rt.stdout()).filter((l) => l.endsWith('\tinit'));
  assert.equal(initLines.length, 1, 'init code runs once per sandbox');
  assert.match(initLines[0]!, new RegExp(`^${ISO}\\tundefined\\tINFO\\tinit$`));
});

test('what an invoke prints is on stdout and stderr when its result is posted, before the next invoke', async () => {
  const root = taskRoot({
    'index.js': `exports.handler = async (event) => { console.log('log of', event); process.stderr.write('err of ' + event + '\\n'); return event; };`,
  });
  const rt = await startRuntime(root, 'index.handler');
  for (let i = 0; i < 50; i++) {
    await rt.api.invoke(`e${i}`, { requestId: `R${i}` });
    await endOfTurn();
    assert.ok(rt.stdout().endsWith(`\tR${i}\tINFO\tlog of e${i}\n`), JSON.stringify(rt.stdout().slice(-200)));
    assert.ok(rt.stderr().endsWith(`err of e${i}\n`), JSON.stringify(rt.stderr().slice(-200)));
  }
});

test('undefined result is sent as null; a result that cannot be serialised is an error', async () => {
  const root = taskRoot({
    'index.js': `exports.handler = async (event) => { if (event === 'cycle') { const o = {}; o.o = o; return o; } };`,
  });
  const rt = await startRuntime(root, 'index.handler');
  assert.deepEqual(await rt.api.invoke({}), { kind: 'response', body: 'null', errorType: undefined });
  const cyc = await rt.api.invoke('cycle');
  assert.equal(cyc.kind, 'error');
  assert.equal(errorBody(cyc).errorMessage, 'Unable to stringify response body');
});

test('ES module .mjs with top-level await', async () => {
  const root = taskRoot({
    'app.mjs': `const v = await new Promise((r) => setTimeout(() => r('ready'), 10));
      export const handler = async (event) => ({ v, event });`,
  });
  const rt = await startRuntime(root, 'app.handler');
  assert.deepEqual(JSON.parse((await rt.api.invoke(1)).body), { v: 'ready', event: 1 });
});

test('.js under package.json "type": "module" is imported as ESM; nested dirs and nested handler paths', async () => {
  const root = taskRoot({
    'package.json': '{"type":"module"}',
    'src/lib/app.js': `export const nested = { deep: { fn: async () => typeof require } };`,
  });
  const rt = await startRuntime(root, 'src/lib/app.nested.deep.fn');
  assert.equal((await rt.api.invoke({})).body, '"undefined"');
});

test("require.cache holds the function's modules only, as under Lambda's ES module runtime", async () => {
  const root = taskRoot({ 'index.js': `require('./lib');\nexports.handler = async () => Object.keys(require.cache).map((k) => require('node:path').relative(__dirname, k));`, 'lib.js': '' });
  const rt = await startRuntime(root, 'index.handler');
  assert.deepEqual(JSON.parse((await rt.api.invoke({})).body), ['index.js', 'lib.js']);
});

test('.cjs, and a module found through node_modules', async () => {
  const cjs = await startRuntime(taskRoot({ 'h.cjs': `exports.handler = async () => 'cjs';` }), 'h.handler');
  assert.equal((await cjs.api.invoke({})).body, '"cjs"');
  const pkg = await startRuntime(
    taskRoot({ 'node_modules/pkg/index.js': `exports.handler = async () => 'from node_modules';` }),
    'pkg.handler',
  );
  assert.equal((await pkg.api.invoke({})).body, '"from node_modules"');
});

test('callback handler with callbackWaitsForEmptyEventLoop true waits for a pending timer', async () => {
  const root = taskRoot({
    'index.js': `exports.handler = (event, context, callback) => {
      setTimeout(() => console.log('timer fired'), 100);
      callback(null, { waited: context.callbackWaitsForEmptyEventLoop });
    };`,
  });
  const rt = await startRuntime(root, 'index.handler');
  const r = await rt.api.invoke({}, { requestId: 'W' });
  assert.deepEqual(JSON.parse(r.body), { waited: true });
  await endOfTurn();
  const out = rt.stdout();
  assert.ok(out.includes('\tINFO\ttimer fired'), 'the timer ran before the response');
  assert.match(out, /\tWARN\tAWS Lambda plans to remove support for callback-based function handlers starting with Node.js 24\./);
});

test('callback handler with callbackWaitsForEmptyEventLoop false responds at once', async () => {
  const root = taskRoot({
    'index.js': `exports.handler = (event, context, callback) => {
      context.callbackWaitsForEmptyEventLoop = false;
      setTimeout(() => console.log('timer fired'), 300);
      callback(null, 'now');
    };`,
  });
  const rt = await startRuntime(root, 'index.handler', { AWS_LAMBDA_NODEJS_DISABLE_CALLBACK_WARNING: '1' });
  assert.equal((await rt.api.invoke({}, { requestId: 'F' })).body, '"now"');
  await endOfTurn();
  assert.ok(!rt.stdout().includes('timer fired'), 'responded before the timer ran');
  await rt.waitForStdout('timer fired');
  const out = rt.stdout();
  assert.doesNotMatch(out, /callback-based function handlers/);
});

test('callback(err), context.succeed/fail/done, and a sync handler that never calls back', async () => {
  const root = taskRoot({
    'index.js': `exports.handler = (event, context, callback) => {
      switch (event) {
        case 'cb-err': return callback(new TypeError('bad input'));
        case 'succeed': return context.succeed({ legacy: true });
        case 'fail': return context.fail('failed as string');
        case 'done': context.done(null, 'done'); return context.succeed('ignored second call');
        case 'nothing': return 'ignored return value';
      }
    };`,
  });
  const rt = await startRuntime(root, 'index.handler');
  const cbErr = await rt.api.invoke('cb-err');
  assert.equal(cbErr.kind, 'error');
  assert.equal(cbErr.errorType, 'TypeError');
  assert.equal(errorBody(cbErr).errorMessage, 'bad input');
  assert.equal((await rt.api.invoke('succeed')).body, '{"legacy":true}');
  assert.deepEqual(await rt.api.invoke('fail'), {
    kind: 'error', errorType: 'string', body: '{"errorType":"string","errorMessage":"failed as string","trace":[]}',
  });
  assert.equal((await rt.api.invoke('done')).body, '"done"');
  assert.deepEqual(await rt.api.invoke('nothing'), { kind: 'response', body: 'null', errorType: undefined });
});

test('thrown Error, thrown string, rejected promise', async () => {
  const root = taskRoot({
    'index.mjs': `
      class ValidationError extends Error { constructor(m) { super(m); this.name = 'ValidationError'; } }
      export const handler = async (event) => {
        if (event === 'error') throw new Error('boom');
        if (event === 'string') throw 'boom as string';
        return Promise.reject(new ValidationError('rejected'));
      };`,
  });
  const rt = await startRuntime(root, 'index.handler');
  const e = await rt.api.invoke('error', { requestId: 'E' });
  assert.equal(e.kind, 'error');
  assert.equal(e.errorType, 'Error');
  const body = JSON.parse(e.body) as { errorType: string; errorMessage: string; trace: string[] };
  assert.deepEqual(Object.keys(body), ['errorType', 'errorMessage', 'trace']);
  assert.equal(body.errorType, 'Error');
  assert.equal(body.errorMessage, 'boom');
  assert.equal(body.trace[0], 'Error: boom');
  assert.match(body.trace[1]!, /^ {4}at .*index\.mjs/);
  assert.deepEqual(await rt.api.invoke('string'), {
    kind: 'error', errorType: 'string', body: '{"errorType":"string","errorMessage":"boom as string","trace":[]}',
  });
  const rej = await rt.api.invoke('reject');
  assert.equal(rej.errorType, 'ValidationError');
  assert.equal(errorBody(rej).errorMessage, 'rejected');
  await endOfTurn();
  const line = records(rt.stdout()).find((l) => l.includes('Invoke Error'));
  assert.ok(line);
  const m = new RegExp(`^${ISO}\\tE\\tERROR\\tInvoke Error \\t(\\{.*\\})$`).exec(line);
  assert.ok(m, line);
  const logged = JSON.parse(m[1]!) as Record<string, unknown>;
  assert.equal(logged['errorType'], 'Error');
  assert.equal(logged['errorMessage'], 'boom');
  assert.ok(Array.isArray(logged['stack']));
});

test('an async handler whose promise never settles fails with Runtime.NodeJsExit', async () => {
  const rt = await startRuntime(taskRoot({ 'index.js': `exports.handler = async () => new Promise(() => {});` }), 'index.handler');
  const r = await rt.api.invoke({});
  assert.equal(r.errorType, 'Runtime.NodeJsExit');
  assert.match(errorBody(r).errorMessage, /^The Lambda runtime client detected an unexpected Node\.js exit code\./);
  assert.equal((await rt.api.invoke({})).errorType, 'Runtime.NodeJsExit', 'the sandbox keeps serving');
});

test('uncaught exception in a timer during an invoke: error posted, process exits 129', async () => {
  const root = taskRoot({
    'index.js': `exports.handler = async () => { setTimeout(() => { throw new RangeError('late'); }, 5); await new Promise((r) => setTimeout(r, 1000)); return 'unreachable'; };`,
  });
  const rt = await startRuntime(root, 'index.handler');
  const r = await rt.api.invoke({}, { requestId: 'U' });
  assert.equal(r.kind, 'error');
  assert.equal(r.errorType, 'RangeError');
  assert.equal(errorBody(r).errorMessage, 'late');
  assert.equal(await rt.exited, 129);
  assert.match(rt.stdout(), new RegExp(`${ISO}\\tU\\tERROR\\tUncaught Exception \\t\\{"errorType":"RangeError","errorMessage":"late"`));
});

test('unhandled rejection during an invoke: Runtime.UnhandledPromiseRejection, exit 128', async () => {
  const root = taskRoot({
    'index.js': `exports.handler = (event, context, callback) => { Promise.reject(new Error('nobody catches me')); };`,
  });
  const rt = await startRuntime(root, 'index.handler', { AWS_LAMBDA_NODEJS_DISABLE_CALLBACK_WARNING: 'x' });
  const r = await rt.api.invoke({});
  assert.equal(r.errorType, 'Runtime.UnhandledPromiseRejection');
  const body = JSON.parse(r.body) as { errorMessage: string; trace: string[] };
  assert.equal(body.errorMessage, 'Error: nobody catches me');
  assert.equal(body.trace[0], 'Runtime.UnhandledPromiseRejection: Error: nobody catches me');
  assert.equal(await rt.exited, 128);
});

/** Starts a runtime whose init fails and returns the /init/error it posts and its exit code. */
async function initFailure(files: Record<string, string>, handler: string) {
  const rt = await startRuntime(taskRoot(files), handler);
  const posted = await rt.api.initError;
  const code = await rt.exited;
  assert.equal(rt.api.nextCalls, 0, 'no GET /next after a failed init');
  const body = JSON.parse(posted.body) as { errorType: string; errorMessage: string; trace: string[] };
  assert.equal(posted.errorType, body.errorType);
  return { body, code, stdout: rt.stdout() };
}

test('syntax error: Runtime.UserCodeSyntaxError through /init/error, exit 129', async () => {
  const { body, code, stdout } = await initFailure({ 'index.js': 'exports.handler = async () => {' }, 'index.handler');
  assert.equal(body.errorType, 'Runtime.UserCodeSyntaxError');
  assert.equal(body.errorMessage, 'SyntaxError: Unexpected end of input');
  assert.equal(body.trace[0], 'Runtime.UserCodeSyntaxError: SyntaxError: Unexpected end of input');
  assert.equal(code, 129);
  assert.match(stdout, new RegExp(`^${ISO}\\tundefined\\tERROR\\tUncaught Exception \\t\\{"errorType":"Runtime.UserCodeSyntaxError"`, 'm'));
});

test('missing module: Runtime.ImportModuleError with Lambda’s message', async () => {
  const { body, code } = await initFailure({ 'other.js': '' }, 'index.handler');
  assert.equal(body.errorType, 'Runtime.ImportModuleError');
  assert.equal(body.errorMessage, "Error: Cannot find module 'index'\nRequire stack:\n- /var/runtime/index.mjs");
  assert.equal(code, 129);
});

test('missing export and non-function export: Runtime.HandlerNotFound', async () => {
  const missing = await initFailure({ 'index.js': 'exports.other = () => {};' }, 'index.handler');
  assert.equal(missing.body.errorType, 'Runtime.HandlerNotFound');
  assert.equal(missing.body.errorMessage, 'index.handler is undefined or not exported');
  const notFn = await initFailure({ 'index.js': 'exports.handler = 42;' }, 'index.handler');
  assert.equal(notFn.body.errorMessage, 'index.handler is not a function');
});

test('malformed handler names: Runtime.MalformedHandlerName', async () => {
  const noDot = await initFailure({ 'index.js': '' }, 'index');
  assert.equal(noDot.body.errorType, 'Runtime.MalformedHandlerName');
  assert.equal(noDot.body.errorMessage, 'Bad handler');
  const dots = await initFailure({ 'index.js': '' }, '../index.handler');
  assert.equal(
    dots.body.errorMessage,
    "'../index.handler' is not a valid handler name. Use absolute paths when specifying root directories in handler names.",
  );
});

test('an error thrown by init code is reported as is', async () => {
  const { body, code } = await initFailure({ 'index.js': 'throw new Error("no config");' }, 'index.handler');
  assert.equal(body.errorType, 'Error');
  assert.equal(body.errorMessage, 'no config');
  assert.equal(code, 129);
});

test('console: Text format, levels, util.format, one line per record', async () => {
  const root = taskRoot({
    'index.js': `exports.handler = async () => {
      console.log('log %s %d', 'str', 42, { a: 1 });
      console.info('info');
      console.warn('warn');
      console.error('error', new Error('shown'));
      console.debug('debug');
      console.trace('trace');
      console.fatal('fatal');
      console.log('two\\nlines');
      console.log();
    };`,
  });
  const rt = await startRuntime(root, 'index.handler');
  await rt.api.invoke({}, { requestId: 'L' });
  await endOfTurn();
  const lines = records(rt.stdout());
  const expect = (level: string, message: string): void => {
    assert.ok(
      lines.some((l) => new RegExp(`^${ISO}\\tL\\t${level}\\t`).test(l) && l.slice(l.indexOf(`\t${level}\t`) + level.length + 2) === message),
      `${level} ${JSON.stringify(message)} in ${JSON.stringify(lines)}`,
    );
  };
  expect('INFO', 'log str 42 { a: 1 }');
  expect('INFO', 'info');
  expect('WARN', 'warn');
  expect('DEBUG', 'debug');
  expect('TRACE', 'trace');
  expect('FATAL', 'fatal');
  expect('INFO', 'two\rlines');
  expect('INFO', 'undefined');
  const err = lines.find((l) => l.includes('\tERROR\terror Error: shown'));
  assert.ok(err, 'console.error goes to stdout, stack on the same line');
  assert.ok(err.includes('\r    at '));
});

test('console: AWS_LAMBDA_LOG_LEVEL filters and AWS_LAMBDA_LOG_FORMAT=JSON', async () => {
  const root = taskRoot({ 'index.js': `exports.handler = async () => { console.debug('hidden'); console.warn('shown', 1); };` });
  const rt = await startRuntime(root, 'index.handler', { AWS_LAMBDA_LOG_LEVEL: 'warn', AWS_LAMBDA_LOG_FORMAT: 'JSON' });
  await rt.api.invoke({}, { requestId: 'J' });
  await endOfTurn();
  const lines = records(rt.stdout());
  assert.equal(lines.length, 1, JSON.stringify(lines));
  const rec = JSON.parse(lines[0]!) as Record<string, unknown>;
  assert.deepEqual(Object.keys(rec), ['timestamp', 'level', 'requestId', 'message']);
  assert.equal(rec['level'], 'WARN');
  assert.equal(rec['requestId'], 'J');
  assert.equal(rec['message'], 'shown 1');
});

test('getRemainingTimeInMillis counts down to the deadline', async () => {
  const root = taskRoot({
    'index.js': `exports.handler = async (e, context) => {
      const a = context.getRemainingTimeInMillis();
      await new Promise((r) => setTimeout(r, 50));
      return [a, context.getRemainingTimeInMillis()];
    };`,
  });
  const rt = await startRuntime(root, 'index.handler');
  const before = Date.now();
  const [a, b] = JSON.parse((await rt.api.invoke({}, { deadlineMs: before + 10_000 })).body) as [number, number];
  assert.ok(a <= 10_000 && a > 0, String(a));
  assert.ok(b <= a - 50, `${a} then ${b}`);
});

test('a malformed client context fails the invoke, as on Lambda', async () => {
  const rt = await startRuntime(taskRoot({ 'index.js': `exports.handler = async () => 'ok';` }), 'index.handler');
  const r = await rt.api.invoke({}, { clientContext: '{not json' });
  assert.equal(r.kind, 'error');
  assert.match(errorBody(r).errorMessage, /^Cannot parse ClientContext as json: SyntaxError: /);
  assert.equal((await rt.api.invoke({})).body, '"ok"', 'the sandbox keeps serving');
});
