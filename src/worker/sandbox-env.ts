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
  /**
   * provided.*: the function's package has no bootstrap and a layer has one:
   * run <view.optDir>/bootstrap, as Lambda falls back to /opt/bootstrap.
   */
  readonly bootstrapFromOpt?: boolean;
  /**
   * nodejs: a startup snapshot of the runtime for a node run with
   * `nodeArgs` (runtime-snapshots.ts), as a path the sandbox sees, or
   * undefined to start without one.
   */
  readonly runtimeSnapshot?: ((nodeArgs: readonly string[], view: SandboxView) => string | undefined) | undefined;
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
 * space = half of it, old space = MemorySize - new space), then
 * --snapshot-blob and the runtime's startup snapshot for those flags when
 * ctx has one (runtime-snapshots.ts), then the built-in runtime.
 * provided.*: <task root>/bootstrap.
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
    const nodeArgs = ['--expose-gc', '--max-http-header-size', '81920', `--max-semi-space-size=${semiSpace}`, `--max-old-space-size=${oldSpace}`];
    const snapshot = ctx.runtimeSnapshot?.(nodeArgs, view);
    return {
      command: ctx.nodePath,
      args: [...nodeArgs, ...(snapshot !== undefined ? ['--snapshot-blob', snapshot] : []), join(view.runtimeDir, ctx.nodeEntry)],
      env,
    };
  }
  if (ctx.bootstrapFromOpt === true && view.optDir !== undefined) return { command: join(view.optDir, 'bootstrap'), args: [], env };
  return { command: join(view.taskRoot, 'bootstrap'), args: [], env };
}

/**
 * What a stem cell is started for: everything of a launch that is fixed
 * once its process has started. A function whose launch differs only in
 * what the runtime reads after its assignment can take any cell of its shape.
 */
export interface CellShape {
  /** Pool key: `<family>/<memorySize>/<ephemeralStorage>`. */
  readonly key: string;
  /** The built-in runtime family: nodejs20.x and nodejs22.x run the same runtime on the same node. */
  readonly family: 'nodejs';
  /** MB: node's heap limits are command-line flags, and V8 sizes its heap once (v8.setFlagsFromString cannot move them later). */
  readonly memorySize: number;
  /** MB of /tmp: a tmpfs mounted when the sandbox is made. */
  readonly ephemeralStorage: number;
}

/**
 * Variables that the dynamic loader, libc or node read once, when the
 * process starts (NODE_OPTIONS, NODE_EXTRA_CA_CERTS, NODE_NO_WARNINGS, ...;
 * LD_PRELOAD, LD_LIBRARY_PATH; malloc tunables; libuv's thread pool size,
 * read at its first use, which the runtime's own start may already have
 * made; OpenSSL's configuration; the locale). A function that sets one in
 * its own environment gets a sandbox started for it. TZ is not here: node
 * applies a new process.env.TZ at once.
 */
const STARTUP_VARIABLES = /^(NODE_|LD_|MALLOC_|UV_|OPENSSL_|SSL_CERT_|LC_)|^(LANG|LANGUAGE|GLIBC_TUNABLES|LOCPATH)$/;

/**
 * The variables of a nodejs launch that a stem cell starts with (see
 * cellLaunch). Not TZ: the runtime would have to unset it to give the
 * function's environment its order, and node answers an unset TZ by
 * detecting the host's time zone, which reads the zoneinfo tree (~0.7 s
 * under gVisor). Set only at the assignment, it is parsed, not searched;
 * nothing before it asks for local time.
 */
const CELL_START_VARIABLES = ['PATH', 'LD_LIBRARY_PATH', 'NODE_PATH', 'LANG', 'AWS_LAMBDA_RUNTIME_API', 'LAMBDA_TASK_ROOT', 'LAMBDA_RUNTIME_DIR'] as const;

/** The variable that tells the built-in runtime it is a stem cell (src/runtime/nodejs/index.ts). */
export const STEM_CELL_ENV = '_KINDLING_STEM_CELL';

/**
 * Bytes of padding in STEM_CELL_ENV's value: room in the process's
 * environment block for the function's whole environment, which the
 * runtime writes there once assigned (src/runtime/nodejs/stem-cell.ts).
 * A function's own variables are at most 4 KB (Lambda's limit); Lambda's
 * own, with session credentials, stay under 4 KB more.
 */
const ENVIRON_RESERVE = 16 * 1024;

/**
 * The stem-cell shape that can serve `spec`, or undefined when only a
 * sandbox started for it can: custom runtimes (their bootstrap is the
 * function's own code), functions that set a variable read at process
 * start (STARTUP_VARIABLES), functions with egress 'internet' and functions
 * with layers.
 */
export function cellShape(spec: FunctionVersionSpec): CellShape | undefined {
  if (!NODEJS_RUNTIMES.has(spec.runtime)) return undefined;
  // A cell's /opt is fixed when it starts (empty): a function with layers
  // needs its merged layers there from the first instruction, so it gets a
  // sandbox started for it. Binding /opt later would need a second shared
  // mount point per cell in every backend, for a rarer case than the code.
  if (spec.optDir !== undefined) return undefined;
  // Cells start with no network; an 'internet' sandbox's NAT and rules are
  // made before its first instruction runs (sandbox/network.ts).
  if (spec.egress === 'internet') return undefined;
  for (const k of Object.keys(spec.environment)) if (STARTUP_VARIABLES.test(k)) return undefined;
  return { key: `nodejs/${spec.memorySize}/${spec.ephemeralStorage}`, family: 'nodejs', memorySize: spec.memorySize, ephemeralStorage: spec.ephemeralStorage };
}

/**
 * The command and environment of a stem cell of `shape`: the command of
 * sandboxLaunch for a function of that shape (node's flags depend on
 * MemorySize only), and of its environment only the variables that do not
 * name the function (the paths, the locale, the Runtime API), plus
 * STEM_CELL_ENV (with its padding). Each of them is also in every function's launch env, with
 * the same value except NODE_PATH (its /opt entry names the runtime's major
 * version; the runtime re-reads it) and what the function overrides, so the
 * runtime's assignment — the function's whole launch env — replaces them all.
 */
export function cellLaunch(shape: CellShape, view: SandboxView, ctx: Pick<LaunchContext, 'nodePath' | 'nodeEntry' | 'runtimeSnapshot'>): SandboxLaunch {
  const placeholder: FunctionVersionSpec = {
    key: shape.key,
    functionName: 'stem-cell',
    functionArn: 'arn:aws:lambda:us-east-1:000000000000:function:stem-cell',
    version: '$LATEST',
    runtime: 'nodejs20.x',
    handler: 'index.handler',
    memorySize: shape.memorySize,
    timeout: 3,
    ephemeralStorage: shape.ephemeralStorage,
    environment: {},
    codeDir: view.taskRoot,
    codeSha256: '',
    region: 'us-east-1',
  };
  const full = sandboxLaunch(placeholder, view, { ...ctx, logStreamName: '', credentials: PLACEHOLDER_CREDENTIALS });
  const env: Record<string, string> = { [STEM_CELL_ENV]: `1${' '.repeat(ENVIRON_RESERVE)}` };
  for (const k of CELL_START_VARIABLES) {
    const v = full.env[k];
    if (v !== undefined) env[k] = v;
  }
  return { command: full.command, args: full.args, env };
}
