/**
 * Errors and logs of the runtime, following
 * aws-lambda-nodejs-runtime-interface-client (RIC) v3.x src/Errors.js and
 * src/LogPatch.js (one module: they serve each other, and every module of
 * the runtime costs cold-start time):
 * - `toRapidResponse` is the body POSTed to the Runtime API (and returned to
 *   the caller of Invoke); `toFormatted` is the JSON appended to the
 *   "Invoke Error" / "Uncaught Exception" log lines;
 * - `patchConsole` gives console the Lambda log format.
 */
import { format, types } from 'node:util';

/** The body the Runtime API receives for a failed init or invoke. */
export interface RapidErrorBody {
  errorType: string;
  errorMessage: string;
  trace?: string[];
}

/*
 * The RIC's error classes keep their plain class name but carry
 * name = 'Runtime.<Class>' on the prototype, so errorType, the stack's first
 * line and String(error) all read 'Runtime.<Class>: ...'.
 */

/** The handler's module could not be found (Node's MODULE_NOT_FOUND). */
export class ImportModuleError extends Error {}
/** The handler's module (or one it loads) has a syntax error. */
export class UserCodeSyntaxError extends Error {}
/** The module loaded but the handler path names no function. */
export class HandlerNotFound extends Error {}
/** _HANDLER cannot be parsed. */
export class MalformedHandlerName extends Error {}
/** An async handler's promise never settled and the event loop ran dry. */
export class NodeJsExit extends Error {
  constructor() {
    super(
      'The Lambda runtime client detected an unexpected Node.js exit code. This is most commonly caused by a Promise that was never settled. For more information, see https://nodejs.org/docs/latest/api/process.html#exit-codes',
    );
  }
}
/** A promise rejection nobody handled; `reason` and `promise` are enumerable, as in the RIC. */
export class UnhandledPromiseRejection extends Error {
  reason: unknown;
  promise: Promise<unknown>;
  constructor(reason: unknown, promise: Promise<unknown>) {
    // `super(reason)` in the RIC: ToString(reason), but no message for undefined.
    super(...(reason === undefined ? [] : [stringOf(reason)]));
    this.reason = reason;
    this.promise = promise;
  }
}

for (const c of [ImportModuleError, UserCodeSyntaxError, HandlerNotFound, MalformedHandlerName, NodeJsExit, UnhandledPromiseRejection]) {
  // A plain assignment, as in the RIC (an own enumerable property of the prototype).
  c.prototype.name = `Runtime.${c.name}`;
}

/** String(x), as `new Error(x)` applies it (a Symbol description rather than a TypeError). */
function stringOf(value: unknown): string {
  return typeof value === 'symbol' ? value.toString() : String(value);
}

/** The RIC's `intoError`: Errors pass through, anything else becomes `new Error(value)`. */
export function intoError(value: unknown): Error {
  if (value instanceof Error) return value;
  return value === undefined ? new Error() : new Error(stringOf(value));
}

interface ErrorLike {
  name: string;
  message: string;
  stack: string;
}

/** Duck-typed error of the RIC: name, message and stack all non-empty strings. */
function isErrorLike(value: unknown): value is ErrorLike {
  if (value === null || (typeof value !== 'object' && typeof value !== 'function')) return false;
  const v = value as Partial<Record<'name' | 'message' | 'stack', unknown>>;
  return (
    typeof v.name === 'string' && v.name !== '' &&
    typeof v.message === 'string' && v.message !== '' &&
    typeof v.stack === 'string' && v.stack !== ''
  );
}

/**
 * The error body the RIC posts: errorType = error.name, errorMessage, trace =
 * stack lines (DEL escaped as %7F); a thrown non-error becomes
 * { errorType: typeof value, errorMessage: value.toString(), trace: [] }.
 */
export function toRapidResponse(error: unknown): RapidErrorBody {
  try {
    if (types.isNativeError(error) || isErrorLike(error)) {
      const e = error as ErrorLike;
      // Optional chaining mirrors the RIC; a missing stack throws and lands in the fallback below.
      return {
        errorType: e.name?.replaceAll('\x7F', '%7F'),
        errorMessage: e.message?.replaceAll('\x7F', '%7F'),
        trace: e.stack.replaceAll('\x7F', '%7F').split('\n'),
      };
    }
    return {
      errorType: typeof error,
      errorMessage: (error as { toString(): string }).toString(),
      trace: [],
    };
  } catch {
    return {
      errorType: 'handled',
      errorMessage:
        'callback called with Error argument, but there was a problem while retrieving one or more of its message, name, and stack',
    };
  }
}

function withEnumerableProperties(_key: string, value: unknown): unknown {
  if (value instanceof Error) {
    const ret: Record<string, unknown> = Object.assign(
      { errorType: value.name, errorMessage: value.message, code: (value as { code?: unknown }).code } as Record<string, unknown>,
      value,
    );
    if (typeof value.stack === 'string') ret['stack'] = value.stack.split('\n');
    return ret;
  }
  return value;
}

/**
 * The RIC's `toFormatted`: a tab, then the error as JSON with errorType,
 * errorMessage and code first, its enumerable properties, and the stack as
 * an array of lines.
 */
export function toFormatted(error: Error): string {
  try {
    return '\t' + JSON.stringify(error, withEnumerableProperties);
  } catch {
    return '\t' + JSON.stringify(toRapidResponse(error));
  }
}

/*
 * The console as the Lambda Node.js runtime patches it (RIC src/LogPatch.js),
 * for the stdout transports: Text (default) and JSON (AWS_LAMBDA_LOG_FORMAT),
 * filtered by AWS_LAMBDA_LOG_LEVEL.
 *
 * Text record: `<ISO time>\t<request id>\t<LEVEL>\t<util.format(...)>` with
 * every '\n' replaced by '\r' (one record per line, so CloudWatch keeps a
 * multi-line message as one event), then '\n'. Every level goes to stdout,
 * console.error included. Before the first invoke the request id is the text
 * 'undefined'; after an invoke it stays that invoke's id until the next one.
 */

interface Level {
  readonly name: string;
  readonly priority: number;
}

const LEVELS: Readonly<Record<string, Level>> = {
  TRACE: { name: 'TRACE', priority: 1 },
  DEBUG: { name: 'DEBUG', priority: 2 },
  INFO: { name: 'INFO', priority: 3 },
  WARN: { name: 'WARN', priority: 4 },
  ERROR: { name: 'ERROR', priority: 5 },
  FATAL: { name: 'FATAL', priority: 6 },
};

/*
 * The RIC keeps the current ids on globalThis under these registered symbols;
 * kept the same so code that reads them (some logging libraries do) works.
 */
const REQUEST_ID = Symbol.for('aws.lambda.runtime.requestId');
const TENANT_ID = Symbol.for('aws.lambda.runtime.tenantId');
const ids = globalThis as unknown as Record<symbol, string | undefined>;

/** Sets the request and tenant ids that log records carry from now on. */
export function setLoggingContext(requestId: string, tenantId: string | undefined): void {
  ids[REQUEST_ID] = requestId;
  ids[TENANT_ID] = tenantId;
}

type Log = (level: Level, message: unknown, params: unknown[]) => void;

const logText: Log = (level, message, params) => {
  const line = `${new Date().toISOString()}\t${ids[REQUEST_ID]}\t${level.name}\t${format(message, ...params)}`;
  // process.stdout at call time, as the RIC: a function that replaces it gets the records.
  process.stdout.write(line.replace(/\n/g, '\r') + '\n');
};

/** The RIC's JSON replacer: an Error becomes errorType (constructor name), errorMessage, stackTrace + own props. */
function jsonErrorReplacer(_key: string, value: unknown): unknown {
  if (value instanceof Error) {
    return Object.assign(
      {
        errorType: value.constructor?.name ?? 'UnknownError',
        errorMessage: value.message,
        stackTrace: typeof value.stack === 'string' ? value.stack.split('\n') : value.stack,
      },
      value,
    );
  }
  return value;
}

function formatJson(time: string, level: Level, message: unknown, params: unknown[]): string {
  const result: Record<string, unknown> = { timestamp: time, level: level.name, requestId: ids[REQUEST_ID] };
  const tenantId = ids[TENANT_ID];
  if (tenantId !== undefined && tenantId !== null) result['tenantId'] = tenantId;
  if (params.length === 0) {
    result['message'] = message;
    try {
      return JSON.stringify(result, jsonErrorReplacer);
    } catch {
      result['message'] = format(message);
      return JSON.stringify(result);
    }
  }
  result['message'] = format(message, ...params);
  for (const param of [message, ...params]) {
    if (param instanceof Error) {
      result['errorType'] = param.constructor?.name ?? 'UnknownError';
      result['errorMessage'] = param.message;
      result['stackTrace'] = typeof param.stack === 'string' ? param.stack.split('\n') : [];
      break;
    }
  }
  return JSON.stringify(result);
}

const logJson: Log = (level, message, params) => {
  const line = formatJson(new Date().toISOString(), level, message, params);
  process.stdout.write(line.replace(/\n/g, '\r') + '\n');
};

let jsonFormat = false;

/**
 * Replaces console.trace/debug/info/log/warn/error and adds console.fatal.
 * Reads AWS_LAMBDA_LOG_FORMAT ('JSON', else Text) and AWS_LAMBDA_LOG_LEVEL
 * (default TRACE: everything); levels below it become no-ops.
 */
export function patchConsole(): void {
  jsonFormat = process.env['AWS_LAMBDA_LOG_FORMAT']?.toUpperCase() === 'JSON';
  const log = jsonFormat ? logJson : logText;
  const minimum = LEVELS[process.env['AWS_LAMBDA_LOG_LEVEL']?.toUpperCase() ?? 'TRACE'] ?? LEVELS['TRACE']!;
  const nop = (): void => {};
  const at = (name: string) => {
    const level = LEVELS[name]!;
    return level.priority >= minimum.priority
      ? (message?: unknown, ...params: unknown[]): void => log(level, message, params)
      : nop;
  };
  const c = console as Console & { fatal?: (message?: unknown, ...params: unknown[]) => void };
  c.trace = at('TRACE');
  c.debug = at('DEBUG');
  const info = at('INFO');
  c.info = info;
  c.log = info; // the same function, as in the RIC
  c.warn = at('WARN');
  c.error = at('ERROR');
  // console.fatal is never filtered, as in the RIC.
  const fatal = LEVELS['FATAL']!;
  c.fatal = (message?: unknown, ...params: unknown[]): void => log(fatal, message, params);
}

/**
 * The RIC's structuredConsole.logError: in Text format
 * `console.error(title, toFormatted(intoError(error)))`, which prints
 * `<title> \t{"errorType":...}`; in JSON format `console.error(intoError(error))`.
 * Goes through the console as it is now, as in the RIC.
 */
export function logError(title: string, error: unknown): void {
  if (jsonFormat) console.error(intoError(error));
  else console.error(title, toFormatted(intoError(error)));
}
