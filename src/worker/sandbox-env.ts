import { dirname, join } from 'node:path';
import type { FunctionVersionSpec } from '../shared/spec.js';
import type { SandboxLaunch, SandboxView } from './sandbox/backend.js';

/** Runtimes the worker can start. */
export const NODEJS_RUNTIMES: ReadonlySet<string> = new Set(['nodejs20.x', 'nodejs22.x']);
export const CUSTOM_RUNTIMES: ReadonlySet<string> = new Set(['provided.al2023', 'provided.al2']);

/**
 * Credentials a sandbox gets in AWS_ACCESS_KEY_ID / AWS_SECRET_ACCESS_KEY /
 * AWS_SESSION_TOKEN. On Lambda these are the execution role's temporary
 * credentials; Kindling has no STS, so they are placeholders that let AWS
 * SDKs inside functions start (and sign requests to endpoints that accept
 * anything, such as local emulators).
 */
export interface SandboxCredentials {
  readonly accessKeyId: string;
  readonly secretAccessKey: string;
  readonly sessionToken: string;
}

export const PLACEHOLDER_CREDENTIALS: SandboxCredentials = {
  accessKeyId: 'AKIAKINDLINGSANDBOX0',
  secretAccessKey: 'kindling-placeholder-secret-access-key',
  sessionToken: 'kindling-placeholder-session-token',
};

/** Inputs of sandboxLaunch besides the spec and the view. */
export interface LaunchContext {
  /** Lambda's AWS_LAMBDA_LOG_STREAM_NAME for this sandbox. */
  readonly logStreamName: string;
  readonly credentials: SandboxCredentials;
  /** Host path of the node binary (nodejs runtimes). */
  readonly nodePath: string;
  /** File name of the built-in nodejs runtime's entry inside view.runtimeDir. */
  readonly nodeEntry: string;
}

/**
 * Lambda's log stream name: `YYYY/MM/DD/[VERSION]<32 hex>` (UTC date of the
 * sandbox's start, the version, the sandbox's id).
 */
export function logStreamName(now: number, version: string, sandboxHex: string): string {
  const d = new Date(now);
  const mm = String(d.getUTCMonth() + 1).padStart(2, '0');
  const dd = String(d.getUTCDate()).padStart(2, '0');
  return `${d.getUTCFullYear()}/${mm}/${dd}/[${version}]${sandboxHex}`;
}

/**
 * The command and environment of a sandbox, as Lambda starts its runtimes.
 *
 * Environment: Lambda's documented variables ("Defined runtime environment
 * variables" in the Lambda developer guide) with Lambda's paths replaced by
 * where the backend shows them (/var/task → view.taskRoot, /var/runtime →
 * view.runtimeDir, /var/lang/bin → the node binary's directory, /opt entries
 * dropped when the backend has no /opt), then the function's own variables.
 * The control plane refuses reserved keys in the function's Environment, so
 * the function's variables never replace Lambda's. Not set, as on Lambda:
 * HOME, AWS_LAMBDA_FUNCTION_TIMEOUT. Not set, unlike Lambda:
 * NODE_EXTRA_CA_CERTS (Lambda points it at its RDS bundle; it costs ~40 ms
 * per node start) and _X_AMZN_TRACE_ID (the runtime sets it per invoke).
 *
 * Command, nodejs: the node binary with the flags of Lambda's nodejs
 * bootstrap (/var/runtime/bootstrap): --expose-gc, --max-http-header-size
 * 81920, and heap limits from MemorySize (new space = MemorySize/10, semi
 * space = half of it, old space = MemorySize - new space), then the built-in
 * runtime. provided.*: <task root>/bootstrap.
 */
export function sandboxLaunch(spec: FunctionVersionSpec, view: SandboxView, ctx: LaunchContext): SandboxLaunch {
  const nodejs = NODEJS_RUNTIMES.has(spec.runtime);
  const opt = view.optDir;
  const langBin = dirname(ctx.nodePath);
  const paths = (list: ReadonlyArray<string | undefined>): string => list.filter((p) => p !== undefined).join(':');
  const env: Record<string, string> = {
    AWS_LAMBDA_FUNCTION_NAME: spec.functionName,
    AWS_LAMBDA_FUNCTION_VERSION: spec.version,
    AWS_LAMBDA_FUNCTION_MEMORY_SIZE: String(spec.memorySize),
    AWS_LAMBDA_LOG_GROUP_NAME: `/aws/lambda/${spec.functionName}`,
    AWS_LAMBDA_LOG_STREAM_NAME: ctx.logStreamName,
    AWS_LAMBDA_RUNTIME_API: view.runtimeApi,
    AWS_LAMBDA_INITIALIZATION_TYPE: 'on-demand',
    AWS_REGION: spec.region,
    AWS_DEFAULT_REGION: spec.region,
    AWS_ACCESS_KEY_ID: ctx.credentials.accessKeyId,
    AWS_SECRET_ACCESS_KEY: ctx.credentials.secretAccessKey,
    AWS_SESSION_TOKEN: ctx.credentials.sessionToken,
    _HANDLER: spec.handler,
    LAMBDA_TASK_ROOT: view.taskRoot,
    LAMBDA_RUNTIME_DIR: view.runtimeDir,
    TZ: ':UTC',
    LANG: 'en_US.UTF-8',
    // Lambda: /var/lang/bin:/usr/local/bin:/usr/bin/:/bin:/opt/bin
    PATH: paths([langBin, '/usr/local/bin', '/usr/bin/', '/bin', opt && `${opt}/bin`]),
    // Lambda: /var/lang/lib:/lib64:/usr/lib64:/var/runtime:/var/runtime/lib:/var/task:/var/task/lib:/opt/lib
    LD_LIBRARY_PATH: paths([
      join(langBin, '..', 'lib'),
      '/lib64',
      '/usr/lib64',
      view.runtimeDir,
      `${view.runtimeDir}/lib`,
      view.taskRoot,
      `${view.taskRoot}/lib`,
      opt && `${opt}/lib`,
    ]),
  };
  if (nodejs) {
    const major = spec.runtime.slice('nodejs'.length, spec.runtime.indexOf('.'));
    env['AWS_EXECUTION_ENV'] = `AWS_Lambda_${spec.runtime}`;
    // Lambda: /opt/nodejs/nodeNN/node_modules:/opt/nodejs/node_modules:/var/runtime/node_modules:/var/runtime:/var/task
    // less /var/runtime itself: Kindling's runtime directory holds the
    // runtime's own modules as plain .js files (index.js, errors.js, ...), so
    // listing it would let require('index') of a function without an index
    // file load the runtime instead of failing with Runtime.ImportModuleError.
    env['NODE_PATH'] = paths([
      opt && `${opt}/nodejs/node${major}/node_modules`,
      opt && `${opt}/nodejs/node_modules`,
      `${view.runtimeDir}/node_modules`,
      view.taskRoot,
    ]);
  }
  for (const [k, v] of Object.entries(spec.environment)) env[k] = v;

  if (nodejs) {
    const newSpace = Math.floor(spec.memorySize / 10);
    const semiSpace = Math.floor(newSpace / 2);
    const oldSpace = spec.memorySize - newSpace;
    return {
      command: ctx.nodePath,
      args: [
        '--expose-gc',
        '--max-http-header-size',
        '81920',
        `--max-semi-space-size=${semiSpace}`,
        `--max-old-space-size=${oldSpace}`,
        join(view.runtimeDir, ctx.nodeEntry),
      ],
      env,
    };
  }
  return { command: join(view.taskRoot, 'bootstrap'), args: [], env };
}
