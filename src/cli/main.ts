#!/usr/bin/env node
/**
 * The `kindling` command. Entry point only: parses flags and wires; the work
 * is done by the components (see all-in-one.ts for the wiring).
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { Command, InvalidArgumentError, Option } from 'commander';
import { startPlatform, type PlatformOptions } from '../all-in-one.js';
import { SandboxUnavailableError } from '../worker/sandbox/backend.js';
import type { GvisorPlatform } from '../worker/sandbox/gvisor.js';
import { startWorkerProcess } from '../worker/worker-process.js';
import type { SandboxKind } from '../worker/backends.js';
import type { Egress } from '../shared/spec.js';
import { DEFAULT_LOG_RETENTION_DAYS, DEFAULT_LOG_RETENTION_MB } from '../store/log-store.js';
import { listQueues, receiveMessages, redrive } from './queue.js';
import { printStatus } from './status.js';
import { closeInheritedFds } from '../shared/inherited-fds.js';
import { KindlingClient, resolveEndpoint } from './client.js';
import { invokeCommand, logsCommand, lsCommand, rmCommand } from './commands.js';
import { deployCommand } from './deploy/index.js';
import { makeOutput } from './output.js';

function integer(min: number, max: number) {
  return (value: string): number => {
    const n = Number(value);
    if (!Number.isInteger(n) || n < min || n > max) throw new InvalidArgumentError(`expected a whole number from ${min} to ${max}`);
    return n;
  };
}

/** --endpoint of every client command: the flag, else $KINDLING_ENDPOINT, else http://127.0.0.1:9000 (client.ts resolveEndpoint). */
function endpointOption(): Option {
  return new Option('--endpoint <url>', 'URL of the platform (default: $KINDLING_ENDPOINT or http://127.0.0.1:9000)');
}

const program = new Command('kindling')
  .description('Kindling: run AWS Lambda functions unchanged on your own Linux machines')
  .showHelpAfterError();

const sandboxOption = () =>
  new Option('--sandbox <backend>', 'sandbox backend: namespace isolates functions (bubblewrap + cgroups, Linux); gvisor adds a user-space kernel (runsc, root) for untrusted code; process does not isolate')
    .choices(['process', 'namespace', 'gvisor'])
    .default(process.platform === 'linux' ? 'namespace' : 'process');
const gvisorPlatformOption = () =>
  new Option('--gvisor-platform <platform>', 'with --sandbox gvisor: how gVisor intercepts system calls (ptrace works wherever ptrace is allowed; systrap and kvm are faster where the host allows them)')
    .choices(['ptrace', 'systrap', 'kvm'])
    .default('ptrace');

function positiveNumber(value: string): number {
  const n = Number(value);
  if (!Number.isFinite(n) || n <= 0) throw new InvalidArgumentError('expected a number above 0');
  return n;
}

function zoneList(value: string): string[] {
  const zones = value.split(',').map((z) => z.trim());
  if (zones.some((z) => !/^[a-z0-9-]+$/.test(z))) throw new InvalidArgumentError('expected zone names like a,b,c (letters, digits, dashes)');
  return zones;
}

/** The one line for a backend that cannot run here, then exit 2: never a silent fallback. */
function exitUnavailable(err: SandboxUnavailableError): never {
  console.error(`kindling: ${err.message} (or run with --sandbox process, which does not isolate functions)`);
  process.exit(2);
}

function warnIfUnisolated(sandbox: string): void {
  if (sandbox === 'process') {
    console.error('kindling: WARNING: --sandbox process does not isolate functions: their code runs as this user with access to this machine; use it only for code you trust');
  }
}

/** Stops `thing` on SIGINT/SIGTERM; a second signal exits at once. */
function stopOnSignals(thing: { close(): Promise<void> }, what: string): void {
  let stopping = false;
  const stop = (signal: string) => {
    if (stopping) {
      console.error(`kindling: ${signal} again, exiting now`);
      process.exit(1);
    }
    stopping = true;
    console.error(`kindling: ${signal}, ${what}`);
    thing.close().then(
      () => process.exit(0),
      (err: unknown) => {
        console.error('kindling: error while stopping', err);
        process.exit(1);
      },
    );
  };
  process.on('SIGINT', () => stop('SIGINT'));
  process.on('SIGTERM', () => stop('SIGTERM'));
}

program
  .command('up')
  .description('start the all-in-one platform: Lambda API, front end, worker manager and a worker in one process')
  .option('--port <n>', 'port of the Lambda API (0 picks a free port)', integer(0, 65535), 9000)
  .option('--host <h>', 'address to listen on', '127.0.0.1')
  .option('--http-port <n>', 'port of the HTTP front door: function URLs and HTTP routes (default: the API port + 1; 0 picks a free port)', integer(0, 65535))
  .option('--http-host <h>', 'address the HTTP front door listens on (default: --host)')
  .option('--data-dir <dir>', 'where functions, code and state are kept (embedded store)', '.kindling')
  .addOption(sandboxOption())
  .addOption(gvisorPlatformOption())
  .option('--keep-alive <seconds>', 'how long an idle sandbox stays warm', integer(1, 86_400), 300)
  .option('--region <region>', 'the region in ARNs and AWS_REGION', 'us-east-1')
  .option('--concurrency <n>', 'account concurrency limit (concurrent executions)', integer(1, 1_000_000), 1000)
  .option('--workers <n>', 'run N worker processes (like N hosts) instead of one worker inside the platform', integer(0, 256), 0)
  .option('--zones <a,b,c>', 'zones of the worker processes, assigned in turn (default: <region>a)', zoneList)
  .option('--worker-capacity <MB>', "memory each worker offers to sandboxes (default: 90% of this host's memory, shared by the workers)", integer(128, 16_777_216))
  .option('--sandbox-lifetime <seconds>', 'the longest a sandbox lives before it is replaced (its lease)', integer(60, 7 * 86_400), 21_600)
  .option('--stem-cells <n>', 'most pre-started, code-less nodejs sandboxes each worker keeps so a cold start only loads the handler; the pool grows to it with bursts of cold starts (0: none; default: one per 512 MB of worker capacity, 4 to 64)', integer(0, 1000))
  .option('--no-runtime-snapshots', 'start every nodejs sandbox as a plain script, not from the runtime\'s startup snapshot (snapshots are built per memory size in the background)')
  .option('--scaling-rate <n>', 'new sandboxes a function may start per 10 seconds; beyond it invokes get 429', integer(1, 1_000_000), 1000)
  .addOption(new Option('--placement <policy>', 'pack concentrates load on few sandboxes and workers; round-robin spreads it (a baseline for benchmarks)').choices(['pack', 'round-robin']).default('pack'))
  .option('--async-pollers <n>', 'pollers delivering Event invokes, each running up to 32 at once', integer(1, 64), 2)
  .addOption(new Option('--async-time-scale <factor>', "multiplies the async path's retry delays, backoff and event ages (tests and demos: 0.01 runs Lambda's one-minute retry in 0.6 s)").argParser(positiveNumber).default(1))
  .option('--log-retention-days <days>', "function logs older than this are removed", integer(1, 3650), DEFAULT_LOG_RETENTION_DAYS)
  .option('--log-retention-mb <MB>', "most log bytes kept per function: past it its oldest lines go", integer(1, 1_048_576), DEFAULT_LOG_RETENTION_MB)
  .addOption(new Option('--egress <egress>', 'network egress of functions without a kindling:egress tag: none (no network) or internet (outbound through NAT, host and private addresses blocked)').choices(['none', 'internet']).default('none'))
  .action(async (flags: {
    port: number; host: string; dataDir: string; sandbox: string; gvisorPlatform: string; keepAlive: number; region: string; concurrency: number;
    workers: number; zones?: string[]; workerCapacity?: number; sandboxLifetime: number; placement: string; scalingRate: number; stemCells?: number; runtimeSnapshots: boolean; egress: string;
    asyncPollers: number; asyncTimeScale: number; httpPort?: number; httpHost?: string; logRetentionDays: number; logRetentionMb: number;
  }) => {
    // commander has checked these against their choices.
    const sandbox = flags.sandbox as PlatformOptions['sandbox'];
    const gvisorPlatform = flags.gvisorPlatform as GvisorPlatform;
    warnIfUnisolated(sandbox);
    const options: PlatformOptions = {
      host: flags.host,
      port: flags.port,
      dataDir: flags.dataDir,
      sandbox,
      gvisorPlatform,
      keepAliveSeconds: flags.keepAlive,
      region: flags.region,
      accountConcurrency: flags.concurrency,
      workers: flags.workers,
      ...(flags.zones ? { zones: flags.zones } : {}),
      ...(flags.workerCapacity !== undefined ? { workerCapacityMB: flags.workerCapacity } : {}),
      sandboxLifetimeSeconds: flags.sandboxLifetime,
      placement: flags.placement as 'pack' | 'round-robin',
      scalingRate: flags.scalingRate,
      ...(flags.stemCells !== undefined ? { stemCells: flags.stemCells } : {}),
      runtimeSnapshots: flags.runtimeSnapshots,
      defaultEgress: flags.egress as Egress,
      asyncPollers: flags.asyncPollers,
      asyncTimeScale: flags.asyncTimeScale,
      ...(flags.httpPort !== undefined ? { httpPort: flags.httpPort } : {}),
      ...(flags.httpHost !== undefined ? { httpHost: flags.httpHost } : {}),
      logRetentionDays: flags.logRetentionDays,
      logRetentionMB: flags.logRetentionMb,
    };
    let platform;
    try {
      platform = await startPlatform(options);
    } catch (err) {
      if (err instanceof SandboxUnavailableError) exitUnavailable(err);
      throw err;
    }
    // Before `listening on`: whoever waits for that line finds this one printed already.
    console.log(`function urls on ${platform.httpUrl}`);
    console.log(`listening on ${platform.url}`);
    stopOnSignals(platform, 'stopping sandboxes');
  });

program
  .command('worker')
  .description('run one worker host: it joins a platform, which places sandboxes on it')
  .requiredOption('--join <url>', 'URL of the platform (kindling up) to join')
  .option('--token <token>', "the platform's cluster token (default: $KINDLING_CLUSTER_TOKEN, or the token file in --platform-data-dir)")
  .option('--platform-data-dir <dir>', "the platform's data directory on this host, to read its cluster token from", '.kindling')
  .option('--zone <zone>', 'the zone this worker is in', 'us-east-1a')
  .option('--capacity <MB>', 'memory this worker offers to sandboxes', integer(128, 16_777_216), 4096)
  .addOption(sandboxOption())
  .addOption(gvisorPlatformOption())
  .option('--stem-cells <n>', 'most pre-started, code-less nodejs sandboxes each worker keeps so a cold start only loads the handler; the pool grows to it with bursts of cold starts (0: none; default: one per 512 MB of worker capacity, 4 to 64)', integer(0, 1000))
  .option('--no-runtime-snapshots', 'start every nodejs sandbox as a plain script, not from the runtime\'s startup snapshot (snapshots are built per memory size in the background)')
  .option('--data-dir <dir>', "this worker's own files", '.kindling-worker')
  .option('--host <h>', 'address to listen on for the platform', '127.0.0.1')
  .option('--port <n>', 'port to listen on (0 picks a free port)', integer(0, 65535), 0)
  .addOption(new Option('--slot <n>', 'which worker of this host (keeps sandbox uids apart)').argParser(integer(0, 1000)).default(0).hideHelp())
  .action(async (flags: { join: string; token?: string; platformDataDir: string; zone: string; capacity: number; sandbox: string; gvisorPlatform: string; dataDir: string; host: string; port: number; slot: number; stemCells?: number; runtimeSnapshots: boolean }) => {
    warnIfUnisolated(flags.sandbox);
    const token = flags.token ?? process.env['KINDLING_CLUSTER_TOKEN'] ?? readToken(flags.platformDataDir);
    let worker;
    try {
      worker = await startWorkerProcess({
        join: flags.join.replace(/\/+$/, ''),
        token,
        zone: flags.zone,
        capacityMB: flags.capacity,
        sandbox: flags.sandbox as SandboxKind,
        ...(flags.stemCells !== undefined ? { stemCells: flags.stemCells } : {}),
        runtimeSnapshots: flags.runtimeSnapshots,
        gvisorPlatform: flags.gvisorPlatform as GvisorPlatform,
        dataDir: flags.dataDir,
        host: flags.host,
        port: flags.port,
        slot: flags.slot,
      });
    } catch (err) {
      if (err instanceof SandboxUnavailableError) exitUnavailable(err);
      throw err;
    }
    console.log(`worker ${worker.id} serving on ${worker.url}, joined to ${flags.join}`);
    stopOnSignals(worker, 'stopping sandboxes');
    // Started by `kindling up --workers`: when the platform goes (even
    // kill -9), the IPC channel closes and the worker stops its sandboxes.
    if (process.send) {
      process.on('disconnect', () => {
        worker.close().then(
          () => process.exit(0),
          () => process.exit(1),
        );
      });
    }
  });

program
  .command('status')
  .description('print the fleet: workers, zones, sandboxes per worker, utilization')
  .addOption(endpointOption())
  .option('--json', 'print the raw JSON')
  .action(async (flags: { endpoint?: string; json?: boolean }) => {
    await printStatus(resolveEndpoint(flags.endpoint), flags.json === true);
  });

const trimmed = resolveEndpoint;
const queue = program.command('queue').description("Kindling's named queues: records of asynchronous invokes sent to queue destinations and dead-letter queues");
queue
  .command('ls')
  .description('list the queues that hold messages')
  .addOption(endpointOption())
  .option('--json', 'print the raw JSON')
  .action(async (flags: { endpoint?: string; json?: boolean }) => listQueues(trimmed(flags.endpoint), flags.json === true));
queue
  .command('receive <name>')
  .description("print a queue's oldest messages (they stay in the queue unless --delete)")
  .addOption(endpointOption())
  .option('--max <n>', 'how many messages', integer(1, 100), 10)
  .option('--visibility <seconds>', 'hide the received messages from other receivers for this long', integer(0, 43_200), 0)
  .option('--delete', 'delete the messages received')
  .option('--json', 'print the raw JSON')
  .action(async (name: string, flags: { endpoint?: string; max: number; visibility: number; delete?: boolean; json?: boolean }) =>
    receiveMessages(trimmed(flags.endpoint), name, { max: flags.max, visibility: flags.visibility, delete: flags.delete === true, json: flags.json === true }),
  );
queue
  .command('redrive <name>')
  .description('send every message of the queue back to the function it came from, as a new Event invoke of its original event')
  .addOption(endpointOption())
  .action(async (name: string, flags: { endpoint?: string }) => redrive(trimmed(flags.endpoint), name));

// ---- the client commands (src/cli/commands.ts, src/cli/deploy/) ----
const client = (flags: { endpoint?: string }) => new KindlingClient(resolveEndpoint(flags.endpoint));

program
  .command('deploy')
  .description('deploy an AWS SAM template: creates or updates only the functions, layers, aliases, URLs and routes that changed')
  .option('-t, --template <file>', 'the SAM template (default: template.yaml, template.yml or template.json here)')
  .option('--parameter-overrides <Key=Value...>', "values for the template's Parameters (Key=Value or ParameterKey=Key,ParameterValue=Value)", (v: string, prev: string[] = []) => [...prev, ...v.split(/\s+/).filter(Boolean)])
  .option('--stack-name <name>', 'prefix names the template does not give as <stack-name>-<LogicalId>; also AWS::StackName')
  .option('--region <region>', 'region of the ARNs resolved in the template (default: $AWS_REGION or us-east-1)')
  .addOption(endpointOption())
  .option('--json', 'print what was done as JSON')
  .action(async (flags: { template?: string; parameterOverrides?: string[]; stackName?: string; region?: string; endpoint?: string; json?: boolean }) =>
    deployCommand(client(flags), makeOutput(), {
      ...(flags.template !== undefined ? { template: flags.template } : {}),
      ...(flags.parameterOverrides ? { parameterOverrides: flags.parameterOverrides } : {}),
      ...(flags.stackName !== undefined ? { stackName: flags.stackName } : {}),
      ...(flags.region !== undefined ? { region: flags.region } : {}),
      json: flags.json === true,
    }),
  );

program
  .command('invoke <name>')
  .description("invoke a function: its result on stdout, the tail of its log on stderr (exit 1 on a function error)")
  .option('--payload <json|@file>', 'the event: JSON text, or @FILE to read it from a file (default: {})')
  .option('--async', 'an Event invoke: queued, prints its request id')
  .option('--qualifier <q>', 'a version or alias')
  .addOption(endpointOption())
  .option('--json', "print Lambda's answer as JSON (StatusCode, FunctionError, ExecutedVersion, LogResult, Payload)")
  .action(async (name: string, flags: { payload?: string; async?: boolean; qualifier?: string; endpoint?: string; json?: boolean }) => {
    process.exitCode = await invokeCommand(client(flags), makeOutput(), name, flags);
  });

program
  .command('logs <name>')
  .description("print a function's log events")
  .option('--since <when>', 'from how long ago (10m, 2h, 1d) or a date', '10m')
  .option('-f, --follow', 'keep printing new events until interrupted')
  .addOption(endpointOption())
  .option('--json', 'print the events as JSON (one per line with --follow)')
  .action(async (name: string, flags: { since: string; follow?: boolean; endpoint?: string; json?: boolean }) =>
    logsCommand(client(flags), makeOutput(), name, flags),
  );

program
  .command('ls')
  .description('list the functions')
  .addOption(endpointOption())
  .option('--json', "print ListFunctions' JSON")
  .action(async (flags: { endpoint?: string; json?: boolean }) => lsCommand(client(flags), makeOutput(), flags.json === true));

program
  .command('rm <name>')
  .description('delete a function (and its routes), or one version of it with --qualifier')
  .option('--qualifier <version>', 'delete only this version')
  .addOption(endpointOption())
  .action(async (name: string, flags: { qualifier?: string; endpoint?: string }) => rmCommand(client(flags), makeOutput(), name, flags.qualifier));

function readToken(platformDataDir: string): string {
  const file = join(platformDataDir, 'cluster-token');
  try {
    return readFileSync(file, 'utf8').trim();
  } catch {
    throw new Error(`no cluster token: pass --token, set KINDLING_CLUSTER_TOKEN, or point --platform-data-dir at the platform's data directory (${file} is not readable)`);
  }
}

// Before anything starts a child: sandboxes must get no descriptor of ours.
closeInheritedFds();

program.parseAsync(process.argv).catch((err: unknown) => {
  console.error(`kindling: ${err instanceof Error ? err.message : String(err)}`);
  process.exit(1);
});
