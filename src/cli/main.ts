#!/usr/bin/env node
/**
 * The `kindling` command. Entry point only: parses flags and wires; the work
 * is done by the components (see all-in-one.ts for the wiring).
 */
import { Command, InvalidArgumentError, Option } from 'commander';
import { startPlatform, type PlatformOptions } from '../all-in-one.js';
import { SandboxUnavailableError } from '../worker/sandbox/backend.js';
import type { GvisorPlatform } from '../worker/sandbox/gvisor.js';

function integer(min: number, max: number) {
  return (value: string): number => {
    const n = Number(value);
    if (!Number.isInteger(n) || n < min || n > max) throw new InvalidArgumentError(`expected a whole number from ${min} to ${max}`);
    return n;
  };
}

const program = new Command('kindling')
  .description('Kindling: run AWS Lambda functions unchanged on your own Linux machines')
  .showHelpAfterError();

program
  .command('up')
  .description('start the all-in-one platform: Lambda API, front end, worker manager and a worker in one process')
  .option('--port <n>', 'port of the Lambda API (0 picks a free port)', integer(0, 65535), 9000)
  .option('--host <h>', 'address to listen on', '127.0.0.1')
  .option('--data-dir <dir>', 'where functions, code and state are kept (embedded store)', '.kindling')
  .addOption(
    new Option('--sandbox <backend>', 'sandbox backend: namespace isolates functions (bubblewrap + cgroups, Linux); gvisor adds a user-space kernel (runsc, root) for untrusted code; process does not isolate')
      .choices(['process', 'namespace', 'gvisor'])
      .default(process.platform === 'linux' ? 'namespace' : 'process'),
  )
  .addOption(
    new Option('--gvisor-platform <platform>', "with --sandbox gvisor: how gVisor intercepts system calls (ptrace works wherever ptrace is allowed; systrap and kvm are faster where the host allows them)")
      .choices(['ptrace', 'systrap', 'kvm'])
      .default('ptrace'),
  )
  .option('--keep-alive <seconds>', 'how long an idle sandbox stays warm', integer(1, 86_400), 300)
  .option('--region <region>', 'the region in ARNs and AWS_REGION', 'us-east-1')
  .option('--concurrency <n>', 'account concurrency limit (concurrent executions)', integer(1, 1_000_000), 1000)
  .action(async (flags: { port: number; host: string; dataDir: string; sandbox: string; gvisorPlatform: string; keepAlive: number; region: string; concurrency: number }) => {
    // commander has checked both against their choices.
    const sandbox = flags.sandbox as PlatformOptions['sandbox'];
    const gvisorPlatform = flags.gvisorPlatform as GvisorPlatform;
    if (sandbox === 'process') {
      console.error('kindling: WARNING: --sandbox process does not isolate functions: their code runs as this user with access to this machine; use it only for code you trust');
    }
    const options: PlatformOptions = {
      host: flags.host,
      port: flags.port,
      dataDir: flags.dataDir,
      sandbox,
      gvisorPlatform,
      keepAliveSeconds: flags.keepAlive,
      region: flags.region,
      accountConcurrency: flags.concurrency,
    };
    let platform;
    try {
      platform = await startPlatform(options);
    } catch (err) {
      if (err instanceof SandboxUnavailableError) {
        // One line: what is missing and what to do, never a silent fallback.
        console.error(`kindling: ${err.message} (or run with --sandbox process, which does not isolate functions)`);
        process.exit(2);
      }
      throw err;
    }
    console.log(`listening on ${platform.url}`);
    let stopping = false;
    const stop = (signal: string) => {
      if (stopping) {
        console.error(`kindling: ${signal} again, exiting now`);
        process.exit(1);
      }
      stopping = true;
      console.error(`kindling: ${signal}, stopping sandboxes`);
      platform.close().then(
        () => process.exit(0),
        (err: unknown) => {
          console.error('kindling: error while stopping', err);
          process.exit(1);
        },
      );
    };
    process.on('SIGINT', () => stop('SIGINT'));
    process.on('SIGTERM', () => stop('SIGTERM'));
  });

program.parseAsync(process.argv).catch((err: unknown) => {
  console.error(`kindling: ${err instanceof Error ? err.message : String(err)}`);
  process.exit(1);
});
