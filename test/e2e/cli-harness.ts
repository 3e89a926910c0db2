/**
 * What end-to-end tests of the `kindling` client CLI share: running
 * ./bin/kindling as a child process against a platform, project directories
 * written by the test, and plain HTTP requests to the platform's front door.
 */
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { request as httpRequest } from 'node:http';
import type { IncomingHttpHeaders } from 'node:http';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { Kindling } from './harness.js';

/** ./bin/kindling of the checkout (this file is dist/test/e2e/cli-harness.js). */
export const BIN = fileURLToPath(new URL('../../../bin/kindling', import.meta.url));

export interface CliRun {
  readonly code: number | null;
  readonly stdout: string;
  readonly stderr: string;
}

/** Runs ./bin/kindling with args, its endpoint given by KINDLING_ENDPOINT (as a user would set it). */
export function runCli(endpoint: string, args: readonly string[], options: { cwd?: string; env?: Record<string, string> } = {}): Promise<CliRun> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [BIN, ...args], {
      cwd: options.cwd ?? process.cwd(),
      env: { ...process.env, KINDLING_ENDPOINT: endpoint, ...options.env },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let stdout = '';
    let stderr = '';
    child.stdout.setEncoding('utf8').on('data', (d: string) => (stdout += d));
    child.stderr.setEncoding('utf8').on('data', (d: string) => (stderr += d));
    child.once('error', reject);
    child.once('close', (code) => resolve({ code, stdout, stderr }));
  });
}

/** runCli, asserting that the command succeeded. */
export async function runCliOk(endpoint: string, args: readonly string[], options: { cwd?: string } = {}): Promise<CliRun> {
  const r = await runCli(endpoint, args, options);
  assert.equal(r.code, 0, `kindling ${args.join(' ')} exited ${r.code}\nstdout: ${r.stdout}\nstderr: ${r.stderr}`);
  return r;
}

/** A temporary project directory holding files (path → content); removed by the returned function. */
export function writeProject(files: Readonly<Record<string, string>>): { dir: string; remove(): void } {
  const dir = mkdtempSync(join(tmpdir(), 'kindling-cli-e2e-'));
  for (const [path, content] of Object.entries(files)) {
    mkdirSync(dirname(join(dir, path)), { recursive: true });
    writeFileSync(join(dir, path), content);
  }
  return { dir, remove: () => rmSync(dir, { recursive: true, force: true }) };
}

/** The HTTP front door's port, from the `function urls on http://HOST:PORT` line `kindling up` prints. */
export function frontDoorPort(k: Kindling): number {
  const m = /^function urls on http:\/\/[^:]+:(\d+)$/m.exec(k.output());
  assert.ok(m, k.output());
  return Number(m[1]);
}

export interface HttpAnswer {
  readonly status: number;
  readonly headers: IncomingHttpHeaders;
  readonly body: string;
}

/**
 * One request to 127.0.0.1:port with the given Host header: a function URL's
 * host (<url-id>.lambda-url.<region>.localhost) is not known to every
 * resolver, and fetch cannot set Host.
 */
export function httpOn(port: number, method: string, path: string, host = `127.0.0.1:${port}`, body?: string): Promise<HttpAnswer> {
  return new Promise((resolve, reject) => {
    const req = httpRequest({ host: '127.0.0.1', port, method, path, headers: { host } }, (res) => {
      let text = '';
      res.setEncoding('utf8').on('data', (d: string) => (text += d));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body: text }));
    });
    req.once('error', reject);
    req.end(body);
  });
}
