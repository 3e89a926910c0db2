/**
 * Network egress of namespace sandboxes.
 *
 * Every sandbox has a network namespace of its own (bwrap --unshare-net),
 * holding only a loopback: with egress 'none' that is all it ever has. It
 * reaches no host port, no other sandbox and no network; its Runtime API
 * comes through the one unix socket its worker bound in.
 *
 * With egress 'internet' the worker, as root, gives that namespace
 * outbound connectivity through a user-mode NAT, slirp4netns: a tap device
 * (tap0, 10.0.2.100/24, default route via 10.0.2.2, MTU 65520) whose frames a
 * slirp4netns process on the host turns into ordinary host sockets. No
 * packet of the sandbox is ever routed by the host's kernel: the host needs
 * no bridge, no veth, no ip_forward and no firewall change, and the
 * sandbox's connections leave as connections of that process.
 *
 * What the sandbox must not reach through it is refused by an nftables
 * ruleset in the sandbox's own namespace (egressRuleset), installed by the
 * worker from outside (nsenter as root) before the sandbox's first
 * instruction runs:
 * - every address of the host (its local routing table, /proc/net/fib_trie:
 *   loopback, every interface's, docker's and veths' included), the
 *   subnets the host is directly on (/proc/net/route), read anew for each
 *   sandbox;
 * - the ranges that are not global (ALWAYS_BLOCKED): private networks,
 *   carrier-grade NAT, link-local (the cloud metadata endpoints
 *   169.254.169.254 and friends), loopback, multicast, reserved;
 * - all IPv6 but the sandbox's own loopback (slirp4netns runs without IPv6);
 * - slirp's virtual host 10.0.2.2 (which would be the host's loopback:
 *   --disable-host-loopback refuses it as well) and its DNS address 10.0.2.3
 *   but for port 53: slirp relays ANY port of 10.0.2.3 to the host's
 *   resolver, which is a loopback address (127.0.0.53) where
 *   systemd-resolved runs, so without this rule every host service
 *   listening on all addresses would be one connect away (slirp4netns(1),
 *   "FILTERING CONNECTIONS").
 * The function cannot undo any of it: the rules and routes belong to a
 * network namespace owned by the outer user namespace bwrap made, while the
 * function runs in bwrap's inner one with no capabilities, no_new_privs and
 * seccomp denying unshare/setns; CAP_NET_ADMIN over that namespace is held
 * only by root and by the sandbox's host uid outside. It cannot bypass the
 * rules with raw or packet sockets either (CAP_NET_RAW), and the NAT
 * terminates every connection at the header's destination address (IP
 * source-routing options are not followed).
 *
 * DNS: /etc/resolv.conf in an 'internet' sandbox names 10.0.2.3, which
 * slirp4netns answers by relaying to the host's first resolver.
 *
 * Ordering: bwrap is given --info-fd 5 (it writes its child's host pid and
 * namespace ids there) and --block-fd 6 (the child waits for a byte there
 * after setting up its namespaces and before it loads the seccomp filter
 * and execs). The worker opens the child's network namespace, checks it is
 * the one bwrap reported, installs the rules and starts slirp4netns (both at
 * once), waits for slirp4netns's ready-fd (tap0 exists), configures tap0
 * (TAP_CONFIG) and only then writes the byte: the function's first
 * instruction already has its network, and never runs without the rules.
 * A 'none' sandbox is released at once.
 *
 * Lifetime: slirp4netns is a child of the worker, ended by the sandbox's
 * dispose(). Its --exit-fd is a pipe whose other end only the worker holds:
 * if the worker dies, slirp4netns exits too; no NAT outlives its platform.
 * It runs --enable-sandbox (its own mount namespace, every capability but
 * CAP_NET_BIND_SERVICE dropped) and --enable-seccomp.
 *
 * gVisor: its Sentry has its own network stack, which would send the
 * sandbox's frames through a packet socket, past any netfilter rule of the
 * namespace; the gvisor backend refuses 'internet' (GVISOR_EGRESS_PROBLEM).
 */
import { spawn } from 'node:child_process';
import type { ChildProcess } from 'node:child_process';
import { closeSync, fstatSync, openSync, readFileSync, statSync } from 'node:fs';
import { endianness } from 'node:os';
import type { Readable, Writable } from 'node:stream';
import type { Egress } from '../../shared/spec.js';
import { findExecutable } from './detect.js';

/** The sandbox's side of the NAT (slirp4netns's defaults). */
export const SANDBOX_NET = {
  /** The sandbox's address on tap0. */
  address: '10.0.2.100',
  /** slirp's virtual gateway (the default route's next hop; refused as a destination). */
  gateway: '10.0.2.2',
  /** slirp's DNS relay, the sandbox's only nameserver. */
  dns: '10.0.2.3',
  cidr: '10.0.2.0/24',
  device: 'tap0',
  /** slirp4netns's maximum (65521) rounded down: far fewer packets than 1500 for bulk transfers. */
  mtu: 65520,
} as const;

/**
 * IPv4 ranges no 'internet' sandbox reaches, whatever the host: those of
 * the IANA special-purpose registry (RFC 6890) that are not globally
 * reachable, except the documentation ranges 192.0.2.0/24, 198.51.100.0/24
 * and 203.0.113.0/24, which no real network uses and which test networks
 * and labs use as stand-ins for public addresses.
 */
export const ALWAYS_BLOCKED: readonly string[] = [
  '0.0.0.0/8', // "this network"
  '10.0.0.0/8', // private (RFC 1918); includes slirp's own 10.0.2.0/24
  '100.64.0.0/10', // carrier-grade NAT (RFC 6598); Alibaba's metadata 100.100.100.200
  '127.0.0.0/8', // loopback (the sandbox's own loopback is allowed by interface, not address)
  '169.254.0.0/16', // link-local: 169.254.169.254 (AWS, GCP, Azure, OpenStack metadata), 169.254.169.253 (AWS DNS), 169.254.170.2 (ECS credentials)
  '172.16.0.0/12', // private; docker's default bridges
  '192.0.0.0/24', // IETF protocol assignments
  '192.168.0.0/16', // private
  '198.18.0.0/15', // benchmarking
  '224.0.0.0/4', // multicast
  '240.0.0.0/4', // reserved, and the limited broadcast address
];

/** Tools the 'internet' egress runs (absolute paths). */
export interface EgressTools {
  readonly slirp4netns: string;
  readonly nft: string;
  readonly ip: string;
  readonly nsenter: string;
}

/** detectEgressSupport()'s answer: the tools, or one line saying why 'internet' cannot be given here. */
export type EgressDetection = ({ readonly ok: true } & EgressTools) | { readonly ok: false; readonly problem: string };

/**
 * Whether this host can give sandboxes egress 'internet': Kindling runs as
 * root (it configures each sandbox's network namespace from outside) and
 * slirp4netns, nft (nftables), ip (iproute2) and nsenter (util-linux) are
 * installed.
 * Egress 'none' needs none of this.
 */
export function detectEgressSupport(): EgressDetection {
  if (process.platform !== 'linux') return { ok: false, problem: "egress 'internet' needs Linux" };
  if (process.getuid?.() !== 0) {
    return { ok: false, problem: "egress 'internet' needs Kindling to run as root (the worker configures each sandbox's network namespace from outside it)" };
  }
  const found = { slirp4netns: findExecutable('slirp4netns'), nft: findExecutable('nft'), ip: findExecutable('ip'), nsenter: findExecutable('nsenter') };
  const packages = { slirp4netns: 'slirp4netns', nft: 'nftables', ip: 'iproute2', nsenter: 'util-linux' } as const;
  const missing = (Object.keys(found) as (keyof typeof found)[]).filter((k) => found[k] === undefined);
  if (missing.length > 0) {
    return { ok: false, problem: `egress 'internet' needs ${missing.join(' and ')}: apt-get install ${missing.map((k) => packages[k]).join(' ')}` };
  }
  return { ok: true, ...(found as EgressTools) };
}

/** A sandbox asked for an egress this worker or backend cannot give; the message says why and what to do. */
export class EgressUnavailableError extends Error {
  override readonly name = 'EgressUnavailableError';
}

/** Why the gvisor backend refuses egress 'internet' (see the file comment). */
export const GVISOR_EGRESS_PROBLEM =
  "egress 'internet' is not available on the gvisor sandbox backend (gVisor's own network stack would bypass the filter that keeps sandboxes off the host's addresses): run the function on the namespace backend, or set its kindling:egress tag to none";

// ---- The host's addresses and the ruleset ----

/** An inclusive range of IPv4 addresses as unsigned 32-bit numbers. */
interface Range4 {
  readonly first: number;
  readonly last: number;
}

function parseIpv4(text: string): number | undefined {
  const m = /^(\d{1,3})\.(\d{1,3})\.(\d{1,3})\.(\d{1,3})$/.exec(text);
  if (!m) return undefined;
  const octets = m.slice(1, 5).map(Number);
  if (octets.some((o) => o > 255)) return undefined;
  return octets.reduce((n, o) => n * 256 + o, 0);
}

function formatIpv4(n: number): string {
  return [n >>> 24, (n >>> 16) & 255, (n >>> 8) & 255, n & 255].join('.');
}

/** "a.b.c.d/n" (or a bare address, /32) as the range it covers; throws on anything else. */
function cidrRange(cidr: string): Range4 {
  const [addr = '', lenText = '32', extra] = cidr.split('/');
  const ip = parseIpv4(addr);
  const len = Number(lenText);
  if (ip === undefined || extra !== undefined || !/^\d{1,2}$/.test(lenText) || len > 32) throw new Error(`not an IPv4 CIDR: ${cidr}`);
  const size = 2 ** (32 - len);
  const first = ip - (ip % size);
  return { first, last: first + size - 1 };
}

/** The ranges as the fewest non-overlapping ranges, sorted. */
function mergeRanges(ranges: readonly Range4[]): Range4[] {
  const sorted = [...ranges].sort((a, b) => a.first - b.first);
  const out: { first: number; last: number }[] = [];
  for (const r of sorted) {
    const prev = out.at(-1);
    if (prev !== undefined && r.first <= prev.last + 1) prev.last = Math.max(prev.last, r.last);
    else out.push({ first: r.first, last: r.last });
  }
  return out;
}

/**
 * The host's own IPv4 addresses from /proc/net/fib_trie's text: every leaf
 * of the local table ("/32 host LOCAL"), which is what the kernel delivers
 * locally — every interface's addresses, up or down, and all of 127/8.
 * Returned as CIDRs (an address is "a.b.c.d/32").
 */
export function parseLocalAddresses(fibTrie: string): string[] {
  const out = new Set<string>();
  let leaf: string | undefined;
  for (const line of fibTrie.split('\n')) {
    const l = /\|--\s+(\d+\.\d+\.\d+\.\d+)\s*$/.exec(line);
    if (l) {
      leaf = l[1];
      continue;
    }
    const p = /^\s+\/(\d+)\s+\S+\s+LOCAL\b/.exec(line);
    if (p && leaf !== undefined) out.add(`${leaf}/${p[1]}`);
  }
  return [...out];
}

/**
 * The subnets the host is directly on, from /proc/net/route's text: routes
 * of the main table without a gateway (RTF_GATEWAY), the default route and
 * reject routes excepted. Addresses there are 32-bit hex in host byte order.
 */
export function parseConnectedSubnets(routeTable: string, byteOrder: 'LE' | 'BE' = endianness()): string[] {
  const RTF_UP = 0x1;
  const RTF_GATEWAY = 0x2;
  const RTF_REJECT = 0x200;
  const toNumber = (hex: string): number => {
    const v = parseInt(hex, 16) >>> 0;
    return byteOrder === 'LE' ? (((v & 255) << 24) | (((v >>> 8) & 255) << 16) | (((v >>> 16) & 255) << 8) | (v >>> 24)) >>> 0 : v;
  };
  const out = new Set<string>();
  for (const line of routeTable.split('\n').slice(1)) {
    const f = line.trim().split(/\s+/);
    if (f.length < 8) continue;
    const [, dest = '', , flagsText = '', , , , maskText = ''] = f;
    if (![dest, flagsText, maskText].every((h) => /^[0-9A-Fa-f]{1,8}$/.test(h))) continue;
    const flags = parseInt(flagsText, 16);
    const mask = toNumber(maskText);
    if ((flags & RTF_UP) === 0 || (flags & (RTF_GATEWAY | RTF_REJECT)) !== 0 || mask === 0) continue;
    const len = 32 - Math.log2(2 ** 32 - mask);
    if (!Number.isInteger(len)) continue;
    out.add(`${formatIpv4((toNumber(dest) & mask) >>> 0)}/${len}`);
  }
  return [...out];
}

/** The host's own addresses and connected subnets, read now (the host's network changes: docker, VPNs). */
export function hostRanges(): string[] {
  const read = (path: string): string => {
    try {
      return readFileSync(path, 'latin1');
    } catch {
      return '';
    }
  };
  return [...parseLocalAddresses(read('/proc/net/fib_trie')), ...parseConnectedSubnets(read('/proc/net/route'))];
}

/**
 * The nftables ruleset of an 'internet' sandbox's network namespace:
 * loopback allowed; IPv6 refused; slirp's DNS relay allowed on port 53
 * only; every address of `blocked` (CIDRs, merged) refused — TCP with a
 * reset, so that a connect fails at once with ECONNREFUSED, anything else
 * with ICMP administratively prohibited; everything else (the internet)
 * allowed.
 */
export function egressRuleset(blocked: readonly string[]): string {
  const ranges = mergeRanges(blocked.map(cidrRange));
  const elements = ranges.map((r) => (r.first === r.last ? formatIpv4(r.first) : `${formatIpv4(r.first)}-${formatIpv4(r.last)}`));
  return `table inet kindling {
\tset blocked {
\t\ttype ipv4_addr
\t\tflags interval
\t\telements = { ${elements.join(', ')} }
\t}
\tchain output {
\t\ttype filter hook output priority 0; policy accept;
\t\toifname "lo" accept
\t\tmeta nfproto ipv6 reject with icmpx type admin-prohibited
\t\tip daddr ${SANDBOX_NET.dns} udp dport 53 accept
\t\tip daddr ${SANDBOX_NET.dns} tcp dport 53 accept
\t\tip daddr @blocked meta l4proto tcp reject with tcp reset
\t\tip daddr @blocked reject with icmpx type admin-prohibited
\t}
}
`;
}

// ---- Per sandbox ----

/** bwrap's file descriptors of the handshake (see the file comment). */
export const INFO_FD = 5;
export const BLOCK_FD = 6;

/** The worker's ends of a sandbox's handshake: bwrap's info (fd 5) and its block (fd 6). */
export interface NetnsHandshake {
  readonly info: Readable;
  readonly block: Writable;
}

/** A sandbox's running NAT. */
export interface SandboxEgress {
  /** Host pid of the sandbox's slirp4netns. */
  readonly natPid: number;
  /** Ends the NAT (SIGKILL) and waits for its exit. Idempotent. */
  close(): Promise<void>;
}

/** An 'internet' sandbox's /etc/resolv.conf: slirp4netns's DNS. A 'none' sandbox has none. */
export const SANDBOX_RESOLV_CONF = `nameserver ${SANDBOX_NET.dns}\n`;

/** Options of SandboxNetworks. */
export interface SandboxNetworksOptions {
  /** Found already (skips detection), or false: this worker gives no 'internet'. Default: detectEgressSupport() at the first 'internet' sandbox. */
  readonly tools?: EgressTools | false;
  /** Ranges to refuse besides the host's own (hostRanges()). Default ALWAYS_BLOCKED. */
  readonly blocked?: readonly string[];
  /** How long bwrap and slirp4netns may take to be ready. Default 10 s. */
  readonly timeoutMs?: number;
}

/**
 * The networks of one backend's sandboxes: the bwrap arguments of each
 * sandbox's egress, and connect(), which gives a started sandbox its
 * network (or none) and then lets it run.
 */
export class SandboxNetworks {
  readonly #blocked: readonly string[];
  readonly #timeoutMs: number;
  #tools: EgressDetection | undefined;

  constructor(options: SandboxNetworksOptions = {}) {
    if (options.tools === false) this.#tools = { ok: false, problem: "egress 'internet' is turned off on this worker" };
    else if (options.tools !== undefined) this.#tools = { ok: true, ...options.tools };
    this.#blocked = options.blocked ?? ALWAYS_BLOCKED;
    this.#timeoutMs = options.timeoutMs ?? 10_000;
  }

  /**
   * bwrap arguments for a sandbox with `egress`: the handshake fds (every
   * sandbox: see the file comment). Throws EgressUnavailableError when this
   * host cannot give 'internet', before anything of the sandbox runs. (Its
   * resolv.conf, SANDBOX_RESOLV_CONF, is in the /etc the backend gives it.)
   */
  bwrapArgs(egress: Egress): string[] {
    if (egress === 'internet') this.#support();
    return ['--info-fd', String(INFO_FD), '--block-fd', String(BLOCK_FD)];
  }

  /**
   * Gives the sandbox whose bwrap holds the other ends of `handshake` its
   * egress, then lets its command run. Returns the NAT to close with the
   * sandbox ('internet'), or undefined ('none'). Rejects when the network
   * could not be made; the sandbox then never runs its command (its pid 1
   * still waits, or is gone) and must be disposed.
   */
  async connect(handshake: NetnsHandshake, egress: Egress): Promise<SandboxEgress | undefined> {
    const { info, block } = handshake;
    info.on('error', () => undefined);
    block.on('error', () => undefined);
    if (egress === 'none') {
      // bwrap still writes its info: keep reading so that it never meets a closed pipe.
      info.resume();
      block.end(RELEASE);
      return undefined;
    }
    const tools = this.#support();
    const { childPid, netns } = await readInfo(info, this.#timeoutMs);
    // Pin the namespace: from here on both tools get this very namespace
    // (as /proc/self/fd/N), whatever becomes of the pid.
    const nsFd = openSync(`/proc/${childPid}/ns/net`, 'r');
    let nat: Nat | undefined;
    try {
      const ino = fstatSync(nsFd).ino;
      if (ino !== netns) throw new Error(`sandbox pid ${childPid} is not in the network namespace bwrap reported`);
      if (ino === statSync('/proc/self/ns/net').ino) throw new Error("the sandbox shares the platform's network namespace");
      nat = startNat(tools, nsFd);
      // The rules while slirp4netns starts; tap0 once it exists.
      await Promise.all([inNetns(tools, nsFd, [tools.nft, '-f', '-'], egressRuleset([...this.#blocked, ...hostRanges()]), this.#timeoutMs), nat.ready(this.#timeoutMs)]);
      await inNetns(tools, nsFd, [tools.ip, '-batch', '-'], TAP_CONFIG, this.#timeoutMs);
    } catch (err) {
      await nat?.close();
      throw err;
    } finally {
      closeSync(nsFd);
    }
    block.end(RELEASE);
    return nat;
  }

  #support(): EgressTools {
    this.#tools ??= detectEgressSupport();
    if (!this.#tools.ok) throw new EgressUnavailableError(this.#tools.problem);
    return this.#tools;
  }
}

/** The byte that lets bwrap's child go on (--block-fd reads one). */
const RELEASE = Buffer.of(1);

/** A host-side helper's environment: never the sandbox's, never the platform's. */
const TOOL_ENV = { PATH: '/usr/sbin:/usr/bin:/sbin:/bin' };

/** bwrap's --info-fd JSON: the child's host pid and its network namespace's inode. */
async function readInfo(info: Readable, timeoutMs: number): Promise<{ childPid: number; netns: number }> {
  const text = await new Promise<string>((resolveText, reject) => {
    let buf = '';
    const timer = setTimeout(() => reject(new Error(`bubblewrap did not report its sandbox within ${timeoutMs} ms`)), timeoutMs);
    info.setEncoding('utf8');
    info.on('data', (d: string) => (buf += d));
    // bwrap closes the fd once written; so does a gate that exits instead.
    info.once('close', () => {
      clearTimeout(timer);
      resolveText(buf);
    });
  });
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch {
    throw new Error(`the sandbox did not start (bubblewrap reported ${JSON.stringify(text.slice(0, 200))})`);
  }
  const o = parsed as Record<string, unknown>;
  const childPid = o['child-pid'];
  const netns = o['net-namespace'];
  if (typeof childPid !== 'number' || !Number.isInteger(childPid) || childPid <= 1 || typeof netns !== 'number') {
    throw new Error(`bubblewrap reported no child pid and network namespace: ${text.slice(0, 200)}`);
  }
  return { childPid, netns };
}

/** How a helper process ended. */
interface Ended {
  readonly code: number | null;
  readonly signal: NodeJS.Signals | null;
  readonly error: Error | undefined;
}

function ended(child: ChildProcess): Promise<Ended> {
  return new Promise((done) => {
    let error: Error | undefined;
    child.once('error', (err) => {
      error = err;
      // spawn failed: no 'exit' follows
      if (child.pid === undefined) done({ code: null, signal: null, error });
    });
    child.once('exit', (code, signal) => done({ code, signal, error }));
  });
}

/** Collects a stream's text, up to 4 KB, and keeps draining it after. */
function collect(stream: Readable | null): () => string {
  let text = '';
  stream?.setEncoding('utf8');
  stream?.on('data', (d: string) => {
    if (text.length < 4096) text += d;
  });
  stream?.on('error', () => undefined);
  return () => text.trim().split('\n').slice(-3).join(' / ');
}

/**
 * tap0's address, MTU and default route, configured here rather than by
 * `slirp4netns --configure`, which also brings the loopback up: racing
 * bwrap's own loopback set-up in the same namespace (its child does that
 * after reporting its pid), it made bwrap fail one start in four
 * ("loopback: Failed RTM_NEWADDR"). Nothing here touches lo.
 */
const TAP_CONFIG = `link set ${SANDBOX_NET.device} mtu ${SANDBOX_NET.mtu} up
addr add ${SANDBOX_NET.address}/${SANDBOX_NET.cidr.split('/')[1] ?? '24'} dev ${SANDBOX_NET.device}
route add default via ${SANDBOX_NET.gateway} dev ${SANDBOX_NET.device}
`;

/** Runs `command` (nft -f -, ip -batch -) as root in the namespace `nsFd` through nsenter, `input` on its stdin. */
async function inNetns(tools: EgressTools, nsFd: number, command: readonly string[], input: string, timeoutMs: number): Promise<void> {
  const child = spawn(tools.nsenter, ['--net=/proc/self/fd/3', '--', ...command], { cwd: '/', env: TOOL_ENV, stdio: ['pipe', 'ignore', 'pipe', nsFd] });
  child.stdin?.on('error', () => undefined);
  const stderr = collect(child.stderr);
  child.stdin?.end(input);
  const timer = setTimeout(() => child.kill('SIGKILL'), timeoutMs);
  const end = await ended(child);
  clearTimeout(timer);
  if (end.code !== 0) {
    throw new Error(`the sandbox's network could not be configured (${command.slice(0, 2).join(' ')}: ${end.error?.message ?? end.signal ?? `exit ${String(end.code)}`}): ${stderr()}`);
  }
}

/** A slirp4netns process (see startNat). */
interface Nat extends SandboxEgress {
  /** Resolves when slirp4netns has made tap0 and serves it; rejects if it exits first or takes too long. */
  ready(timeoutMs: number): Promise<void>;
}

/**
 * Starts slirp4netns on the namespace `nsFd` (fd 5 in it). fd 3 is its
 * exit-fd: a pipe whose other end only this process holds (slirp4netns
 * exits when it closes, with the worker); fd 4 its ready-fd.
 */
function startNat(tools: EgressTools, nsFd: number): Nat {
  const args = [
    `--mtu=${SANDBOX_NET.mtu}`, `--cidr=${SANDBOX_NET.cidr}`,
    '--disable-host-loopback', '--enable-sandbox', '--enable-seccomp',
    '--netns-type=path', '--exit-fd=3', '--ready-fd=4',
    '/proc/self/fd/5', SANDBOX_NET.device,
  ];
  const child = spawn(tools.slirp4netns, args, { cwd: '/', env: TOOL_ENV, stdio: ['ignore', 'ignore', 'pipe', 'pipe', 'pipe', nsFd] });
  const stdio = child.stdio as unknown as [null, null, Readable, Writable, Readable, null];
  stdio[3].on('error', () => undefined);
  const stderr = collect(stdio[2]);
  const exited = ended(child);
  let closing: Promise<void> | undefined;
  const close = (): Promise<void> => {
    closing ??= (async () => {
      if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
      await exited;
      stdio[3].destroy();
    })();
    return closing;
  };
  return {
    natPid: child.pid ?? 0,
    close,
    ready: (timeoutMs) =>
      new Promise<void>((resolveReady, reject) => {
        const timer = setTimeout(() => reject(new Error(`slirp4netns did not start the sandbox's network within ${timeoutMs} ms: ${stderr()}`)), timeoutMs);
        stdio[4].on('error', () => undefined);
        stdio[4].once('data', () => {
          clearTimeout(timer);
          resolveReady();
        });
        void exited.then((end) => {
          clearTimeout(timer);
          reject(new Error(`slirp4netns exited before the sandbox's network was ready (${end.error?.message ?? end.signal ?? `exit ${String(end.code)}`}): ${stderr()}`));
        });
      }),
  };
}
