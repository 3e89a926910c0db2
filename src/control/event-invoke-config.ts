/**
 * The control plane of asynchronous invocation: each function version's
 * EventInvokeConfig (PutFunctionEventInvokeConfig and its siblings, paths
 * /2019-09-25/functions/{fn}/event-invoke-config), and the settings the
 * async data plane (src/async/) reads for every delivery attempt.
 *
 * An EventInvokeConfig belongs to one qualifier ($LATEST, a version, an
 * alias): a published version does not inherit $LATEST's, and invoking a
 * version uses that version's config, or Lambda's defaults when it has none
 * (retry twice, keep events for 6 hours; "Configuring error handling for
 * asynchronous invocation", Lambda developer guide). The dead-letter target
 * is not part of it: it is the version's DeadLetterConfig, snapshotted by
 * PublishVersion like the rest of its configuration.
 *
 * Wording: localstack's snapshot tests recorded against AWS
 * (tests/aws/services/lambda_/test_lambda_api.snapshot.json,
 * TestLambdaEventInvokeConfig; cited below as LS-A) and the API model
 * (botocore lambda/2015-03-31 service-2.json and its examples-1.json).
 */
import { z } from 'zod';
import { functionArn, parseFunctionRef } from '../shared/arn.js';
import type { Partition } from '../shared/arn.js';
import type { Clock } from '../shared/clock.js';
import { LambdaError } from '../shared/errors.js';
import type { EventInvokeConfigRecord, MetadataStore } from '../store/types.js';
import { LATEST } from '../store/types.js';
import { arnService, parseDestinationArn, queueArnForm, UNSUPPORTED_DESTINATION_SERVICES } from './destination-arn.js';
import { checkInt, checkPattern, parseShape, Violations } from './validation.js';
import { encodeMarker, markerKey, parseMaxItems } from './list-paging.js';

export { parseDestinationArn } from './destination-arn.js';
export type { DestinationTarget } from './destination-arn.js';

/** Retries of a failed asynchronous invoke when no EventInvokeConfig sets MaximumRetryAttempts (Lambda: 2). */
export const DEFAULT_MAXIMUM_RETRY_ATTEMPTS = 2;
/** How long an event is kept for delivery when no EventInvokeConfig sets MaximumEventAgeInSeconds (Lambda: 6 hours). */
export const DEFAULT_MAXIMUM_EVENT_AGE_SECONDS = 21600;

/** botocore MaximumRetryAttempts min 0 max 2; MaximumEventAgeInSeconds min 60 max 21600. */
export const MAXIMUM_RETRY_ATTEMPTS_MAX = 2;
export const MAXIMUM_EVENT_AGE_MIN = 60;
export const MAXIMUM_EVENT_AGE_MAX = 21600;
/** botocore MaxFunctionEventInvokeConfigListItems: 1..50. */
export const LIST_INVOKE_CONFIGS_MAX_ITEMS = 50;

/**
 * botocore DestinationArn pattern (max 350), as AWS answers it today: LS-A
 * recorded put_destination_invalid_arn_pattern with the `(eusc-)?` region
 * prefix, newer than some botocore releases.
 */
export const DESTINATION_ARN_PATTERN =
  '$|kafka://([^.]([a-zA-Z0-9\\-_.]{0,248}))|arn:(aws[a-zA-Z0-9-]*):([a-zA-Z0-9\\-])+:((eusc-)?[a-z]{2}((-gov)|(-iso([a-z]?)))?-[a-z]+-\\d{1})?:(\\d{12})?:(.*)';
const DESTINATION_ARN_MAX = 350;
/** botocore NumericLatestPublishedOrAliasQualifier (the ?Qualifier= of these operations), length 1..128. */
export const INVOKE_CONFIG_QUALIFIER_PATTERN = '\\$(LATEST(\\.PUBLISHED)?)|[a-zA-Z0-9-_$]+';

/** The settings of one version (or alias) for asynchronous delivery. */
export interface AsyncSettings {
  readonly maximumRetryAttempts: number;
  readonly maximumEventAgeInSeconds: number;
  /** Destination ARN for successful invokes (parseDestinationArn reads it). */
  readonly onSuccess: string | undefined;
  /** Destination ARN for invokes that failed every attempt or expired. */
  readonly onFailure: string | undefined;
  /** The version's DeadLetterConfig.TargetArn. */
  readonly deadLetterTarget: string | undefined;
}

/** What async/ reads for each event: the settings of the version (or alias) the event was invoked with. */
export interface AsyncInvokeSettings {
  /** undefined when the function (or that qualifier) no longer exists. */
  asyncSettings(functionName: string, qualifier: string | undefined): AsyncSettings | undefined;
}

/** What EventInvokeConfigs needs of the function registry (control/registry.ts implements it). */
export interface FunctionCatalog {
  /** The version of the function (qualifier '$LATEST', a number, or an alias: its version), or undefined when it does not exist. */
  lookupVersion(name: string, version: string): { readonly deadLetterTargetArn: string | undefined } | undefined;
  /** Runs `fn` while no create, update or delete of that function runs (the registry's per-function lock). */
  exclusive<T>(name: string, fn: () => Promise<T>): Promise<T>;
  /**
   * Calls `listener` after a whole function (version undefined) or one of
   * its versions was deleted, still under the function's lock. The store
   * dropped their EventInvokeConfigs in the same transaction.
   */
  onDeleted(listener: (name: string, version: string | undefined) => void): void;
}

/** Lambda's FunctionEventInvokeConfig, as the API answers it (JSON-ready). */
export interface FunctionEventInvokeConfig {
  FunctionArn: string;
  MaximumRetryAttempts?: number;
  MaximumEventAgeInSeconds?: number;
  /** Unix time in seconds, milliseconds as the fraction (botocore examples-1.json: 1573687896.493). */
  LastModified: number;
  DestinationConfig: { OnSuccess: { Destination?: string }; OnFailure: { Destination?: string } };
}

export interface ListFunctionEventInvokeConfigsResponse {
  FunctionEventInvokeConfigs: FunctionEventInvokeConfig[];
  NextMarker?: string;
}

export interface EventInvokeConfigsOptions {
  readonly metadata: MetadataStore;
  readonly functions: FunctionCatalog;
  readonly partition: Partition;
  readonly clock: Clock;
  readonly logger?: { error(message: string, err?: unknown): void };
}

// ---------------------------------------------------------------- request validation

const str = z.string().nullish();
const int = z.number().int().nullish();
const destinationShape = z.looseObject({ Destination: str }).nullish();
const writeShape = z.looseObject({
  MaximumRetryAttempts: int,
  MaximumEventAgeInSeconds: int,
  DestinationConfig: z.looseObject({ OnSuccess: destinationShape, OnFailure: destinationShape }).nullish(),
});

/** A validated Put/UpdateFunctionEventInvokeConfig body: undefined members were not given. */
interface WriteInput {
  readonly maximumRetryAttempts: number | undefined;
  readonly maximumEventAgeInSeconds: number | undefined;
  /** undefined: DestinationConfig not given; else its destinations ('' and absent read as none). */
  readonly destinations: { readonly onSuccess: string | undefined; readonly onFailure: string | undefined } | undefined;
}

// LS-A recorded (put_functionname_nootherargs): checked before the function's existence.
const NOTHING_TO_SET = 'You must specify at least one of error handling or destination setting.';
// LS-A recorded (put_shorthand_qualifier_mismatch_*).
const QUALIFIER_MISMATCH = 'The derived qualifier from the function name does not match the specified qualifier.';

function parseWrite(body: unknown, qualifier: string | undefined): WriteInput {
  const b = parseShape(writeShape, body);
  const v = new Violations();
  // Members in the order of the model's request.
  checkQualifierMember(v, qualifier);
  checkInt(v, b.MaximumRetryAttempts, 'maximumRetryAttempts', 0, MAXIMUM_RETRY_ATTEMPTS_MAX);
  checkInt(v, b.MaximumEventAgeInSeconds, 'maximumEventAgeInSeconds', MAXIMUM_EVENT_AGE_MIN, MAXIMUM_EVENT_AGE_MAX);
  const dc = b.DestinationConfig;
  checkPattern(v, dc?.OnSuccess?.Destination, 'destinationConfig.onSuccess.destination', DESTINATION_ARN_PATTERN, DESTINATION_ARN_MAX);
  checkPattern(v, dc?.OnFailure?.Destination, 'destinationConfig.onFailure.destination', DESTINATION_ARN_PATTERN, DESTINATION_ARN_MAX);
  v.throwIfAny();
  if (b.MaximumRetryAttempts == null && b.MaximumEventAgeInSeconds == null && dc == null) {
    throw new LambdaError('InvalidParameterValueException', NOTHING_TO_SET);
  }
  return {
    maximumRetryAttempts: b.MaximumRetryAttempts ?? undefined,
    maximumEventAgeInSeconds: b.MaximumEventAgeInSeconds ?? undefined,
    // {"OnSuccess": {}} is accepted and answered as no destination (LS-A put_destination_success_no_destination_arn).
    destinations: dc == null ? undefined : { onSuccess: dc.OnSuccess?.Destination || undefined, onFailure: dc.OnFailure?.Destination || undefined },
  };
}

function checkQualifierMember(v: Violations, qualifier: string | undefined): void {
  if (qualifier === undefined) return;
  if (qualifier.length < 1) v.add(qualifier, 'qualifier', 'Member must have length greater than or equal to 1');
  else checkPattern(v, qualifier, 'qualifier', INVOKE_CONFIG_QUALIFIER_PATTERN, 128);
}

/** List order: $LATEST, then versions numerically, then (later) aliases by name. */
function qualifierOrder(a: string, b: string): number {
  const rank = (q: string): [number, number, string] =>
    q === LATEST ? [0, 0, ''] : /^[1-9]\d*$/.test(q) ? [1, Number(q), ''] : [2, 0, q];
  const [ra, na, sa] = rank(a);
  const [rb, nb, sb] = rank(b);
  return ra - rb || na - nb || (sa < sb ? -1 : sa > sb ? 1 : 0);
}

// ---------------------------------------------------------------- the service

/**
 * EventInvokeConfigs: the API operations, and the synchronous read of the
 * async data plane. Every config lives in the MetadataStore and in memory
 * (loaded by open(), updated after every change is stored), so
 * asyncSettings() costs two map look-ups. Changes of one function's configs
 * run under the registry's lock of that function, so a config is never
 * written for a function that a concurrent DeleteFunction just removed.
 */
export class EventInvokeConfigs implements AsyncInvokeSettings {
  readonly #metadata: MetadataStore;
  readonly #functions: FunctionCatalog;
  readonly #partition: Partition;
  readonly #clock: Clock;
  readonly #logger: { error(message: string, err?: unknown): void };
  /** function name → qualifier → config */
  readonly #configs = new Map<string, Map<string, EventInvokeConfigRecord>>();

  private constructor(options: EventInvokeConfigsOptions) {
    this.#metadata = options.metadata;
    this.#functions = options.functions;
    this.#partition = options.partition;
    this.#clock = options.clock;
    this.#logger = options.logger ?? { error: (m, e) => console.error(m, e) };
  }

  /** Loads every config (the registry must be open: it says which versions exist). */
  static async open(options: EventInvokeConfigsOptions): Promise<EventInvokeConfigs> {
    const configs = new EventInvokeConfigs(options);
    await configs.#load();
    return configs;
  }

  async #load(): Promise<void> {
    this.#functions.onDeleted((name, version) => this.#forget(name, version));
    for (const record of await this.#metadata.listEventInvokeConfigs()) {
      if (this.#functions.lookupVersion(record.functionName, record.qualifier)) {
        this.#set(record);
      } else {
        // A config of no version (DeleteFunction drops both in one
        // transaction, so only a hand-edited store has one): it must not
        // apply to a function or version created later under that name.
        this.#logger.error(`kindling: dropping the EventInvokeConfig of ${record.functionName}:${record.qualifier}, which names no function version`);
        await this.#metadata.deleteEventInvokeConfig(record.functionName, record.qualifier);
      }
    }
  }

  // ------------------------------------------------------------------ the data plane's read

  asyncSettings(functionName: string, qualifier: string | undefined): AsyncSettings | undefined {
    let name = functionName;
    let q = qualifier;
    if (functionName.includes(':')) {
      // An ARN or name:qualifier: resolved as the API resolves it; never throws on the hot path.
      try {
        const ref = parseFunctionRef(functionName, this.#partition);
        if (q !== undefined && ref.qualifier !== undefined && q !== ref.qualifier) return undefined;
        name = ref.name;
        q = ref.qualifier ?? q;
      } catch {
        return undefined;
      }
    }
    const version = q ?? LATEST;
    const fn = this.#functions.lookupVersion(name, version);
    if (!fn) return undefined;
    const c = this.#configs.get(name)?.get(version);
    return {
      maximumRetryAttempts: c?.maximumRetryAttempts ?? DEFAULT_MAXIMUM_RETRY_ATTEMPTS,
      maximumEventAgeInSeconds: c?.maximumEventAgeInSeconds ?? DEFAULT_MAXIMUM_EVENT_AGE_SECONDS,
      onSuccess: c?.onSuccess,
      onFailure: c?.onFailure,
      deadLetterTarget: fn.deadLetterTargetArn,
    };
  }

  // ------------------------------------------------------------------ API operations

  /** PutFunctionEventInvokeConfig: replaces the qualifier's config (members not given become unset). */
  async put(fn: string, qualifier: string | undefined, body: unknown): Promise<FunctionEventInvokeConfig> {
    const ref = parseFunctionRef(fn, this.#partition);
    const input = parseWrite(body, qualifier);
    const target = this.#resolve(ref, qualifier);
    return this.#functions.exclusive(target.name, async () => {
      this.#requireVersion(target.name, target.qualifier);
      this.#checkDestinations(target.name, input.destinations);
      const record: EventInvokeConfigRecord = {
        functionName: target.name,
        qualifier: target.qualifier,
        maximumRetryAttempts: input.maximumRetryAttempts,
        maximumEventAgeInSeconds: input.maximumEventAgeInSeconds,
        onSuccess: input.destinations?.onSuccess,
        onFailure: input.destinations?.onFailure,
        lastModified: this.#clock.now(),
      };
      await this.#metadata.putEventInvokeConfig(record);
      this.#set(record);
      return this.#wire(record);
    });
  }

  /**
   * UpdateFunctionEventInvokeConfig: changes only the members given; a
   * DestinationConfig given replaces both destinations (botocore
   * examples-1.json: an update with OnFailure keeps the retry and age
   * settings). The config must exist.
   */
  async update(fn: string, qualifier: string | undefined, body: unknown): Promise<FunctionEventInvokeConfig> {
    const ref = parseFunctionRef(fn, this.#partition);
    const input = parseWrite(body, qualifier);
    const target = this.#resolve(ref, qualifier);
    return this.#functions.exclusive(target.name, async () => {
      this.#requireVersion(target.name, target.qualifier);
      const current = this.#configs.get(target.name)?.get(target.qualifier);
      if (!current) throw this.#noConfig(target.name, target.qualifier);
      this.#checkDestinations(target.name, input.destinations);
      const record: EventInvokeConfigRecord = {
        ...current,
        maximumRetryAttempts: input.maximumRetryAttempts ?? current.maximumRetryAttempts,
        maximumEventAgeInSeconds: input.maximumEventAgeInSeconds ?? current.maximumEventAgeInSeconds,
        onSuccess: input.destinations ? input.destinations.onSuccess : current.onSuccess,
        onFailure: input.destinations ? input.destinations.onFailure : current.onFailure,
        lastModified: this.#clock.now(),
      };
      await this.#metadata.putEventInvokeConfig(record);
      this.#set(record);
      return this.#wire(record);
    });
  }

  /** GetFunctionEventInvokeConfig. */
  async get(fn: string, qualifier: string | undefined): Promise<FunctionEventInvokeConfig> {
    const target = this.#readTarget(fn, qualifier);
    const record = this.#functions.lookupVersion(target.name, target.qualifier) && this.#configs.get(target.name)?.get(target.qualifier);
    if (!record) throw this.#noConfig(target.name, target.qualifier);
    return this.#wire(record);
  }

  /** DeleteFunctionEventInvokeConfig: the qualifier's invokes use Lambda's defaults again. */
  async delete(fn: string, qualifier: string | undefined): Promise<void> {
    const target = this.#readTarget(fn, qualifier);
    await this.#functions.exclusive(target.name, async () => {
      const exists = this.#functions.lookupVersion(target.name, target.qualifier) && this.#configs.get(target.name)?.has(target.qualifier);
      if (!exists) throw this.#noConfig(target.name, target.qualifier);
      await this.#metadata.deleteEventInvokeConfig(target.name, target.qualifier);
      this.#forget(target.name, target.qualifier);
    });
  }

  /**
   * ListFunctionEventInvokeConfigs: every config of the function, $LATEST
   * first, then versions in numeric order. The qualifier of a qualified
   * name is not used: the list is the function's.
   */
  async list(fn: string, marker: string | undefined, maxItems: string | undefined): Promise<ListFunctionEventInvokeConfigsResponse> {
    const ref = parseFunctionRef(fn, this.#partition);
    const limit = parseMaxItems(maxItems, LIST_INVOKE_CONFIGS_MAX_ITEMS);
    // LS-A recorded list_function_doesnotexist.
    if (!this.#functions.lookupVersion(ref.name, LATEST)) throw new LambdaError('ResourceNotFoundException', "The function doesn't exist.");
    const all = [...(this.#configs.get(ref.name)?.values() ?? [])].sort((a, b) => qualifierOrder(a.qualifier, b.qualifier));
    const after = markerKey(marker, 1)?.[0];
    const rest = after === undefined ? all : all.filter((c) => qualifierOrder(c.qualifier, after) > 0);
    const page = rest.slice(0, limit);
    const out: ListFunctionEventInvokeConfigsResponse = { FunctionEventInvokeConfigs: page.map((r) => this.#wire(r)) };
    const last = page.at(-1);
    if (rest.length > limit && last) out.NextMarker = encodeMarker([last.qualifier]);
    return out;
  }

  // ------------------------------------------------------------------ internals

  /** The (function, qualifier) a request names: name:qualifier or ?Qualifier=, else $LATEST. */
  #resolve(ref: { name: string; qualifier: string | undefined }, qualifier: string | undefined): { name: string; qualifier: string } {
    if (qualifier !== undefined && ref.qualifier !== undefined && qualifier !== ref.qualifier) {
      throw new LambdaError('InvalidParameterValueException', QUALIFIER_MISMATCH);
    }
    return { name: ref.name, qualifier: ref.qualifier ?? qualifier ?? LATEST };
  }

  #readTarget(fn: string, qualifier: string | undefined): { name: string; qualifier: string } {
    const ref = parseFunctionRef(fn, this.#partition);
    const v = new Violations();
    checkQualifierMember(v, qualifier);
    v.throwIfAny();
    return this.#resolve(ref, qualifier);
  }

  /** Put and Update answer a function or qualifier that does not exist with this (LS-A put_functionname_name_notfound, put_alias_doesnotexist). */
  #requireVersion(name: string, qualifier: string): void {
    if (!this.#functions.lookupVersion(name, qualifier)) throw new LambdaError('ResourceNotFoundException', "The function doesn't exist.");
  }

  /**
   * Get, Delete and Update of a missing config, and Get and Delete of a
   * function or qualifier that does not exist (LS-A get_function_doesnotexist,
   * get_qualifier_doesnotexist, delete_function_not_found).
   */
  #noConfig(name: string, qualifier: string): LambdaError {
    return new LambdaError('ResourceNotFoundException', `The function ${functionArn(this.#partition, name, qualifier)} doesn't have an EventInvokeConfig`);
  }

  /**
   * Lambda's checks of the destinations, then Kindling's: a service that is
   * no destination type at all is refused for the whole config (LS-A
   * put_destination_invalid_service_arn); a function must exist (LS-A
   * put_destination_lambda_doesntexist) and not be the config's own (LS-A
   * put_destination_recursive); the destination types Kindling does not
   * deliver to yet are refused, saying so.
   */
  #checkDestinations(own: string, destinations: WriteInput['destinations']): void {
    if (!destinations) return;
    const { onSuccess, onFailure } = destinations;
    // Lambda's destination types (API reference, DestinationConfig): function, queue, topic, event bus, bucket.
    const known = (arn: string | undefined): boolean => arn === undefined || ['lambda', 'sqs', 'sns', 'events', 's3'].includes(arnService(arn) ?? '');
    if (!known(onSuccess) || !known(onFailure)) {
      const success = onSuccess === undefined ? 'null' : `OnSuccess(destination=${onSuccess})`;
      const failure = onFailure === undefined ? 'null' : `OnFailure(destination=${onFailure})`;
      throw new LambdaError('InvalidParameterValueException', `The provided destination config DestinationConfig(onSuccess=${success}, onFailure=${failure}) is invalid.`);
    }
    for (const arn of [onSuccess, onFailure]) {
      if (arn === undefined) continue;
      const service = arnService(arn)!;
      const unsupported = UNSUPPORTED_DESTINATION_SERVICES[service];
      if (unsupported !== undefined) {
        throw new LambdaError(
          'InvalidParameterValueException',
          `Kindling does not support ${unsupported} destinations yet (${arn}). Use a Kindling function (arn:aws:lambda:${this.#partition.region}:${this.#partition.accountId}:function:NAME) or a Kindling queue (${queueArnForm(this.#partition)}).`,
        );
      }
      const target = parseDestinationArn(arn, this.#partition);
      if (service === 'sqs' && target === undefined) {
        throw new LambdaError('InvalidParameterValueException', `The destination ARN ${arn} is invalid. Kindling queues are named ${queueArnForm(this.#partition)}.`);
      }
      if (service === 'lambda') {
        if (target?.kind !== 'function' || !this.#functions.lookupVersion(target.name, LATEST)) {
          throw new LambdaError('InvalidParameterValueException', `The destination ARN ${arn} is invalid.`);
        }
        if (target.name === own) throw new LambdaError('InvalidParameterValueException', "You can't specify the function as a destination for itself.");
      }
    }
  }

  #wire(r: EventInvokeConfigRecord): FunctionEventInvokeConfig {
    const out: FunctionEventInvokeConfig = {
      // Always qualified, $LATEST included (LS-A put_destination_latest).
      FunctionArn: functionArn(this.#partition, r.functionName, r.qualifier),
      LastModified: r.lastModified / 1000,
      // Both members always present, {} when unset (LS-A put_invokeconfig_retries_0).
      DestinationConfig: {
        OnSuccess: r.onSuccess === undefined ? {} : { Destination: r.onSuccess },
        OnFailure: r.onFailure === undefined ? {} : { Destination: r.onFailure },
      },
    };
    if (r.maximumRetryAttempts !== undefined) out.MaximumRetryAttempts = r.maximumRetryAttempts;
    if (r.maximumEventAgeInSeconds !== undefined) out.MaximumEventAgeInSeconds = r.maximumEventAgeInSeconds;
    return out;
  }

  #set(record: EventInvokeConfigRecord): void {
    let byQualifier = this.#configs.get(record.functionName);
    if (!byQualifier) {
      byQualifier = new Map();
      this.#configs.set(record.functionName, byQualifier);
    }
    byQualifier.set(record.qualifier, Object.freeze({ ...record }));
  }

  #forget(name: string, qualifier: string | undefined): void {
    if (qualifier === undefined) {
      this.#configs.delete(name);
      return;
    }
    const byQualifier = this.#configs.get(name);
    byQualifier?.delete(qualifier);
    if (byQualifier?.size === 0) this.#configs.delete(name);
  }
}
