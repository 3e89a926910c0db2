import assert from 'node:assert/strict';
import { existsSync, readFileSync, readdirSync, readlinkSync } from 'node:fs';
import { mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import type { FunctionVersionSpec } from '../shared/spec.js';
import { DEFAULT_NODE_RUNTIME_ENTRY, LocalWorker } from './local-worker.js';
import type { SandboxBackend } from './sandbox/backend.js';
import { ProcessBackend } from './sandbox/process.js';
import { PROBE_FN, codeDirs, stemCellReady, testRequest, testSpec } from './testing.js';
import type { SandboxInvokeRequest } from './types.js';

/** A function directory with the given files (bootstrap scripts are made executable). */
const codeDir = codeDirs('kindling-worker-test-');

/** A provided.al2023 function (128 MB, 3 s). */
const spec = (dir: string, overrides: Partial<FunctionVersionSpec> = {}): FunctionVersionSpec =>
  testSpec(dir, { runtime: 'provided.al2023', handler: 'function.handler', ...overrides });

const req = (payload: string, wantLogs = false): SandboxInvokeRequest => testRequest(payload, wantLogs);

/** The errorMessage of an error payload. */
function messageOf(payload: Buffer): string {
  return (JSON.parse(payload.toString()) as { errorMessage: string }).errorMessage;
}

/** Runtime API loop in bash + curl, as a provided.al2023 function would write it. */
const LOOP_HEAD = `#!/bin/bash
set -u
API="http://\${AWS_LAMBDA_RUNTIME_API}/2018-06-01/runtime"
`;
function loop(body: string): string {
  return `${LOOP_HEAD}
COUNT=0
while true; do
  HEADERS="$(mktemp)"
  EVENT="$(curl -sS -D "$HEADERS" "$API/invocation/next")"
  ID="$(grep -i '^Lambda-Runtime-Aws-Request-Id:' "$HEADERS" | cut -d: -f2 | tr -d '[:space:]')"
  COUNT=$((COUNT+1))
${body}
done
`;
}
const ECHO = loop(`  echo "handling $ID"
  echo "to stderr" >&2
  curl -sS -o /dev/null -X POST "$API/invocation/$ID/response" -d "{\\"count\\":$COUNT,\\"event\\":$EVENT}"`);

/** True when the pid no longer runs (gone, or a zombie waiting for a reaper). */
function dead(pid: number): boolean {
  if (!existsSync(`/proc/${pid}`)) return true;
  try {
    return /^State:\s+Z/m.test(readFileSync(`/proc/${pid}/status`, 'latin1'));
  } catch {
    return true;
  }
}

async function eventually(check: () => boolean, ms = 2000): Promise<boolean> {
  const until = Date.now() + ms;
  while (Date.now() < until) {
    if (check()) return true;
    await new Promise((r) => setTimeout(r, 20));
  }
  return check();
}

const REPORT = /^REPORT RequestId: [0-9a-f-]{36}\tDuration: \d+\.\d\d ms\tBilled Duration: \d+ ms\tMemory Size: 128 MB\tMax Memory Used: \d+ MB\t(Init Duration: \d+\.\d\d ms\t)?$/m;

describe('LocalWorker with provided.al2023 (bash + curl)', () => {
  let worker: LocalWorker;
  const logs: string[] = [];
  before(() => {
    worker = new LocalWorker({ stemCells: 0, onLog: (_id, text) => logs.push(text) });
  });
  after(() => worker.close());

  it('invokes an echo function and keeps it warm', async () => {
    const sb = await worker.createSandbox(spec(await codeDir({ bootstrap: ECHO })));
    const first = await sb.invoke(req('{"n":1}'));
    assert.equal(first.payload.toString(), '{"count":1,"event":{"n":1}}');
    assert.equal(first.functionError, undefined);
    assert.equal(first.reusable, true);
    assert.equal(first.cold, true);
    assert.ok(first.initDurationMs !== undefined && first.initDurationMs > 0);
    assert.ok(first.maxMemoryUsedMB > 0);
    const second = await sb.invoke(req('{"n":2}'));
    assert.equal(second.payload.toString(), '{"count":2,"event":{"n":2}}', 'state survives between invokes');
    assert.equal(second.cold, false);
    assert.equal(second.initDurationMs, undefined);
    await sb.destroy();
  });

  it('returns START, the function lines, END and REPORT; Init Duration only when cold', async () => {
    const sb = await worker.createSandbox(spec(await codeDir({ bootstrap: ECHO })));
    const r1 = req('{}', true);
    const first = await sb.invoke(r1);
    const lines = (first.logs ?? '').split('\n');
    assert.equal(lines[0], `START RequestId: ${r1.requestId} Version: $LATEST`);
    assert.ok(lines.includes(`handling ${r1.requestId}`), first.logs);
    assert.ok(lines.includes('to stderr'), first.logs);
    assert.equal(lines.at(-3), `END RequestId: ${r1.requestId}`);
    assert.match(lines.at(-2) ?? '', REPORT);
    assert.match(lines.at(-2) ?? '', /\tInit Duration: /);
    assert.ok((first.logs ?? '').endsWith('\t\n'));

    const r2 = req('{}', true);
    const second = await sb.invoke(r2);
    assert.ok(second.logs?.startsWith(`START RequestId: ${r2.requestId} Version: $LATEST\n`));
    assert.ok(second.logs?.includes(`handling ${r2.requestId}\n`));
    assert.ok(!second.logs?.includes(r1.requestId), 'no line of the first invoke');
    assert.match(second.logs ?? '', REPORT);
    assert.doesNotMatch(second.logs ?? '', /Init Duration/);
    // The subscriber saw the whole stream.
    const stream = logs.join('');
    assert.ok(stream.includes(`START RequestId: ${r2.requestId}`));
    assert.ok(stream.includes(`handling ${r1.requestId}\n`));
    assert.ok(stream.includes(`END RequestId: ${r2.requestId}\n`));
    await sb.destroy();
  });

  it('passes an error posted to /error through as an Unhandled function error', async () => {
    const body = '{"errorMessage":"bad input","errorType":"InputError","stackTrace":[]}';
    const bootstrap = loop(`  curl -sS -o /dev/null -X POST -H 'Lambda-Runtime-Function-Error-Type: InputError' "$API/invocation/$ID/error" -d '${body}'`);
    const sb = await worker.createSandbox(spec(await codeDir({ bootstrap })));
    const out = await sb.invoke(req('{}'));
    assert.equal(out.payload.toString(), body);
    assert.equal(out.functionError, 'Unhandled');
    assert.equal(out.errorType, 'InputError');
    assert.equal(out.reusable, true);
    await sb.destroy();
  });

  it('times out: Sandbox.Timedout, the sandbox killed, and a new one works', async () => {
    const bootstrap = loop(`  echo "pid $$"
  if [ "$EVENT" = '"sleep"' ]; then sleep 30; fi
  curl -sS -o /dev/null -X POST "$API/invocation/$ID/response" -d "$EVENT"`);
    const s = spec(await codeDir({ bootstrap }), { timeout: 1 });
    const sb = await worker.createSandbox(s);
    const r = req('"sleep"', true);
    const out = await sb.invoke(r);
    assert.equal(out.functionError, 'Unhandled');
    assert.equal(out.errorType, 'Sandbox.Timedout');
    assert.deepEqual(JSON.parse(out.payload.toString()), {
      errorType: 'Sandbox.Timedout',
      errorMessage: `RequestId: ${r.requestId} Error: Task timed out after 1.00 seconds`,
    });
    assert.equal(out.reusable, false);
    assert.match(out.logs ?? '', new RegExp(`Z ${r.requestId} Task timed out after 1\\.\\d\\d seconds\\n`));
    const pid = Number(/pid (\d+)/.exec(out.logs ?? '')?.[1]);
    await sb.exited;
    assert.ok(await eventually(() => dead(pid)), 'the timed-out sandbox is gone');
    const fresh = await worker.createSandbox(s);
    const ok = await fresh.invoke(req('"fine"'));
    assert.equal(ok.payload.toString(), '"fine"');
    await fresh.destroy();
  });

  it('reports a crash during the invoke as Runtime.ExitError', async () => {
    const bootstrap = loop('  exit 1');
    const sb = await worker.createSandbox(spec(await codeDir({ bootstrap })));
    const r = req('{}', true);
    const out = await sb.invoke(r);
    assert.deepEqual(JSON.parse(out.payload.toString()), {
      errorType: 'Runtime.ExitError',
      errorMessage: `RequestId: ${r.requestId} Error: Runtime exited with error: exit status 1`,
    });
    assert.equal(out.functionError, 'Unhandled');
    assert.equal(out.reusable, false);
    assert.ok(out.logs?.includes(`RequestId: ${r.requestId} Error: Runtime exited with error: exit status 1\nRuntime.ExitError\nEND`));
    await sb.exited;
  });

  it('reports a crash during init as Runtime.ExitError on the first invoke', async () => {
    const sb = await worker.createSandbox(spec(await codeDir({ bootstrap: '#!/bin/bash\necho "cannot start" >&2\nexit 3\n' })));
    const r = req('{}', true);
    const out = await sb.invoke(r);
    assert.equal(out.errorType, 'Runtime.ExitError');
    assert.equal(messageOf(out.payload), `RequestId: ${r.requestId} Error: Runtime exited with error: exit status 3`);
    assert.equal(out.cold, true);
    assert.ok(out.logs?.includes('cannot start\n'));
    assert.equal(out.reusable, false);
  });

  it('reports a kill by signal as "signal: killed"', async () => {
    const bootstrap = loop('  kill -9 $$');
    const sb = await worker.createSandbox(spec(await codeDir({ bootstrap })));
    const r = req('{}');
    const out = await sb.invoke(r);
    assert.equal(messageOf(out.payload), `RequestId: ${r.requestId} Error: Runtime exited with error: signal: killed`);
  });

  it('returns an error posted to /init/error on the first invoke and discards the sandbox', async () => {
    const body = '{"errorMessage":"config missing","errorType":"Runtime.InitFailure"}';
    const bootstrap = `${LOOP_HEAD}curl -sS -o /dev/null -X POST -H 'Lambda-Runtime-Function-Error-Type: Runtime.InitFailure' "$API/init/error" -d '${body}'\nexit 1\n`;
    const sb = await worker.createSandbox(spec(await codeDir({ bootstrap })));
    const out = await sb.invoke(req('{}'));
    assert.equal(out.payload.toString(), body);
    assert.equal(out.functionError, 'Unhandled');
    assert.equal(out.errorType, 'Runtime.InitFailure');
    assert.equal(out.reusable, false);
    assert.equal(out.cold, true);
    await sb.exited;
  });

  it('answers an oversized response with Function.ResponseSizeTooLarge and keeps the sandbox', async () => {
    const bootstrap = loop(`  if [ "$EVENT" = '"big"' ]; then
    head -c 6291557 /dev/zero | tr '\\0' 'a' > "$TMPDIR/big"
    curl -sS -o "$TMPDIR/status" -w '%{http_code}' -X POST "$API/invocation/$ID/response" --data-binary @"$TMPDIR/big" > "$TMPDIR/code"
  else
    curl -sS -o /dev/null -X POST "$API/invocation/$ID/response" -d "{\\"code\\":$(cat "$TMPDIR/code"),\\"body\\":$(cat "$TMPDIR/status")}"
  fi`);
    const sb = await worker.createSandbox(spec(await codeDir({ bootstrap })));
    const out = await sb.invoke(req('"big"'));
    assert.equal(out.errorType, 'Function.ResponseSizeTooLarge');
    assert.equal(out.functionError, 'Unhandled');
    assert.equal(
      out.payload.toString(),
      '{"errorMessage":"Response payload size exceeded maximum allowed payload size (6291556 bytes).","errorType":"Function.ResponseSizeTooLarge"}',
    );
    assert.equal(out.reusable, true);
    const next = await sb.invoke(req('"report"'));
    assert.deepEqual(JSON.parse(next.payload.toString()), {
      code: 413,
      body: { errorMessage: 'Exceeded maximum allowed payload size (6291556 bytes).', errorType: 'RequestEntityTooLarge' },
    });
    await sb.destroy();
  });

  it('enforces the Runtime API protocol: wrong id 400, second response 403', async () => {
    const bootstrap = loop(`  WRONG=$(curl -sS -o /dev/null -w '%{http_code}' -X POST "$API/invocation/not-$ID/response" -d '{}')
  curl -sS -o /dev/null -X POST "$API/invocation/$ID/response" -d "{\\"wrong\\":$WRONG}"
  echo "again=$(curl -sS -o /dev/null -w '%{http_code}' -X POST "$API/invocation/$ID/response" -d '{}')"`);
    let text = '';
    const w = new LocalWorker({ stemCells: 0, onLog: (_id, t) => (text += t) });
    try {
      const sb = await w.createSandbox(spec(await codeDir({ bootstrap })));
      assert.deepEqual(JSON.parse((await sb.invoke(req('{}'))).payload.toString()), { wrong: 400 });
      // The second post races nothing: the current invoke stays current until the next delivery.
      assert.ok(await eventually(() => text.includes('again=')));
      assert.match(text, /again=403\n/);
    } finally {
      await w.close();
    }
  });

  it('starts the sandbox with a cleared environment: nothing of the host leaks', async () => {
    const bootstrap = loop(`  env | base64 -w0 > "$TMPDIR/env"
  curl -sS -o /dev/null -X POST "$API/invocation/$ID/response" -d "\\"$(cat "$TMPDIR/env")\\""`);
    const dir = await codeDir({ bootstrap });
    const sb = await worker.createSandbox(spec(dir, { environment: { MY_VAR: 'mine' } }));
    const out = await sb.invoke(req('{}'));
    const env = new Map(
      Buffer.from(JSON.parse(out.payload.toString()) as string, 'base64')
        .toString()
        .trim()
        .split('\n')
        .map((l) => [l.slice(0, l.indexOf('=')), l.slice(l.indexOf('=') + 1)] as const),
    );
    assert.equal(env.get('MY_VAR'), 'mine');
    assert.equal(env.get('AWS_LAMBDA_FUNCTION_NAME'), 'fn');
    assert.equal(env.get('AWS_LAMBDA_FUNCTION_VERSION'), '$LATEST');
    assert.equal(env.get('AWS_LAMBDA_FUNCTION_MEMORY_SIZE'), '128');
    assert.equal(env.get('AWS_LAMBDA_LOG_GROUP_NAME'), '/aws/lambda/fn');
    assert.match(env.get('AWS_LAMBDA_LOG_STREAM_NAME') ?? '', /^\d{4}\/\d\d\/\d\d\/\[\$LATEST\][0-9a-f]{32}$/);
    assert.match(env.get('AWS_LAMBDA_RUNTIME_API') ?? '', /^127\.0\.0\.1:\d+$/);
    assert.equal(env.get('AWS_LAMBDA_INITIALIZATION_TYPE'), 'on-demand');
    assert.equal(env.get('AWS_REGION'), 'us-east-1');
    assert.equal(env.get('AWS_DEFAULT_REGION'), 'us-east-1');
    assert.equal(env.get('_HANDLER'), 'function.handler');
    assert.equal(env.get('LAMBDA_TASK_ROOT'), dir);
    assert.equal(env.get('TZ'), ':UTC');
    assert.equal(env.get('LANG'), 'en_US.UTF-8');
    assert.ok(env.get('AWS_ACCESS_KEY_ID'));
    assert.equal(env.get('AWS_EXECUTION_ENV'), undefined, 'custom runtimes get no AWS_EXECUTION_ENV');
    assert.equal(env.get('PWD'), dir, 'the cwd is the task root');
    for (const leak of ['NODE_EXTRA_CA_CERTS', 'HOME', 'USER', 'NODE_OPTIONS', 'npm_config_cache', 'INIT_CWD']) {
      assert.equal(env.get(leak), undefined, `${leak} must not leak`);
    }
    for (const [k, v] of Object.entries(process.env)) {
      if (k === 'PATH' || k === 'PWD' || k === 'SHLVL' || k === '_' || v === undefined || v === '') continue;
      if (env.get(k) === v && !['LANG', 'TZ'].includes(k)) assert.fail(`host variable ${k} leaked`);
    }
    const tmp = env.get('TMPDIR') ?? '';
    assert.ok(tmp !== '' && existsSync(tmp), 'a private TMPDIR');
    await sb.destroy();
    assert.ok(!existsSync(tmp), 'TMPDIR removed on destroy');
  });

  it('reports a missing bootstrap as Runtime.InvalidEntrypoint', async () => {
    const sb = await worker.createSandbox(spec(await codeDir({ 'index.js': '' })));
    const r = req('{}');
    const out = await sb.invoke(r);
    assert.deepEqual(JSON.parse(out.payload.toString()), {
      errorType: 'Runtime.InvalidEntrypoint',
      errorMessage: `RequestId: ${r.requestId} Error: Couldn't find valid bootstrap(s): [/var/task/bootstrap /opt/bootstrap]`,
    });
    assert.equal(out.reusable, false);
    await sb.exited;
  });

  it('reports a bootstrap that is not executable as Runtime.InvalidEntrypoint', async () => {
    const sb = await worker.createSandbox(spec(await codeDir({ bootstrap: ECHO }, false)));
    const out = await sb.invoke(req('{}'));
    assert.equal(out.errorType, 'Runtime.InvalidEntrypoint');
    assert.match(messageOf(out.payload), /permission denied/);
  });

  it('runs a layer\'s bootstrap (the spec\'s optDir) when the package has none; the package\'s comes first', async () => {
    const opt = await codeDir({ bootstrap: ECHO });
    const layers = ['a'.repeat(64)];
    const fromLayer = await worker.createSandbox(spec(await codeDir({ 'function.sh': '' }), { optDir: opt, layers }));
    assert.equal((await fromLayer.invoke(req('{"n":1}'))).payload.toString(), '{"count":1,"event":{"n":1}}');
    await fromLayer.destroy();
    const own = loop(`  curl -sS -o /dev/null -X POST "$API/invocation/$ID/response" -d '"own"'`);
    const preferred = await worker.createSandbox(spec(await codeDir({ bootstrap: own }), { optDir: opt, layers }));
    assert.equal((await preferred.invoke(req('{}'))).payload.toString(), '"own"');
    await preferred.destroy();
    const notExecutable = await worker.createSandbox(spec(await codeDir({ 'function.sh': '' }), { optDir: await codeDir({ bootstrap: ECHO }, false), layers }));
    const out = await notExecutable.invoke(req('{}'));
    assert.equal(out.errorType, 'Runtime.InvalidEntrypoint');
    assert.match(messageOf(out.payload), /fork\/exec \/opt\/bootstrap: permission denied/);
  });

  it('notices an exit while idle: `exited` resolves and the worker drops the sandbox', async () => {
    const bootstrap = loop(`  curl -sS -o /dev/null -X POST "$API/invocation/$ID/response" -d '"bye"'
  exit 0`);
    const w = new LocalWorker({ stemCells: 0 });
    try {
      const sb = await w.createSandbox(spec(await codeDir({ bootstrap })));
      assert.equal((await sb.invoke(req('{}'))).payload.toString(), '"bye"');
      await sb.exited;
      assert.equal(w.size, 0);
    } finally {
      await w.close();
    }
  });

  it('leaves no process behind after destroy() and close()', async () => {
    // The function starts a background child in its group; both must die.
    const bootstrap = loop(`  sleep 1000 &
  curl -sS -o /dev/null -X POST "$API/invocation/$ID/response" -d "[$$,$!]"`);
    const w = new LocalWorker({ stemCells: 0 });
    const dir = await codeDir({ bootstrap });
    const a = await w.createSandbox(spec(dir));
    const b = await w.createSandbox(spec(dir));
    const pidsA = JSON.parse((await a.invoke(req('{}'))).payload.toString()) as number[];
    const pidsB = JSON.parse((await b.invoke(req('{}'))).payload.toString()) as number[];
    assert.ok([...pidsA, ...pidsB].every((p) => !dead(p)), 'running before');
    await a.destroy();
    assert.ok(await eventually(() => pidsA.every(dead)), 'destroy() killed the tree');
    assert.ok(pidsB.every((p) => !dead(p)), 'the other sandbox is untouched');
    await w.close();
    assert.ok(await eventually(() => pidsB.every(dead)), 'close() killed the rest');
    assert.equal(w.size, 0);
    await assert.rejects(w.createSandbox(spec(dir)), /closed/);
  });
});

describe('LocalWorker with the built-in nodejs runtime', () => {
  const built = existsSync(DEFAULT_NODE_RUNTIME_ENTRY);
  const skip = built ? false : `${DEFAULT_NODE_RUNTIME_ENTRY} is not built yet (npx tsc -p src/runtime/tsconfig.json)`;
  let worker: LocalWorker;
  before(() => {
    // Started as node starts a script; from the startup snapshot: below.
    worker = new LocalWorker({ stemCells: 0, runtimeSnapshots: false });
  });
  after(() => worker.close());

  it('resolves modules from the layers (process backend: the merged directory where it is on the host)', { skip }, async () => {
    const opt = await codeDir({});
    await mkdir(join(opt, 'nodejs', 'node_modules', 'from-layer'), { recursive: true });
    await writeFile(join(opt, 'nodejs', 'node_modules', 'from-layer', 'index.js'), "module.exports = 'layer module';");
    const dir = await codeDir({ 'index.js': "exports.handler = async () => ({ mod: require('from-layer'), nodePath: process.env.NODE_PATH });" });
    const sb = await worker.createSandbox(spec(dir, { runtime: 'nodejs20.x', handler: 'index.handler', optDir: opt, layers: ['a'.repeat(64)] }));
    const out = await sb.invoke(req('{}'));
    assert.equal(out.functionError, undefined, out.payload.toString());
    const body = JSON.parse(out.payload.toString()) as { mod: string; nodePath: string };
    assert.equal(body.mod, 'layer module');
    assert.ok(body.nodePath.startsWith(`${opt}/nodejs/node20/node_modules:${opt}/nodejs/node_modules:`), body.nodePath);
    await sb.destroy();
  });

  it('invokes a handler, keeps it warm, and gives each invoke its own log lines', { skip }, async () => {
    const dir = await codeDir({
      'index.mjs': `let n = 0;
export const handler = async (event, context) => {
  n += 1;
  console.log('event', JSON.stringify(event));
  return { n, event, requestId: context.awsRequestId, extraCa: process.env.NODE_EXTRA_CA_CERTS ?? null };
};
`,
    });
    const sb = await worker.createSandbox(spec(dir, { runtime: 'nodejs20.x', handler: 'index.handler' }));
    const r1 = req('{"x":1}', true);
    const first = await sb.invoke(r1);
    assert.deepEqual(JSON.parse(first.payload.toString()), { n: 1, event: { x: 1 }, requestId: r1.requestId, extraCa: null });
    assert.equal(first.cold, true);
    assert.match(first.logs ?? '', /\tINFO\tevent \{"x":1\}\n/);
    assert.match(first.logs ?? '', /Init Duration/);
    const r2 = req('{"x":2}', true);
    const second = await sb.invoke(r2);
    assert.equal((JSON.parse(second.payload.toString()) as { n: number }).n, 2);
    assert.ok(second.logs?.includes(r2.requestId));
    assert.ok(!second.logs?.includes('{"x":1}'), 'the first invoke\'s lines stay in the first log');
    await sb.destroy();
  });

  it('an invoke that prints more than a pipe holds keeps all of it, up to its last line, in its own log', { skip }, async () => {
    // 1 MiB in one write: node queues what the full pipe does not take
    // unless the runtime made its stdout blocking, and the result would
    // then reach the worker before the rest of the output.
    const dir = await codeDir({
      'index.js': `exports.handler = async (event) => {
  process.stdout.write('x'.repeat(1 << 20) + '\\n');
  process.stderr.write('e'.repeat(1 << 20) + '\\n');
  console.log('last line of', event.n);
  return event.n;
};`,
    });
    const sb = await worker.createSandbox(spec(dir, { runtime: 'nodejs20.x', handler: 'index.handler' }));
    try {
      for (const n of [1, 2, 3]) {
        const out = await sb.invoke(req(JSON.stringify({ n }), true));
        assert.equal(out.payload.toString(), String(n));
        const logs = out.logs ?? '';
        assert.match(logs, new RegExp(`\\tINFO\\tlast line of ${n}\\nEND RequestId: `), logs.slice(-300));
        assert.ok(!logs.includes(`last line of ${n - 1}\n`), 'the previous invoke\'s output stayed in its log');
      }
    } finally {
      await sb.destroy();
    }
  });

  it('reaches the Runtime API over a unix socket; the function sees only AWS_LAMBDA_RUNTIME_API', { skip }, async () => {
    // The sandbox's sockets by kind, from /proc: the runtime's channel is its only one.
    const dir = await codeDir({
      'index.js': `const fs = require('fs');
// The inode column: 7th of /proc/net/unix, 10th of /proc/net/tcp.
const inodes = (file) => { const at = file.endsWith('unix') ? 6 : 9;
  return new Set(fs.readFileSync(file, 'utf8').split('\\n').slice(1).map((l) => l.trim().split(/\\s+/)).filter((f) => f.length > at).map((f) => f[at])); };
exports.handler = async () => {
  const mine = fs.readdirSync('/proc/self/fd').map((fd) => { try { return fs.readlinkSync('/proc/self/fd/' + fd); } catch { return ''; } })
    .map((l) => /^socket:\\[(\\d+)\\]$/.exec(l)?.[1]).filter(Boolean);
  const unix = inodes('/proc/net/unix'), tcp = new Set([...inodes('/proc/net/tcp'), ...inodes('/proc/net/tcp6')]);
  return { unix: mine.filter((i) => unix.has(i)).length, tcp: mine.filter((i) => tcp.has(i)).length,
    api: process.env.AWS_LAMBDA_RUNTIME_API, socketVariable: Object.keys(process.env).filter((k) => k.startsWith('_KINDLING')) };
};`,
    });
    const sb = await worker.createSandbox(spec(dir, { runtime: 'nodejs20.x', handler: 'index.handler' }));
    const body = JSON.parse((await sb.invoke(req('{}'))).payload.toString()) as { unix: number; tcp: number; api: string; socketVariable: string[] };
    // Unix sockets: the Runtime API's, and stdout and stderr (libuv makes those socketpairs).
    assert.deepEqual({ ...body, unix: body.unix >= 1, api: /^127\.0\.0\.1:\d+$/.test(body.api) }, { unix: true, tcp: 0, api: true, socketVariable: [] });
    await sb.destroy();
  });

  it('returns a thrown error as an Unhandled function error', { skip }, async () => {
    const dir = await codeDir({ 'index.mjs': `export const handler = async () => { throw new TypeError('nope'); };\n` });
    const sb = await worker.createSandbox(spec(dir, { runtime: 'nodejs22.x', handler: 'index.handler' }));
    const out = await sb.invoke(req('{}'));
    assert.equal(out.functionError, 'Unhandled');
    assert.equal(out.errorType, 'TypeError');
    assert.equal(messageOf(out.payload), 'nope');
    assert.equal(out.reusable, true);
    await sb.destroy();
  });

  it('returns an import failure as the init error', { skip }, async () => {
    const dir = await codeDir({ 'other.mjs': '' });
    const sb = await worker.createSandbox(spec(dir, { runtime: 'nodejs20.x', handler: 'index.handler' }));
    const out = await sb.invoke(req('{}'));
    assert.equal(out.functionError, 'Unhandled');
    // Lambda's type here is Runtime.ImportModuleError; the type is the runtime's to choose.
    assert.match(out.errorType ?? '', /^Runtime\./);
    assert.equal(out.reusable, false);
    assert.equal(out.cold, true);
  });
});

describe('LocalWorker: the runtime from its startup snapshot (process backend)', () => {
  const skip = existsSync(DEFAULT_NODE_RUNTIME_ENTRY) ? false : `${DEFAULT_NODE_RUNTIME_ENTRY} is not built yet`;
  let worker: LocalWorker;
  before(() => {
    worker = new LocalWorker({ stemCells: 0 });
  });
  after(() => worker.close());

  /** The function reports how its node was started and what it can see of the runtime. */
  const PROBE = {
    'index.js': `const { fork } = require('child_process');
let n = 0;
exports.handler = async () => {
  n += 1;
  const child = await new Promise((resolve, reject) => {
    const c = fork(__dirname + '/child.js');
    c.once('message', resolve);
    c.once('error', reject);
  });
  return {
    n,
    fromSnapshot: require('fs').readFileSync('/proc/self/cmdline', 'utf8').split('\\0').includes('--snapshot-blob'),
    execArgv: process.execArgv,
    cache: Object.keys(require.cache).map((k) => require('path').basename(k)),
    esm: (await import('./esm.mjs')).value,
    child,
  };
};`,
    'child.js': "process.send({ argv: process.argv.slice(2), main: require.main === module }, () => process.exit(0));",
    'esm.mjs': 'export const value = 42;',
  };

  it('starts sandboxes without snapshots when the backend\'s snapshot directory cannot be made', { skip }, async () => {
    const backend = new ProcessBackend();
    const unusable: SandboxBackend = { name: 'process', snapshotDir: '/dev/null/snapshots', start: (o) => backend.start(o) };
    const w = new LocalWorker({ stemCells: 0, backend: unusable });
    try {
      const sb = await w.createSandbox(spec(await codeDir(PROBE), { runtime: 'nodejs20.x', handler: 'index.handler' }));
      await w.runtimeSnapshotsSettled();
      const out = await sb.invoke(req('{}'));
      assert.equal(out.functionError, undefined, out.payload.toString());
      assert.equal((JSON.parse(out.payload.toString()) as { fromSnapshot: boolean }).fromSnapshot, false);
    } finally {
      await w.close();
    }
  });

  it('starts the first sandbox of a command line as a script, the next from the snapshot, and the function cannot tell', { skip }, async () => {
    const nodeSpec = (dir: string): FunctionVersionSpec => spec(dir, { runtime: 'nodejs20.x', handler: 'index.handler' });
    const first = await worker.createSandbox(nodeSpec(await codeDir(PROBE)));
    const before = JSON.parse((await first.invoke(req('{}'))).payload.toString()) as Record<string, unknown>;
    await worker.runtimeSnapshotsSettled();
    const second = await worker.createSandbox(nodeSpec(await codeDir(PROBE)));
    const out = await second.invoke(req('{}'));
    assert.equal(out.functionError, undefined, out.payload.toString());
    const after = JSON.parse(out.payload.toString()) as Record<string, unknown>;
    assert.equal(before['fromSnapshot'], false);
    assert.equal(after['fromSnapshot'], true);
    const flags = ['--expose-gc', '--max-http-header-size', '81920', '--max-semi-space-size=6', '--max-old-space-size=116'];
    const same = { n: 1, execArgv: flags, cache: ['index.js'], esm: 42, child: { argv: [], main: true } };
    assert.deepEqual({ ...before, fromSnapshot: undefined }, { ...same, fromSnapshot: undefined });
    assert.deepEqual({ ...after, fromSnapshot: undefined }, { ...same, fromSnapshot: undefined });
    assert.equal((JSON.parse((await second.invoke(req('{}'))).payload.toString()) as { n: number }).n, 2, 'warm');
    await Promise.all([first.destroy(), second.destroy()]);
  });
});

describe('LocalWorker stem cells (process backend)', () => {
  const built = existsSync(DEFAULT_NODE_RUNTIME_ENTRY);
  const skip = built ? false : `${DEFAULT_NODE_RUNTIME_ENTRY} is not built yet (npx tsc -p src/runtime/tsconfig.json)`;
  let cells: LocalWorker;
  let fresh: LocalWorker;
  before(() => {
    cells = new LocalWorker({ stemCells: 2 });
    fresh = new LocalWorker({ stemCells: 0 });
  });
  after(() => Promise.all([cells.close(), fresh.close()]));

  const nodeSpec = (dir: string, overrides: Partial<FunctionVersionSpec> = {}) =>
    spec(dir, { runtime: 'nodejs20.x', handler: 'index.handler', environment: { MY_VAR: 'mine', TZ: 'Asia/Tokyo' }, ...overrides });
  type Probe = { invokes: number; env: [string, string][]; environ: string[] | null; cwd: string; task: string[]; execArgv: string[]; paths: string[]; globals: string[]; title: string; event: unknown };
  const probe = (b: Buffer) => JSON.parse(b.toString()) as Probe;
  /** The sandbox's own paths (private dir, task root, port, stream, trace) replaced, so two sandboxes compare. */
  const neutral = (p: Probe, taskRoot: string, codeDir: string) => {
    const own = (v: string) =>
      v
        .split(taskRoot)
        .join('<task>')
        .split(codeDir)
        .join('<task>')
        .replace(/kindling-sandboxes\/[0-9a-f]{32}/g, '<dir>')
        .replace(/127\.0\.0\.1:\d+/g, '<api>')
        .replace(/\[\$LATEST\][0-9a-f]{32}/g, '<stream>')
        .replace(/Root=1-[^;]+;Parent=[0-9a-f]+/g, '<trace>');
    return { env: p.env.map(([k, v]) => [k, own(v)]), environ: p.environ?.map(own), paths: p.paths.map(own), execArgv: p.execArgv, globals: p.globals, task: p.task };
  };
  const taskRootOf = (p: Probe) => Object.fromEntries(p.env)['LAMBDA_TASK_ROOT'] ?? '';

  it('serves a function from a cell exactly as from a sandbox started for it', { skip }, async () => {
    const dir = await codeDir(PROBE_FN);
    const s = nodeSpec(dir);
    await stemCellReady(cells, s);
    const hits = cells.stemCells.hits;
    const viaCell = await cells.createSandbox(s);
    assert.equal(cells.stemCells.hits, hits + 1, 'the cold start took the cell');
    const viaFresh = await fresh.createSandbox(s);
    const a = await viaCell.invoke(req('{"n":1}', true));
    const b = await viaFresh.invoke(req('{"n":1}', true));
    assert.equal(a.functionError, undefined, a.payload.toString());
    const pa = probe(a.payload);
    const pb = probe(b.payload);
    assert.deepEqual(pa.event, { n: 1 });
    assert.deepEqual(neutral(pa, taskRootOf(pa), dir), neutral(pb, taskRootOf(pb), dir));
    assert.deepEqual(pa.task, ['index.js']);
    assert.equal(Object.fromEntries(pa.env)['MY_VAR'], 'mine');
    assert.deepEqual(
      pa.env.filter(([k]) => k.startsWith('_KINDLING')),
      [],
      'no Kindling-internal variable reaches the function',
    );
    // The process's own record of its environment is the function's too.
    assert.deepEqual(
      pa.environ,
      pa.env.filter(([k]) => k !== '_X_AMZN_TRACE_ID').map(([k, v]) => `${k}=${v}`),
    );
    assert.ok(pa.execArgv.includes('--max-old-space-size=116'), `heap limits of 128 MB: ${pa.execArgv.join(' ')}`);
    // Init Duration: on the first invoke only, as for any cold start.
    assert.equal(a.cold, true);
    assert.ok(a.initDurationMs !== undefined && a.initDurationMs > 0);
    assert.match(a.logs ?? '', REPORT);
    assert.match(a.logs ?? '', /\tInit Duration: \d+\.\d\d ms\t\n$/);
    const again = await viaCell.invoke(req('{"n":2}', true));
    assert.equal(probe(again.payload).invokes, 2, 'globals survive between invokes');
    assert.equal(again.cold, false);
    assert.equal(again.initDurationMs, undefined);
    assert.doesNotMatch(again.logs ?? '', /Init Duration/);
    await Promise.all([viaCell.destroy(), viaFresh.destroy()]);
  });

  it('never gives one cell to two functions, nor reuses a cell after its sandbox', { skip }, async () => {
    const one = nodeSpec(await codeDir({ 'index.js': 'exports.handler = async () => ({ fn: "one", pid: process.pid });' }));
    const two = nodeSpec(await codeDir({ 'index.js': 'exports.handler = async () => ({ fn: "two", pid: process.pid });' }));
    await stemCellReady(cells, one);
    const a = await cells.createSandbox(one);
    await stemCellReady(cells, two);
    const b = await cells.createSandbox(two);
    assert.notEqual(a.id, b.id);
    const ra = JSON.parse((await a.invoke(req('{}'))).payload.toString()) as { fn: string; pid: number };
    const rb = JSON.parse((await b.invoke(req('{}'))).payload.toString()) as { fn: string; pid: number };
    assert.equal(ra.fn, 'one');
    assert.equal(rb.fn, 'two');
    assert.notEqual(ra.pid, rb.pid);
    await a.destroy();
    await stemCellReady(cells, one);
    const c = await cells.createSandbox(one);
    const rc = JSON.parse((await c.invoke(req('{}'))).payload.toString()) as { fn: string; pid: number };
    assert.notEqual(c.id, a.id);
    assert.notEqual(rc.pid, ra.pid, 'a new cell, not the one that served the destroyed sandbox');
    assert.ok(dead(ra.pid));
    await Promise.all([b.destroy(), c.destroy()]);
  });

  it('reports an init failure from a cell as from a sandbox started for it', { skip }, async () => {
    const s = nodeSpec(await codeDir({ 'other.js': '' }));
    await stemCellReady(cells, s);
    const out = await (await cells.createSandbox(s)).invoke(req('{}'));
    const ref = await (await fresh.createSandbox(s)).invoke(req('{}'));
    assert.equal(out.errorType, ref.errorType);
    assert.deepEqual(JSON.parse(out.payload.toString()), JSON.parse(ref.payload.toString()));
    assert.equal(out.reusable, false);
    assert.equal(out.cold, true);
  });

  it('starts a sandbox for a function that sets a variable node reads at start (NODE_OPTIONS)', { skip }, async () => {
    const s = nodeSpec(await codeDir(PROBE_FN), { environment: { NODE_OPTIONS: '--title=from-node-options' } });
    await stemCellReady(cells, nodeSpec(await codeDir(PROBE_FN)));
    const { hits, misses } = cells.stemCells;
    const sb = await cells.createSandbox(s);
    assert.deepEqual({ hits: cells.stemCells.hits, misses: cells.stemCells.misses }, { hits, misses }, 'no cell asked for');
    assert.equal(probe((await sb.invoke(req('{}'))).payload).title, 'from-node-options');
    await sb.destroy();
  });

  it('destroys its stem cells on close()', { skip }, async () => {
    // Its own backend root: a cell's working directory is its private directory there.
    const root = await codeDir({});
    const w = new LocalWorker({ stemCells: 1, backend: new ProcessBackend({ root }) });
    try {
      await stemCellReady(w, nodeSpec(await codeDir(PROBE_FN)));
      assert.equal(cellProcesses(root).length, 1, 'a cell waits');
    } finally {
      await w.close();
    }
    assert.ok(await eventually(() => cellProcesses(root).length === 0), 'no cell left');
    assert.equal(w.stemCells.pooled, 0);
  });
});

/** Child processes of this test that are stem cells still waiting for a function, working in `root`. */
function cellProcesses(root: string): number[] {
  const out: number[] = [];
  for (const name of readdirSync('/proc')) {
    if (!/^\d+$/.test(name)) continue;
    try {
      const stat = readFileSync(`/proc/${name}/stat`, 'latin1');
      const ppid = Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]);
      if (ppid !== process.pid || dead(Number(name))) continue;
      if (!readlinkSync(`/proc/${name}/cwd`).startsWith(root)) continue;
      if (/(^|\0)_KINDLING_STEM_CELL=1/.test(readFileSync(`/proc/${name}/environ`, 'latin1'))) out.push(Number(name));
    } catch {
      // gone meanwhile
    }
  }
  return out;
}
