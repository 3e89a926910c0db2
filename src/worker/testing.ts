/**
 * Test set-up shared by the worker's and the sandbox backends' tests:
 * function directories on disk, function version specs and invoke requests.
 * Imported by *.test.ts files only.
 */
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { once } from 'node:events';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { chmod, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after } from 'node:test';
import type { FunctionVersionSpec } from '../shared/spec.js';
import { fakeSpec } from '../shared/testing.js';
import { detectCgroups } from './sandbox/cgroups.js';
import type { SandboxInvokeRequest } from './types.js';

/** The ARN every test function has. */
export const TEST_FUNCTION_ARN = 'arn:aws:lambda:us-east-1:000000000000:function:fn';

/**
 * Returns a maker of function directories under the OS temp directory, named
 * `<prefix>…`, all removed after the calling test file. Each directory is
 * 0755 (readable by a sandbox's unprivileged uid); its files are 0644, and a
 * `bootstrap` is 0755 unless `executable` is false.
 */
export function codeDirs(prefix: string): (files: Record<string, string>, executable?: boolean) => Promise<string> {
  const made: string[] = [];
  after(async () => {
    for (const d of made) await rm(d, { recursive: true, force: true });
  });
  return async (files, executable = true) => {
    const dir = await mkdtemp(join(tmpdir(), prefix));
    made.push(dir);
    await chmod(dir, 0o755);
    for (const [name, text] of Object.entries(files)) {
      await writeFile(join(dir, name), text, { mode: name === 'bootstrap' && executable ? 0o755 : 0o644 });
    }
    return dir;
  };
}

/** A function version spec (shared/testing's fakeSpec: a 128 MB, 3 s nodejs20.x function) named `fn`, for code in `dir`, with `overrides`. */
export function testSpec(dir: string, overrides: Partial<FunctionVersionSpec> = {}): FunctionVersionSpec {
  return fakeSpec({ key: randomUUID(), functionName: 'fn', functionArn: TEST_FUNCTION_ARN, codeDir: dir, ...overrides });
}

/** An invoke of `fn` with a fresh request id. */
export function testRequest(payload: string, wantLogs: boolean): SandboxInvokeRequest {
  return {
    requestId: randomUUID(),
    payload: Buffer.from(payload),
    invokedFunctionArn: TEST_FUNCTION_ARN,
    clientContext: undefined,
    wantLogs,
  };
}

/**
 * A nodejs function (index.js) whose handler runs `body`, an async function
 * body with `event`, `fs`, `cp` (child_process), `os` and
 * `attempt(fn)` → { ok, value } | { ok: false, code }.
 */
export function nodeFn(body: string): Record<string, string> {
  return {
    'index.js': `const fs = require('node:fs'); const cp = require('node:child_process'); const os = require('node:os');
const attempt = (fn) => { try { return { ok: true, value: fn() }; } catch (e) { return { ok: false, code: e.code }; } };
exports.handler = async (event) => { ${body} };`,
  };
}

/**
 * A provided.al2023 bootstrap in bash + curl that answers every event with
 * {"uid": <its uid>, "event": <the event>} and logs "handling <request id> as <user name>".
 */
export const WHOAMI_BOOTSTRAP = `#!/bin/bash
set -u
API="http://\${AWS_LAMBDA_RUNTIME_API}/2018-06-01/runtime"
while true; do
  HEADERS="$(mktemp)"
  EVENT="$(curl -sS -D "$HEADERS" "$API/invocation/next")"
  ID="$(grep -i '^Lambda-Runtime-Aws-Request-Id:' "$HEADERS" | cut -d: -f2 | tr -d '[:space:]')"
  echo "handling $ID as $(id -un)"
  curl -sS -o /dev/null -X POST "$API/invocation/$ID/response" -d "{\\"uid\\":$(id -u),\\"event\\":$EVENT}"
done
`;

/** A JSON object payload. */
export const json = (b: Buffer): Record<string, unknown> => JSON.parse(b.toString()) as Record<string, unknown>;

/** Waits until `worker` has a stem cell ready for `spec` (fails after `ms`). */
export async function stemCellReady(worker: { stemCellsReadyFor(spec: FunctionVersionSpec): number }, spec: FunctionVersionSpec, ms = 15_000): Promise<void> {
  const until = Date.now() + ms;
  while (worker.stemCellsReadyFor(spec) === 0) {
    if (Date.now() > until) throw new Error(`no stem cell became ready for ${spec.functionName} within ${ms} ms`);
    await new Promise((r) => setTimeout(r, 10));
  }
}

/**
 * A nodejs function (index.js) that reports what a sandbox looks like from
 * inside: its environment (process.env in order, and the process's own
 * record of it, /proc/self/environ), working directory, task root listing,
 * node's flags, module search paths, the globals the runtime left, and a
 * count of its invokes (a global).
 */
export const PROBE_FN: Record<string, string> = {
  'index.js': `const fs = require('node:fs');
let invokes = 0;
exports.handler = async (event, context) => {
  invokes += 1;
  let environ = null;
  try { environ = fs.readFileSync('/proc/self/environ', 'latin1').split('\\0').filter((l) => l !== ''); } catch {}
  return {
    invokes, env: Object.entries(process.env), environ, cwd: process.cwd(), task: fs.readdirSync(process.env.LAMBDA_TASK_ROOT).sort(),
    execArgv: process.execArgv, argv: process.argv, paths: module.paths, globals: Object.keys(globalThis).sort(), title: process.title,
    uid: process.getuid(), memoryLimitInMB: context.memoryLimitInMB, functionName: context.functionName, event,
  };
};
`,
};

/** Directories of Kindling's parent cgroup `name` (v2: one; v1: memory, cpu, pids). */
export function parentCgroupDirs(name: string): string[] {
  const cg = detectCgroups();
  if (!cg.ok) return [];
  return cg.layout.version === 2 ? [join(cg.layout.mount, name)] : [...new Set(Object.values(cg.layout.dirs))].map((d) => join(d, name));
}

/** What assertKilledPlatformReclaimed needs of one sandbox backend. */
export interface KilledPlatformCase {
  /** The module exporting the backend class (its dist URL), and the class's name. */
  readonly module: URL;
  readonly className: string;
  /** The base-name prefix of the backend's default roots ('kindling-', 'kindling-gv-'): what its sweep matches. */
  readonly rootPrefix: string;
  /** Prefix of the cgroup names the case uses. */
  readonly cgroupPrefix: string;
  /** Creates a backend in this process with `root` and `cgroupName` (and no data directory). */
  readonly create: (root: string, cgroupName: string) => Promise<{ close(): Promise<void> }>;
}

/**
 * A platform killed with SIGKILL (a child process that created the backend
 * with a data directory) leaves its root and cgroup; a backend created
 * while that data directory exists leaves them; once it is gone the next
 * backend created removes them, and never the root of a live sibling.
 */
export async function assertKilledPlatformReclaimed(c: KilledPlatformCase): Promise<void> {
  const deadRoot = join('/run', `${c.rootPrefix}${(0xdead00000000 + process.pid).toString(16)}`);
  const deadCgroup = `${c.cgroupPrefix}-killed`;
  const deadData = mkdtempSync(join(tmpdir(), 'kindling-killed-data-'));
  const script = `const { ${c.className} } = await import(${JSON.stringify(c.module.href)});
    await ${c.className}.create({ root: ${JSON.stringify(deadRoot)}, cgroupName: ${JSON.stringify(deadCgroup)}, dataDir: ${JSON.stringify(deadData)} });
    console.log('ready'); setInterval(() => {}, 1000);`;
  const platform = spawn(process.execPath, ['--input-type=module', '-e', script], { stdio: ['ignore', 'pipe', 'inherit'] });
  await new Promise<void>((resolveReady, reject) => {
    platform.stdout.once('data', () => resolveReady());
    platform.once('exit', (code) => reject(new Error(`the platform exited with ${code}`)));
  });
  platform.kill('SIGKILL');
  await once(platform, 'exit');
  const deadLeft = () => existsSync(deadRoot) && parentCgroupDirs(deadCgroup).every((d) => existsSync(d));
  assert.ok(deadLeft(), 'a killed platform leaves its root and cgroup');
  // A sibling whose platform (this process) lives.
  const liveRoot = join('/run', `${c.rootPrefix}${(0xbeef00000000 + process.pid).toString(16)}`);
  const opened: { close(): Promise<void> }[] = [];
  try {
    // While its data directory exists, a platform started on it cleans up: the sweep leaves it.
    opened.push(await c.create(liveRoot, `${c.cgroupPrefix}-live`));
    assert.ok(deadLeft(), 'kept while its data directory exists');
    rmSync(deadData, { recursive: true });
    opened.push(await c.create(join('/run', `${c.rootPrefix}test3-${process.pid}`), `${c.cgroupPrefix}-3`));
    assert.equal(existsSync(deadRoot), false);
    assert.ok(parentCgroupDirs(deadCgroup).every((d) => !existsSync(d)));
    assert.ok(existsSync(liveRoot) && parentCgroupDirs(`${c.cgroupPrefix}-live`).every((d) => existsSync(d)), 'a live backend keeps its root and cgroup');
  } finally {
    for (const b of opened) await b.close();
    rmSync(deadData, { recursive: true, force: true });
  }
}
