/**
 * Function aliases (CreateAlias, GetAlias, UpdateAlias, DeleteAlias,
 * ListAliases on /2015-03-31/functions/{fn}/aliases[/{Name}]) and the
 * routing of invokes through them.
 *
 * An alias names one version of a function ($LATEST or a published one), or
 * two: RoutingConfig.AdditionalVersionWeights sends a share of the invokes
 * (0..1) to one more published version, chosen afresh for every invoke
 * ("Implementing Lambda canary deployments using a weighted alias", Lambda
 * developer guide). Aliases belong to the function registry: the registry
 * resolves `name:alias` and `?Qualifier=alias` through `get()` and
 * `route()`, and every change of a function's aliases runs under the
 * registry's lock of that function (so a version cannot be deleted while an
 * alias is being pointed at it).
 *
 * Wording: localstack's snapshot tests recorded against AWS
 * (tests/aws/services/lambda_/test_lambda_api.snapshot.json, TestLambdaAlias
 * and TestLambdaRevisions; cited as LS-A) and the API model (botocore
 * lambda/2015-03-31 service-2.json: Alias, Version, AdditionalVersionWeights).
 */
import { randomUUID } from 'node:crypto';
import { z } from 'zod';
import { functionArn, parseFunctionRef } from '../shared/arn.js';
import type { Partition } from '../shared/arn.js';
import { functionNotFound, LambdaError } from '../shared/errors.js';
import type { AliasRecord, MetadataStore } from '../store/types.js';
import { LATEST } from '../store/types.js';
import { checkPattern, DESCRIPTION_MAX, parseListQuery, parseShape, Violations } from './validation.js';
import { encodeMarker, markerKey } from './list-paging.js';

/** botocore Alias: length 1..128; not only digits (a number is a version). */
export const ALIAS_NAME_PATTERN = '(?!^[0-9]+$)([a-zA-Z0-9-_]+)';
const ALIAS_NAME_MAX = 128;
/** botocore Version (CreateAlias/UpdateAlias FunctionVersion, ListAliases ?FunctionVersion=): length 1..1024. */
export const VERSION_PATTERN = '(\\$LATEST|[0-9]+)';
const VERSION_MAX = 1024;

// LS-A recorded (publish_wrong_revisionid_exc, update_alias_revision_exception).
export const REVISION_MISMATCH =
  'The Revision Id provided does not match the latest Revision Id. Call the GetFunction/GetAlias API to retrieve the latest Revision Id';

/** Lambda's AliasConfiguration, as the API answers it. RoutingConfig only when the alias routes to two versions (LS-A create_alias_empty_routingconfig). */
export interface AliasConfiguration {
  AliasArn: string;
  Name: string;
  FunctionVersion: string;
  Description: string;
  RevisionId: string;
  RoutingConfig?: { AdditionalVersionWeights: Record<string, number> };
}

export interface ListAliasesResponse {
  Aliases: AliasConfiguration[];
  NextMarker?: string;
}

/** What aliases need of the function registry. */
export interface AliasFunctions {
  /** Whether the function has this version ('$LATEST' or a published number). */
  hasVersion(name: string, version: string): boolean;
  /** Runs `fn` under the function's lock (no create, update, publish or delete of it meanwhile). */
  exclusive<T>(name: string, fn: () => Promise<T>): Promise<T>;
  /** Called under the function's lock after an alias was deleted (the store dropped its EventInvokeConfig with it). */
  aliasDeleted(name: string, alias: string): void;
}

export interface AliasesOptions {
  readonly metadata: MetadataStore;
  readonly partition: Partition;
  readonly functions: AliasFunctions;
  /** Uniform in [0, 1): picks the version of each invoke of a weighted alias. Default Math.random (tests inject their own). */
  readonly random?: () => number;
  readonly logger?: { error(message: string, err?: unknown): void };
}

/** A qualifier that names an alias rather than a version: not $LATEST, not a number (LS provider api_utils.qualifier_is_alias). */
export function isAliasName(qualifier: string): boolean {
  return qualifier !== LATEST && new RegExp(`^(?:${ALIAS_NAME_PATTERN})$`).test(qualifier);
}

// ---------------------------------------------------------------- request validation

const weightsShape = z.record(z.string(), z.number().nullable()).nullish();
const routingShape = z.looseObject({ AdditionalVersionWeights: weightsShape }).nullish();
const createShape = z.looseObject({
  Name: z.string().nullish(),
  FunctionVersion: z.string().nullish(),
  Description: z.string().nullish(),
  RoutingConfig: routingShape,
});
const updateShape = z.looseObject({
  FunctionVersion: z.string().nullish(),
  Description: z.string().nullish(),
  RoutingConfig: routingShape,
  RevisionId: z.string().nullish(),
});

/** undefined: RoutingConfig not given; an empty array: given, routing to one version. */
type Weights = readonly (readonly [string, number])[] | undefined;

/** Java's Double.toString for the values of the model's messages: 2 → "2.0", 0.2 → "0.2". */
function javaDouble(n: number): string {
  return Number.isInteger(n) ? n.toFixed(1) : String(n);
}

function checkAliasName(v: Violations, name: string | null | undefined, field = 'name'): void {
  if (name === null || name === undefined) v.add(null, field, 'Member must not be null');
  else if (name.length < 1) v.add(name, field, 'Member must have length greater than or equal to 1');
  // LS-A recorded create_alias_number_exception.
  else checkPattern(v, name, field, ALIAS_NAME_PATTERN, ALIAS_NAME_MAX);
}

function checkVersion(v: Violations, version: string | null | undefined, field: string, required: boolean): void {
  if (version === null || version === undefined) {
    if (required) v.add(null, field, 'Member must not be null');
  } else if (version.length < 1) v.add(version, field, 'Member must have length greater than or equal to 1');
  else checkPattern(v, version, field, VERSION_PATTERN, VERSION_MAX);
}

function checkDescription(v: Violations, description: string | null | undefined): void {
  if (description != null && description.length > DESCRIPTION_MAX) {
    v.add(description, 'description', `Member must have length less than or equal to ${DESCRIPTION_MAX}`);
  }
}

/** The model's constraints on the map (LS-A routing_config_exc_toohigh, _subzero, _version_latest). */
function checkWeights(v: Violations, routing: z.infer<typeof routingShape>): Weights {
  if (routing == null) return undefined;
  const entries = Object.entries(routing.AdditionalVersionWeights ?? {});
  const shown = `{${entries.map(([k, w]) => `${k}=${w === null ? 'null' : javaDouble(w)}`).join(', ')}}`;
  const field = 'routingConfig.additionalVersionWeights';
  if (entries.some(([k]) => k.length < 1 || k.length > 1024 || !/^[0-9]+$/.test(k))) {
    v.add(
      shown,
      field,
      'Map keys must satisfy constraint: [Member must have length less than or equal to 1024, Member must have length greater than or equal to 1, Member must satisfy regular expression pattern: [0-9]+]',
    );
  } else if (entries.some(([, w]) => w === null || !(w >= 0 && w <= 1))) {
    v.add(
      shown,
      field,
      'Map value must satisfy constraint: [Member must have value less than or equal to 1.0, Member must have value greater than or equal to 0.0, Member must not be null]',
    );
  }
  return entries.map(([k, w]) => [k, w ?? 0] as const);
}

interface CreateInput {
  readonly name: string;
  readonly functionVersion: string;
  readonly description: string;
  readonly weights: Weights;
}

interface UpdateInput {
  readonly functionVersion: string | undefined;
  readonly description: string | undefined;
  readonly weights: Weights;
  readonly revisionId: string | undefined;
}

/** Members in the order of the model's CreateAliasRequest. */
function parseCreate(body: unknown): CreateInput {
  const b = parseShape(createShape, body);
  const v = new Violations();
  checkAliasName(v, b.Name);
  checkVersion(v, b.FunctionVersion, 'functionVersion', true);
  checkDescription(v, b.Description);
  const weights = checkWeights(v, b.RoutingConfig);
  v.throwIfAny();
  // Description is always answered, "" when not given (LS-A create_alias_1_3).
  return { name: b.Name!, functionVersion: b.FunctionVersion!, description: b.Description ?? '', weights };
}

function parseUpdate(name: string, body: unknown): UpdateInput {
  const b = parseShape(updateShape, body);
  const v = new Violations();
  checkAliasName(v, name);
  checkVersion(v, b.FunctionVersion, 'functionVersion', false);
  checkDescription(v, b.Description);
  const weights = checkWeights(v, b.RoutingConfig);
  v.throwIfAny();
  return { functionVersion: b.FunctionVersion ?? undefined, description: b.Description ?? undefined, weights, revisionId: b.RevisionId ?? undefined };
}

function checkPathName(name: string): void {
  const v = new Violations();
  checkAliasName(v, name);
  v.throwIfAny();
}

// ---------------------------------------------------------------- the service

/**
 * Every alias lives in the MetadataStore and in memory (loaded by load(),
 * updated after each change is stored), so resolving one on the invoke path
 * is two map look-ups.
 */
export class Aliases {
  readonly #metadata: MetadataStore;
  readonly #partition: Partition;
  readonly #functions: AliasFunctions;
  readonly #random: () => number;
  readonly #logger: { error(message: string, err?: unknown): void };
  /** function name → alias name → alias */
  readonly #aliases = new Map<string, Map<string, AliasRecord>>();

  constructor(options: AliasesOptions) {
    this.#metadata = options.metadata;
    this.#partition = options.partition;
    this.#functions = options.functions;
    this.#random = options.random ?? Math.random;
    this.#logger = options.logger ?? { error: (m, e) => console.error(m, e) };
  }

  /** Loads every alias (the registry's functions must be loaded: they say which aliases still have a function). */
  async load(): Promise<void> {
    for (const record of await this.#metadata.listAliases()) {
      if (this.#functions.hasVersion(record.functionName, LATEST)) {
        this.#set(record);
      } else {
        // An alias of no function (DeleteFunction drops both in one
        // transaction, so only a hand-edited store has one): it must not
        // apply to a function created later under that name.
        this.#logger.error(`kindling: dropping the alias ${record.functionName}:${record.name}, which names no function`);
        await this.#metadata.deleteAlias(record.functionName, record.name);
      }
    }
  }

  // ------------------------------------------------------------------ what the registry reads

  get(functionName: string, alias: string): AliasRecord | undefined {
    return this.#aliases.get(functionName)?.get(alias);
  }

  /**
   * The version one invoke through the alias runs: the additional version
   * with the probability of its weight, else the alias's own version.
   */
  route(alias: AliasRecord): string {
    if (!alias.routing) return alias.functionVersion;
    return this.#random() < alias.routing.weight ? alias.routing.version : alias.functionVersion;
  }

  /** Names of the function's aliases that send invokes to `version` (as their version or their additional one), sorted. */
  referencing(functionName: string, version: string): string[] {
    const out: string[] = [];
    for (const a of this.#aliases.get(functionName)?.values() ?? []) {
      if (a.functionVersion === version || a.routing?.version === version) out.push(a.name);
    }
    return out.sort();
  }

  /** The function was deleted (the store dropped its aliases in the same transaction). */
  forgetFunction(functionName: string): void {
    this.#aliases.delete(functionName);
  }

  // ------------------------------------------------------------------ API operations

  /** CreateAlias: 201 with the AliasConfiguration. */
  async create(fn: string, body: unknown): Promise<AliasConfiguration> {
    const name = this.#functionName(fn);
    const input = parseCreate(body);
    return this.#functions.exclusive(name, async () => {
      // A missing function and a missing version read the same (LS-A target_version_doesnotexist, routing_config_exc_fn_doesnotexist).
      if (!this.#functions.hasVersion(name, input.functionVersion)) throw functionNotFound(functionArn(this.#partition, name, input.functionVersion));
      if (this.get(name, input.name)) {
        // LS-A recorded routing_config_exc_already_exist.
        throw new LambdaError('ResourceConflictException', `Alias already exists: ${this.#arn(name, input.name)}`);
      }
      const record: AliasRecord = {
        functionName: name,
        name: input.name,
        functionVersion: input.functionVersion,
        description: input.description,
        routing: this.#routing(name, input.functionVersion, input.weights),
        revisionId: randomUUID(),
      };
      await this.#metadata.putAlias(record);
      this.#set(record);
      return this.#wire(record);
    });
  }

  /** GetAlias. */
  async getAlias(fn: string, aliasName: string): Promise<AliasConfiguration> {
    const name = this.#functionName(fn);
    checkPathName(aliasName);
    this.#requireFunction(name);
    const record = this.get(name, aliasName);
    // LS provider get_alias (the recorded alias_does_not_exist_esc).
    if (!record) throw new LambdaError('ResourceNotFoundException', `Cannot find alias arn: ${this.#arn(name, aliasName)}`);
    return this.#wire(record);
  }

  /**
   * UpdateAlias: changes the members given; a RoutingConfig given replaces
   * the routing ({} or empty weights: one version again). The RevisionId
   * changes on every update, also one that changes nothing (LS-A update_alias_1_2).
   */
  async update(fn: string, aliasName: string, body: unknown): Promise<AliasConfiguration> {
    const name = this.#functionName(fn);
    const input = parseUpdate(aliasName, body);
    return this.#functions.exclusive(name, async () => {
      this.#requireFunction(name);
      const current = this.get(name, aliasName);
      // LS-A recorded test_non_existent_alias_update.
      if (!current) throw new LambdaError('ResourceNotFoundException', `Alias not found: ${this.#arn(name, aliasName)}`);
      if (input.revisionId !== undefined && input.revisionId !== current.revisionId) {
        throw new LambdaError('PreconditionFailedException', REVISION_MISMATCH);
      }
      const version = input.functionVersion ?? current.functionVersion;
      if (input.functionVersion !== undefined && !this.#functions.hasVersion(name, version)) {
        throw functionNotFound(functionArn(this.#partition, name, version));
      }
      // The routing that results is checked against the version that results.
      const weights: Weights = input.weights ?? (current.routing ? [[current.routing.version, current.routing.weight]] : []);
      const record: AliasRecord = {
        ...current,
        functionVersion: version,
        description: input.description ?? current.description,
        routing: this.#routing(name, version, weights),
        revisionId: randomUUID(),
      };
      await this.#metadata.putAlias(record);
      this.#set(record);
      return this.#wire(record);
    });
  }

  /** DeleteAlias: 204, also for an alias that does not exist (LS-A test_non_existent_alias_deletion). Its EventInvokeConfig goes with it. */
  async delete(fn: string, aliasName: string): Promise<void> {
    const name = this.#functionName(fn);
    checkPathName(aliasName);
    await this.#functions.exclusive(name, async () => {
      this.#requireFunction(name);
      if (!this.get(name, aliasName)) return;
      await this.#metadata.deleteAlias(name, aliasName);
      const byName = this.#aliases.get(name);
      byName?.delete(aliasName);
      if (byName?.size === 0) this.#aliases.delete(name);
      this.#functions.aliasDeleted(name, aliasName);
    });
  }

  /** ListAliases: by alias name; ?FunctionVersion= keeps the aliases of that version (LS-A list_aliases_for_version). */
  async list(fn: string, functionVersion: string | undefined, marker: string | undefined, maxItems: string | undefined): Promise<ListAliasesResponse> {
    const name = this.#functionName(fn);
    const v = new Violations();
    checkVersion(v, functionVersion, 'functionVersion', false);
    v.throwIfAny();
    const { maxItems: limit } = parseListQuery(maxItems, undefined);
    this.#requireFunction(name);
    const after = markerKey(marker, 1)?.[0];
    const all = [...(this.#aliases.get(name)?.values() ?? [])]
      .filter((a) => functionVersion === undefined || a.functionVersion === functionVersion)
      .sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
    const rest = after === undefined ? all : all.filter((a) => a.name > after);
    const page = rest.slice(0, limit);
    const out: ListAliasesResponse = { Aliases: page.map((a) => this.#wire(a)) };
    const last = page.at(-1);
    if (rest.length > limit && last) out.NextMarker = encodeMarker([last.name]);
    return out;
  }

  // ------------------------------------------------------------------ internals

  /** The alias operations name the function; a qualifier in the name is not used (LS provider api_utils.get_function_name). */
  #functionName(fn: string): string {
    return parseFunctionRef(fn, this.#partition).name;
  }

  #requireFunction(name: string): void {
    if (!this.#functions.hasVersion(name, LATEST)) throw functionNotFound(functionArn(this.#partition, name));
  }

  #arn(functionName: string, alias: string): string {
    return functionArn(this.#partition, functionName, alias);
  }

  /**
   * Lambda's checks of a routing (LS-A test_notfound_and_invalid_routingconfigs,
   * in the order the LS provider makes them): one additional version at
   * most, not the alias's own, not with $LATEST as the alias's version, and
   * it must exist.
   */
  #routing(name: string, version: string, weights: Weights): AliasRecord['routing'] {
    if (weights === undefined || weights.length === 0) return undefined;
    if (weights.length > 1) {
      throw new LambdaError('InvalidParameterValueException', 'Number of items in AdditionalVersionWeights cannot be greater than 1');
    }
    const [extra, weight] = weights[0]!;
    if (extra === version) {
      throw new LambdaError('InvalidParameterValueException', `Invalid function version ${version}. Function version ${version} is already included in routing configuration.`);
    }
    if (version === LATEST) {
      // Recorded against AWS without "Type" in the body; Kindling's error table adds "Type": "User".
      throw new LambdaError('InvalidParameterValueException', '$LATEST is not supported for an alias pointing to more than 1 version');
    }
    if (!this.#functions.hasVersion(name, extra)) throw functionNotFound(functionArn(this.#partition, name, extra));
    return { version: extra, weight };
  }

  #wire(a: AliasRecord): AliasConfiguration {
    const out: AliasConfiguration = {
      AliasArn: this.#arn(a.functionName, a.name),
      Name: a.name,
      FunctionVersion: a.functionVersion,
      Description: a.description,
      RevisionId: a.revisionId,
    };
    if (a.routing) out.RoutingConfig = { AdditionalVersionWeights: { [a.routing.version]: a.routing.weight } };
    return out;
  }

  #set(record: AliasRecord): void {
    let byName = this.#aliases.get(record.functionName);
    if (!byName) {
      byName = new Map();
      this.#aliases.set(record.functionName, byName);
    }
    byName.set(record.name, Object.freeze({ ...record }));
  }
}
