/**
 * The egress policy's pieces: reading the host's addresses from /proc, the
 * nftables ruleset (checked by the real nft in a scratch network namespace
 * where root and nft are there), and SandboxNetworks' arguments and
 * refusals. The sandboxes themselves are tested in test/isolation/egress.test.ts.
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { networkInterfaces } from 'node:os';
import { PassThrough } from 'node:stream';
import { describe, it } from 'node:test';
import { ALWAYS_BLOCKED, EgressUnavailableError, SandboxNetworks, detectEgressSupport, egressRuleset, hostRanges, parseConnectedSubnets, parseLocalAddresses } from './network.js';

/** /proc/net/fib_trie of a host with eth0 192.0.2.2/24, a veth 198.51.100.49/30 and a routed /32 (trimmed to the main table: the local one repeats it). */
const FIB_TRIE = `Main:
  +-- 0.0.0.0/0 3 0 4
     +-- 0.0.0.0/4 2 0 2
        |-- 0.0.0.0
           /0 universe UNICAST
        |-- 10.99.12.1
           /32 universe UNICAST
     +-- 127.0.0.0/8 2 0 2
        +-- 127.0.0.0/31 1 0 0
           |-- 127.0.0.0
              /8 host LOCAL
           |-- 127.0.0.1
              /32 host LOCAL
        |-- 127.255.255.255
           /32 link BROADCAST
     +-- 192.0.0.0/5 2 0 2
        +-- 192.0.2.0/24 2 0 2
           +-- 192.0.2.0/30 2 0 2
              |-- 192.0.2.0
                 /24 link UNICAST
              |-- 192.0.2.2
                 /32 host LOCAL
           |-- 192.0.2.255
              /32 link BROADCAST
        +-- 198.51.100.0/24 2 0 2
           +-- 198.51.100.48/30 2 0 1
              |-- 198.51.100.48
                 /30 link UNICAST
              |-- 198.51.100.49
                 /32 host LOCAL
`;

/** /proc/net/route of the same host (little-endian): default, a gateway /32 route, a reject route, two connected subnets. */
const ROUTE = `Iface\tDestination\tGateway \tFlags\tRefCnt\tUse\tMetric\tMask\t\tMTU\tWindow\tIRTT
eth0\t00000000\t010200C0\t0003\t0\t0\t0\t00000000\t0\t0\t0
kfih\t010C630A\t326433C6\t0007\t0\t0\t0\tFFFFFFFF\t0\t0\t0
lo\t00001AC6\t00000000\t0201\t0\t0\t0\t0000FFFF\t0\t0\t0
eth0\t000200C0\t00000000\t0001\t0\t0\t0\t00FFFFFF\t0\t0\t0
kfih\t306433C6\t00000000\t0001\t0\t0\t0\tFCFFFFFF\t0\t0\t0
`;

describe('the host\'s addresses', () => {
  it('are every local address of the routing table, 127/8 included', () => {
    assert.deepEqual(parseLocalAddresses(FIB_TRIE).sort(), ['127.0.0.0/8', '127.0.0.1/32', '192.0.2.2/32', '198.51.100.49/32']);
  });

  it('and the subnets the host is directly on, not routes through a gateway, the default or reject routes', () => {
    assert.deepEqual(parseConnectedSubnets(ROUTE, 'LE').sort(), ['192.0.2.0/24', '198.51.100.48/30']);
    // The same table as a big-endian host prints it.
    const be = ROUTE.replace(/\b[0-9A-F]{8}\b/g, (h) => h.match(/../g)!.reverse().join(''));
    assert.deepEqual(parseConnectedSubnets(be, 'BE').sort(), ['192.0.2.0/24', '198.51.100.48/30']);
  });

  it('read from this host, include every IPv4 address node sees on its interfaces', () => {
    const ranges = hostRanges();
    const mine = Object.values(networkInterfaces()).flat().filter((a) => a?.family === 'IPv4').map((a) => `${a.address}/32`);
    for (const a of mine) assert.ok(ranges.includes(a), `${a} missing from ${ranges.join(', ')}`);
  });
});

describe('egressRuleset', () => {
  it('refuses the blocked ranges merged (overlaps and neighbours joined), DNS only on port 53, IPv6 entirely', () => {
    const text = egressRuleset(['10.0.0.0/8', '10.0.2.15/32', '192.0.2.2/32', '192.0.2.3', '169.254.0.0/16']);
    assert.match(text, /elements = \{ 10\.0\.0\.0-10\.255\.255\.255, 169\.254\.0\.0-169\.254\.255\.255, 192\.0\.2\.2-192\.0\.2\.3 \}/);
    assert.match(text, /oifname "lo" accept\n\t\tmeta nfproto ipv6 reject/);
    assert.match(text, /ip daddr 10\.0\.2\.3 udp dport 53 accept\n\t\tip daddr 10\.0\.2\.3 tcp dport 53 accept\n\t\tip daddr @blocked meta l4proto tcp reject with tcp reset\n\t\tip daddr @blocked reject/);
    assert.throws(() => egressRuleset(['10.0.0.0/33']), /not an IPv4 CIDR/);
    assert.throws(() => egressRuleset(['fd00::/8']), /not an IPv4 CIDR/);
  });

  const support = detectEgressSupport();
  it('is accepted by nft as it is, with the host\'s own addresses', { skip: support.ok ? false : support.problem }, () => {
    if (!support.ok) return;
    const ruleset = egressRuleset([...ALWAYS_BLOCKED, ...hostRanges()]);
    // A scratch network namespace, gone with the process.
    const r = spawnSync('unshare', ['--net', 'sh', '-c', `"$0" -f - && "$0" list set inet kindling blocked`, support.nft], { input: ruleset, encoding: 'utf8' });
    assert.equal(r.status, 0, r.stderr);
    assert.match(r.stdout, /169\.254\.0\.0\/16/);
    assert.match(r.stdout, /10\.0\.0\.0\/8/);
  });
});

describe('SandboxNetworks', () => {
  it('gives every sandbox the handshake fds', () => {
    const nets = new SandboxNetworks({ tools: { slirp4netns: '/x/slirp4netns', nft: '/x/nft', ip: '/x/ip', nsenter: '/x/nsenter' } });
    assert.deepEqual(nets.bwrapArgs('none'), ['--info-fd', '5', '--block-fd', '6']);
    assert.deepEqual(nets.bwrapArgs('internet'), ['--info-fd', '5', '--block-fd', '6']);
  });

  it("refuses 'internet' where it cannot be given, before the sandbox starts", () => {
    const nets = new SandboxNetworks({ tools: false });
    assert.throws(() => nets.bwrapArgs('internet'), EgressUnavailableError);
  });

  it("releases a 'none' sandbox at once, reading whatever bwrap reports", async () => {
    const nets = new SandboxNetworks({ tools: false });
    const info = new PassThrough();
    const block = new PassThrough();
    const released: Buffer[] = [];
    block.on('data', (d: Buffer) => released.push(d));
    assert.equal(await nets.connect({ info, block }, 'none'), undefined);
    assert.equal(Buffer.concat(released).length, 1);
    // bwrap writing its info later finds a reader.
    assert.equal(info.write('{"child-pid": 2}'), true);
  });

  it("never releases an 'internet' sandbox whose bwrap reported no child", async () => {
    const nets = new SandboxNetworks({ tools: { slirp4netns: '/x/slirp4netns', nft: '/x/nft', ip: '/x/ip', nsenter: '/x/nsenter' } });
    const info = new PassThrough();
    const block = new PassThrough();
    let released = false;
    block.on('data', () => (released = true));
    const connecting = nets.connect({ info, block }, 'internet');
    info.end('bwrap: Creating new namespace failed');
    await assert.rejects(connecting, /the sandbox did not start/);
    assert.equal(released, false);
  });
});
