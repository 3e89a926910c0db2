/**
 * Entry point of Kindling's built-in Node.js runtime, run inside a sandbox as
 * `node [flags] <runtime dir>/nodejs/index.js` with Lambda's environment.
 *
 * Environment read here (and nothing else of the host's):
 *   AWS_LAMBDA_RUNTIME_API   host:port of the Runtime API (required)
 *   _HANDLER                 [dir/]module.fn
 *   LAMBDA_TASK_ROOT         the function's code (default: the current directory);
 *                            also made the working directory, as on Lambda
 *   LAMBDA_RUNTIME_DIR       names the "Require stack" parent in module-not-found
 *                            messages: <dir>/index.mjs, as on Lambda (/var/runtime)
 *   AWS_LAMBDA_FUNCTION_NAME, _VERSION, _MEMORY_SIZE, AWS_LAMBDA_LOG_GROUP_NAME,
 *   AWS_LAMBDA_LOG_STREAM_NAME   the context object
 *   AWS_LAMBDA_LOG_FORMAT, AWS_LAMBDA_LOG_LEVEL, AWS_LAMBDA_NODEJS_DISABLE_CALLBACK_WARNING
 *   _KINDLING_RUNTIME_API_SOCKET  optional unix socket of the Runtime API (namespace backend);
 *                            deleted from process.env once read
 *   _KINDLING_STEM_CELL      "1" (and padding): started as a stem cell, see below; deleted once read
 * and it sets/deletes _X_AMZN_TRACE_ID per invoke (in JavaScript: trace-env.ts).
 *
 * Stem cell: Kindling starts some sandboxes before it knows their function,
 * so that a cold start only binds code and loads the handler. Such a runtime
 * loads its own modules, then asks the Runtime API for its assignment (a
 * Kindling-only long-poll on the same channel) and waits. The answer is the
 * function's complete environment, the one a sandbox started for the
 * function would have had from the start; the runtime takes it on
 * (stem-cell.ts) and goes on exactly as a runtime started for the function:
 * everything above is read only from then on. The worker binds the code at
 * the task root before it answers.
 *
 * The invoke loop matches the observable behaviour of the RIC (src/Runtime.js,
 * CallbackContext.js, InvokeContext.js, BeforeExitListener.js, index.mjs):
 * one invoke at a time, the handler's outcome posted to the Runtime API, then
 * the next GET /invocation/next.
 *
 * Cold start: the module graph is this file and its siblings, with node:
 * built-ins only (a worker usually starts node from a startup
 * snapshot that holds them loaded, snapshot.ts, and this file then runs from
 * there as it would have from node's command line); the first GET /invocation/next is sent as soon
 * as the handler's module has loaded (init must finish first: an init error
 * goes to /runtime/init/error, and GET /next tells the worker init is done).
 */
import { createRequire } from 'node:module';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { NodeJsExit, UnhandledPromiseRejection, logError, patchConsole, setLoggingContext, toRapidResponse } from './errors.js';
import { RuntimeApiClient } from './runtime-api.js';
import type { NextInvocation } from './runtime-api.js';
import { becomeFunction, findEnvironBlock, showEnvironment } from './stem-cell.js';
import { installTraceIdVariable } from './trace-env.js';
import type { SetTraceId } from './trace-env.js';
import { loadHandler } from './user-function.js';
import type { Handler } from './user-function.js';

/** What the context object takes from the environment (read once: it does not change in a sandbox). */
interface FunctionEnvironment {
  readonly functionName: string | undefined;
  readonly functionVersion: string | undefined;
  /** A string, as on Lambda (AWS_LAMBDA_FUNCTION_MEMORY_SIZE is not parsed). */
  readonly memoryLimitInMB: string | undefined;
  readonly logGroupName: string | undefined;
  readonly logStreamName: string | undefined;
}

type Callback = (err?: unknown, result?: unknown) => void;

/** Exit codes of the RIC after reporting an uncaught exception / unhandled rejection. */
const EXIT_UNCAUGHT_EXCEPTION = 129;
const EXIT_UNHANDLED_REJECTION = 128;

const NOOP = (): void => {};

/** Serialises a handler's result as the RIC does (undefined is sent as null). */
function serializeResult(result: unknown): string {
  try {
    return JSON.stringify(result === undefined ? null : result);
  } catch {
    throw new Error('Unable to stringify response body');
  }
}

function parseJsonHeader(value: string | string[] | undefined, name: string): unknown {
  // The RIC's native client only passes these headers when they are non-empty.
  if (typeof value !== 'string' || value === '') return undefined;
  try {
    return JSON.parse(value);
  } catch (err) {
    throw new Error(`Cannot parse ${name} as json: ${String(err)}`);
  }
}

function isPromiseLike(value: unknown): value is { then: (ok: (v: unknown) => void, ko: (e: unknown) => void) => { catch: (ko: (e: unknown) => void) => unknown } } {
  return !!value && typeof (value as { then?: unknown }).then === 'function';
}

/** AsyncFunction detection of the RIC: decides what a drained event loop means. */
function isAsyncFunction(fn: Handler): boolean {
  try {
    return fn.constructor?.name === 'AsyncFunction';
  } catch {
    return false;
  }
}

/** The runtime's process-wide state: the loop, and what an uncaught error does. */
class Runtime {
  readonly #client: RuntimeApiClient;
  readonly #env: FunctionEnvironment;
  readonly #setTraceId: SetTraceId;
  #handler: Handler | undefined;
  #isAsync = false;
  /** The invoke that uncaught errors are reported against; undefined during init (→ /init/error). */
  #errorInvokeId: string | undefined;
  /** Set once an uncaught error is being reported: the process exits when the POST is done. */
  #dying = false;
  /** The single 'beforeExit' action (the RIC's BeforeExitListener). */
  #beforeExit: () => void = NOOP;
  /** The next event arrived (the GET was pipelined behind the previous result). */
  readonly #onNext = (next: NextInvocation): void => {
    // A runtime that is reporting an uncaught error exits once the worker
    // has it; it starts no further invoke.
    if (this.#dying) return;
    try {
      this.#invoke(next);
    } catch (err) {
      this.#topLevelError(err);
    }
  };
  readonly #onNextFailed = (err: unknown): void => {
    if (!this.#dying) this.#topLevelError(err);
  };

  constructor(client: RuntimeApiClient, env: FunctionEnvironment, setTraceId: SetTraceId) {
    this.#client = client;
    this.#env = env;
    this.#setTraceId = setTraceId;
  }

  /**
   * Installs the process listeners. Call before loading user code, so that
   * its init failures are reported through /runtime/init/error.
   */
  install(): void {
    process.on('uncaughtException', (error) => {
      logError('Uncaught Exception', error);
      this.#fatal(error, EXIT_UNCAUGHT_EXCEPTION);
    });
    process.on('unhandledRejection', (reason, promise) => {
      const error = new UnhandledPromiseRejection(reason, promise);
      logError('Unhandled Promise Rejection', error);
      this.#fatal(error, EXIT_UNHANDLED_REJECTION);
    });
    // Fires when the event loop is empty: how callbackWaitsForEmptyEventLoop
    // and handlers that never finish are resolved.
    process.on('beforeExit', () => this.#beforeExit());
  }

  /** Reports an init failure (the handler could not be loaded) as the RIC does, then exits. */
  initFailed(error: unknown): void {
    logError('Uncaught Exception', error);
    this.#fatal(error, EXIT_UNCAUGHT_EXCEPTION);
  }

  /** Starts serving invokes with the loaded handler. */
  start(handler: Handler): void {
    this.#handler = handler;
    this.#isAsync = isAsyncFunction(handler);
    if (process.env['AWS_LAMBDA_NODEJS_DISABLE_CALLBACK_WARNING'] === undefined && handler.length === 3 && !this.#isAsync) {
      console.warn(
        'AWS Lambda plans to remove support for callback-based function handlers starting with Node.js 24. You will need to update this function to use an async handler to use Node.js 24 or later. For more information and to provide feedback on this change, see https://github.com/aws/aws-lambda-nodejs-runtime-interface-client/issues/137. To disable this warning, set the AWS_LAMBDA_NODEJS_DISABLE_CALLBACK_WARNING environment variable.',
      );
    }
    this.#loop();
  }

  #loop(): void {
    this.#client.next().then(this.#onNext, this.#onNextFailed);
  }

  /** An error outside any handler (the Runtime API failed): the RIC logs it and reports it as uncaught. */
  #topLevelError(err: unknown): void {
    console.log(`Unexpected Top Level Error: ${String(err)}`);
    this.#fatal(err, EXIT_UNCAUGHT_EXCEPTION);
  }

  /**
   * Reports an uncaught error against the current invoke (or init) and exits
   * with `code` once the worker has it. The sandbox is not reused: the next
   * invoke gets a fresh process, as on Lambda.
   */
  #fatal(error: unknown, code: number): void {
    // The RIC posts synchronously and exits; here the POST is asynchronous, so
    // later errors and completions of the dying invoke are ignored.
    if (this.#dying) return;
    this.#dying = true;
    const exit = (): void => process.exit(code);
    const body = toRapidResponse(error);
    const id = this.#errorInvokeId;
    if (id === undefined) {
      this.#client.postInitError(JSON.stringify(body), body.errorType, exit);
    } else {
      this.#client.postError(id, JSON.stringify(body), body.errorType, exit);
    }
  }

  #respond(id: string, body: string): void {
    if (this.#dying) return;
    this.#client.respondAndNext(id, body).then(this.#onNext, this.#onNextFailed);
  }

  #fail(id: string, error: unknown): void {
    if (this.#dying) return;
    logError('Invoke Error', error);
    this.#postError(id, error);
  }

  #postError(id: string, error: unknown): void {
    const body = toRapidResponse(error);
    this.#client.failAndNext(id, JSON.stringify(body), body.errorType).then(this.#onNext, this.#onNextFailed);
  }

  #invoke({ body, headers }: NextInvocation): void {
    const id = headers['lambda-runtime-aws-request-id'];
    if (typeof id !== 'string' || id === '') throw new Error('invocation id is missing or invalid');
    const tenantId = headers['lambda-runtime-aws-tenant-id'];
    setLoggingContext(id, tenantId);
    this.#errorInvokeId = id;

    // CallbackContext of the RIC. `completed` guards the response (a second
    // completion is logged, not sent); `finished` lets only the first of
    // callback/succeed/fail/done through.
    let completed = false;
    let finished = false;
    let waitForEmptyEventLoop = true;
    const complete = (result: unknown): void => {
      if (completed) {
        console.error('Invocation has already been reported as done. Cannot call complete more than once per invocation.');
        return;
      }
      completed = true;
      this.#respond(id, serializeResult(result));
    };
    const onlyFirst = <A extends unknown[]>(fn: (...args: A) => void) =>
      (...args: A): void => {
        if (!finished) {
          fn(...args);
          finished = true;
        }
      };
    const callback: Callback = onlyFirst((err?: unknown, result?: unknown) => {
      this.#beforeExit = NOOP;
      if (err !== undefined && err !== null) {
        this.#fail(id, err);
      } else if (!waitForEmptyEventLoop) {
        complete(result);
      } else {
        // Respond only when the loop has drained: timers and sockets the
        // handler left behind run to completion first.
        this.#beforeExit = () => {
          setImmediate(() => complete(result));
        };
      }
    });
    const doneRaw = (err?: unknown, result?: unknown): void => {
      this.#beforeExit = NOOP;
      if (err !== undefined && err !== null) this.#fail(id, err);
      else complete(result);
    };
    const done = onlyFirst(doneRaw);
    const succeed = onlyFirst((result?: unknown) => doneRaw(null, result));
    const fail = onlyFirst((err?: unknown) => {
      if (err === undefined || err === null) doneRaw('handled');
      else doneRaw(err, null);
    });

    // No callback and no settled promise by the time the loop drains: an
    // async handler failed (its promise can never settle now), any other
    // handler succeeded with null.
    this.#beforeExit = () => {
      completed = true;
      if (this.#isAsync) {
        const error = new NodeJsExit();
        logError('Invoke Error', error);
        if (this.#dying) return;
        this.#postError(id, error);
      } else {
        this.#respond(id, 'null');
      }
    };

    try {
      const event: unknown = JSON.parse(body);
      const trace = headers['lambda-runtime-trace-id'];
      this.#setTraceId(typeof trace === 'string' && trace !== '' ? trace : undefined);
      const deadline = Number(headers['lambda-runtime-deadline-ms']);
      const env = this.#env;
      // Property order and kinds as the RIC builds it (people log JSON.stringify(context)).
      const context = {
        get callbackWaitsForEmptyEventLoop(): boolean {
          return waitForEmptyEventLoop;
        },
        set callbackWaitsForEmptyEventLoop(value: boolean) {
          waitForEmptyEventLoop = value;
        },
        succeed,
        fail,
        done,
        functionVersion: env.functionVersion,
        functionName: env.functionName,
        memoryLimitInMB: env.memoryLimitInMB,
        logGroupName: env.logGroupName,
        logStreamName: env.logStreamName,
        clientContext: parseJsonHeader(headers['lambda-runtime-client-context'], 'ClientContext'),
        identity: parseJsonHeader(headers['lambda-runtime-cognito-identity'], 'CognitoIdentity'),
        invokedFunctionArn: headers['lambda-runtime-invoked-function-arn'],
        awsRequestId: id,
        tenantId,
        getRemainingTimeInMillis(): number {
          return deadline - Date.now();
        },
      };
      const result = this.#handler!(event, context, callback);
      if (isPromiseLike(result)) {
        // Through the context, as the RIC: a handler that replaced succeed/fail gets them called.
        void result.then(context.succeed, context.fail).catch(context.fail);
      }
    } catch (err) {
      callback(err);
    }
  }
}

// ---- entry ----

/** The runtime's own require (its modules are CommonJS, see src/runtime/tsconfig.json). */
const runtimeRequire = createRequire(__filename);

const env = process.env;
const endpoint = env['AWS_LAMBDA_RUNTIME_API'];
if (endpoint === undefined || endpoint === '') {
  // Nothing can be reported without the Runtime API. (The worker's check of
  // a startup snapshot expects exactly this: src/worker/runtime-snapshots.ts.)
  process.stderr.write('AWS_LAMBDA_RUNTIME_API is not set\n');
  process.exit(1);
}

blockingStdio();

// Set by Kindling's namespace backend: the Runtime API's unix socket inside
// the sandbox (without it, a forwarder process relays 127.0.0.1:9001 to it).
// Kindling's own business: removed before the function's code loads, so
// neither the function nor its child processes see it (Lambda's runtime
// shows no such variable).
const runtimeApiSocket = env['_KINDLING_RUNTIME_API_SOCKET'];
delete env['_KINDLING_RUNTIME_API_SOCKET'];
const client = new RuntimeApiClient(endpoint, runtimeApiSocket);
// "1" and padding: see stem-cell.ts.
const stemCell = env['_KINDLING_STEM_CELL']?.startsWith('1') === true;
delete env['_KINDLING_STEM_CELL'];

if (stemCell) {
  // Before asking: the worker takes a cell once it has asked.
  client.openChannel();
  const environBlock = findEnvironBlock();
  warmModuleLoaders().then(() => client.assignment()).then(
    (assigned) => {
      becomeFunction(env, assigned, environBlock);
      startFunction();
    },
    (err: unknown) => {
      // No function yet: nothing to report it to. The worker sees the exit.
      process.stderr.write(`kindling stem cell: ${String(err)}\n`);
      process.exit(1);
    },
  );
} else {
  // The variable is gone from process.env; the process's own record of its
  // environment (/proc/self/environ) is rewritten so it is gone there too.
  if (runtimeApiSocket !== undefined) showEnvironment(env);
  startFunction();
}

/**
 * Makes writes to stdout and stderr blocking (in a sandbox both are pipes
 * to the worker). node opens a pipe non-blocking and queues what a full
 * pipe does not take, to write it later from the event loop: a function
 * that printed more than the pipe holds (64 KiB) would send its result
 * before the rest of its output, and the worker, which ends an invoke's log
 * one event-loop turn after its result (src/worker/log-capture.ts), would
 * give that rest to the next invoke. Blocking, a write returns once the pipe
 * has taken all of it, as console.log does on Lambda, whose runtime writes
 * its records with writeSync. (The pipes' O_NONBLOCK flag is shared with
 * child processes that inherit them; they get the blocking pipes they would
 * have had from any other parent.)
 */
function blockingStdio(): void {
  for (const stream of [process.stdout, process.stderr]) {
    (stream as unknown as { _handle?: { setBlocking?: (blocking: boolean) => number } })._handle?.setBlocking?.(true);
  }
}

/**
 * A stem cell's head start on loading the function: node's CommonJS and ES
 * module loaders run their own code for the first time here, on an empty
 * module of the runtime (warm-up.ts), not while a cold start waits for the
 * handler. Measured in a fresh node: a one-line handler's require() takes
 * ~2 ms cold and ~0.5 ms after this; an import() ~1.8 and ~1.4 ms. The
 * module leaves require.cache with the runtime's own (startFunction);
 * nothing the function can see differs from a runtime started for it.
 */
async function warmModuleLoaders(): Promise<void> {
  try {
    const file = runtimeRequire.resolve('./warm-up.js');
    runtimeRequire(file);
    await import(pathToFileURL(file).href);
  } catch {
    // Only a head start: the function loads either way.
  }
}

/** Initialises the function (console, listeners, working directory, handler) and starts the invoke loop. */
function startFunction(): void {
  patchConsole();
  const runtime = new Runtime(client, {
    functionName: env['AWS_LAMBDA_FUNCTION_NAME'],
    functionVersion: env['AWS_LAMBDA_FUNCTION_VERSION'],
    memoryLimitInMB: env['AWS_LAMBDA_FUNCTION_MEMORY_SIZE'],
    logGroupName: env['AWS_LAMBDA_LOG_GROUP_NAME'],
    logStreamName: env['AWS_LAMBDA_LOG_STREAM_NAME'],
  }, installTraceIdVariable());
  runtime.install();

  const taskRoot = env['LAMBDA_TASK_ROOT'] || process.cwd();
  try {
    // Lambda starts the runtime in /var/task; code that opens './data.json'
    // relies on it. (A stem cell's working directory is its task root as it
    // was before the code was bound over it: the path is entered anew here.)
    process.chdir(taskRoot);
  } catch {
    // A missing task root surfaces below as Runtime.ImportModuleError.
  }
  const runtimeDir = env['LAMBDA_RUNTIME_DIR'];
  const requireFrom = runtimeDir ? join(runtimeDir, 'index.mjs') : __filename;
  // The runtime's own CommonJS modules leave require.cache, which the
  // function can read: on Lambda (an ES module runtime) it starts empty.
  const cache = runtimeRequire.cache;
  for (const key of Object.keys(cache)) delete cache[key];

  loadHandler(taskRoot, env['_HANDLER'] ?? '', requireFrom).then(
    (handler) => runtime.start(handler),
    (error: unknown) => runtime.initFailed(error),
  );
}
