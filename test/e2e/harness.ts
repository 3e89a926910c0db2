/**
 * End-to-end harness: starts the real `kindling up` as a child process on
 * port 0 and talks to it with the real AWS SDK.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { TestContext } from 'node:test';
import { ZipFile } from 'yazl';
import {
  CreateFunctionCommand,
  LambdaClient,
  waitUntilFunctionActiveV2,
  type CreateFunctionCommandInput,
} from '@aws-sdk/client-lambda';

/** The compiled CLI entry: dist/src/cli/main.js (this file is dist/test/e2e/harness.js). */
export const CLI = fileURLToPath(new URL('../../src/cli/main.js', import.meta.url));
export const ROLE = 'arn:aws:iam::000000000000:role/lambda-role';

export interface Kindling {
  readonly url: string;
  readonly client: LambdaClient;
  readonly dataDir: string;
  readonly process: ChildProcess;
  /** Everything the platform printed so far. */
  output(): string;
  /** Sends a signal and waits for the platform to exit; resolves with its exit code. */
  stop(signal?: NodeJS.Signals): Promise<number | null>;
}

export interface StartOptions {
  /** Reuse a data dir (restart tests); a fresh temp dir by default, removed after the test. */
  readonly dataDir?: string;
  readonly args?: readonly string[];
  /** Options for node itself, before the CLI (benchmarks: `--cpu-prof`). */
  readonly nodeArgs?: readonly string[];
}

/** Starts `kindling up --port 0` and waits for its `listening on` line. Stopped (and its temp data dir removed) in t.after. */
export async function startKindling(t: TestContext, options: StartOptions = {}): Promise<Kindling> {
  const kindling = await launchKindling(options);
  t.after(async () => {
    kindling.client.destroy();
    await kindling.stop();
    if (!options.dataDir) rmSync(kindling.dataDir, { recursive: true, force: true });
  });
  return kindling;
}

/**
 * The sandbox backend end-to-end tests run on unless a test names one:
 * KINDLING_E2E_SANDBOX (scripts/run-tests.mjs runs the e2e files once per
 * backend), else kindling's own default.
 */
export const E2E_SANDBOX = process.env.KINDLING_E2E_SANDBOX;

/** Starts `kindling up --port 0` as a child process (for tests and benchmarks); the caller stops it. */
export async function launchKindling(options: StartOptions = {}): Promise<Kindling> {
  const dataDir = options.dataDir ?? mkdtempSync(join(tmpdir(), 'kindling-e2e-'));
  const args = [...(options.args ?? [])];
  if (E2E_SANDBOX && !args.includes('--sandbox')) args.push('--sandbox', E2E_SANDBOX);
  const child = spawn(process.execPath, [...(options.nodeArgs ?? []), CLI, 'up', '--port', '0', '--data-dir', dataDir, ...args], {
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let out = '';
  child.stdout.setEncoding('utf8').on('data', (d: string) => (out += d));
  child.stderr.setEncoding('utf8').on('data', (d: string) => (out += d));
  const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));

  const url = await new Promise<string>((resolve, reject) => {
    const onData = () => {
      const m = /^listening on (http:\/\/\S+)$/m.exec(out);
      if (m) {
        child.stdout.off('data', onData);
        resolve(m[1]!);
      }
    };
    child.stdout.on('data', onData);
    void exited.then((code) => reject(new Error(`kindling up exited with ${code} before listening:\n${out}`)));
  });

  const client = new LambdaClient({
    endpoint: url,
    region: 'us-east-1',
    credentials: { accessKeyId: 'test', secretAccessKey: 'test' },
    maxAttempts: 1,
  });
  let stopped: Promise<number | null> | undefined;
  return {
    url,
    client,
    dataDir,
    process: child,
    output: () => out,
    stop(signal: NodeJS.Signals = 'SIGTERM') {
      if (!stopped) {
        child.kill(signal);
        stopped = exited;
      }
      return stopped;
    },
  };
}

export type ZipEntry = string | Buffer | { readonly content: string | Buffer; readonly mode: number };

/** Builds a deployment package (zip) in memory from file name → content. */
export function zip(files: Readonly<Record<string, ZipEntry>>): Promise<Buffer> {
  const z = new ZipFile();
  for (const [name, entry] of Object.entries(files)) {
    const { content, mode } =
      typeof entry === 'string' || Buffer.isBuffer(entry) ? { content: entry, mode: 0o644 } : entry;
    z.addBuffer(Buffer.from(content), name, { mode: 0o100000 | mode });
  }
  z.end();
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    z.outputStream.on('data', (c: Buffer) => chunks.push(c));
    z.outputStream.on('end', () => resolve(Buffer.concat(chunks)));
    z.outputStream.on('error', reject);
  });
}

/** Creates a nodejs20.x function from inline files and waits until it is Active. */
export async function deploy(
  client: LambdaClient,
  name: string,
  files: Readonly<Record<string, ZipEntry>>,
  extra: Partial<CreateFunctionCommandInput> = {},
): Promise<void> {
  await client.send(
    new CreateFunctionCommand({
      FunctionName: name,
      Runtime: 'nodejs20.x',
      Handler: 'index.handler',
      Role: ROLE,
      Code: { ZipFile: await zip(files) },
      ...extra,
    }),
  );
  await waitUntilFunctionActiveV2({ client, maxWaitTime: 60 }, { FunctionName: name });
}

/** Decodes an SDK Payload (Uint8Array) as JSON. */
export function json(payload: Uint8Array | undefined): unknown {
  return JSON.parse(Buffer.from(payload ?? []).toString('utf8'));
}

/** Decodes X-Amz-Log-Result. */
export function logs(logResult: string | undefined): string {
  return Buffer.from(logResult ?? '', 'base64').toString('utf8');
}

/**
 * A function body fragment naming the sandbox it runs in. The log stream name
 * is unique per sandbox (as on Lambda) and, unlike the pid, means the same
 * thing in every backend (a pid namespace renumbers pids).
 */
export const SANDBOX_ID = 'process.env.AWS_LAMBDA_LOG_STREAM_NAME';

/** The environment of every process on this host, as NAME=value lists. */
function environments(): string[][] {
  const out: string[][] = [];
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      out.push(readFileSync(`/proc/${entry}/environ`, 'latin1').split('\0'));
    } catch {
      // gone while we looked
    }
  }
  return out;
}

/** The sandboxes (by log stream name) that still have a process on this host. */
export function runningSandboxes(streams: readonly string[]): string[] {
  const wanted = new Set(streams.map((s) => `AWS_LAMBDA_LOG_STREAM_NAME=${s}`));
  const found = new Set<string>();
  for (const env of environments()) for (const v of env) if (wanted.has(v)) found.add(v.slice(v.indexOf('=') + 1));
  return [...found];
}

/** Log stream names of the running sandboxes of a function (by its name). */
export function sandboxesOf(functionName: string): string[] {
  const found = new Set<string>();
  for (const env of environments()) {
    if (!env.includes(`AWS_LAMBDA_FUNCTION_NAME=${functionName}`)) continue;
    const stream = env.find((v) => v.startsWith('AWS_LAMBDA_LOG_STREAM_NAME='));
    if (stream) found.add(stream.slice('AWS_LAMBDA_LOG_STREAM_NAME='.length));
  }
  return [...found];
}

/** True while some process of the sandbox with this log stream name exists. */
export function alive(stream: string): boolean {
  return runningSandboxes([stream]).length > 0;
}

/** Waits until `check` holds, polling; fails after `ms`. For conditions that settle asynchronously (process exit). */
export async function eventually(check: () => boolean, ms = 5000, what = 'condition'): Promise<void> {
  const end = Date.now() + ms;
  while (!check()) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}
