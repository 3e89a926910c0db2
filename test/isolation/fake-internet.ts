/**
 * A stand-in for the internet, so that egress tests need no real one: a
 * network namespace joined to the host by a veth pair, reached from the host
 * through a router address on that link, with a TCP server answering on
 * addresses of several kinds. Needs root (ip netns, ip link).
 *
 *   host  198.51.100.<4k+1>/30 ── veth ── 198.51.100.<4k+2>/30  fake internet
 *   routes on the host, via 198.51.100.<4k+2>:        lo: 198.51.100.<128+k>  (a public server)
 *     198.51.100.<128+k>/32, 169.254.77.<k+1>/32,         169.254.77.<k+1>   (link-local, as metadata)
 *     10.99.<k>.1/32                                      10.99.<k>.1         (a private network)
 *
 * Every server answers a connection with `internet <the address it was reached at>\n`.
 * k is picked so that two of these can run side by side.
 */
import { execFileSync, spawn } from 'node:child_process';
import type { ChildProcess } from 'node:child_process';

export interface FakeInternet {
  /** The "public" server, reachable only through a router (not on a subnet the host is on). */
  readonly server: string;
  /** The port every address of the fake internet answers on. */
  readonly port: number;
  /** The host's own address on the link to the fake internet. */
  readonly hostAddress: string;
  /** The fake router: on a subnet the host is directly on. */
  readonly neighbour: string;
  /** A link-local address routed to the fake internet (as cloud metadata is). */
  readonly linkLocal: string;
  /** A private (RFC 1918) address routed to the fake internet. */
  readonly privateAddress: string;
  /** Removes the namespace, the veth pair and the routes, and stops the server. */
  close(): Promise<void>;
}

const PORT = 8080;

const ip = (...args: string[]): void => {
  execFileSync('ip', args, { stdio: ['ignore', 'ignore', 'pipe'] });
};

/** Builds the fake internet (root only). */
export async function startFakeInternet(): Promise<FakeInternet> {
  const tag = `${process.pid % 100000}`;
  const ns = `kfi-${tag}`;
  const hostIf = `kfih${tag}`;
  const nsIf = `kfin${tag}`;
  const cleanups: (() => void)[] = [];
  const cleanup = () => {
    for (const c of cleanups.reverse()) {
      try {
        c();
      } catch {
        // already gone
      }
    }
  };
  let server: ChildProcess | undefined;
  try {
    ip('netns', 'add', ns);
    cleanups.push(() => ip('netns', 'del', ns));
    ip('link', 'add', hostIf, 'type', 'veth', 'peer', 'name', nsIf);
    // Deleting the host end deletes its peer and every route through it.
    cleanups.push(() => ip('link', 'del', hostIf));
    ip('link', 'set', nsIf, 'netns', ns);
    // The first k whose server route no other fake internet holds.
    let k = -1;
    for (let i = 0; i < 32 && k < 0; i++) {
      const cand = (process.pid + i) % 32;
      if (execFileSync('ip', ['-4', 'route', 'show', 'exact', `198.51.100.${128 + cand}/32`], { encoding: 'utf8' }).trim() === '') k = cand;
    }
    if (k < 0) throw new Error('no free fake internet slot');
    const hostAddress = `198.51.100.${4 * k + 1}`;
    ip('addr', 'add', `${hostAddress}/30`, 'dev', hostIf);
    const neighbour = `198.51.100.${4 * k + 2}`;
    const addresses = { server: `198.51.100.${128 + k}`, linkLocal: `169.254.77.${k + 1}`, privateAddress: `10.99.${k}.1` };
    ip('link', 'set', hostIf, 'up');
    ip('-n', ns, 'addr', 'add', `${neighbour}/30`, 'dev', nsIf);
    ip('-n', ns, 'link', 'set', nsIf, 'up');
    ip('-n', ns, 'link', 'set', 'lo', 'up');
    for (const a of Object.values(addresses)) ip('-n', ns, 'addr', 'add', `${a}/32`, 'dev', 'lo');
    ip('-n', ns, 'route', 'add', 'default', 'via', hostAddress);
    for (const a of Object.values(addresses)) ip('route', 'add', `${a}/32`, 'via', neighbour, 'dev', hostIf);

    const script = `require('node:net').createServer((s) => { s.on('error', () => {}); s.end('internet ' + s.localAddress + '\\n'); })
      .listen(${PORT}, '0.0.0.0', () => console.log('ready'));`;
    const child = spawn('ip', ['netns', 'exec', ns, process.execPath, '-e', script], { stdio: ['ignore', 'pipe', 'inherit'] });
    server = child;
    await new Promise<void>((resolve, reject) => {
      child.stdout.setEncoding('utf8').on('data', (d: string) => {
        if (d.includes('ready')) resolve();
      });
      child.once('exit', (code) => reject(new Error(`the fake internet's server exited (${String(code)})`)));
    });
    const running = child;
    const exited = new Promise<void>((r) => running.once('exit', () => r()));
    return {
      ...addresses,
      port: PORT,
      hostAddress,
      neighbour,
      async close() {
        running.kill('SIGKILL');
        await exited;
        cleanup();
      },
    };
  } catch (err) {
    server?.kill('SIGKILL');
    cleanup();
    throw err;
  }
}
