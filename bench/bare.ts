/**
 * Starting the bare baseline (bench/bare-server.ts) as its own process with a
 * cleared environment, like a sandbox: for `npm run bench` and `npm run bench:cpu`.
 */
import { spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';

const BARE = fileURLToPath(new URL('./bare-server.js', import.meta.url));
const RELAY = fileURLToPath(new URL('./relay-server.js', import.meta.url));
export const CLEAN_ENV = { PATH: '/usr/local/bin:/usr/bin:/bin' };

export interface BareServer {
  readonly url: URL;
  readonly pid: number;
  stop(): void;
}

/** The handler in `handlerFile` behind a bare node:http server: the physical limit of a warm invoke. */
export function startBare(handlerFile: string): Promise<BareServer> {
  return startServer(BARE, handlerFile);
}

/**
 * The handler in `handlerFile` in one child process per concurrent request,
 * behind a node:http server that relays to them (bench/relay-server.ts):
 * the floor of one process per concurrent invoke. Its children are the
 * server's descendants.
 */
export function startRelay(handlerFile: string): Promise<BareServer> {
  return startServer(RELAY, handlerFile);
}

async function startServer(script: string, handlerFile: string): Promise<BareServer> {
  const child = spawn(process.execPath, [script, handlerFile], { env: CLEAN_ENV, stdio: ['ignore', 'pipe', 'inherit'] });
  const port = await new Promise<number>((resolve, reject) => {
    let out = '';
    child.stdout.setEncoding('utf8').on('data', (d: string) => {
      out += d;
      const m = /listening (\d+)/.exec(out);
      if (m) resolve(Number(m[1]));
    });
    child.once('exit', (code) => reject(new Error(`bare server exited ${code}`)));
  });
  return { url: new URL(`http://127.0.0.1:${port}/`), pid: child.pid!, stop: () => child.kill('SIGKILL') };
}

/** Time from spawning `node` (cleared environment) to the handler's first result: the floor of a cold start. */
export function bareColdStart(handlerFile: string): Promise<number> {
  return new Promise((resolve, reject) => {
    const t0 = performance.now();
    const child = spawn(process.execPath, [BARE, handlerFile, '--once'], { env: CLEAN_ENV, stdio: ['ignore', 'pipe', 'inherit'] });
    child.stdout.once('data', () => resolve(performance.now() - t0));
    child.once('error', reject);
  });
}

/**
 * Starts of `node` running the handler once (bareColdStart's), `count` at
 * once, per second: the ceiling of a sandbox creation rate that starts a
 * runtime per sandbox, with no platform, no isolation and no Runtime API.
 */
export async function bareStartRate(handlerFile: string, count: number): Promise<number> {
  const t0 = performance.now();
  await Promise.all(Array.from({ length: count }, () => bareColdStart(handlerFile)));
  return count / ((performance.now() - t0) / 1000);
}
