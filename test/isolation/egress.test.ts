/**
 * Network egress attempts: functions that try to reach what a sandbox must
 * never reach — the host's own addresses (its loopback, its interfaces'
 * addresses, the platform's ports listening on them), slirp's alias of the
 * host's loopback, the subnets the host is on, private and link-local
 * (metadata) ranges — with egress 'internet' and with egress 'none', and
 * the one thing an 'internet' sandbox must reach: a server on the (fake)
 * internet, by IP, with a working resolver configured.
 *
 * Real sandboxes (the namespace backend through LocalWorker, as the
 * platform drives it), real slirp4netns and nftables, and a fake internet
 * built of a network namespace and a veth pair (fake-internet.ts), so that
 * nothing here depends on the real internet. Needs root; skipped with the
 * reason otherwise, or when the host cannot run the namespace sandbox or
 * the 'internet' egress.
 */
import assert from 'node:assert/strict';
import { readFileSync, readdirSync, rmSync } from 'node:fs';
import { createServer, connect, type Server } from 'node:net';
import { Resolver } from 'node:dns';
import { networkInterfaces } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import type { Egress, FunctionVersionSpec } from '../../src/shared/spec.js';
import { LocalWorker } from '../../src/worker/local-worker.js';
import { codeDirs, json, testRequest, testSpec } from '../../src/worker/testing.js';
import { detectNamespaceSupport } from '../../src/worker/sandbox/detect.js';
import { GvisorBackend, detectGvisorSupport } from '../../src/worker/sandbox/gvisor.js';
import { NamespaceBackend } from '../../src/worker/sandbox/namespace.js';
import { detectEgressSupport } from '../../src/worker/sandbox/network.js';
import { startFakeInternet, type FakeInternet } from './fake-internet.js';
import { InvokeCommand, ListTagsCommand, TagResourceCommand, UntagResourceCommand } from '@aws-sdk/client-lambda';
import { deploy, json as sdkJson, launchKindling, type Kindling } from '../e2e/harness.js';

const root = process.getuid?.() === 0;
const nsSupport = detectNamespaceSupport(root ? 1_051_000_000 : undefined);
const egressSupport = detectEgressSupport();
const skip = !root
  ? 'egress tests need root (they build a fake internet with ip netns and veth pairs)'
  : !nsSupport.ok
    ? `namespace sandbox unavailable: ${nsSupport.problem}`
    : !egressSupport.ok
      ? `egress 'internet' unavailable: ${egressSupport.problem}`
      : false;

const codeDir = codeDirs('kindling-egress-test-');

/**
 * The probe: connects to every target of event.targets at once and reports,
 * per target, `connected: <first line the server sent>` or the error code;
 * its /etc/resolv.conf; whether the resolver answers (event.dnsName); and
 * what became of its attempts to remove its network's rules.
 */
const PROBE = {
  'index.js': `const net = require('node:net'); const fs = require('node:fs'); const dns = require('node:dns'); const cp = require('node:child_process');
const tryConnect = ({ host, port }) => new Promise((resolve) => {
  let connected = false; let data = ''; let code = null;
  const s = net.connect({ host, port });
  const timer = setTimeout(() => { code = 'TIMEOUT'; s.destroy(); }, 3000);
  s.setEncoding('utf8');
  s.on('connect', () => { connected = true; });
  s.on('data', (d) => { data += d; });
  s.on('error', (e) => { code = e.code; });
  s.on('close', () => { clearTimeout(timer); resolve(connected ? 'connected: ' + data.trim() : code); });
});
const run = (cmd, args) => { const r = cp.spawnSync(cmd, args, { encoding: 'utf8' }); return r.status; };
exports.handler = async (event) => {
  const names = Object.keys(event.targets);
  const results = await Promise.all(names.map((n) => tryConnect(event.targets[n])));
  const connections = Object.fromEntries(names.map((n, i) => [n, results[i]]));
  let resolvConf; try { resolvConf = fs.readFileSync('/etc/resolv.conf', 'utf8'); } catch (e) { resolvConf = e.code; }
  const dnsAnswer = event.dnsName ? await new Promise((resolve) => {
    const r = new dns.Resolver({ timeout: 3000, tries: 1 }); r.setServers(['10.0.2.3']);
    r.resolve4(event.dnsName, (e) => resolve(e ? e.code : 'answered'));
  }) : null;
  const undo = event.undo ? {
    nftFlush: run('/usr/sbin/nft', ['flush', 'ruleset']),
    routeAdd: run('/usr/sbin/ip', ['route', 'add', '192.0.2.0/24', 'dev', 'lo']),
    unshareNet: run('/usr/bin/unshare', ['-n', 'true']),
  } : null;
  return { connections, resolvConf, dnsAnswer, undo };
};`,
};

type Target = { host: string; port: number };

/** Children of this process named slirp4netns (the sandboxes' NATs), zombies excepted. */
function natProcesses(): number[] {
  const out: number[] = [];
  for (const name of readdirSync('/proc')) {
    if (!/^\d+$/.test(name)) continue;
    try {
      const stat = readFileSync(`/proc/${name}/stat`, 'latin1');
      const m = /^\d+ \((.*)\) (\S) (\d+)/.exec(stat);
      if (m && m[1] === 'slirp4netns' && m[2] !== 'Z' && Number(m[3]) === process.pid) out.push(Number(name));
    } catch {
      // exited meanwhile
    }
  }
  return out;
}

/** Connects from the host, answering like the probe. */
function hostConnect({ host, port }: Target): Promise<string> {
  return new Promise((resolve) => {
    let data = '';
    const s = connect({ host, port });
    s.setEncoding('utf8');
    s.on('data', (d: string) => (data += d));
    s.on('error', (e: NodeJS.ErrnoException) => resolve(e.code ?? 'error'));
    s.on('end', () => resolve(`connected: ${data.trim()}`));
  });
}

/** What the host's own resolver answers for `name`: 'answered' (addresses) or the error code (ENOTFOUND for NXDOMAIN...). */
function hostResolve(name: string): Promise<string> {
  return new Promise((resolve) => {
    const r = new Resolver({ timeout: 3000, tries: 1 });
    r.resolve4(name, (e) => resolve(e ? (e.code ?? 'error') : 'answered'));
  });
}

describe('sandbox network egress (namespace backend)', { skip }, () => {
  let fake: FakeInternet;
  let backend: NamespaceBackend;
  let worker: LocalWorker;
  let hostAll: Server;
  let hostLoopback: Server;
  const ports = { all: 0, loopback: 0 };
  /** Every target the probe tries, by name; only `internet` may ever answer. */
  let targets: Record<string, Target>;

  const listen = async (host: string): Promise<[Server, number]> => {
    const s = createServer((c) => {
      c.on('error', () => undefined);
      c.end('host service\n');
    });
    await new Promise<void>((r) => s.listen(0, host, () => r()));
    return [s, (s.address() as { port: number }).port];
  };

  before(async () => {
    fake = await startFakeInternet();
    [hostAll, ports.all] = await listen('0.0.0.0');
    [hostLoopback, ports.loopback] = await listen('127.0.0.1');
    const hostAddresses = Object.values(networkInterfaces())
      .flat()
      .filter((a) => a !== undefined && a.family === 'IPv4' && !a.internal)
      .map((a) => a!.address);
    targets = {
      internet: { host: fake.server, port: fake.port },
      // The platform's ports listen on the host's addresses: one stands for them all.
      ...Object.fromEntries(hostAddresses.map((a) => [`host ${a}`, { host: a, port: ports.all }])),
      'host loopback': { host: '127.0.0.1', port: ports.loopback },
      "slirp's alias of the host's loopback": { host: '10.0.2.2', port: ports.loopback },
      "slirp's alias of the host's loopback (all-address port)": { host: '10.0.2.2', port: ports.all },
      "slirp's DNS address on another port": { host: '10.0.2.3', port: ports.all },
      'a neighbour on a subnet the host is on': { host: fake.neighbour, port: fake.port },
      'link-local (metadata range)': { host: fake.linkLocal, port: fake.port },
      'the metadata endpoint': { host: '169.254.169.254', port: 80 },
      'a private network': { host: fake.privateAddress, port: fake.port },
    };
    backend = await NamespaceBackend.create({
      root: join('/run', `kindling-egt-${process.pid}`),
      cgroupName: `kindling-egt-${process.pid}`,
      hostUids: { base: 1_950_000_000 + (process.pid % 1000) * 100, count: 100 },
    });
    worker = new LocalWorker({ backend, stemCells: 0 });
  });

  after(async () => {
    await worker?.close();
    await backend?.close();
    hostAll?.close();
    hostLoopback?.close();
    await fake?.close();
  });

  const probe = async (egress: Egress, event: Record<string, unknown>): Promise<{ body: Record<string, unknown>; nats: number[]; destroy: () => Promise<void> }> => {
    const spec: FunctionVersionSpec = testSpec(await codeDir(PROBE), { timeout: 20, egress });
    const sb = await worker.createSandbox(spec);
    const out = await sb.invoke(testRequest(JSON.stringify(event), false));
    assert.equal(out.functionError, undefined, out.payload.toString());
    return { body: json(out.payload), nats: natProcesses(), destroy: () => sb.destroy() };
  };

  it('the fake internet and every forbidden target answer the host itself (so the refusals below are the sandbox\'s)', async () => {
    for (const [name, t] of Object.entries(targets)) {
      if (name === 'the metadata endpoint' || name.startsWith("slirp's")) continue; // not on the host's network
      assert.match(await hostConnect(t), /^connected: /, name);
    }
  });

  it("egress 'internet' reaches the internet by IP and has a resolver, and nothing of the host, its networks or metadata", async () => {
    const dnsName = 'example.com';
    const hostDns = await hostResolve(dnsName);
    const before = natProcesses();
    const { body, nats, destroy } = await probe('internet', { targets, dnsName, undo: true });
    const connections = body['connections'] as Record<string, string>;
    assert.equal(connections['internet'], `connected: internet ${fake.server}`);
    for (const [name, result] of Object.entries(connections)) {
      if (name !== 'internet') assert.doesNotMatch(String(result), /^connected/, `${name} was reachable: ${String(result)}`);
    }
    assert.equal(body['resolvConf'], 'nameserver 10.0.2.3\n');
    // slirp relays to the host's resolver: when that answers the host (an
    // address or NXDOMAIN alike), the sandbox gets the same answer.
    if (!['ETIMEOUT', 'ECONNREFUSED'].includes(hostDns)) assert.equal(body['dnsAnswer'], hostDns);
    // The function cannot take its rules down.
    for (const [what, status] of Object.entries(body['undo'] as Record<string, number | null>)) assert.notEqual(status, 0, `${what} succeeded`);
    // One NAT for the sandbox while it lives, none once it is gone.
    assert.equal(nats.length, before.length + 1);
    await destroy();
    assert.deepEqual(natProcesses(), before);
  });

  it("after the function tried to take its rules down, the host is still out of reach (a second invoke)", async () => {
    const spec: FunctionVersionSpec = testSpec(await codeDir(PROBE), { timeout: 20, egress: 'internet' });
    const sb = await worker.createSandbox(spec);
    try {
      const first = await sb.invoke(testRequest(JSON.stringify({ targets: {}, undo: true }), true));
      assert.equal(first.functionError, undefined, first.payload.toString() + (first.logs ?? ""));
      const out = await sb.invoke(testRequest(JSON.stringify({ targets }), false));
      assert.equal(out.functionError, undefined, out.payload.toString());
      const connections = json(out.payload)['connections'] as Record<string, string>;
      assert.equal(connections['internet'], `connected: internet ${fake.server}`);
      for (const [name, result] of Object.entries(connections)) {
        if (name !== 'internet') assert.doesNotMatch(String(result), /^connected/, `${name} was reachable: ${String(result)}`);
      }
    } finally {
      await sb.destroy();
    }
  });

  it("egress 'none' reaches nothing at all, and starts no NAT", async () => {
    const before = natProcesses();
    const { body, nats, destroy } = await probe('none', { targets });
    for (const [name, result] of Object.entries(body['connections'] as Record<string, string>)) {
      assert.doesNotMatch(String(result), /^connected/, `${name} was reachable: ${String(result)}`);
    }
    assert.equal(body['resolvConf'], 'ENOENT');
    assert.deepEqual(nats, before);
    await destroy();
  });

  it('sandboxes of one function each get a NAT of their own, all gone when the worker closes', async () => {
    const before = natProcesses();
    const spec: FunctionVersionSpec = testSpec(await codeDir(PROBE), { timeout: 20, egress: 'internet' });
    const sandboxes = await Promise.all([worker.createSandbox(spec), worker.createSandbox(spec)]);
    const outs = await Promise.all(sandboxes.map((sb) => sb.invoke(testRequest(JSON.stringify({ targets: { internet: targets['internet'] } }), true))));
    for (const out of outs) assert.equal(out.functionError, undefined, out.payload.toString() + (out.logs ?? ''));
    for (const out of outs) assert.deepEqual(json(out.payload)['connections'], { internet: `connected: internet ${fake.server}` });
    assert.equal(natProcesses().length, before.length + 2);
    await Promise.all(sandboxes.map((sb) => sb.destroy()));
    assert.deepEqual(natProcesses(), before);
  });
});

const gvSupport = root ? detectGvisorSupport() : undefined;
const gvSkip = gvSupport?.ok ? false : `gvisor sandbox unavailable: ${gvSupport?.ok === false ? gvSupport.problem : 'needs root'}`;

describe('sandbox network egress (gvisor backend)', { skip: gvSkip }, () => {
  let backend: GvisorBackend;
  let worker: LocalWorker;
  before(async () => {
    backend = await GvisorBackend.create({ root: join('/run', `kindling-egv-${process.pid}`), cgroupName: `kindling-egv-${process.pid}`, ...(gvSupport?.ok ? { support: gvSupport } : {}) });
    worker = new LocalWorker({ backend, stemCells: 0 });
  });
  after(async () => {
    await worker?.close();
    await backend?.close();
  });

  it("refuses egress 'internet' at sandbox start, saying why and what to do", async () => {
    const spec: FunctionVersionSpec = testSpec(await codeDir(PROBE), { egress: 'internet' });
    await assert.rejects(worker.createSandbox(spec), /egress 'internet' is not available on the gvisor sandbox backend.*run the function on the namespace backend/);
  });
});

/**
 * The egress setting as users give it: the function's `kindling:egress` tag
 * (CreateFunction Tags, TagResource, UntagResource) through the real
 * platform and the real SDK, on the default (namespace) backend.
 */
describe('the kindling:egress tag, through the platform', { skip }, () => {
  let fake: FakeInternet;
  let kindling: Kindling;
  before(async () => {
    fake = await startFakeInternet();
    kindling = await launchKindling({ args: ['--sandbox', 'namespace', '--stem-cells', '0'] });
  });
  after(async () => {
    kindling?.client.destroy();
    await kindling?.stop();
    if (kindling) rmSync(kindling.dataDir, { recursive: true, force: true });
    await fake?.close();
  });

  const reach = async (name: string): Promise<string> => {
    const out = await kindling.client.send(new InvokeCommand({ FunctionName: name, Payload: JSON.stringify({ targets: { internet: { host: fake.server, port: fake.port } } }) }));
    assert.equal(out.FunctionError, undefined, Buffer.from(out.Payload ?? []).toString());
    return (sdkJson(out.Payload) as { connections: { internet: string } }).connections.internet;
  };

  it("a function tagged 'internet' reaches the internet; untagged it is back to none; a bad value is refused", async () => {
    const { client } = kindling;
    await deploy(client, 'egress-tagged', PROBE, { Timeout: 20, Tags: { 'kindling:egress': 'internet', team: 'net' } });
    const arn = 'arn:aws:lambda:us-east-1:000000000000:function:egress-tagged';
    assert.equal(await reach('egress-tagged'), `connected: internet ${fake.server}`);
    assert.deepEqual((await client.send(new ListTagsCommand({ Resource: arn }))).Tags, { 'kindling:egress': 'internet', team: 'net' });

    // Untagging retires the warm sandbox: the next invoke has no network.
    await client.send(new UntagResourceCommand({ Resource: arn, TagKeys: ['kindling:egress'] }));
    assert.deepEqual((await client.send(new ListTagsCommand({ Resource: arn }))).Tags, { team: 'net' });
    assert.doesNotMatch(await reach('egress-tagged'), /^connected/);

    // And tagging it again gives it the internet back.
    await client.send(new TagResourceCommand({ Resource: arn, Tags: { 'kindling:egress': 'internet' } }));
    assert.equal(await reach('egress-tagged'), `connected: internet ${fake.server}`);

    await assert.rejects(client.send(new TagResourceCommand({ Resource: arn, Tags: { 'kindling:egress': 'everywhere' } })), (err: Error) => {
      assert.equal(err.name, 'InvalidParameterValueException');
      assert.match(err.message, /kindling:egress must be one of none, internet \(got 'everywhere'\)/);
      return true;
    });
    await assert.rejects(deploy(client, 'egress-bad', PROBE, { Tags: { 'kindling:egress': 'yes' } }), { name: 'InvalidParameterValueException' });
    await assert.rejects(client.send(new ListTagsCommand({ Resource: `${arn}:1` })), { name: 'InvalidParameterValueException' });
    await assert.rejects(client.send(new ListTagsCommand({ Resource: 'arn:aws:lambda:us-east-1:000000000000:function:nope' })), { name: 'ResourceNotFoundException' });
  });

  it('an untagged function has no network', async () => {
    await deploy(kindling.client, 'egress-untagged', PROBE, { Timeout: 20 });
    assert.doesNotMatch(await reach('egress-untagged'), /^connected/);
  });
});
