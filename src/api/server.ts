import { isUtf8 } from 'node:buffer';
import { randomUUID } from 'node:crypto';
import { createReadStream } from 'node:fs';
import { createServer } from 'node:http';
import type { IncomingMessage, Server, ServerResponse } from 'node:http';
import type { InvokeCommand, InvokeResponse } from '../frontend/types.js';
import type { Partition } from '../shared/arn.js';
import { LambdaError } from '../shared/errors.js';
import { writeError } from './errors.js';
import type { ApiLogger } from './errors.js';
import { decodePathSegment, readCappedBodyAsync } from '../shared/http.js';
import { pipeline } from 'node:stream';

/** What the API uses of the function registry (control/registry.ts implements it). */
export interface ApiRegistry {
  create(body: unknown): Promise<Record<string, unknown>>;
  get(fn: string, qualifier: string | undefined, codeLocation: (sha256hex: string) => string): Promise<object>;
  getConfiguration(fn: string, qualifier: string | undefined): Promise<Record<string, unknown>>;
  list(marker: string | undefined, maxItems: string | undefined, functionVersion: string | undefined): Promise<object>;
  updateCode(fn: string, body: unknown): Promise<Record<string, unknown>>;
  updateConfiguration(fn: string, body: unknown): Promise<Record<string, unknown>>;
  delete(fn: string, qualifier: string | undefined): Promise<void>;
  accountSettings(): Promise<object>;
  /** PutFunctionConcurrency: validates the body, answers {ReservedConcurrentExecutions}. */
  putConcurrency(fn: string, body: unknown): Promise<object>;
  /** GetFunctionConcurrency: {ReservedConcurrentExecutions} or {}. */
  getConcurrency(fn: string): Promise<object>;
  /** DeleteFunctionConcurrency. */
  deleteConcurrency(fn: string): Promise<void>;
  /** TagResource: adds or replaces the function's tags. */
  tagResource(resource: string, body: unknown): Promise<void>;
  /** UntagResource: removes the named tags. */
  untagResource(resource: string, keys: readonly string[]): Promise<void>;
  /** ListTags: {Tags}. */
  listTags(resource: string): Promise<object>;
  /** PublishVersion: 201 with the version's configuration. */
  publishVersion(fn: string, body: unknown): Promise<object>;
  /** ListVersionsByFunction. */
  listVersions(fn: string, marker: string | undefined, maxItems: string | undefined): Promise<object>;
  /** CreateAlias: 201 with the AliasConfiguration. */
  createAlias(fn: string, body: unknown): Promise<object>;
  getAlias(fn: string, name: string): Promise<object>;
  updateAlias(fn: string, name: string, body: unknown): Promise<object>;
  deleteAlias(fn: string, name: string): Promise<void>;
  listAliases(fn: string, functionVersion: string | undefined, marker: string | undefined, maxItems: string | undefined): Promise<object>;
  /** The stored zip of a code hash a function references, for GetFunction's Code.Location. */
  codePath(sha256hex: string): string | undefined;
}

/** What the API uses of the asynchronous invocation settings (control/event-invoke-config.ts implements it). */
export interface ApiEventInvokeConfigs {
  /** PutFunctionEventInvokeConfig: validates the body, replaces the config. */
  put(fn: string, qualifier: string | undefined, body: unknown): Promise<object>;
  /** UpdateFunctionEventInvokeConfig: merges the members given into the existing config. */
  update(fn: string, qualifier: string | undefined, body: unknown): Promise<object>;
  get(fn: string, qualifier: string | undefined): Promise<object>;
  delete(fn: string, qualifier: string | undefined): Promise<void>;
  list(fn: string, marker: string | undefined, maxItems: string | undefined): Promise<object>;
}

/** What the API uses of the layer registry (control/layers.ts implements it). `location` makes Content.Location. */
export interface ApiLayers {
  publish(layerName: string, body: unknown, location: (sha256hex: string) => string): Promise<object>;
  get(layerName: string, versionNumber: string, location: (sha256hex: string) => string): Promise<object>;
  getByArn(arn: string | undefined, location: (sha256hex: string) => string): Promise<object>;
  list(query: { runtime: string | undefined; architecture: string | undefined; marker: string | undefined; maxItems: string | undefined }): Promise<object>;
  listVersions(layerName: string, query: { runtime: string | undefined; architecture: string | undefined; marker: string | undefined; maxItems: string | undefined }): Promise<object>;
  delete(layerName: string, versionNumber: string): Promise<void>;
  /** The stored zip of a layer version, for Content.Location. */
  codePath(sha256hex: string): string | undefined;
}

/** What the API uses of function URLs and HTTP routes (control/function-urls.ts implements it). */
export interface ApiFunctionUrls {
  create(fn: string, qualifier: string | undefined, body: unknown): Promise<object>;
  get(fn: string, qualifier: string | undefined): Promise<object>;
  update(fn: string, qualifier: string | undefined, body: unknown): Promise<object>;
  delete(fn: string, qualifier: string | undefined): Promise<void>;
  list(fn: string, marker: string | undefined, maxItems: string | undefined): Promise<object>;
  /** PUT /kindling/v1/routes/{FunctionName}: replaces the function's routes. */
  putRoutes(fn: string, body: unknown): Promise<object>;
  listRoutes(): object;
  deleteRoutes(fn: string): Promise<void>;
}

/** What the API uses of the invoke path (frontend/). */
export interface ApiInvoker {
  invoke(cmd: InvokeCommand): Promise<InvokeResponse>;
}

export interface ApiDeps {
  readonly registry: ApiRegistry;
  readonly eventInvokeConfigs: ApiEventInvokeConfigs;
  readonly invoker: ApiInvoker;
  /** Lambda layers (/2018-10-31/layers); absent: those operations are unknown. */
  readonly layers?: ApiLayers;
  /** Function URLs and HTTP routes; without it their operations are unknown. */
  readonly functionUrls?: ApiFunctionUrls;
  readonly partition: Partition;
  readonly logger?: ApiLogger;
}

/** Synchronous invoke payload quota (Lambda: 6 MB; 413 wording from real captures). */
export const MAX_INVOKE_PAYLOAD = 6_291_456;
/**
 * Whole-request quota of CreateFunction/UpdateFunctionCode: base64 of a
 * 50 MB zip plus the rest of the body (LS-A recorded "Request must be smaller
 * than 70167211 bytes for the CreateFunction operation").
 */
export const MAX_CONTROL_REQUEST = 70_167_211;
/**
 * Asynchronous invoke payload quota: 1 MB (Lambda raised it from 256 KB in
 * 2025). Lambda's wording, real quotes: "264496 byte payload is too large
 * for the Event invocation type (limit 262144 bytes)".
 */
export const MAX_EVENT_PAYLOAD = 1_048_576;
/** X-Amz-Client-Context: "Up to 3,583 bytes of base64-encoded data" (botocore Invoke ClientContext). */
export const MAX_CLIENT_CONTEXT = 3583;

const CODE_PATH_PREFIX = '/kindling/code/';

function tooLarge(limit: number, operation: string): LambdaError {
  return new LambdaError('RequestEntityTooLargeException', `Request must be smaller than ${limit} bytes for the ${operation} operation`);
}

/**
 * Offset of the first character at which `text` stops being JSON (text.length
 * when the input ends early). Only called after JSON.parse failed, to word
 * the error; Node's messages do not always carry a position.
 */
export function jsonErrorOffset(text: string): number {
  class Stop extends Error {
    constructor(readonly at: number) {
      super('not JSON from here');
    }
  }
  let i = 0;
  const ws = (): void => {
    while (i < text.length && (text[i] === ' ' || text[i] === '\t' || text[i] === '\n' || text[i] === '\r')) i++;
  };
  const fail = (): never => {
    throw new Stop(i);
  };
  const literal = (word: string): void => {
    for (const c of word) {
      if (text[i] !== c) fail();
      i++;
    }
  };
  const string = (): void => {
    i++; // opening quote
    for (;;) {
      if (i >= text.length) fail();
      const c = text.charCodeAt(i);
      if (c === 0x22) {
        i++;
        return;
      }
      if (c < 0x20) fail();
      if (c === 0x5c) {
        i++;
        const e = text[i];
        if (e === 'u') {
          for (let k = 1; k <= 4; k++) {
            if (!/[0-9a-fA-F]/.test(text[i + k] ?? '')) {
              i += k;
              fail();
            }
          }
          i += 5;
        } else if (e !== undefined && '"\\/bfnrt'.includes(e)) i++;
        else fail();
      } else i++;
    }
  };
  const number = (): void => {
    const m = /^-?(0|[1-9]\d*)(\.\d+)?([eE][+-]?\d+)?/.exec(text.slice(i, i + 400));
    if (!m || m[0] === '' || m[0] === '-') fail();
    i += m![0].length;
  };
  const value = (): void => {
    ws();
    const c = text[i];
    if (c === '{') {
      i++;
      ws();
      if (text[i] === '}') return void i++;
      for (;;) {
        ws();
        if (text[i] !== '"') fail();
        string();
        ws();
        if (text[i] !== ':') fail();
        i++;
        value();
        ws();
        if (text[i] === ',') i++;
        else if (text[i] === '}') return void i++;
        else fail();
      }
    } else if (c === '[') {
      i++;
      ws();
      if (text[i] === ']') return void i++;
      for (;;) {
        value();
        ws();
        if (text[i] === ',') i++;
        else if (text[i] === ']') return void i++;
        else fail();
      }
    } else if (c === '"') string();
    else if (c === 't') literal('true');
    else if (c === 'f') literal('false');
    else if (c === 'n') literal('null');
    else if (c === '-' || (c !== undefined && c >= '0' && c <= '9')) number();
    else fail();
  };
  try {
    value();
    ws();
    return i < text.length ? i : text.length;
  } catch (stop) {
    if (stop instanceof Stop) return Math.min(stop.at, text.length);
    throw stop;
  }
}

/**
 * Lambda parses JSON with Jackson and quotes its message after a fixed
 * prefix ("Unexpected character ('x' (code 120)): expected a valid value
 * (...)" with line and column, LS-T test_lambda_invoke_payload_encoding_error).
 * The location is computed the same way (1-based line and column).
 */
function jsonProblem(text: string): string {
  const at = jsonErrorOffset(text);
  const before = text.slice(0, at);
  const line = before.split('\n').length;
  const column = at - before.lastIndexOf('\n');
  const ch = text.charAt(at);
  const what =
    at >= text.length
      ? 'Unexpected end-of-input'
      : `Unexpected character ('${ch}' (code ${ch.charCodeAt(0)})): expected a valid value (JSON String, Number, Array, Object or token 'null', 'true' or 'false')`;
  return `${what}\n at [Source: REDACTED (\`StreamReadFeature.INCLUDE_SOURCE_IN_LOCATION\` disabled); line: ${line}, column: ${column}]`;
}

function invalidUtf8(buf: Buffer): string {
  // Locate the first invalid byte for the message, like Jackson's "Invalid UTF-8 start byte 0x87".
  const text = buf.toString('utf8');
  const at = text.indexOf('\ufffd');
  const byteOffset = at < 0 ? 0 : Buffer.byteLength(text.slice(0, at));
  const byte = buf[byteOffset] ?? 0;
  return `Invalid UTF-8 start byte 0x${byte.toString(16).padStart(2, '0')}\n at [Source: REDACTED (\`StreamReadFeature.INCLUDE_SOURCE_IN_LOCATION\` disabled); line: 1, column: ${at + 1}]`;
}

/** Parses a control-plane JSON body; an empty body is {}. */
function parseJsonBody(body: Buffer): unknown {
  if (body.length === 0) return {};
  const text = body.toString('utf8');
  try {
    return JSON.parse(text) as unknown;
  } catch {
    throw new LambdaError('InvalidRequestContentException', `Could not parse request body into json: ${jsonProblem(text)}`);
  }
}

const INVOCATION_TYPES = new Set(['RequestResponse', 'Event', 'DryRun']);

function header(req: IncomingMessage, name: string): string | undefined {
  const v = req.headers[name];
  return Array.isArray(v) ? v[0] : v;
}

function decodeClientContext(raw: string | undefined): string | undefined {
  if (raw === undefined || raw === '') return undefined;
  const invalid = (): LambdaError =>
    // Lambda's wording (quoted in aws/aws-sdk-js#1388).
    new LambdaError('InvalidParameterValueException', 'Client context must be a valid Base64-encoded JSON object.');
  if (raw.length > MAX_CLIENT_CONTEXT) {
    throw new LambdaError(
      'InvalidParameterValueException',
      `Client context must be a valid Base64-encoded JSON object of at most ${MAX_CLIENT_CONTEXT} bytes (got ${raw.length}).`,
    );
  }
  if (!/^[A-Za-z0-9+/]*={0,2}$/.test(raw) || raw.length % 4 === 1) throw invalid();
  const bytes = Buffer.from(raw, 'base64');
  if (!isUtf8(bytes)) throw invalid();
  const text = bytes.toString('utf8');
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch {
    throw invalid();
  }
  if (parsed === null || typeof parsed !== 'object' || Array.isArray(parsed)) throw invalid();
  return text;
}

function unknownOperation(): LambdaError {
  return new LambdaError('UnknownOperationException', 'Unknown operation');
}

const EMPTY = Buffer.alloc(0);

/**
 * Lambda's REST API over node:http. Parses and validates requests into
 * registry/invoker calls and writes Lambda's responses; holds no state.
 * Every response carries x-amzn-RequestId; every error goes through
 * errors.ts; no input can crash the server.
 */
export class ApiHandler {
  readonly #registry: ApiRegistry;
  readonly #eventInvokeConfigs: ApiEventInvokeConfigs;
  readonly #invoker: ApiInvoker;
  readonly #layers: ApiLayers | undefined;
  readonly #functionUrls: ApiFunctionUrls | undefined;
  readonly #logger: ApiLogger | undefined;

  constructor(deps: ApiDeps) {
    this.#registry = deps.registry;
    this.#layers = deps.layers;
    this.#functionUrls = deps.functionUrls;
    this.#eventInvokeConfigs = deps.eventInvokeConfigs;
    this.#invoker = deps.invoker;
    this.#logger = deps.logger;
  }

  /** The node:http request listener. Never rejects. */
  handle = (req: IncomingMessage, res: ServerResponse): void => {
    const requestId = randomUUID();
    this.#route(req, res, requestId).catch((err: unknown) => {
      // Make sure the rest of the request is consumed so the connection stays usable.
      if (!req.readableEnded) req.resume();
      writeError(res, requestId, err, this.#logger);
    });
  };

  async #route(req: IncomingMessage, res: ServerResponse, requestId: string): Promise<void> {
    const url = req.url ?? '/';
    const q = url.indexOf('?');
    const path = q < 0 ? url : url.slice(0, q);
    const query = q < 0 ? undefined : new URLSearchParams(url.slice(q + 1));
    const method = req.method ?? 'GET';
    const parts = path.split('/');
    // parts[0] is '' (the path starts with '/'); a trailing slash gives a final ''.
    if (parts.at(-1) === '' && parts.length > 2) parts.pop();

    if (parts[1] === '2015-03-31' && parts[2] === 'functions') {
      if (parts.length === 3) {
        if (method === 'POST') return this.#create(req, res, requestId);
        if (method === 'GET') {
          await this.#drain(req);
          const out = await this.#registry.list(
            query?.get('Marker') ?? undefined,
            query?.get('MaxItems') ?? undefined,
            query?.get('FunctionVersion') ?? undefined,
          );
          return this.#json(res, requestId, 200, out);
        }
      } else if (parts.length >= 4 && parts.length <= 5) {
        const fn = decodePathSegment(parts[3]!);
        const sub = parts[4];
        const qualifier = query?.get('Qualifier') ?? undefined;
        if (sub === 'invocations' && method === 'POST') return this.#invoke(req, res, requestId, fn, qualifier);
        if (sub === undefined && method === 'GET') {
          await this.#drain(req);
          const host = header(req, 'host') ?? '127.0.0.1';
          const out = await this.#registry.get(fn, qualifier, (hex) => `http://${host}${CODE_PATH_PREFIX}${hex}`);
          return this.#json(res, requestId, 200, out);
        }
        if (sub === undefined && method === 'DELETE') {
          await this.#drain(req);
          await this.#registry.delete(fn, qualifier);
          return this.#noContent(res, requestId);
        }
        if (sub === 'configuration' && method === 'GET') {
          await this.#drain(req);
          return this.#json(res, requestId, 200, await this.#registry.getConfiguration(fn, qualifier));
        }
        if (sub === 'configuration' && method === 'PUT') {
          const body = await this.#controlBody(req, 'UpdateFunctionConfiguration');
          return this.#json(res, requestId, 200, await this.#registry.updateConfiguration(fn, body));
        }
        if (sub === 'code' && method === 'PUT') {
          const body = await this.#controlBody(req, 'UpdateFunctionCode');
          return this.#json(res, requestId, 200, await this.#registry.updateCode(fn, body));
        }
        if (sub === 'versions' && method === 'POST') {
          const body = await this.#controlBody(req, 'PublishVersion');
          return this.#json(res, requestId, 201, await this.#registry.publishVersion(fn, body));
        }
        if (sub === 'versions' && method === 'GET') {
          await this.#drain(req);
          return this.#json(res, requestId, 200, await this.#registry.listVersions(fn, query?.get('Marker') ?? undefined, query?.get('MaxItems') ?? undefined));
        }
        if (sub === 'aliases' && method === 'POST') {
          const body = await this.#controlBody(req, 'CreateAlias');
          return this.#json(res, requestId, 201, await this.#registry.createAlias(fn, body));
        }
        if (sub === 'aliases' && method === 'GET') {
          await this.#drain(req);
          const out = await this.#registry.listAliases(
            fn,
            query?.get('FunctionVersion') ?? undefined,
            query?.get('Marker') ?? undefined,
            query?.get('MaxItems') ?? undefined,
          );
          return this.#json(res, requestId, 200, out);
        }
      } else if (parts.length === 6 && parts[4] === 'aliases') {
        // GetAlias, UpdateAlias, DeleteAlias: /2015-03-31/functions/{fn}/aliases/{Name}
        const fn = decodePathSegment(parts[3]!);
        const name = decodePathSegment(parts[5]!);
        if (method === 'GET') {
          await this.#drain(req);
          return this.#json(res, requestId, 200, await this.#registry.getAlias(fn, name));
        }
        if (method === 'PUT') {
          const body = await this.#controlBody(req, 'UpdateAlias');
          return this.#json(res, requestId, 200, await this.#registry.updateAlias(fn, name, body));
        }
        if (method === 'DELETE') {
          await this.#drain(req);
          await this.#registry.deleteAlias(fn, name);
          return this.#noContent(res, requestId);
        }
      }
    } else if (parts[2] === 'functions' && parts[4] === 'concurrency' && parts.length === 5) {
      // Reserved concurrency lives under two API versions: Put/Delete 2017-10-31, Get 2019-09-30.
      const fn = decodePathSegment(parts[3]!);
      if (parts[1] === '2017-10-31' && method === 'PUT') {
        const body = await this.#controlBody(req, 'PutFunctionConcurrency');
        return this.#json(res, requestId, 200, await this.#registry.putConcurrency(fn, body));
      }
      if (parts[1] === '2017-10-31' && method === 'DELETE') {
        await this.#drain(req);
        await this.#registry.deleteConcurrency(fn);
        return this.#noContent(res, requestId);
      }
      if (parts[1] === '2019-09-30' && method === 'GET') {
        await this.#drain(req);
        return this.#json(res, requestId, 200, await this.#registry.getConcurrency(fn));
      }
    } else if (parts[1] === '2019-09-25' && parts[2] === 'functions' && parts[4] === 'event-invoke-config' && parts.length >= 5 && parts.length <= 6) {
      const fn = decodePathSegment(parts[3]!);
      const qualifier = query?.get('Qualifier') ?? undefined;
      const configs = this.#eventInvokeConfigs;
      if (parts.length === 6) {
        if (parts[5] === 'list' && method === 'GET') {
          await this.#drain(req);
          return this.#json(res, requestId, 200, await configs.list(fn, query?.get('Marker') ?? undefined, query?.get('MaxItems') ?? undefined));
        }
      } else if (method === 'PUT') {
        const body = await this.#controlBody(req, 'PutFunctionEventInvokeConfig');
        return this.#json(res, requestId, 200, await configs.put(fn, qualifier, body));
      } else if (method === 'POST') {
        const body = await this.#controlBody(req, 'UpdateFunctionEventInvokeConfig');
        return this.#json(res, requestId, 200, await configs.update(fn, qualifier, body));
      } else if (method === 'GET') {
        await this.#drain(req);
        return this.#json(res, requestId, 200, await configs.get(fn, qualifier));
      } else if (method === 'DELETE') {
        await this.#drain(req);
        await configs.delete(fn, qualifier);
        return this.#noContent(res, requestId);
      }
    } else if (this.#functionUrls && parts[1] === '2021-10-31' && parts[2] === 'functions' && parts.length === 5 && (parts[4] === 'url' || parts[4] === 'urls')) {
      return this.#functionUrl(req, res, requestId, this.#functionUrls, decodePathSegment(parts[3]!), parts[4], method, query);
    } else if (this.#functionUrls && parts[1] === 'kindling' && parts[2] === 'v1' && parts[3] === 'routes' && parts.length <= 5) {
      return this.#routes(req, res, requestId, this.#functionUrls, parts[4] === undefined ? undefined : decodePathSegment(parts[4]), method);
    } else if (parts[1] === '2017-03-31' && parts[2] === 'tags' && parts.length === 4) {
      const resource = decodePathSegment(parts[3]!);
      if (method === 'POST') {
        const body = await this.#controlBody(req, 'TagResource');
        await this.#registry.tagResource(resource, body);
        return this.#noContent(res, requestId);
      }
      if (method === 'DELETE') {
        await this.#drain(req);
        await this.#registry.untagResource(resource, query?.getAll('tagKeys') ?? []);
        return this.#noContent(res, requestId);
      }
      if (method === 'GET') {
        await this.#drain(req);
        return this.#json(res, requestId, 200, await this.#registry.listTags(resource));
      }
    } else if (parts[1] === '2018-10-31' && parts[2] === 'layers' && parts.length <= 6 && this.#layers) {
      const layers = this.#layers;
      const host = header(req, 'host') ?? '127.0.0.1';
      const location = (hex: string): string => `http://${host}${CODE_PATH_PREFIX}${hex}`;
      const filters = {
        runtime: query?.get('CompatibleRuntime') ?? undefined,
        architecture: query?.get('CompatibleArchitecture') ?? undefined,
        marker: query?.get('Marker') ?? undefined,
        maxItems: query?.get('MaxItems') ?? undefined,
      };
      if (parts.length === 3 && method === 'GET') {
        await this.#drain(req);
        // GetLayerVersionByArn shares the path: GET /2018-10-31/layers?find=LayerVersion&Arn=.
        if (query?.get('find') === 'LayerVersion') return this.#json(res, requestId, 200, await layers.getByArn(query.get('Arn') ?? undefined, location));
        return this.#json(res, requestId, 200, await layers.list(filters));
      }
      const layerName = decodePathSegment(parts[3] ?? '');
      if (parts.length === 5 && parts[4] === 'versions') {
        if (method === 'POST') {
          const body = await this.#controlBody(req, 'PublishLayerVersion');
          return this.#json(res, requestId, 201, await layers.publish(layerName, body, location));
        }
        if (method === 'GET') {
          await this.#drain(req);
          return this.#json(res, requestId, 200, await layers.listVersions(layerName, filters));
        }
      }
      if (parts.length === 6 && parts[4] === 'versions') {
        const version = decodePathSegment(parts[5]!);
        if (method === 'GET') {
          await this.#drain(req);
          return this.#json(res, requestId, 200, await layers.get(layerName, version, location));
        }
        if (method === 'DELETE') {
          await this.#drain(req);
          await layers.delete(layerName, version);
          return this.#noContent(res, requestId);
        }
      }
    } else if (parts[1] === '2016-08-19' && parts[2] === 'account-settings' && parts.length === 3 && method === 'GET') {
      await this.#drain(req);
      return this.#json(res, requestId, 200, await this.#registry.accountSettings());
    } else if (path.startsWith(CODE_PATH_PREFIX) && method === 'GET') {
      await this.#drain(req);
      return this.#downloadCode(res, requestId, path.slice(CODE_PATH_PREFIX.length));
    }
    await this.#drain(req);
    throw unknownOperation();
  }

  /** Create/Get/Update/DeleteFunctionUrlConfig (.../url) and ListFunctionUrlConfigs (.../urls), /2021-10-31. */
  async #functionUrl(
    req: IncomingMessage,
    res: ServerResponse,
    requestId: string,
    urls: ApiFunctionUrls,
    fn: string,
    sub: string,
    method: string,
    query: URLSearchParams | undefined,
  ): Promise<void> {
    const qualifier = query?.get('Qualifier') ?? undefined;
    if (sub === 'urls') {
      if (method === 'GET') {
        await this.#drain(req);
        return this.#json(res, requestId, 200, await urls.list(fn, query?.get('Marker') ?? undefined, query?.get('MaxItems') ?? undefined));
      }
    } else if (method === 'POST') {
      const body = await this.#controlBody(req, 'CreateFunctionUrlConfig');
      return this.#json(res, requestId, 201, await urls.create(fn, qualifier, body));
    } else if (method === 'PUT') {
      const body = await this.#controlBody(req, 'UpdateFunctionUrlConfig');
      return this.#json(res, requestId, 200, await urls.update(fn, qualifier, body));
    } else if (method === 'GET') {
      await this.#drain(req);
      return this.#json(res, requestId, 200, await urls.get(fn, qualifier));
    } else if (method === 'DELETE') {
      await this.#drain(req);
      await urls.delete(fn, qualifier);
      return this.#noContent(res, requestId);
    }
    await this.#drain(req);
    throw unknownOperation();
  }

  /** Kindling's HTTP routes API (SAM Api/HttpApi events): PUT/DELETE /kindling/v1/routes/{FunctionName}, GET /kindling/v1/routes. */
  async #routes(req: IncomingMessage, res: ServerResponse, requestId: string, urls: ApiFunctionUrls, fn: string | undefined, method: string): Promise<void> {
    if (fn === undefined && method === 'GET') {
      await this.#drain(req);
      return this.#json(res, requestId, 200, urls.listRoutes());
    }
    if (fn !== undefined && method === 'PUT') {
      const body = await this.#controlBody(req, 'PutRoutes');
      return this.#json(res, requestId, 200, await urls.putRoutes(fn, body));
    }
    if (fn !== undefined && method === 'DELETE') {
      await this.#drain(req);
      await urls.deleteRoutes(fn);
      return this.#noContent(res, requestId);
    }
    await this.#drain(req);
    throw unknownOperation();
  }

  async #create(req: IncomingMessage, res: ServerResponse, requestId: string): Promise<void> {
    const body = await this.#controlBody(req, 'CreateFunction');
    this.#json(res, requestId, 201, await this.#registry.create(body));
  }

  async #controlBody(req: IncomingMessage, operation: string): Promise<unknown> {
    const body = await readCappedBodyAsync(req, MAX_CONTROL_REQUEST);
    if (body === undefined) throw tooLarge(MAX_CONTROL_REQUEST, operation);
    return parseJsonBody(body);
  }

  async #drain(req: IncomingMessage): Promise<void> {
    if (!req.readableEnded) await readCappedBodyAsync(req, 0);
  }

  /** POST /2015-03-31/functions/{fn}/invocations — the hot path. */
  async #invoke(req: IncomingMessage, res: ServerResponse, requestId: string, functionName: string, qualifier: string | undefined): Promise<void> {
    const raw = await readCappedBodyAsync(req, MAX_INVOKE_PAYLOAD);
    if (raw === undefined) throw tooLarge(MAX_INVOKE_PAYLOAD, 'InvokeFunction');

    const invocationType = header(req, 'x-amz-invocation-type') ?? 'RequestResponse';
    if (!INVOCATION_TYPES.has(invocationType)) {
      throw new LambdaError(
        'ValidationException',
        `1 validation error detected: Value '${invocationType}' at 'invocationType' failed to satisfy constraint: Member must satisfy enum value set: [Event, RequestResponse, DryRun]`,
      );
    }
    if (invocationType === 'Event' && raw.length > MAX_EVENT_PAYLOAD) {
      throw new LambdaError('RequestEntityTooLargeException', `${raw.length} byte payload is too large for the Event invocation type (limit ${MAX_EVENT_PAYLOAD} bytes)`);
    }
    const logType = header(req, 'x-amz-log-type') ?? 'None';
    if (logType !== 'None' && logType !== 'Tail') {
      throw new LambdaError(
        'ValidationException',
        `1 validation error detected: Value '${logType}' at 'logType' failed to satisfy constraint: Member must satisfy enum value set: [None, Tail]`,
      );
    }
    const clientContext = decodeClientContext(header(req, 'x-amz-client-context'));

    let payload: Buffer = raw;
    if (raw.length === 0) payload = Buffer.from('{}');
    else {
      // The payload must be JSON (Lambda: 400 InvalidRequestContentException).
      // It is validated, never re-serialised: the function gets the caller's bytes.
      if (!isUtf8(raw)) {
        throw new LambdaError('InvalidRequestContentException', `Could not parse request body into json: Could not parse payload into json: ${invalidUtf8(raw)}`);
      }
      const text = raw.toString('utf8');
      try {
        JSON.parse(text);
      } catch {
        throw new LambdaError('InvalidRequestContentException', `Could not parse request body into json: Could not parse payload into json: ${jsonProblem(text)}`);
      }
    }

    const out = await this.#invoker.invoke({
      requestId,
      functionName,
      qualifier,
      invocationType: invocationType as InvokeCommand['invocationType'],
      logType,
      clientContext,
      payload,
    });
    const headers: Record<string, string | number> = { 'x-amzn-RequestId': requestId };
    if (out.executedVersion !== undefined) headers['X-Amz-Executed-Version'] = out.executedVersion;
    if (out.functionError !== undefined) headers['X-Amz-Function-Error'] = out.functionError;
    if (out.logResult !== undefined) headers['X-Amz-Log-Result'] = out.logResult;
    const body = out.statusCode === 200 ? out.payload : EMPTY;
    if (out.statusCode === 200) headers['Content-Type'] = 'application/json';
    headers['Content-Length'] = body.length;
    res.writeHead(out.statusCode, headers);
    res.end(body);
  }

  #downloadCode(res: ServerResponse, requestId: string, hex: string): void {
    const file = this.#registry.codePath(hex) ?? this.#layers?.codePath(hex);
    if (file === undefined) {
      throw new LambdaError('ResourceNotFoundException', 'The resource you requested does not exist.');
    }
    const stream = createReadStream(file);
    stream.once('open', () => {
      res.writeHead(200, { 'x-amzn-RequestId': requestId, 'Content-Type': 'application/zip' });
      // pipeline, not pipe: a client that goes away mid-download closes the file too.
      pipeline(stream, res, () => undefined);
    });
    stream.once('error', (err) => writeError(res, requestId, err, this.#logger));
  }

  #noContent(res: ServerResponse, requestId: string): void {
    res.writeHead(204, { 'x-amzn-RequestId': requestId });
    res.end();
  }

  #json(res: ServerResponse, requestId: string, status: number, body: unknown): void {
    const text = JSON.stringify(body);
    res.writeHead(status, {
      'x-amzn-RequestId': requestId,
      'Content-Type': 'application/json',
      'Content-Length': Buffer.byteLength(text),
    });
    res.end(text);
  }
}

/**
 * Creates the API server (not listening yet). `platformRoutes` answers the
 * requests that are not Lambda's (returning true when it did). Bad input of any kind becomes
 * an AWS error response; malformed HTTP gets a 400 from the socket handler.
 */
export function createApiServer(deps: ApiDeps, platformRoutes?: (req: IncomingMessage, res: ServerResponse) => boolean): Server {
  const handler = new ApiHandler(deps);
  // The platform's own routes (/kindling/..., /metrics) answer first when given.
  const server = createServer({ keepAlive: true }, platformRoutes ? (req, res) => platformRoutes(req, res) || handler.handle(req, res) : handler.handle);
  server.on('clientError', (err: NodeJS.ErrnoException, socket) => {
    if (socket.writable && err.code !== 'ECONNRESET') socket.end('HTTP/1.1 400 Bad Request\r\nConnection: close\r\nContent-Length: 0\r\n\r\n');
    else socket.destroy();
  });
  return server;
}
