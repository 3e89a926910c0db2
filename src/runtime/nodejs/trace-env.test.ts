/**
 * The trace variable held in JavaScript (trace-env.ts), in a child process
 * with a cleared environment: installing it replaces that process's
 * process.env.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';

const MODULE = pathToFileURL(join(__dirname, 'trace-env.js')).href;

/** Runs an ES module body in `node` with only `env`; returns what it printed as JSON. */
function run(body: string, env: Record<string, string> = {}): unknown {
  const script = `import { installTraceIdVariable } from ${JSON.stringify(MODULE)};\n${body}`;
  const out = execFileSync(process.execPath, ['--input-type=module', '-e', script], { env, encoding: 'utf8' });
  return JSON.parse(out) as unknown;
}

test('the trace variable reads, lists, copies and reaches child processes like any other', () => {
  const seen = run(`
    import { execFileSync } from 'node:child_process';
    const setTraceId = installTraceIdVariable();
    const childSees = () => execFileSync('/usr/bin/env', { encoding: 'utf8' }).split('\\n').filter((l) => l.startsWith('_X_AMZN_TRACE_ID=') || l.startsWith('KEEP='));
    const before = { value: process.env._X_AMZN_TRACE_ID, has: '_X_AMZN_TRACE_ID' in process.env };
    setTraceId('Root=1-a;Parent=b;Sampled=1');
    const set = {
      value: process.env._X_AMZN_TRACE_ID, has: '_X_AMZN_TRACE_ID' in process.env,
      keys: Object.keys(process.env), spread: { ...process.env }, child: childSees(),
    };
    process.env._X_AMZN_TRACE_ID = 42; // the function's own write: a string, as process.env makes it
    const written = process.env._X_AMZN_TRACE_ID;
    delete process.env._X_AMZN_TRACE_ID;
    const deleted = { value: process.env._X_AMZN_TRACE_ID, keys: Object.keys(process.env), child: childSees() };
    setTraceId(undefined);
    process.env.TZ = 'Asia/Kolkata'; // other variables keep their effects
    console.log(JSON.stringify({ before, set, written, deleted, offset: new Date(0).getTimezoneOffset(), tz: process.env.TZ }));
  `, { KEEP: '1', TZ: 'UTC' });
  assert.deepEqual(seen, {
    before: { has: false },
    set: {
      value: 'Root=1-a;Parent=b;Sampled=1', has: true,
      keys: ['KEEP', 'TZ', '_X_AMZN_TRACE_ID'], spread: { KEEP: '1', TZ: 'UTC', _X_AMZN_TRACE_ID: 'Root=1-a;Parent=b;Sampled=1' },
      child: ['KEEP=1', '_X_AMZN_TRACE_ID=Root=1-a;Parent=b;Sampled=1'],
    },
    written: '42',
    deleted: { keys: ['KEEP', 'TZ'], child: ['KEEP=1'] },
    offset: -330,
    tz: 'Asia/Kolkata',
  });
});

test('a trace variable the process started with is kept', () => {
  assert.deepEqual(run(`
    installTraceIdVariable();
    console.log(JSON.stringify([process.env._X_AMZN_TRACE_ID, Object.keys(process.env)]));
  `, { _X_AMZN_TRACE_ID: 'Root=start' }), ['Root=start', ['_X_AMZN_TRACE_ID']]);
});

test('a new trace id per invoke does not grow the process (setenv keeps every value it was given)', () => {
  // 200,000 distinct values through setenv(3) grow glibc's heap by about
  // 33 MB (the leak this module exists for); held in JavaScript, they are
  // garbage like any string.
  const growth = run(`
    const setTraceId = installTraceIdVariable();
    const set = (i) => setTraceId('Root=1-5759e988-bd862e3fe1be46a994272793;Parent=' + i.toString(16).padStart(16, '0') + ';Sampled=1');
    for (let i = 0; i < 1000; i++) set(i);
    const start = process.memoryUsage().rss;
    for (let i = 0; i < 200000; i++) { set(i); if (process.env._X_AMZN_TRACE_ID === undefined) throw new Error('unset'); }
    console.log(JSON.stringify((process.memoryUsage().rss - start) / 1048576));
  `) as number;
  assert.ok(growth < 12, `the process grew by ${growth.toFixed(1)} MB over 200,000 trace ids`);
});

test('a trace variable that reaches the real environment again is taken over, never listed twice', () => {
  assert.deepEqual(run(`
    import { spawnSync } from 'node:child_process';
    const early = process.env; // the real environment, as a preloaded module might hold it
    const setTraceId = installTraceIdVariable();
    setTraceId('Root=invoke');
    early._X_AMZN_TRACE_ID = 'behind';
    const keys = Object.keys(process.env);
    const child = spawnSync('/usr/bin/env', { encoding: 'utf8' }).stdout.split('\\n').filter((l) => l.startsWith('_X_AMZN'));
    console.log(JSON.stringify({ keys, value: process.env._X_AMZN_TRACE_ID, child, real: Object.hasOwn(early, '_X_AMZN_TRACE_ID') }));
  `), { keys: ['_X_AMZN_TRACE_ID'], value: 'behind', child: ['_X_AMZN_TRACE_ID=behind'], real: false });
});
