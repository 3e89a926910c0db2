/**
 * Deploy and invoke real functions on a real `kindling up`, through the real
 * AWS SDK: the first vertical slice of Lambda, end to end.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import type {
  LambdaServiceException} from '@aws-sdk/client-lambda';
import {
  GetFunctionCommand,
  InvokeCommand,
  UpdateFunctionCodeCommand,
  UpdateFunctionConfigurationCommand,
  waitUntilFunctionUpdatedV2,
  CreateFunctionCommand,
  waitUntilFunctionActiveV2,
} from '@aws-sdk/client-lambda';
import { alive, deploy, eventually, json, logs, startKindling, zip, ROLE, SANDBOX_ID } from './harness.js';

const COUNTER = `
let count = 0;
const startedAt = Date.now();
exports.handler = async (event, context) => {
  count += 1;
  console.log('invoked', count, JSON.stringify(event));
  return { count, sandbox: ${SANDBOX_ID}, requestId: context.awsRequestId, startedAt };
};`;

test('create, wait active, invoke: result, request id, executed version', async (t) => {
  const k = await startKindling(t);
  const created = await k.client.send(
    new CreateFunctionCommand({ FunctionName: 'hello', Runtime: 'nodejs20.x', Handler: 'index.handler', Role: ROLE, Code: { ZipFile: await zip({ 'index.js': COUNTER }) } }),
  );
  assert.equal(created.State, 'Pending');
  assert.equal(created.StateReasonCode, 'Creating');
  await waitUntilFunctionActiveV2({ client: k.client, maxWaitTime: 60 }, { FunctionName: 'hello' });

  const res = await k.client.send(new InvokeCommand({ FunctionName: 'hello', Payload: Buffer.from('{"name":"world"}') }));
  assert.equal(res.StatusCode, 200);
  assert.equal(res.ExecutedVersion, '$LATEST');
  assert.equal(res.FunctionError, undefined);
  const body = json(res.Payload) as { count: number; requestId: string };
  assert.equal(body.count, 1);
  assert.equal(body.requestId, res.$metadata.requestId, 'x-amzn-RequestId is context.awsRequestId');
});

test('the second invoke finds the same sandbox warm: init runs once, globals survive', async (t) => {
  const k = await startKindling(t);
  await deploy(k.client, 'warm', { 'index.js': COUNTER });
  const first = await k.client.send(new InvokeCommand({ FunctionName: 'warm', LogType: 'Tail' }));
  const second = await k.client.send(new InvokeCommand({ FunctionName: 'warm', LogType: 'Tail' }));
  const a = json(first.Payload) as { count: number; sandbox: string; startedAt: number };
  const b = json(second.Payload) as { count: number; sandbox: string; startedAt: number };
  assert.equal(a.count, 1);
  assert.equal(b.count, 2);
  assert.equal(b.sandbox, a.sandbox);
  assert.equal(b.startedAt, a.startedAt);
  assert.match(logs(first.LogResult), /\tInit Duration: \d+\.\d{2} ms/);
  assert.doesNotMatch(logs(second.LogResult), /Init Duration/);
});

test('Tail returns START, the function\'s console lines in the Node format, END and REPORT', async (t) => {
  const k = await startKindling(t);
  await deploy(k.client, 'logger', {
    'index.js': `exports.handler = async () => { console.log('hello', 42); console.error('oops'); console.warn('careful'); return 'ok'; };`,
  });
  const res = await k.client.send(new InvokeCommand({ FunctionName: 'logger', LogType: 'Tail' }));
  const id = res.$metadata.requestId!;
  const text = logs(res.LogResult);
  assert.match(text, new RegExp(`^START RequestId: ${id} Version: \\$LATEST$`, 'm'));
  assert.match(text, new RegExp(`^\\d{4}-\\d\\d-\\d\\dT\\d\\d:\\d\\d:\\d\\d\\.\\d{3}Z\\t${id}\\tINFO\\thello 42$`, 'm'));
  assert.match(text, new RegExp(`\\t${id}\\tERROR\\toops$`, 'm'));
  assert.match(text, new RegExp(`\\t${id}\\tWARN\\tcareful$`, 'm'));
  assert.match(text, new RegExp(`^END RequestId: ${id}$`, 'm'));
  assert.match(text, new RegExp(`^REPORT RequestId: ${id}\\tDuration: \\d+\\.\\d{2} ms\\tBilled Duration: \\d+ ms\\tMemory Size: 128 MB\\tMax Memory Used: \\d+ MB\\t`, 'm'));
  assert.ok(text.indexOf('START') < text.indexOf('hello 42') && text.indexOf('hello 42') < text.indexOf('END RequestId'));
});

test('a thrown error: 200, X-Amz-Function-Error Unhandled, the runtime\'s error JSON', async (t) => {
  const k = await startKindling(t);
  await deploy(k.client, 'thrower', {
    'index.mjs': `export const handler = async () => { class MyError extends Error { name = 'MyError' }; throw new MyError('it broke'); };`,
  }, { Handler: 'index.handler' });
  const res = await k.client.send(new InvokeCommand({ FunctionName: 'thrower' }));
  assert.equal(res.StatusCode, 200);
  assert.equal(res.FunctionError, 'Unhandled');
  const err = json(res.Payload) as { errorType: string; errorMessage: string; trace: string[] };
  assert.equal(err.errorType, 'MyError');
  assert.equal(err.errorMessage, 'it broke');
  assert.ok(Array.isArray(err.trace) && err.trace[0]?.startsWith('MyError: it broke'));
  // The sandbox survives a handled failure: the next invoke is warm.
  const again = await k.client.send(new InvokeCommand({ FunctionName: 'thrower', LogType: 'Tail' }));
  assert.doesNotMatch(logs(again.LogResult), /Init Duration/);
});

test('timeout: Sandbox.Timedout, the sandbox is discarded, the next invoke works in a new one', async (t) => {
  const k = await startKindling(t);
  await deploy(k.client, 'sleepy', {
    'index.js': `let n = 0; exports.handler = async (e) => { n++; if (e.sleep) await new Promise(r => setTimeout(r, e.sleep)); return { n, sandbox: ${SANDBOX_ID} }; };`,
  }, { Timeout: 1 });
  const warm = json((await k.client.send(new InvokeCommand({ FunctionName: 'sleepy' }))).Payload) as { sandbox: string };
  const res = await k.client.send(new InvokeCommand({ FunctionName: 'sleepy', Payload: Buffer.from('{"sleep":5000}'), LogType: 'Tail' }));
  assert.equal(res.FunctionError, 'Unhandled');
  const err = json(res.Payload) as { errorType: string; errorMessage: string };
  assert.equal(err.errorType, 'Sandbox.Timedout');
  assert.equal(err.errorMessage, `RequestId: ${res.$metadata.requestId} Error: Task timed out after 1.00 seconds`);
  // The log line gives the time actually elapsed (Lambda: "... Task timed out after 1.01 seconds").
  assert.match(logs(res.LogResult), new RegExp(`^\\S+Z ${res.$metadata.requestId} Task timed out after 1\\.\\d\\d seconds$`, 'm'));
  await eventually(() => !alive(warm.sandbox), 5000, 'the timed-out sandbox to be killed');
  const next = json((await k.client.send(new InvokeCommand({ FunctionName: 'sleepy' }))).Payload) as { n: number; sandbox: string };
  assert.equal(next.n, 1, 'a fresh sandbox');
  assert.notEqual(next.sandbox, warm.sandbox);
});

test('a runtime that exits mid-invoke: Runtime.ExitError, the next invoke works', async (t) => {
  const k = await startKindling(t);
  await deploy(k.client, 'quitter', { 'index.js': `exports.handler = async (e) => { if (e.exit) process.exit(3); return 'fine'; };` });
  const res = await k.client.send(new InvokeCommand({ FunctionName: 'quitter', Payload: Buffer.from('{"exit":true}') }));
  assert.equal(res.FunctionError, 'Unhandled');
  const err = json(res.Payload) as { errorType: string; errorMessage: string };
  assert.equal(err.errorType, 'Runtime.ExitError');
  assert.equal(err.errorMessage, `RequestId: ${res.$metadata.requestId} Error: Runtime exited with error: exit status 3`);
  const next = await k.client.send(new InvokeCommand({ FunctionName: 'quitter' }));
  assert.equal(json(next.Payload), 'fine');
});

test('import, syntax and handler errors are the runtime\'s init errors', async (t) => {
  const k = await startKindling(t);
  await deploy(k.client, 'nomodule', { 'other.js': 'exports.handler = async () => 1;' });
  await deploy(k.client, 'badsyntax', { 'index.js': 'exports.handler = async () => { return 1 +; };' });
  await deploy(k.client, 'noexport', { 'index.js': 'exports.other = async () => 1;' });
  const cases: Array<[string, string, RegExp]> = [
    ['nomodule', 'Runtime.ImportModuleError', /Cannot find module 'index'/],
    ['badsyntax', 'Runtime.UserCodeSyntaxError', /SyntaxError/],
    ['noexport', 'Runtime.HandlerNotFound', /index\.handler is undefined or not exported/],
  ];
  for (const [name, type, message] of cases) {
    const res = await k.client.send(new InvokeCommand({ FunctionName: name }));
    assert.equal(res.FunctionError, 'Unhandled', name);
    const err = json(res.Payload) as { errorType: string; errorMessage: string };
    assert.equal(err.errorType, type, name);
    assert.match(err.errorMessage, message, name);
  }
});

test('payload limits: request over 6 MB is 413; response over 6 MB is Function.ResponseSizeTooLarge and the next invoke works', async (t) => {
  const k = await startKindling(t);
  await deploy(k.client, 'big', { 'index.js': `exports.handler = async (e) => e.big ? 'x'.repeat(7 * 1024 * 1024) : 'small';` });
  await assert.rejects(
    k.client.send(new InvokeCommand({ FunctionName: 'big', Payload: Buffer.from(JSON.stringify('y'.repeat(6 * 1024 * 1024 + 10))) })),
    (err: LambdaServiceException) => {
      assert.equal(err.name, 'RequestEntityTooLargeException');
      assert.equal(err.$metadata.httpStatusCode, 413);
      assert.equal(err.message, 'Request must be smaller than 6291456 bytes for the InvokeFunction operation');
      return true;
    },
  );
  const res = await k.client.send(new InvokeCommand({ FunctionName: 'big', Payload: Buffer.from('{"big":true}') }));
  assert.equal(res.FunctionError, 'Unhandled');
  const err = json(res.Payload) as { errorType: string; errorMessage: string };
  assert.equal(err.errorType, 'Function.ResponseSizeTooLarge');
  assert.equal(err.errorMessage, 'Response payload size exceeded maximum allowed payload size (6291556 bytes).');
  assert.equal(json((await k.client.send(new InvokeCommand({ FunctionName: 'big' }))).Payload), 'small');
});

test('bad payload is 400 InvalidRequestContentException; empty payload arrives as {}; client context reaches the handler', async (t) => {
  const k = await startKindling(t);
  await deploy(k.client, 'echo', { 'index.js': `exports.handler = async (event, context) => ({ event, clientContext: context.clientContext ?? null });` });
  await assert.rejects(k.client.send(new InvokeCommand({ FunctionName: 'echo', Payload: Buffer.from('{not json') })), (err: LambdaServiceException) => {
    assert.equal(err.name, 'InvalidRequestContentException');
    assert.equal(err.$metadata.httpStatusCode, 400);
    assert.match(err.message, /^Could not parse request body into json: Could not parse payload into json: /);
    return true;
  });
  const empty = json((await k.client.send(new InvokeCommand({ FunctionName: 'echo' }))).Payload) as { event: unknown };
  assert.deepEqual(empty.event, {});
  const ctx = { custom: { tenant: 'a' }, env: { locale: 'en' } };
  const withCtx = json(
    (await k.client.send(new InvokeCommand({ FunctionName: 'echo', Payload: Buffer.from('[1,2]'), ClientContext: Buffer.from(JSON.stringify(ctx)).toString('base64') }))).Payload,
  ) as { event: unknown; clientContext: { custom: unknown; env: unknown } };
  assert.deepEqual(withCtx.event, [1, 2]);
  assert.deepEqual(withCtx.clientContext.custom, ctx.custom);
  assert.deepEqual(withCtx.clientContext.env, ctx.env);
});

test('DryRun answers 204 and runs nothing; an unknown function is 404 with Lambda\'s message', async (t) => {
  const k = await startKindling(t);
  await deploy(k.client, 'dry', { 'index.js': COUNTER });
  const dry = await k.client.send(new InvokeCommand({ FunctionName: 'dry', InvocationType: 'DryRun' }));
  assert.equal(dry.StatusCode, 204);
  const res = await k.client.send(new InvokeCommand({ FunctionName: 'dry' }));
  assert.equal((json(res.Payload) as { count: number }).count, 1, 'DryRun did not run the handler');
  await assert.rejects(k.client.send(new InvokeCommand({ FunctionName: 'missing' })), (err: LambdaServiceException) => {
    assert.equal(err.name, 'ResourceNotFoundException');
    assert.equal(err.$metadata.httpStatusCode, 404);
    assert.equal(err.message, 'Function not found: arn:aws:lambda:us-east-1:000000000000:function:missing');
    return true;
  });
});

test('concurrent invokes get separate sandboxes, which are then reused', async (t) => {
  const k = await startKindling(t);
  await deploy(k.client, 'parallel', { 'index.js': `exports.handler = async () => { await new Promise(r => setTimeout(r, 300)); return ${SANDBOX_ID}; };` });
  const run = () => k.client.send(new InvokeCommand({ FunctionName: 'parallel' })).then((r) => json(r.Payload) as string);
  const sandboxes = await Promise.all([run(), run(), run(), run()]);
  assert.equal(new Set(sandboxes).size, 4);
  const again = await Promise.all([run(), run(), run(), run()]);
  assert.deepEqual(new Set(again), new Set(sandboxes), 'the four warm sandboxes serve again');
});

test('ESM, CommonJS, nested paths and callback handlers', async (t) => {
  const k = await startKindling(t);
  await deploy(k.client, 'esm', { 'src/app.mjs': `const base = await Promise.resolve(40); export const handler = async (e) => base + e.n;` }, { Handler: 'src/app.handler' });
  await deploy(k.client, 'typemodule', { 'package.json': '{"type":"module"}', 'index.js': `export const handler = async () => 'esm via package.json';` });
  await deploy(k.client, 'callback', { 'index.js': `exports.handler = (event, context, callback) => { setTimeout(() => callback(null, { ok: event.n }), 10); };` });
  assert.equal(json((await k.client.send(new InvokeCommand({ FunctionName: 'esm', Payload: Buffer.from('{"n":2}') }))).Payload), 42);
  assert.equal(json((await k.client.send(new InvokeCommand({ FunctionName: 'typemodule' }))).Payload), 'esm via package.json');
  assert.deepEqual(json((await k.client.send(new InvokeCommand({ FunctionName: 'callback', Payload: Buffer.from('{"n":7}') }))).Payload), { ok: 7 });
});

test('the function sees Lambda\'s environment and its own, nothing of the host\'s', async (t) => {
  const k = await startKindling(t);
  await deploy(k.client, 'envy', { 'index.js': `exports.handler = async () => ({ ...process.env });` }, {
    MemorySize: 256,
    Environment: { Variables: { GREETING: 'hi' } },
  });
  const env = json((await k.client.send(new InvokeCommand({ FunctionName: 'envy' }))).Payload) as Record<string, string>;
  assert.equal(env.GREETING, 'hi');
  assert.equal(env.AWS_LAMBDA_FUNCTION_NAME, 'envy');
  assert.equal(env.AWS_LAMBDA_FUNCTION_VERSION, '$LATEST');
  assert.equal(env.AWS_LAMBDA_FUNCTION_MEMORY_SIZE, '256');
  assert.equal(env.AWS_LAMBDA_LOG_GROUP_NAME, '/aws/lambda/envy');
  assert.match(env.AWS_LAMBDA_LOG_STREAM_NAME ?? '', /^\d{4}\/\d\d\/\d\d\/\[\$LATEST\][0-9a-f]{32}$/);
  assert.equal(env.AWS_REGION, 'us-east-1');
  assert.equal(env._HANDLER, 'index.handler');
  assert.equal(env.AWS_EXECUTION_ENV, 'AWS_Lambda_nodejs20.x');
  assert.equal(env.TZ, ':UTC');
  assert.ok(env.LAMBDA_TASK_ROOT && env.LAMBDA_RUNTIME_DIR && env.AWS_LAMBDA_RUNTIME_API);
  for (const leaked of ['NODE_EXTRA_CA_CERTS', 'HOME', 'USER', 'SHELL', 'npm_config_cache', 'INIT_CWD']) {
    assert.equal(env[leaked], undefined, `${leaked} leaked from the host`);
  }
  // Names the host has too must be Lambda's (PWD is the task root: Lambda's runtimes start from a shell there).
  const lambdas = ['PATH', 'LANG', 'TZ', 'LD_LIBRARY_PATH', 'NODE_PATH', '_HANDLER', 'GREETING'];
  for (const key of Object.keys(env)) {
    const lambdaOwn = lambdas.includes(key) || key.startsWith('AWS_') || key.startsWith('LAMBDA_') || (key === 'PWD' && env.PWD === env.LAMBDA_TASK_ROOT);
    assert.ok(!(key in process.env) || lambdaOwn, `${key} may come from the host`);
    if (lambdaOwn && key in process.env && !['PATH', 'LANG', 'TZ'].includes(key)) assert.notEqual(env[key], process.env[key], `${key} has the host's value`);
  }
});

test('a custom runtime (provided.al2023): a bash bootstrap speaking the Runtime API with curl', async (t) => {
  const k = await startKindling(t);
  const bootstrap = `#!/bin/bash
set -euo pipefail
API="http://\${AWS_LAMBDA_RUNTIME_API}/2018-06-01/runtime/invocation"
while true; do
  HEADERS="$(mktemp)"
  EVENT=$(curl -sS -LD "$HEADERS" "$API/next")
  ID=$(grep -Fi Lambda-Runtime-Aws-Request-Id "$HEADERS" | tr -d '[:space:]' | cut -d: -f2)
  echo "handling $ID"
  curl -sS -X POST "$API/$ID/response" -d "{\\"echo\\":$EVENT,\\"handler\\":\\"$_HANDLER\\"}" >/dev/null
done
`;
  await deploy(k.client, 'custom', { bootstrap: { content: bootstrap, mode: 0o755 } }, { Runtime: 'provided.al2023', Handler: 'function.handler' });
  const res = await k.client.send(new InvokeCommand({ FunctionName: 'custom', Payload: Buffer.from('{"x":1}'), LogType: 'Tail' }));
  assert.equal(res.FunctionError, undefined);
  assert.deepEqual(json(res.Payload), { echo: { x: 1 }, handler: 'function.handler' });
  assert.match(logs(res.LogResult), new RegExp(`handling ${res.$metadata.requestId}`));
});

test('updates: new code and new configuration retire the old sandboxes', async (t) => {
  const k = await startKindling(t);
  await deploy(k.client, 'changing', { 'index.js': `exports.handler = async () => ({ v: 1, sandbox: ${SANDBOX_ID}, g: process.env.GREETING ?? null });` });
  const v1 = json((await k.client.send(new InvokeCommand({ FunctionName: 'changing' }))).Payload) as { v: number; sandbox: string };
  assert.equal(v1.v, 1);

  const upd = await k.client.send(new UpdateFunctionCodeCommand({ FunctionName: 'changing', ZipFile: await zip({ 'index.js': `exports.handler = async () => ({ v: 2, sandbox: ${SANDBOX_ID}, g: process.env.GREETING ?? null });` }) }));
  assert.equal(upd.LastUpdateStatus, 'InProgress');
  await waitUntilFunctionUpdatedV2({ client: k.client, maxWaitTime: 60 }, { FunctionName: 'changing' });
  const v2 = json((await k.client.send(new InvokeCommand({ FunctionName: 'changing' }))).Payload) as { v: number; sandbox: string };
  assert.equal(v2.v, 2);
  assert.notEqual(v2.sandbox, v1.sandbox);
  await eventually(() => !alive(v1.sandbox), 5000, 'the old sandbox to stop');

  await k.client.send(new UpdateFunctionConfigurationCommand({ FunctionName: 'changing', Environment: { Variables: { GREETING: 'new' } } }));
  await waitUntilFunctionUpdatedV2({ client: k.client, maxWaitTime: 60 }, { FunctionName: 'changing' });
  const v3 = json((await k.client.send(new InvokeCommand({ FunctionName: 'changing' }))).Payload) as { v: number; g: string; sandbox: string };
  assert.deepEqual([v3.v, v3.g], [2, 'new']);
  assert.notEqual(v3.sandbox, v2.sandbox);
  const fn = await k.client.send(new GetFunctionCommand({ FunctionName: 'changing' }));
  assert.equal(fn.Configuration?.LastUpdateStatus, 'Successful');
});
