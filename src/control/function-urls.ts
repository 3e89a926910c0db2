/**
 * The control plane of a function's HTTP endpoints:
 *
 *  - function URLs: CreateFunctionUrlConfig and its siblings (paths
 *    /2021-10-31/functions/{fn}/url and .../urls), one URL per function or
 *    alias, each with a 32-character url-id that names its host;
 *  - HTTP routes: the method + path routes a SAM template's `Api` and
 *    `HttpApi` events register through Kindling's own API
 *    (PUT/GET/DELETE /kindling/v1/routes), served by the same front door.
 *
 * Both live in the metadata store and in memory (loaded by open(), updated
 * after every change is stored), so the front door's look-ups are map reads.
 * Changes of one function's endpoints run under the registry's lock of that
 * function, so none is written for a function a concurrent DeleteFunction
 * just removed; the store drops them with the function.
 *
 * Wording: localstack's snapshot tests recorded against AWS
 * (tests/aws/services/lambda_/test_lambda_api.snapshot.json, TestLambdaUrl;
 * test_lambda.snapshot.json, TestLambdaURL; cited below as LS-A) and the API
 * model (botocore lambda 2015-03-31 service-2.json).
 */
import { randomBytes } from 'node:crypto';
import { z } from 'zod';
import { functionArn, parseFunctionRef } from '../shared/arn.js';
import type { Partition } from '../shared/arn.js';
import type { Clock } from '../shared/clock.js';
import { LambdaError } from '../shared/errors.js';
import type { FunctionUrlCors, FunctionUrlRecord, HttpEndpointStore, HttpRouteRecord } from '../store/http-endpoints.js';
import { LATEST } from '../store/types.js';
import { checkInt, checkPattern, parseShape, QUALIFIER_PATTERN, Violations } from './validation.js';
import { encodeMarker, markerKey, parseMaxItems } from './list-paging.js';

/** botocore FunctionUrlQualifier: an alias name, never a version number (nor $LATEST: LS-A create_function_url_config_qualifier_latest). */
export const URL_QUALIFIER_PATTERN = '((?!^\\d+$)^[0-9a-zA-Z-_]+$)';
const URL_QUALIFIER = /^(?!\d+$)[0-9a-zA-Z_-]+$/;
/** botocore ListFunctionUrlConfigs MaxItems: 1..50. */
export const LIST_URL_CONFIGS_MAX_ITEMS = 50;
/** botocore Cors: MaxAge 0..86400; AllowMethods up to 6 of up to 6 characters; AllowOrigins/AllowHeaders/ExposeHeaders up to 100. */
const CORS_MAX_AGE = 86_400;

// LS-A recorded: create/update of a function or alias that does not exist; list of a function that does not exist.
const FUNCTION_DOES_NOT_EXIST = 'Function does not exist';
// LS-A recorded: get/delete of a function, alias or config that does not exist; update of a config that does not exist.
const RESOURCE_DOES_NOT_EXIST = 'The resource you requested does not exist.';
// LS-A recorded (create_function_url_config_qualifier_alias_doesnotmatch_arn).
const QUALIFIER_MISMATCH = 'The derived qualifier from the function name does not match the specified qualifier.';

/** Lambda's FunctionUrlConfig, as the API answers it (JSON-ready). */
export interface FunctionUrlConfig {
  FunctionUrl: string;
  FunctionArn: string;
  AuthType: string;
  Cors?: FunctionUrlCors;
  CreationTime: string;
  LastModifiedTime?: string;
  InvokeMode?: string;
}

/** A route as the /kindling/v1/routes API answers it. */
export interface HttpRoute {
  FunctionName: string;
  Method: string;
  Path: string;
  PayloadFormatVersion: '1.0' | '2.0';
  /** The alias or version the route invokes; absent: $LATEST. */
  Qualifier?: string;
}

/** What FunctionUrls needs of the function registry (control/registry.ts implements the first three). */
export interface UrlFunctionCatalog {
  /** The version of the function ('$LATEST', a number or an alias name: its version), or undefined when it does not exist. */
  lookupVersion(name: string, version: string): object | undefined;
  /** Runs `fn` while no create, update or delete of that function runs. */
  exclusive<T>(name: string, fn: () => Promise<T>): Promise<T>;
  /** Called after a whole function (qualifier undefined), a version or (once the registry has them) an alias was deleted. */
  onDeleted(listener: (name: string, version: string | undefined) => void): void;
  /**
   * Whether the function has this alias. Optional: without it (a registry
   * without aliases) any alias name is accepted here and resolved when the
   * URL is invoked.
   */
  hasAlias?(name: string, alias: string): boolean;
}

export interface FunctionUrlsOptions {
  readonly store: HttpEndpointStore;
  readonly functions: UrlFunctionCatalog;
  readonly partition: Partition;
  readonly clock: Clock;
  /** The FunctionUrl of a url-id (its host names the front door's port, known once it listens). */
  readonly urlOf: (urlId: string) => string;
  /** Makes url-ids; default 32 random base32 characters. */
  readonly newUrlId?: () => string;
  readonly logger?: { error(message: string, err?: unknown): void };
}

/** What the front door reads: the URL of a url-id, and the routes. */
export interface EndpointDirectory {
  urlById(urlId: string): FunctionUrlRecord | undefined;
  routes(): readonly HttpRouteRecord[];
}

// ---------------------------------------------------------------- validation

const strList = z.array(z.string()).nullish();
const corsShape = z
  .looseObject({
    AllowCredentials: z.boolean().nullish(),
    AllowHeaders: strList,
    AllowMethods: strList,
    AllowOrigins: strList,
    ExposeHeaders: strList,
    MaxAge: z.number().int().nullish(),
  })
  .nullish();
const urlWriteShape = z.looseObject({
  AuthType: z.string().nullish(),
  Cors: corsShape,
  InvokeMode: z.string().nullish(),
});

interface UrlWrite {
  readonly authType: FunctionUrlRecord['authType'] | undefined;
  readonly invokeMode: FunctionUrlRecord['invokeMode'] | undefined;
  readonly cors: FunctionUrlCors | undefined;
}

function checkList(v: Violations, list: readonly string[] | null | undefined, field: string, maxItems: number, maxLen: number, minLen = 0): void {
  if (list == null) return;
  if (list.length > maxItems) {
    v.add(`[${list.join(', ')}]`, field, `Member must have length less than or equal to ${maxItems}`);
    return;
  }
  for (const item of list) {
    if (item.length > maxLen) v.add(`[${list.join(', ')}]`, field, `Member must satisfy constraint: [Member must have length less than or equal to ${maxLen}]`);
    else if (item.length < minLen) v.add(`[${list.join(', ')}]`, field, `Member must satisfy constraint: [Member must have length greater than or equal to ${minLen}]`);
  }
}

function parseUrlWrite(body: unknown, qualifier: string | undefined, create: boolean): UrlWrite {
  const b = parseShape(urlWriteShape, body);
  const v = new Violations();
  // Members in the order of the model's request shape.
  checkUrlQualifier(v, qualifier);
  if (b.AuthType == null) {
    if (create) v.add(null, 'authType', 'Member must not be null');
  } else if (b.AuthType !== 'NONE' && b.AuthType !== 'AWS_IAM') {
    v.add(b.AuthType, 'authType', 'Member must satisfy enum value set: [AWS_IAM, NONE]');
  }
  const c = b.Cors;
  if (c != null) {
    checkList(v, c.AllowHeaders, 'cors.allowHeaders', 100, 1024);
    checkList(v, c.AllowMethods, 'cors.allowMethods', 6, 6);
    checkList(v, c.AllowOrigins, 'cors.allowOrigins', 100, 253, 1);
    checkList(v, c.ExposeHeaders, 'cors.exposeHeaders', 100, 1024);
    checkInt(v, c.MaxAge, 'cors.maxAge', 0, CORS_MAX_AGE);
  }
  // LS-A recorded (test_lambda_url_invalid_invoke_mode), AWS's order.
  if (b.InvokeMode != null && b.InvokeMode !== 'BUFFERED' && b.InvokeMode !== 'RESPONSE_STREAM') {
    v.add(b.InvokeMode, 'invokeMode', 'Member must satisfy enum value set: [RESPONSE_STREAM, BUFFERED]');
  }
  v.throwIfAny();
  if (b.AuthType === 'AWS_IAM') {
    throw new LambdaError(
      'InvalidParameterValueException',
      'Kindling does not authenticate function URL requests yet: AuthType AWS_IAM is not supported. Use AuthType NONE (anyone who can reach the front door may invoke the URL).',
    );
  }
  if (b.InvokeMode === 'RESPONSE_STREAM') {
    throw new LambdaError('InvalidParameterValueException', 'Kindling does not stream function URL responses yet: InvokeMode RESPONSE_STREAM is not supported. Use InvokeMode BUFFERED.');
  }
  return {
    authType: (b.AuthType ?? undefined) as UrlWrite['authType'],
    invokeMode: (b.InvokeMode ?? undefined) as UrlWrite['invokeMode'],
    cors: c == null ? undefined : corsRecord(c),
  };
}

/** The Cors member as stored and answered: only the members given. */
function corsRecord(c: NonNullable<z.infer<typeof corsShape>>): FunctionUrlCors {
  const out: { -readonly [K in keyof FunctionUrlCors]: FunctionUrlCors[K] } = {};
  if (c.AllowCredentials != null) out.AllowCredentials = c.AllowCredentials;
  if (c.AllowHeaders != null) out.AllowHeaders = c.AllowHeaders;
  if (c.AllowMethods != null) out.AllowMethods = c.AllowMethods;
  if (c.AllowOrigins != null) out.AllowOrigins = c.AllowOrigins;
  if (c.ExposeHeaders != null) out.ExposeHeaders = c.ExposeHeaders;
  if (c.MaxAge != null) out.MaxAge = c.MaxAge;
  return out;
}

function checkUrlQualifier(v: Violations, qualifier: string | undefined): void {
  if (qualifier === undefined) return;
  if (qualifier.length < 1) v.add(qualifier, 'qualifier', 'Member must have length greater than or equal to 1');
  else if (qualifier.length > 128) v.add(qualifier, 'qualifier', 'Member must have length less than or equal to 128');
  else if (!URL_QUALIFIER.test(qualifier)) v.add(qualifier, 'qualifier', `Member must satisfy regular expression pattern: ${URL_QUALIFIER_PATTERN}`);
}

/** Lambda's timestamps in these responses: ISO 8601 with microseconds ("2021-12-01T18:27:20.565045Z", botocore examples). */
function isoTime(ms: number): string {
  return new Date(ms).toISOString().replace(/\.(\d{3})Z$/, '.$1000Z');
}

/** 32 lower-case base32 characters, like Lambda's url-ids. */
export function randomUrlId(): string {
  const alphabet = 'abcdefghijklmnopqrstuvwxyz234567';
  const bytes = randomBytes(32);
  let out = '';
  for (const b of bytes) out += alphabet[b & 31];
  return out;
}

// ---------------------------------------------------------------- routes

const METHODS = ['GET', 'POST', 'PUT', 'PATCH', 'DELETE', 'HEAD', 'OPTIONS', 'ANY'] as const;
const routesShape = z.looseObject({
  Routes: z
    .array(z.looseObject({ Method: z.string().nullish(), Path: z.string().nullish(), PayloadFormatVersion: z.string().nullish(), Qualifier: z.string().nullish() }))
    .nullish(),
});
/** A path segment: literal, {name} or (last) {name+}; API Gateway's resource path rules. */
const LITERAL_SEGMENT = /^[a-zA-Z0-9._~:@!$&'()*+,;=-]+$/;
const PARAM_SEGMENT = /^\{[a-zA-Z_][a-zA-Z0-9_]*\}$/;
const GREEDY_SEGMENT = /^\{[a-zA-Z_][a-zA-Z0-9_]*\+\}$/;

function parseRoutes(functionName: string, body: unknown): HttpRouteRecord[] {
  const b = parseShape(routesShape, body);
  if (b.Routes == null) throw new LambdaError('InvalidParameterValueException', 'Routes is required: a list of {"Method", "Path", "PayloadFormatVersion", "Qualifier"}.');
  const out: HttpRouteRecord[] = [];
  const seen = new Set<string>();
  b.Routes.forEach((r, i) => {
    const where = `Routes[${i}]`;
    const method = (r.Method ?? '').toUpperCase();
    if (!(METHODS as readonly string[]).includes(method)) {
      throw new LambdaError('InvalidParameterValueException', `${where}.Method must be one of ${METHODS.join(', ')} (got ${JSON.stringify(r.Method ?? null)}).`);
    }
    const path = r.Path ?? '';
    checkRoutePath(path, where);
    const version = r.PayloadFormatVersion ?? '2.0';
    if (version !== '1.0' && version !== '2.0') {
      throw new LambdaError('InvalidParameterValueException', `${where}.PayloadFormatVersion must be "1.0" or "2.0" (got ${JSON.stringify(version)}).`);
    }
    // Qualifier: an alias name or a version number, checked as Invoke's ?Qualifier= is
    // (botocore Qualifier: length 1..128, pattern (|[a-zA-Z0-9$_-]+)); the member is named as AWS names list members.
    const qualifier = r.Qualifier ?? undefined;
    if (qualifier !== undefined) {
      const v = new Violations();
      const field = `routes.${i + 1}.member.qualifier`;
      if (qualifier.length < 1) v.add(qualifier, field, 'Member must have length greater than or equal to 1');
      else checkPattern(v, qualifier, field, QUALIFIER_PATTERN, 128);
      v.throwIfAny();
    }
    const key = `${method} ${routeShapeKey(path)}`;
    if (seen.has(key)) throw new LambdaError('InvalidParameterValueException', `${where} repeats the route ${method} ${path}.`);
    seen.add(key);
    out.push({ functionName, method, path, payloadFormatVersion: version, ...(qualifier !== undefined ? { qualifier } : {}) });
  });
  return out;
}

function checkRoutePath(path: string, where: string): void {
  const bad = (why: string): never => {
    throw new LambdaError('InvalidParameterValueException', `${where}.Path ${JSON.stringify(path)} is not a valid route path: ${why}.`);
  };
  if (!path.startsWith('/')) bad('it must start with /');
  if (path.length > 1024) bad('it is longer than 1024 characters');
  if (path === '/') return;
  const segments = path.slice(1).split('/');
  const names = new Set<string>();
  segments.forEach((s, i) => {
    if (s === '') bad('it has an empty segment');
    if (GREEDY_SEGMENT.test(s)) {
      if (i !== segments.length - 1) bad('a greedy {name+} segment must be the last one');
    } else if (!PARAM_SEGMENT.test(s) && !LITERAL_SEGMENT.test(s)) {
      bad(`segment ${JSON.stringify(s)} is neither a literal nor a {name} parameter`);
    }
    const name = /^\{(\w+)\+?\}$/.exec(s)?.[1];
    if (name !== undefined) {
      if (names.has(name)) bad(`the parameter {${name}} appears twice`);
      names.add(name);
    }
  });
}

/** Two routes conflict when they match the same requests: parameter names do not matter ("/a/{x}" is "/a/{y}"). */
export function routeShapeKey(path: string): string {
  return path.replace(/\{\w+\+\}/g, '{+}').replace(/\{\w+\}/g, '{}');
}

// ---------------------------------------------------------------- the service

/**
 * FunctionUrls: the URL operations of Lambda's API, the /kindling/v1/routes
 * operations, and the front door's look-ups (EndpointDirectory).
 */
export class FunctionUrls implements EndpointDirectory {
  readonly #store: HttpEndpointStore;
  readonly #functions: UrlFunctionCatalog;
  readonly #partition: Partition;
  readonly #clock: Clock;
  readonly #urlOf: (urlId: string) => string;
  readonly #newUrlId: () => string;
  /** function name → qualifier ('' for unqualified) → URL */
  readonly #urls = new Map<string, Map<string, FunctionUrlRecord>>();
  readonly #byId = new Map<string, FunctionUrlRecord>();
  /** function name → its routes */
  readonly #routes = new Map<string, readonly HttpRouteRecord[]>();
  #allRoutes: readonly HttpRouteRecord[] = [];

  private constructor(options: FunctionUrlsOptions) {
    this.#store = options.store;
    this.#functions = options.functions;
    this.#partition = options.partition;
    this.#clock = options.clock;
    this.#urlOf = options.urlOf;
    this.#newUrlId = options.newUrlId ?? randomUrlId;
  }

  /** Loads every URL and route (the registry must be open: it says which functions exist). */
  static async open(options: FunctionUrlsOptions): Promise<FunctionUrls> {
    const urls = new FunctionUrls(options);
    options.functions.onDeleted((name, qualifier) => {
      if (qualifier === undefined) {
        // DeleteFunction: the store dropped its URLs and routes in the same transaction.
        urls.#forgetFunction(name);
        return;
      }
      // Only an alias can have a URL (never a version): when a registry with
      // aliases reports one deleted, its URL goes too, as on Lambda (LS-A
      // test_lambda_url_persists_after_alias_delete: the config is gone).
      const record = urls.#urls.get(name)?.get(qualifier);
      if (!record) return;
      urls.#forgetUrl(record);
      options.store.deleteFunctionUrl(name, qualifier).catch((err: unknown) => options.logger?.error(`kindling: could not delete the function URL of ${name}:${qualifier}`, err));
    });
    for (const record of await options.store.listFunctionUrls()) {
      // DeleteFunction drops them in the same transaction: only a hand-edited store has one of no function.
      if (options.functions.lookupVersion(record.functionName, LATEST)) urls.#setUrl(record);
      else await options.store.deleteFunctionUrl(record.functionName, record.qualifier);
    }
    const byFunction = new Map<string, HttpRouteRecord[]>();
    for (const route of await options.store.listHttpRoutes()) {
      const list = byFunction.get(route.functionName) ?? [];
      list.push(route);
      byFunction.set(route.functionName, list);
    }
    for (const [name, routes] of byFunction) {
      if (options.functions.lookupVersion(name, LATEST)) urls.#setRoutes(name, routes);
      else await options.store.replaceHttpRoutes(name, []);
    }
    return urls;
  }

  // ------------------------------------------------------------------ the front door's reads

  urlById(urlId: string): FunctionUrlRecord | undefined {
    return this.#byId.get(urlId.toLowerCase());
  }

  routes(): readonly HttpRouteRecord[] {
    return this.#allRoutes;
  }

  // ------------------------------------------------------------------ URL operations

  /** CreateFunctionUrlConfig (201). */
  async create(fn: string, qualifier: string | undefined, body: unknown): Promise<FunctionUrlConfig> {
    const target = this.#target(fn, qualifier);
    const input = parseUrlWrite(body, qualifier, true);
    return this.#functions.exclusive(target.name, async () => {
      if (!this.#functions.lookupVersion(target.name, LATEST)) throw new LambdaError('ResourceNotFoundException', FUNCTION_DOES_NOT_EXIST);
      const arn = functionArn(this.#partition, target.name, target.qualifier);
      if (this.#urls.get(target.name)?.has(target.qualifier ?? '')) {
        // LS-A recorded (failed_duplication), two spaces included.
        throw new LambdaError(
          'ResourceConflictException',
          `Failed to create function url config for [functionArn = ${arn}]. Error message:  FunctionUrlConfig exists for this Lambda function`,
        );
      }
      if (!this.#aliasExists(target)) throw new LambdaError('ResourceNotFoundException', FUNCTION_DOES_NOT_EXIST);
      let urlId = this.#newUrlId();
      while (this.#byId.has(urlId)) urlId = this.#newUrlId();
      const now = this.#clock.now();
      const record: FunctionUrlRecord = {
        functionName: target.name,
        qualifier: target.qualifier,
        urlId,
        authType: input.authType ?? 'NONE',
        invokeMode: input.invokeMode,
        cors: input.cors,
        creationTime: now,
        lastModifiedTime: now,
      };
      await this.#store.putFunctionUrl(record);
      this.#setUrl(record);
      // The create answer has no LastModifiedTime, and InvokeMode only when given (LS-A url_creation, test_lambda_url_echo_invoke[BUFFERED]).
      const out = this.#wire(record, false);
      delete out.LastModifiedTime;
      return out;
    });
  }

  /** GetFunctionUrlConfig. */
  async get(fn: string, qualifier: string | undefined): Promise<FunctionUrlConfig> {
    const target = this.#readTarget(fn, qualifier);
    const record = this.#urls.get(target.name)?.get(target.qualifier ?? '');
    if (!record || !this.#functions.lookupVersion(target.name, LATEST)) throw new LambdaError('ResourceNotFoundException', RESOURCE_DOES_NOT_EXIST);
    return this.#wire(record);
  }

  /** UpdateFunctionUrlConfig: changes the members given; Cors given replaces the whole Cors. */
  async update(fn: string, qualifier: string | undefined, body: unknown): Promise<FunctionUrlConfig> {
    const target = this.#target(fn, qualifier);
    const input = parseUrlWrite(body, qualifier, false);
    return this.#functions.exclusive(target.name, async () => {
      if (!this.#functions.lookupVersion(target.name, LATEST) || !this.#aliasExists(target)) {
        throw new LambdaError('ResourceNotFoundException', FUNCTION_DOES_NOT_EXIST);
      }
      const current = this.#urls.get(target.name)?.get(target.qualifier ?? '');
      if (!current) throw new LambdaError('ResourceNotFoundException', RESOURCE_DOES_NOT_EXIST);
      const record: FunctionUrlRecord = {
        ...current,
        authType: input.authType ?? current.authType,
        invokeMode: input.invokeMode ?? current.invokeMode,
        cors: input.cors ?? current.cors,
        lastModifiedTime: this.#clock.now(),
      };
      await this.#store.putFunctionUrl(record);
      this.#setUrl(record);
      // InvokeMode only once it was ever set (LS-A updated_url_config vs modify_lambda_url_config_none).
      return this.#wire(record, false);
    });
  }

  /** DeleteFunctionUrlConfig (204): the URL answers 403 from then on, as Lambda's does. */
  async delete(fn: string, qualifier: string | undefined): Promise<void> {
    const target = this.#readTarget(fn, qualifier);
    await this.#functions.exclusive(target.name, async () => {
      const record = this.#urls.get(target.name)?.get(target.qualifier ?? '');
      if (!record || !this.#functions.lookupVersion(target.name, LATEST)) throw new LambdaError('ResourceNotFoundException', RESOURCE_DOES_NOT_EXIST);
      await this.#store.deleteFunctionUrl(target.name, target.qualifier);
      this.#forgetUrl(record);
    });
  }

  /** ListFunctionUrlConfigs: the function's URLs, the unqualified one first, then by alias name. */
  async list(fn: string, marker: string | undefined, maxItems: string | undefined): Promise<{ FunctionUrlConfigs: FunctionUrlConfig[]; NextMarker?: string }> {
    const ref = parseFunctionRef(fn, this.#partition);
    const limit = parseMaxItems(maxItems, LIST_URL_CONFIGS_MAX_ITEMS);
    if (!this.#functions.lookupVersion(ref.name, LATEST)) throw new LambdaError('ResourceNotFoundException', FUNCTION_DOES_NOT_EXIST);
    const all = [...(this.#urls.get(ref.name)?.entries() ?? [])].sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
    const after = markerKey(marker, 1)?.[0];
    const rest = after === undefined ? all : all.filter(([q]) => q > after);
    const page = rest.slice(0, limit);
    const out: { FunctionUrlConfigs: FunctionUrlConfig[]; NextMarker?: string } = { FunctionUrlConfigs: page.map(([, r]) => this.#wire(r)) };
    const last = page.at(-1);
    if (rest.length > limit && last) out.NextMarker = encodeMarker([last[0]]);
    return out;
  }

  // ------------------------------------------------------------------ routes (/kindling/v1/routes)

  /**
   * PUT /kindling/v1/routes/{FunctionName}: replaces the function's routes.
   * A route that matches the same requests as another function's (same
   * method, or ANY on either side, and the same path up to parameter names)
   * is refused with 409. A route's Qualifier (an alias or a version) must
   * exist when the routes are put; a route whose alias is deleted later
   * stays, and answers as API Gateway does when its integration's target is
   * gone (api/function-urls.ts).
   */
  async putRoutes(fn: string, body: unknown): Promise<{ Routes: HttpRoute[] }> {
    const ref = parseFunctionRef(fn, this.#partition);
    if (ref.qualifier !== undefined) {
      throw new LambdaError('InvalidParameterValueException', 'Routes belong to a function: name it without a qualifier (give a route\'s alias or version as its Qualifier member).');
    }
    const routes = parseRoutes(ref.name, body);
    return this.#functions.exclusive(ref.name, async () => {
      if (!this.#functions.lookupVersion(ref.name, LATEST)) throw new LambdaError('ResourceNotFoundException', FUNCTION_DOES_NOT_EXIST);
      for (const { qualifier } of routes) {
        // Invoke's answer for a qualifier that names no version or alias (LS-A recorded get_function_alias_notfound_exc).
        if (qualifier !== undefined && !this.#functions.lookupVersion(ref.name, qualifier)) {
          throw new LambdaError('ResourceNotFoundException', `Function not found: ${functionArn(this.#partition, ref.name, qualifier)}`);
        }
      }
      for (const mine of routes) {
        const clash = this.#allRoutes.find(
          (other) =>
            other.functionName !== ref.name &&
            routeShapeKey(other.path) === routeShapeKey(mine.path) &&
            (other.method === mine.method || other.method === 'ANY' || mine.method === 'ANY'),
        );
        if (clash) {
          throw new LambdaError(
            'ResourceConflictException',
            `The route ${mine.method} ${mine.path} conflicts with the route ${clash.method} ${clash.path} of function ${clash.functionName}.`,
          );
        }
      }
      await this.#store.replaceHttpRoutes(ref.name, routes);
      this.#setRoutes(ref.name, routes);
      return { Routes: routes.map(wireRoute) };
    });
  }

  /** GET /kindling/v1/routes: every route, by function then path. */
  listRoutes(): { Routes: HttpRoute[] } {
    return { Routes: this.#allRoutes.map(wireRoute) };
  }

  /** DELETE /kindling/v1/routes/{FunctionName} (204): the function serves no route. */
  async deleteRoutes(fn: string): Promise<void> {
    const ref = parseFunctionRef(fn, this.#partition);
    await this.#functions.exclusive(ref.name, async () => {
      if (!this.#functions.lookupVersion(ref.name, LATEST)) throw new LambdaError('ResourceNotFoundException', FUNCTION_DOES_NOT_EXIST);
      await this.#store.replaceHttpRoutes(ref.name, []);
      this.#setRoutes(ref.name, []);
    });
  }

  // ------------------------------------------------------------------ internals

  /** name:qualifier or ?Qualifier=; the qualifier must be an alias name (no version, no $LATEST). */
  #target(fn: string, qualifier: string | undefined): { name: string; qualifier: string | undefined } {
    const ref = parseFunctionRef(fn, this.#partition);
    if (qualifier !== undefined && ref.qualifier !== undefined && qualifier !== ref.qualifier) {
      throw new LambdaError('InvalidParameterValueException', QUALIFIER_MISMATCH);
    }
    const q = ref.qualifier ?? qualifier;
    if (ref.qualifier !== undefined && qualifier === undefined) {
      // A qualifier in the name is checked as ?Qualifier= is.
      const v = new Violations();
      checkUrlQualifier(v, q);
      v.throwIfAny();
    }
    return { name: ref.name, qualifier: q };
  }

  #readTarget(fn: string, qualifier: string | undefined): { name: string; qualifier: string | undefined } {
    const v = new Violations();
    checkUrlQualifier(v, qualifier);
    v.throwIfAny();
    return this.#target(fn, qualifier);
  }

  #aliasExists(target: { name: string; qualifier: string | undefined }): boolean {
    if (target.qualifier === undefined) return true;
    return this.#functions.hasAlias?.(target.name, target.qualifier) ?? true;
  }

  /** Get and List answer InvokeMode always (BUFFERED when never set); Create and Update only when it was set. */
  #wire(r: FunctionUrlRecord, defaultInvokeMode = true): FunctionUrlConfig {
    const out: FunctionUrlConfig = {
      FunctionUrl: this.#urlOf(r.urlId),
      FunctionArn: functionArn(this.#partition, r.functionName, r.qualifier),
      AuthType: r.authType,
      CreationTime: isoTime(r.creationTime),
      LastModifiedTime: isoTime(r.lastModifiedTime),
    };
    const mode = r.invokeMode ?? (defaultInvokeMode ? 'BUFFERED' : undefined);
    if (mode !== undefined) out.InvokeMode = mode;
    if (r.cors !== undefined) out.Cors = r.cors;
    return out;
  }

  #setUrl(record: FunctionUrlRecord): void {
    let byQualifier = this.#urls.get(record.functionName);
    if (!byQualifier) {
      byQualifier = new Map();
      this.#urls.set(record.functionName, byQualifier);
    }
    const frozen = Object.freeze({ ...record });
    byQualifier.set(record.qualifier ?? '', frozen);
    this.#byId.set(record.urlId, frozen);
  }

  #forgetUrl(record: FunctionUrlRecord): void {
    const byQualifier = this.#urls.get(record.functionName);
    byQualifier?.delete(record.qualifier ?? '');
    if (byQualifier?.size === 0) this.#urls.delete(record.functionName);
    this.#byId.delete(record.urlId);
  }

  #setRoutes(name: string, routes: readonly HttpRouteRecord[]): void {
    if (routes.length === 0) this.#routes.delete(name);
    else this.#routes.set(name, Object.freeze(routes.map((r) => Object.freeze({ ...r }))));
    this.#allRoutes = Object.freeze(
      [...this.#routes.values()].flat().sort((a, b) => cmp(a.functionName, b.functionName) || cmp(a.path, b.path) || cmp(a.method, b.method)),
    );
  }

  #forgetFunction(name: string): void {
    for (const record of this.#urls.get(name)?.values() ?? []) this.#byId.delete(record.urlId);
    this.#urls.delete(name);
    if (this.#routes.has(name)) this.#setRoutes(name, []);
  }
}

function cmp(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}

function wireRoute(r: HttpRouteRecord): HttpRoute {
  const out: HttpRoute = { FunctionName: r.functionName, Method: r.method, Path: r.path, PayloadFormatVersion: r.payloadFormatVersion };
  if (r.qualifier !== undefined) out.Qualifier = r.qualifier;
  return out;
}
