import { createHash, randomUUID } from 'node:crypto';
import { functionArn, parseFunctionRef } from '../shared/arn.js';
import type { FunctionRef, Partition } from '../shared/arn.js';
import type { Clock } from '../shared/clock.js';
import { functionNotFound, LambdaError } from '../shared/errors.js';
import type { Egress, FunctionVersionSpec } from '../shared/spec.js';
import type { BlobStore, FunctionRecord, MetadataStore, StoredFunctionConfig, StoredFunctionLayer } from '../store/types.js';
import { LATEST } from '../store/types.js';
import { Aliases, isAliasName, REVISION_MISMATCH } from './aliases.js';
import type { AliasConfiguration, ListAliasesResponse } from './aliases.js';
import { inspectZip, layersKey, MAX_UNZIPPED_BYTES, UnpackError } from './code.js';
import type { CodePreparer } from './code.js';
import type { FunctionCatalog } from './event-invoke-config.js';
import type { LayerResolver } from './layers.js';
import { checkTags, checkUntagKeys, egressOf, parseTagResource } from './tags.js';
import type { Tags } from './tags.js';
import { MAX_ZIPPED_BYTES } from './validation.js';
import {
  checkConcurrencyFunctionName,
  checkQualifier,
  parseCreateFunction,
  parsePutFunctionConcurrency,
  parseListQuery,
  parseUpdateCode,
  parseUpdateConfiguration,
} from './validation.js';
import { canonicalJson, parsePublishVersion } from './versions.js';
import { encodeMarker, markerKey } from './list-paging.js';

export type { CodePreparer } from './code.js';

/** Lambda's FunctionConfiguration, as the API returns it (JSON-ready). */
export type FunctionConfiguration = Record<string, unknown>;

export interface GetFunctionResponse {
  Configuration: FunctionConfiguration;
  Code: { RepositoryType: 'S3'; Location: string };
  Tags?: Record<string, string>;
  /** Only when the function has reserved concurrency (Lambda omits it otherwise). */
  Concurrency?: { ReservedConcurrentExecutions: number };
}

/** PutFunctionConcurrency's answer; GetFunctionConcurrency's too, empty when none is reserved. */
export interface FunctionConcurrency {
  ReservedConcurrentExecutions?: number;
}

export interface ListFunctionsResponse {
  Functions: FunctionConfiguration[];
  NextMarker?: string;
}

export interface ListVersionsByFunctionResponse {
  Versions: FunctionConfiguration[];
  NextMarker?: string;
}

export interface AccountSettings {
  AccountLimit: {
    TotalCodeSize: number;
    CodeSizeUnzipped: number;
    CodeSizeZipped: number;
    ConcurrentExecutions: number;
    UnreservedConcurrentExecutions: number;
  };
  AccountUsage: { TotalCodeSize: number; FunctionCount: number };
}

export interface RegistryOptions {
  readonly metadata: MetadataStore;
  readonly blobs: BlobStore;
  readonly preparer: CodePreparer;
  readonly clock: Clock;
  readonly partition: Partition;
  /** The account's concurrency limit (GetAccountSettings ConcurrentExecutions). Default 1000. */
  readonly concurrentExecutions?: number;
  /** Architecture of the hosts that run sandboxes; functions of the other architecture are refused. */
  readonly hostArchitecture?: 'x86_64' | 'arm64';
  /** Called after an update of a function completed (new code/config deployed) and after a delete. */
  readonly onFunctionChanged?: (functionName: string) => void;
  /**
   * Called with a function's reserved concurrency (undefined: none) for every
   * reservation loaded by open(), and whenever one is set or removed
   * (PutFunctionConcurrency, DeleteFunctionConcurrency, DeleteFunction).
   * The counting service enforces what it is told here.
   */
  readonly onReservationChanged?: (functionName: string, reserved: number | undefined) => void;
  /** Network egress of functions without a `kindling:egress` tag. Default 'none'. */
  readonly defaultEgress?: Egress;
  /** Resolves a function's Layers (control/layers.ts); without it, functions cannot have layers. */
  readonly layers?: LayerResolver;
  readonly logger?: { error(message: string, err?: unknown): void };
  /** Uniform in [0, 1): the version of each invoke through a weighted alias. Default Math.random. */
  readonly random?: () => number;
}

/** Lambda's total code storage quota (GetAccountSettings AccountLimit.TotalCodeSize). */
const TOTAL_CODE_SIZE_LIMIT = 80_530_636_800;

/**
 * Lambda keeps at least 100 concurrent executions unreserved, for the
 * functions without a reservation (PutFunctionConcurrency API reference).
 * Accounts whose whole limit is lower (new accounts start at 10) keep all of
 * it: AWS then answers "... minimum value of [10]" (real quotes), so the
 * minimum is the smaller of the two.
 */
export const MIN_UNRESERVED_CONCURRENCY = 100;

/** The lock that serialises reservation changes across functions (no function name has a space). */
const RESERVATIONS_LOCK = ' reservations';

// LS-A recorded wording for operations permitted on functions only (qualified names/ARNs refused).
const FUNCTIONS_ONLY =
  'This operation is permitted on Lambda functions only. Aliases and versions do not support this operation. Please specify either a function name or an unqualified function ARN.';

// Lambda's state wording (LS-A recorded create/update responses).
const CREATING_REASON = 'The function is being created.';
const CREATING_CODE = 'Creating';

function pendingConflict(state: string): LambdaError {
  // localstack provider (lambda_service.py) and real quotes for Pending, e.g. faastjs/faast.js#758.
  return new LambdaError(
    'ResourceConflictException',
    `The operation cannot be performed at this time. The function is currently in the following state: ${state}`,
  );
}

function updateInProgress(arn: string): LambdaError {
  // LS-A recorded: update-during-in-progress-update-exc.
  return new LambdaError(
    'ResourceConflictException',
    `The operation cannot be performed at this time. An update is in progress for resource: ${arn}`,
  );
}

const QUALIFIER_MISMATCH = 'The derived qualifier from the function name does not match the specified qualifier.';

/** LastModified as Lambda prints it: 2026-11-23T07:30:00.000+0000. */
export function formatLastModified(ms: number): string {
  return new Date(ms).toISOString().replace('Z', '+0000');
}

/**
 * Lambda's unzipped quota holds for the function and its layers together
 * (real AWS answers, e.g. lambci/git-lambda-layer#27, aws/serverless-application-model#2124:
 * "Function code combined with layers exceeds the maximum allowed size of
 * 262144000 bytes. The actual size is 263669938 bytes.", InvalidParameterValueException).
 */
function checkCombinedSize(codeUnzipped: number, layers: readonly StoredFunctionLayer[]): void {
  if (layers.length === 0) return;
  const total = layers.reduce((n, l) => n + (l.unzippedSize ?? 0), codeUnzipped);
  if (total > MAX_UNZIPPED_BYTES) {
    throw new LambdaError(
      'InvalidParameterValueException',
      `Function code combined with layers exceeds the maximum allowed size of ${MAX_UNZIPPED_BYTES} bytes. The actual size is ${total} bytes.`,
    );
  }
}

/** The hex SHA-256 of each of a configuration's layer zips, in order. */
function layerHexes(config: StoredFunctionConfig | undefined): string[] {
  return (config?.layers ?? []).map((l) => l.codeSha256Hex);
}

/** The key of a ListFunctions / ListVersionsByFunction marker: (function name, version). */
const FUNCTION_VERSION_KEY = ([, version]: readonly string[]): boolean => /^(\$LATEST|[1-9]\d*)$/.test(version!);

function hexToBase64(hex: string): string {
  return Buffer.from(hex, 'hex').toString('base64');
}

interface Entry {
  readonly record: FunctionRecord;
  /** What the data plane runs; undefined until a deployment finished. Rebuilt only when the deployment changes. */
  readonly spec: FunctionVersionSpec | undefined;
}

/** One asynchronous preparation of a function's code (create, update, restart recovery). */
interface Operation {
  readonly id: string;
  readonly versions: readonly string[];
}

/**
 * The function registry (control plane): functions and their versions, code
 * artifacts stored by SHA-256, states (Pending/Active/Failed) and
 * LastUpdateStatus, RevisionId. Answers in Lambda's shapes and words.
 *
 * Every record lives in the MetadataStore and, for the invoke hot path, in
 * memory: resolveForInvoke() is synchronous. Mutations of one function are
 * serialised (a per-name lock), written to the store first, then to memory.
 * Code is unpacked asynchronously by the CodePreparer: create answers Pending,
 * updates answer LastUpdateStatus InProgress, and a completion moves the
 * record on; invokes keep running the previous deployment meanwhile.
 */
export class FunctionRegistry implements FunctionCatalog {
  readonly #metadata: MetadataStore;
  readonly #blobs: BlobStore;
  readonly #preparer: CodePreparer;
  readonly #clock: Clock;
  readonly #partition: Partition;
  readonly #concurrentExecutions: number;
  readonly #hostArchitecture: 'x86_64' | 'arm64';
  readonly #onFunctionChanged: ((name: string) => void) | undefined;
  readonly #onReservationChanged: ((name: string, reserved: number | undefined) => void) | undefined;
  readonly #defaultEgress: Egress;
  readonly #layers: LayerResolver | undefined;
  readonly #logger: { error(message: string, err?: unknown): void };

  /** name → version → entry */
  readonly #functions = new Map<string, Map<string, Entry>>();
  readonly #locks = new Map<string, Promise<void>>();
  /** name → the preparation whose completion may still change the records */
  readonly #operations = new Map<string, Operation>();
  readonly #background = new Set<Promise<void>>();
  /** Task roots reported by the preparer, by code hash. */
  readonly #taskRoots = new Map<string, string>();
  /** Reserved concurrency by function name, and their sum (GetAccountSettings, the unreserved minimum). */
  readonly #reservations = new Map<string, number>();
  #reservedTotal = 0;
  #closed = false;
  readonly #deleteListeners: ((name: string, version: string | undefined) => void)[] = [];
  readonly #aliases: Aliases;

  private constructor(options: RegistryOptions) {
    this.#metadata = options.metadata;
    this.#blobs = options.blobs;
    this.#preparer = options.preparer;
    this.#clock = options.clock;
    this.#partition = options.partition;
    this.#concurrentExecutions = options.concurrentExecutions ?? 1000;
    this.#hostArchitecture = options.hostArchitecture ?? (process.arch === 'arm64' ? 'arm64' : 'x86_64');
    this.#onFunctionChanged = options.onFunctionChanged;
    this.#onReservationChanged = options.onReservationChanged;
    this.#defaultEgress = options.defaultEgress ?? 'none';
    this.#layers = options.layers;
    this.#logger = options.logger ?? { error: (m, e) => console.error(m, e) };
    this.#aliases = new Aliases({
      metadata: this.#metadata,
      partition: this.#partition,
      logger: this.#logger,
      ...(options.random ? { random: options.random } : {}),
      functions: {
        hasVersion: (name, version) => this.#functions.get(name)?.has(version) ?? false,
        exclusive: (name, fn) => this.#locked(name, fn),
        aliasDeleted: (name, alias) => this.#notifyDeleted(name, alias),
      },
    });
  }

  /**
   * Loads every function into memory and recovers from a crash: task roots
   * of deployed code that are missing are unpacked again from the stored zip
   * (awaited: invokes need them), and functions left Pending or InProgress
   * are prepared again (in the background, as after a create).
   */
  static async open(options: RegistryOptions): Promise<FunctionRegistry> {
    const registry = new FunctionRegistry(options);
    await registry.#load();
    return registry;
  }

  async #load(): Promise<void> {
    let after: { name: string; version: string } | undefined;
    for (;;) {
      const page = await this.#metadata.listFunctions({ after, limit: 500, latestOnly: false });
      for (const rec of page) this.#setEntry(rec);
      const last = page.at(-1);
      if (!last || page.length < 500) break;
      after = { name: last.name, version: last.version };
    }
    const deployedHashes = new Set<string>();
    for (const versions of this.#functions.values()) {
      for (const { record } of versions.values()) if (record.deployed) deployedHashes.add(record.deployed.config.codeSha256Hex);
    }
    for (const hex of deployedHashes) {
      if (await this.#blobs.hasTaskRoot(hex)) continue;
      try {
        this.#taskRoots.set(hex, await this.#preparer.prepare(hex));
      } catch (err) {
        this.#logger.error(`kindling: could not unpack stored code ${hex} again`, err);
      }
    }
    // Likewise the merged /opt of deployed layers.
    const deployedLayers = new Map<string, string[]>();
    for (const versions of this.#functions.values()) {
      for (const { record } of versions.values()) {
        const hexes = layerHexes(record.deployed?.config);
        if (hexes.length > 0) deployedLayers.set(layersKey(hexes), hexes);
      }
    }
    for (const [key, hexes] of deployedLayers) {
      if (await this.#blobs.hasTaskRoot(key)) continue;
      try {
        this.#taskRoots.set(key, await this.#prepareLayers(hexes));
      } catch (err) {
        this.#logger.error(`kindling: could not unpack stored layers ${hexes.join(', ')} again`, err);
      }
    }
    for (const [name, versions] of this.#functions) {
      const unfinished = [...versions.values()]
        .filter(({ record: r }) => r.state === 'Pending' || r.lastUpdateStatus === 'InProgress')
        .map(({ record: r }) => r.version);
      if (unfinished.length > 0) this.#startPreparation(name, unfinished);
    }
    // Entries were built before the roots above were known: rebuild specs.
    for (const versions of this.#functions.values()) for (const { record } of versions.values()) this.#setEntry(record);

    for (const [name, reserved] of await this.#metadata.listReservedConcurrency()) {
      if (this.#functions.has(name)) {
        this.#setReservation(name, reserved);
      } else {
        // A reservation of no function (DeleteFunction drops both in one
        // transaction, so only a hand-edited store has one): it must not
        // apply to a function created later under that name.
        await this.#metadata.deleteReservedConcurrency(name);
      }
    }
    await this.#aliases.load();
  }

  // ------------------------------------------------------------------ operations

  /** CreateFunction. Returns the 201 body (State Pending). */
  async create(body: unknown): Promise<FunctionConfiguration> {
    const input = parseCreateFunction(body, { partition: this.#partition, hostArchitecture: this.#hostArchitecture });
    return this.#locked(input.functionName, async () => {
      if (this.#functions.has(input.functionName)) {
        // Singular "exist": Lambda's wording (real CLI quote; LS provider).
        throw new LambdaError('ResourceConflictException', `Function already exist: ${input.functionName}`);
      }
      const layers = await this.#resolveLayers(input.layers);
      checkCombinedSize((await inspectZip(input.zip)).unzippedBytes, layers);
      const hex = await this.#blobs.put(input.zip);
      const config: StoredFunctionConfig = {
        runtime: input.runtime,
        handler: input.handler,
        role: input.role,
        description: input.description,
        timeout: input.timeout,
        memorySize: input.memorySize,
        ephemeralStorageSize: input.ephemeralStorageSize,
        architectures: input.architectures,
        environment: input.environment,
        codeSha256Hex: hex,
        codeSize: input.zip.length,
        ...(input.deadLetterTargetArn !== undefined ? { deadLetterTargetArn: input.deadLetterTargetArn } : {}),
        ...(layers.length > 0 ? { layers } : {}),
      };
      const latest = this.#pendingRecord(input.functionName, LATEST, config, input.publish ? 1 : 0, input.tags);
      const records = [latest];
      if (input.publish) records.push(this.#pendingRecord(input.functionName, '1', config, 0, undefined));
      await this.#metadata.putFunctions(records);
      for (const r of records) this.#setEntry(r);
      this.#startPreparation(input.functionName, records.map((r) => r.version));
      // With Publish, Lambda answers with the published version's configuration, unqualified ARN.
      return this.#configuration(records.at(-1)!, functionArn(this.#partition, input.functionName), false);
    });
  }

  /** GetFunction. `codeLocation` turns a code hash into the download URL the API serves. */
  async get(fn: string, qualifier: string | undefined, codeLocation: (sha256hex: string) => string): Promise<GetFunctionResponse> {
    const { record, arn } = this.#lookup(fn, qualifier);
    const latest = this.#functions.get(record.name)?.get(LATEST)?.record;
    const out: GetFunctionResponse = {
      Configuration: this.#configuration(record, arn, false),
      Code: { RepositoryType: 'S3', Location: codeLocation(record.config.codeSha256Hex) },
    };
    if (latest?.tags) out.Tags = { ...latest.tags };
    const reserved = this.#reservations.get(record.name);
    if (reserved !== undefined) out.Concurrency = { ReservedConcurrentExecutions: reserved };
    return out;
  }

  /** GetFunctionConfiguration. */
  async getConfiguration(fn: string, qualifier: string | undefined): Promise<FunctionConfiguration> {
    const { record, arn } = this.#lookup(fn, qualifier);
    return this.#configuration(record, arn, false);
  }

  /**
   * ListFunctions. Without FunctionVersion=ALL only $LATEST, with unqualified
   * ARNs; with ALL every version, qualified. Listing omits State,
   * LastUpdateStatus and RuntimeVersionConfig, as Lambda does (LS-A test_list_functions).
   */
  async list(marker: string | undefined, maxItems: string | number | undefined, functionVersion: string | undefined): Promise<ListFunctionsResponse> {
    const q = parseListQuery(maxItems, functionVersion);
    const key = markerKey(marker, 2, FUNCTION_VERSION_KEY);
    const after = key && { name: key[0]!, version: key[1]! };
    const page = await this.#metadata.listFunctions({ after, limit: q.maxItems + 1, latestOnly: !q.all });
    const items = page.slice(0, q.maxItems);
    const out: ListFunctionsResponse = {
      Functions: items.map((r) =>
        this.#configuration(r, q.all ? functionArn(this.#partition, r.name, r.version) : functionArn(this.#partition, r.name), true),
      ),
    };
    const last = items.at(-1);
    if (page.length > q.maxItems && last) out.NextMarker = encodeMarker([last.name, last.version]);
    return out;
  }

  /**
   * PublishVersion: a snapshot of $LATEST as the next version number (never
   * one used before, even after the highest was deleted). The code is
   * $LATEST's, already unpacked, so the version is Active at once (LS-A
   * test_version_lifecycle first_publish_response: State Active,
   * LastUpdateStatus Successful). An unchanged $LATEST answers the last
   * version; publishing changes $LATEST's RevisionId (LS-A
   * test_function_revisions_version_and_alias).
   */
  async publishVersion(fn: string, body: unknown): Promise<FunctionConfiguration> {
    // The function is named; a qualifier in the name is not used (LS provider publish_version, get_function_name).
    const name = parseFunctionRef(fn, this.#partition).name;
    const input = parsePublishVersion(body);
    return this.#locked(name, async () => {
      const latest = this.#functions.get(name)?.get(LATEST)?.record;
      if (!latest) throw functionNotFound(functionArn(this.#partition, name));
      // LS-A recorded publish_wrong_revisionid_exc.
      if (input.revisionId !== undefined && input.revisionId !== latest.revisionId) throw new LambdaError('PreconditionFailedException', REVISION_MISMATCH);
      // What runs: after a failed update $LATEST still runs its previous
      // deployment, and that is what a version of it can hold (otherwise
      // equal to the configuration shown).
      const source = latest.deployed?.config ?? latest.config;
      const sha = hexToBase64(source.codeSha256Hex);
      if (input.codeSha256 !== undefined && input.codeSha256 !== sha) {
        // LS-A recorded publish_wrong_sha256_exc.
        throw new LambdaError(
          'InvalidParameterValueException',
          `CodeSHA256 (${input.codeSha256}) is different from current CodeSHA256 in $LATEST (${sha}). Please try again with the CodeSHA256 in $LATEST.`,
        );
      }
      // A publish snapshots what runs: not while it is being created or
      // updated (real quote of PublishVersion during an update, aws/aws-cli#6718).
      if (latest.state !== 'Active' || latest.deployed === undefined) throw pendingConflict(latest.state);
      if (latest.lastUpdateStatus === 'InProgress') throw updateInProgress(functionArn(this.#partition, name));
      const basis = canonicalJson(source);
      const last = this.#functions.get(name)?.get(String(latest.lastPublishedVersion))?.record;
      if (last && (last.publishedFrom ?? canonicalJson(last.config)) === basis) {
        return this.#configuration(last, functionArn(this.#partition, name, last.version), false);
      }
      const number = String(latest.lastPublishedVersion + 1);
      const config: StoredFunctionConfig = input.description === undefined ? source : { ...source, description: input.description };
      const version: FunctionRecord = {
        name,
        version: number,
        config,
        deployed: { config, deploymentId: randomUUID() },
        state: 'Active',
        stateReason: undefined,
        stateReasonCode: undefined,
        lastUpdateStatus: 'Successful',
        lastUpdateStatusReason: undefined,
        lastUpdateStatusReasonCode: undefined,
        revisionId: randomUUID(),
        lastModified: latest.lastModified,
        lastPublishedVersion: 0,
        tags: undefined,
        publishedFrom: basis,
      };
      const updated: FunctionRecord = { ...latest, lastPublishedVersion: latest.lastPublishedVersion + 1, revisionId: randomUUID() };
      await this.#metadata.putFunctions([updated, version]);
      this.#setEntry(updated);
      this.#setEntry(version);
      return this.#configuration(version, functionArn(this.#partition, name, number), false);
    });
  }

  /**
   * ListVersionsByFunction: $LATEST first, then the versions in numeric
   * order, every ARN qualified ($LATEST's too), without the members listings
   * omit (LS-A test_publish_version_on_create list_versions_result).
   */
  async listVersions(fn: string, marker: string | undefined, maxItems: string | undefined): Promise<ListVersionsByFunctionResponse> {
    const name = parseFunctionRef(fn, this.#partition).name;
    const q = parseListQuery(maxItems, undefined);
    const versions = this.#functions.get(name);
    if (!versions) throw functionNotFound(functionArn(this.#partition, name));
    const order = (v: string): number => (v === LATEST ? 0 : Number(v));
    let all = [...versions.values()].map((e) => e.record).sort((a, b) => order(a.version) - order(b.version));
    const after = markerKey(marker, 2, FUNCTION_VERSION_KEY);
    if (after) all = all.filter((r) => order(r.version) > order(after[1]!));
    const page = all.slice(0, q.maxItems);
    const out: ListVersionsByFunctionResponse = { Versions: page.map((r) => this.#configuration(r, functionArn(this.#partition, name, r.version), true)) };
    const last = page.at(-1);
    if (all.length > q.maxItems && last) out.NextMarker = encodeMarker([name, last.version]);
    return out;
  }

  /** CreateAlias (control/aliases.ts). */
  createAlias(fn: string, body: unknown): Promise<AliasConfiguration> {
    return this.#aliases.create(fn, body);
  }

  /** GetAlias. */
  getAlias(fn: string, name: string): Promise<AliasConfiguration> {
    return this.#aliases.getAlias(fn, name);
  }

  /** UpdateAlias. */
  updateAlias(fn: string, name: string, body: unknown): Promise<AliasConfiguration> {
    return this.#aliases.update(fn, name, body);
  }

  /** DeleteAlias. */
  deleteAlias(fn: string, name: string): Promise<void> {
    return this.#aliases.delete(fn, name);
  }

  /** ListAliases. */
  listAliases(fn: string, functionVersion: string | undefined, marker: string | undefined, maxItems: string | undefined): Promise<ListAliasesResponse> {
    return this.#aliases.list(fn, functionVersion, marker, maxItems);
  }

  /** UpdateFunctionCode. Answers LastUpdateStatus InProgress; completes when the new code is unpacked. */
  async updateCode(fn: string, body: unknown): Promise<FunctionConfiguration> {
    const ref = this.#refForUpdate(fn);
    const input = parseUpdateCode(body, { partition: this.#partition, hostArchitecture: this.#hostArchitecture });
    return this.#locked(ref.name, async () => {
      const current = this.#latestForUpdate(ref.name, input.revisionId);
      checkCombinedSize((await inspectZip(input.zip)).unzippedBytes, current.config.layers ?? []);
      const arn = functionArn(this.#partition, ref.name);
      if (input.dryRun) {
        // DryRun validates the request and the package without changing the function.
        return this.#configuration(current, arn, false);
      }
      const hex = await this.#blobs.put(input.zip);
      const config = { ...current.config, codeSha256Hex: hex, codeSize: input.zip.length };
      return this.#applyUpdate(current, config, input.publish);
    });
  }

  /** UpdateFunctionConfiguration: only the members given change; Environment replaces the whole map. */
  async updateConfiguration(fn: string, body: unknown): Promise<FunctionConfiguration> {
    const ref = this.#refForUpdate(fn);
    const input = parseUpdateConfiguration(body, ref.name, this.#partition);
    return this.#locked(ref.name, async () => {
      const current = this.#latestForUpdate(ref.name, input.revisionId);
      const { deadLetterTargetArn, layers: currentLayers, ...c } = current.config;
      const target = input.deadLetter ? input.deadLetter.targetArn : deadLetterTargetArn;
      // Layers given: the new list, resolved now (a layer version deleted since
      // is refused); not given: the function keeps its copies.
      const layers = input.layers !== undefined ? await this.#resolveLayers(input.layers) : (currentLayers ?? []);
      if (input.layers !== undefined && layers.length > 0) {
        checkCombinedSize((await inspectZip(await this.#blobs.read(c.codeSha256Hex))).unzippedBytes, layers);
      }
      const config: StoredFunctionConfig = {
        ...c,
        ...(target !== undefined ? { deadLetterTargetArn: target } : {}),
        ...(layers.length > 0 ? { layers } : {}),
        role: input.role ?? c.role,
        handler: input.handler ?? c.handler,
        description: input.description ?? c.description,
        timeout: input.timeout ?? c.timeout,
        memorySize: input.memorySize ?? c.memorySize,
        runtime: input.runtime ?? c.runtime,
        ephemeralStorageSize: input.ephemeralStorageSize ?? c.ephemeralStorageSize,
        environment: input.environment ?? c.environment,
      };
      return this.#applyUpdate(current, config, false);
    });
  }

  /** DeleteFunction: the whole function, or one published version with a qualifier. */
  async delete(fn: string, qualifier: string | undefined): Promise<void> {
    const ref = this.#ref(fn, qualifier);
    if (ref.qualifier !== undefined && isAliasName(ref.qualifier)) {
      // LS-A recorded (test_function_name_and_qualifier_validation, delete_function): DeleteAlias deletes aliases.
      throw new LambdaError('InvalidParameterValueException', 'Deletion of aliases is not currently supported.');
    }
    await this.#locked(ref.name, async () => {
      const versions = this.#functions.get(ref.name);
      if (!versions) throw functionNotFound(functionArn(this.#partition, ref.name, ref.qualifier));
      if (ref.qualifier === LATEST) {
        // LS-A recorded wording.
        throw new LambdaError('InvalidParameterValueException', '$LATEST version cannot be deleted without deleting the function.');
      }
      if (ref.qualifier !== undefined) {
        if (!versions.has(ref.qualifier)) throw functionNotFound(functionArn(this.#partition, ref.name, ref.qualifier));
        const aliases = this.#aliases.referencing(ref.name, ref.qualifier);
        if (aliases.length > 0) {
          // Lambda's wording (real quotes: cloud-custodian/cloud-custodian#6739, karl-cardenas-coding/go-lambda-cleanup#45).
          throw new LambdaError('ResourceConflictException', `Unable to delete version because the following aliases reference it: [${aliases.join(', ')}]`);
        }
        // The store drops the version's EventInvokeConfig in the same transaction.
        await this.#metadata.deleteFunction(ref.name, ref.qualifier);
        versions.delete(ref.qualifier);
      } else {
        // The store drops the reservation, the EventInvokeConfigs and the aliases in the same transaction.
        await this.#metadata.deleteFunction(ref.name, undefined);
        this.#functions.delete(ref.name);
        this.#aliases.forgetFunction(ref.name);
        this.#operations.delete(ref.name);
        if (this.#reservations.has(ref.name)) this.#setReservation(ref.name, undefined);
      }
      this.#notifyDeleted(ref.name, ref.qualifier);
    });
    this.#notifyChanged(ref.name);
  }

  /**
   * PutFunctionConcurrency: reserves concurrency for the function as a whole
   * (every version). Refused when it would leave the account's unreserved
   * concurrency under its minimum — also for more than the account limit,
   * with the same message, as Lambda answers (LS-A test_function_concurrency_limits).
   */
  async putConcurrency(fn: string, body: unknown): Promise<FunctionConcurrency> {
    const { reserved } = parsePutFunctionConcurrency(fn, body);
    const name = this.#refForConcurrency(fn);
    return this.#locked(name, () =>
      // Reservations of different functions are checked against one sum: one at a time.
      this.#locked(RESERVATIONS_LOCK, async () => {
        this.#requireFunction(name);
        const limit = this.#concurrentExecutions;
        const minimum = Math.min(MIN_UNRESERVED_CONCURRENCY, limit);
        // The function's current reservation is replaced, so it does not count.
        const others = this.#reservedTotal - (this.#reservations.get(name) ?? 0);
        if (limit - others - reserved < minimum) {
          // Recorded against AWS without "Type" in the body; Kindling's error table adds "Type": "User".
          throw new LambdaError(
            'InvalidParameterValueException',
            `Specified ReservedConcurrentExecutions for function decreases account's UnreservedConcurrentExecution below its minimum value of [${minimum}].`,
          );
        }
        await this.#metadata.putReservedConcurrency(name, reserved);
        this.#setReservation(name, reserved);
        return { ReservedConcurrentExecutions: reserved };
      }),
    );
  }

  /** GetFunctionConcurrency: {ReservedConcurrentExecutions} or {} when none is reserved (LS-A recorded). */
  async getConcurrency(fn: string): Promise<FunctionConcurrency> {
    checkConcurrencyFunctionName(fn);
    const name = this.#refForConcurrency(fn);
    this.#requireFunction(name);
    const reserved = this.#reservations.get(name);
    return reserved === undefined ? {} : { ReservedConcurrentExecutions: reserved };
  }

  /** DeleteFunctionConcurrency: the function draws on the unreserved pool again. Idempotent. */
  async deleteConcurrency(fn: string): Promise<void> {
    checkConcurrencyFunctionName(fn);
    const name = this.#refForConcurrency(fn);
    await this.#locked(name, async () => {
      this.#requireFunction(name);
      if (!this.#reservations.has(name)) return;
      // Only lowers the sum of reservations: needs no account-wide lock.
      await this.#metadata.deleteReservedConcurrency(name);
      this.#setReservation(name, undefined);
    });
  }

  /**
   * TagResource: adds or replaces tags of the function (Lambda tags the
   * function as a whole, so the ARN must be unqualified). A change of
   * `kindling:egress` reaches new sandboxes only: the function's warm ones
   * are retired, as after an update.
   */
  async tagResource(resource: string, body: unknown): Promise<void> {
    const add = parseTagResource(body);
    await this.#changeTags(resource, (tags) => ({ ...tags, ...add }));
  }

  /** UntagResource: removes the named tags (absent ones are ignored). */
  async untagResource(resource: string, keys: readonly string[]): Promise<void> {
    checkUntagKeys(keys);
    await this.#changeTags(resource, (tags) => Object.fromEntries(Object.entries(tags).filter(([k]) => !keys.includes(k))));
  }

  /** ListTags: {"Tags": {...}}, empty when the function has none. */
  async listTags(resource: string): Promise<{ Tags: Record<string, string> }> {
    const name = this.#refForTags(resource);
    const latest = this.#functions.get(name)?.get(LATEST)?.record;
    if (!latest) throw functionNotFound(functionArn(this.#partition, name));
    return { Tags: { ...(latest.tags ?? {}) } };
  }

  async #changeTags(resource: string, change: (tags: Tags) => Tags): Promise<void> {
    const name = this.#refForTags(resource);
    const egressBefore = this.#functions.get(name)?.get(LATEST)?.spec?.egress;
    await this.#locked(name, async () => {
      const latest = this.#functions.get(name)?.get(LATEST)?.record;
      if (!latest) throw functionNotFound(functionArn(this.#partition, name));
      const tags = change(latest.tags ?? {});
      checkTags(tags);
      const record: FunctionRecord = { ...latest, tags: Object.keys(tags).length > 0 ? tags : undefined };
      await this.#metadata.putFunctions([record]);
      this.#setEntry(record);
      // Every version runs with the function's tags: rebuild their specs.
      for (const { record: r } of [...this.#functions.get(name)!.values()]) if (r.version !== LATEST) this.#setEntry(r);
    });
    if (this.#functions.get(name)?.get(LATEST)?.spec?.egress !== egressBefore) this.#notifyChanged(name);
  }

  /** Tags belong to the function: a qualified ARN is refused. */
  #refForTags(resource: string): string {
    const ref = parseFunctionRef(resource, this.#partition, 'resource');
    if (ref.qualifier !== undefined) {
      // LS-A recorded (TestLambdaTags), for versions, aliases and $LATEST alike.
      throw new LambdaError('InvalidParameterValueException', 'Tags on function aliases and versions are not supported. Please specify a function ARN.');
    }
    return ref.name;
  }

  /** GetAccountSettings. */
  async accountSettings(): Promise<AccountSettings> {
    let total = 0;
    for (const versions of this.#functions.values()) for (const { record } of versions.values()) total += record.config.codeSize;
    // "storage space ... used by deployment packages and layer archives" (GetAccountSettings AccountUsage, API reference).
    total += this.#layers?.totalCodeSize() ?? 0;
    return {
      AccountLimit: {
        TotalCodeSize: TOTAL_CODE_SIZE_LIMIT,
        CodeSizeUnzipped: MAX_UNZIPPED_BYTES,
        CodeSizeZipped: MAX_ZIPPED_BYTES,
        ConcurrentExecutions: this.#concurrentExecutions,
        UnreservedConcurrentExecutions: this.#concurrentExecutions - this.#reservedTotal,
      },
      AccountUsage: { TotalCodeSize: total, FunctionCount: this.#functions.size },
    };
  }

  /**
   * The invoke hot path: resolves {FunctionName} (+ ?Qualifier=) to the spec
   * the data plane runs. Synchronous, from memory. While an update is
   * InProgress the previous deployment keeps serving (as on Lambda).
   */
  resolveForInvoke(
    functionName: string,
    qualifier: string | undefined,
  ): { spec: FunctionVersionSpec; executedVersion: string; invokedFunctionArn: string; qualifier: string | undefined } {
    // Through an alias: the version it routes this invoke to (X-Amz-Executed-Version), the alias's ARN as context.invokedFunctionArn.
    const { entry, ref, arn } = this.#resolve(functionName, qualifier, true);
    // Never deployed: being created (Pending) or its creation failed (Failed).
    if (entry.spec === undefined) throw pendingConflict(entry.record.state);
    // The ARN the caller used: qualified only when the caller gave a qualifier (context.invokedFunctionArn).
    const invokedFunctionArn = ref.qualifier === undefined ? entry.spec.functionArn : arn;
    return { spec: entry.spec, executedVersion: entry.record.version, invokedFunctionArn, qualifier: ref.qualifier };
  }

  // ------------------------------------------------------------------ FunctionCatalog (control/event-invoke-config.ts)

  /**
   * A version that exists, with its dead-letter target: the one of the
   * deployment that runs (during an update, the previous one, as invokes
   * keep running it), else the one configured (never deployed yet).
   */
  lookupVersion(name: string, version: string): { readonly deadLetterTargetArn: string | undefined } | undefined {
    // An alias stands for its version: the dead-letter target of an event invoked through it is that version's.
    const alias = isAliasName(version) ? this.#aliases.get(name, version) : undefined;
    const record = this.#functions.get(name)?.get(alias?.functionVersion ?? version)?.record;
    if (!record) return undefined;
    return { deadLetterTargetArn: (record.deployed?.config ?? record.config).deadLetterTargetArn };
  }

  /** Runs `fn` under the function's lock: no create, update or delete of it runs meanwhile. */
  exclusive<T>(name: string, fn: () => Promise<T>): Promise<T> {
    return this.#locked(name, fn);
  }

  /** Registers a listener for deletions of functions (version undefined) and of versions, called under the function's lock. */
  onDeleted(listener: (name: string, version: string | undefined) => void): void {
    this.#deleteListeners.push(listener);
  }

  /** The stored zip for a code hash still referenced by a function (GetFunction's Code.Location), else undefined. */
  codePath(sha256hex: string): string | undefined {
    if (!/^[0-9a-f]{64}$/.test(sha256hex)) return undefined;
    for (const versions of this.#functions.values()) {
      for (const { record } of versions.values()) if (record.config.codeSha256Hex === sha256hex) return this.#blobs.path(sha256hex);
    }
    return undefined;
  }

  /** Resolves when no preparation is running (tests, orderly shutdown). */
  async whenIdle(): Promise<void> {
    while (this.#background.size > 0) await Promise.allSettled([...this.#background]);
  }

  /** Stops applying completions of preparations still running. Does not close the stores (their owner does). */
  close(): void {
    this.#closed = true;
  }

  // ------------------------------------------------------------------ internals

  #ref(fn: string, qualifier: string | undefined): FunctionRef {
    const ref = parseFunctionRef(fn, this.#partition);
    checkQualifier(qualifier);
    if (qualifier !== undefined && ref.qualifier !== undefined && qualifier !== ref.qualifier) {
      throw new LambdaError('InvalidParameterValueException', QUALIFIER_MISMATCH);
    }
    return { name: ref.name, qualifier: ref.qualifier ?? qualifier };
  }

  /**
   * The version a (function, qualifier) names. An alias names its version
   * (for an invoke, `route` picks one of a weighted alias's two); the ARN
   * stays the caller's: GetFunction of an alias answers the version's
   * configuration with the alias's ARN (LS-A test_alias_lifecycle get_function_alias_1_1).
   */
  #resolve(fn: string, qualifier: string | undefined, route: boolean): { entry: Entry; ref: FunctionRef; arn: string } {
    const ref = this.#ref(fn, qualifier);
    const arn = functionArn(this.#partition, ref.name, ref.qualifier);
    let version = ref.qualifier ?? LATEST;
    if (isAliasName(version)) {
      const alias = this.#aliases.get(ref.name, version);
      // LS-A recorded get_function_alias_notfound_exc: "Function not found: <alias ARN>".
      if (!alias) throw functionNotFound(arn);
      version = route ? this.#aliases.route(alias) : alias.functionVersion;
    }
    const entry = this.#functions.get(ref.name)?.get(version);
    if (!entry) throw functionNotFound(arn);
    return { entry, ref, arn };
  }

  #lookup(fn: string, qualifier: string | undefined): { record: FunctionRecord; arn: string } {
    const { entry, arn } = this.#resolve(fn, qualifier, false);
    return { record: entry.record, arn };
  }

  /** Update operations act on the function ($LATEST), never on a version. */
  #refForUpdate(fn: string): FunctionRef {
    const ref = parseFunctionRef(fn, this.#partition);
    if (ref.qualifier !== undefined && ref.qualifier !== LATEST) {
      throw new LambdaError('InvalidParameterValueException', FUNCTIONS_ONLY);
    }
    return { name: ref.name, qualifier: undefined };
  }

  /**
   * Concurrency belongs to the function: any qualifier is refused, $LATEST
   * included (LS-A recorded put_function_concurrency_with_qualified_arn, a
   * ...:$LATEST ARN). Checked before the function's existence, as Lambda does.
   */
  #refForConcurrency(fn: string): string {
    const ref = parseFunctionRef(fn, this.#partition);
    if (ref.qualifier !== undefined) throw new LambdaError('InvalidParameterValueException', FUNCTIONS_ONLY);
    return ref.name;
  }

  /**
   * The 404 of the concurrency operations names the function's $LATEST ARN
   * (LS-A recorded for PutFunctionConcurrency; used for Get and Delete too).
   */
  #requireFunction(name: string): void {
    if (!this.#functions.has(name)) throw functionNotFound(functionArn(this.#partition, name, LATEST));
  }

  #setReservation(name: string, reserved: number | undefined): void {
    this.#reservedTotal += (reserved ?? 0) - (this.#reservations.get(name) ?? 0);
    if (reserved === undefined) this.#reservations.delete(name);
    else this.#reservations.set(name, reserved);
    try {
      this.#onReservationChanged?.(name, reserved);
    } catch (err) {
      this.#logger.error('kindling: onReservationChanged listener failed', err);
    }
  }

  #latestForUpdate(name: string, revisionId: string | undefined): FunctionRecord {
    const current = this.#functions.get(name)?.get(LATEST)?.record;
    if (!current) throw functionNotFound(functionArn(this.#partition, name));
    if (revisionId !== undefined && revisionId !== current.revisionId) {
      // LS-A recorded wording (UpdateFunctionCode/UpdateFunctionConfiguration).
      throw new LambdaError(
        'PreconditionFailedException',
        'The Revision Id provided does not match the latest Revision Id. Call the GetFunction/GetAlias API to retrieve the latest Revision Id',
      );
    }
    if (current.state === 'Pending') throw pendingConflict('Pending');
    if (current.lastUpdateStatus === 'InProgress') throw updateInProgress(functionArn(this.#partition, name));
    return current;
  }

  async #applyUpdate(current: FunctionRecord, config: StoredFunctionConfig, publish: boolean): Promise<FunctionConfiguration> {
    const now = this.#clock.now();
    const nextVersion = current.lastPublishedVersion + 1;
    const latest: FunctionRecord = {
      ...current,
      config,
      lastUpdateStatus: 'InProgress',
      lastUpdateStatusReason: CREATING_REASON,
      lastUpdateStatusReasonCode: CREATING_CODE,
      revisionId: randomUUID(),
      lastModified: now,
      lastPublishedVersion: publish ? nextVersion : current.lastPublishedVersion,
    };
    const records = [latest];
    if (publish) records.push(this.#pendingRecord(current.name, String(nextVersion), config, 0, undefined));
    await this.#metadata.putFunctions(records);
    for (const r of records) this.#setEntry(r);
    this.#startPreparation(current.name, records.map((r) => r.version));
    const shown = records.at(-1)!;
    return this.#configuration(shown, functionArn(this.#partition, current.name), false);
  }

  #pendingRecord(
    name: string,
    version: string,
    config: StoredFunctionConfig,
    lastPublishedVersion: number,
    tags: Readonly<Record<string, string>> | undefined,
  ): FunctionRecord {
    return {
      name,
      version,
      config,
      deployed: undefined,
      state: 'Pending',
      stateReason: CREATING_REASON,
      stateReasonCode: CREATING_CODE,
      lastUpdateStatus: undefined,
      lastUpdateStatusReason: undefined,
      lastUpdateStatusReasonCode: undefined,
      revisionId: randomUUID(),
      lastModified: this.#clock.now(),
      lastPublishedVersion,
      tags,
    };
  }

  /** Runs the CodePreparer for the versions' (shared) code and applies the outcome to their records. */
  #startPreparation(name: string, versions: readonly string[]): void {
    const op: Operation = { id: randomUUID(), versions };
    this.#operations.set(name, op);
    const config = this.#functions.get(name)!.get(versions[0]!)!.record.config;
    const hex = config.codeSha256Hex;
    const hexes = layerHexes(config);
    const task = Promise.all([this.#preparer.prepare(hex), hexes.length > 0 ? this.#prepareLayers(hexes) : undefined])
      .then(([dir, optDir]) => {
        if (optDir !== undefined) this.#taskRoots.set(layersKey(hexes), optDir);
        return dir;
      })
      .then(
        (dir) => ({ ok: true as const, dir }),
        (err: unknown) => ({ ok: false as const, err }),
      )
      .then((outcome) => this.#locked(name, () => this.#complete(name, op, hex, outcome)))
      .catch((err: unknown) => this.#logger.error(`kindling: finishing the preparation of ${name} failed`, err));
    this.#background.add(task);
    void task.finally(() => this.#background.delete(task));
  }

  async #complete(
    name: string,
    op: Operation,
    hex: string,
    outcome: { ok: true; dir: string } | { ok: false; err: unknown },
  ): Promise<void> {
    // A delete (or a newer operation) superseded this one: its outcome is moot.
    if (this.#closed || this.#operations.get(name) !== op) return;
    this.#operations.delete(name);
    const versions = this.#functions.get(name);
    if (!versions) return;
    if (outcome.ok) this.#taskRoots.set(hex, outcome.dir);
    else this.#logger.error(`kindling: preparing the code of ${name} failed`, outcome.err);
    const reason = !outcome.ok && outcome.err instanceof UnpackError ? outcome.err : undefined;
    const failReason = reason?.message ?? `Lambda could not prepare the deployment package: ${String(outcome.ok ? '' : outcome.err)}`;
    const failCode = reason?.reasonCode ?? 'InternalError';
    let redeployed = false;
    const updated: FunctionRecord[] = [];
    for (const version of op.versions) {
      const r = versions.get(version)?.record;
      if (!r) continue;
      if (outcome.ok) {
        redeployed ||= r.deployed !== undefined;
        updated.push({
          ...r,
          deployed: { config: r.config, deploymentId: randomUUID() },
          state: 'Active',
          stateReason: undefined,
          stateReasonCode: undefined,
          lastUpdateStatus: 'Successful',
          lastUpdateStatusReason: undefined,
          lastUpdateStatusReasonCode: undefined,
          revisionId: randomUUID(),
        });
      } else {
        const neverDeployed = r.deployed === undefined;
        // A failed create leaves the function Failed; a failed update keeps the
        // previous deployment running (Lambda rolls the update back).
        updated.push({
          ...r,
          state: neverDeployed ? 'Failed' : r.state,
          stateReason: neverDeployed ? failReason : r.stateReason,
          stateReasonCode: neverDeployed ? failCode : r.stateReasonCode,
          lastUpdateStatus: 'Failed',
          lastUpdateStatusReason: failReason,
          lastUpdateStatusReasonCode: failCode,
          revisionId: randomUUID(),
        });
      }
    }
    await this.#metadata.putFunctions(updated);
    for (const r of updated) this.#setEntry(r);
    if (redeployed) this.#notifyChanged(name);
  }

  #setEntry(record: FunctionRecord): void {
    let versions = this.#functions.get(record.name);
    if (!versions) {
      versions = new Map();
      this.#functions.set(record.name, versions);
    }
    const prev = versions.get(record.version);
    const reuse = prev?.spec && record.deployed && prev.spec.key === this.#specKey(record) && prev.spec.codeDir === this.#taskRoot(record.deployed.config.codeSha256Hex);
    versions.set(record.version, { record, spec: reuse ? prev.spec : this.#buildSpec(record) });
  }

  /** A new key whenever what the sandbox sees changes: a deployment (code or configuration) or the egress. */
  #specKey(record: FunctionRecord): string {
    return `${record.name}:${record.version}:${record.deployed?.deploymentId ?? ''}:${this.#egress(record)}`;
  }

  /** The function's egress: its $LATEST record holds the function's tags. */
  #egress(record: FunctionRecord): Egress {
    const tags = record.version === LATEST ? record.tags : this.#functions.get(record.name)?.get(LATEST)?.record.tags;
    return egressOf(tags, this.#defaultEgress);
  }

  #taskRoot(hex: string): string {
    return this.#taskRoots.get(hex) ?? this.#blobs.taskRootPath(hex);
  }

  #prepareLayers(hexes: readonly string[]): Promise<string> {
    if (!this.#preparer.prepareLayers) return Promise.reject(new Error('this code preparer cannot unpack layers'));
    return this.#preparer.prepareLayers(hexes);
  }

  async #resolveLayers(arns: readonly string[]): Promise<StoredFunctionLayer[]> {
    if (arns.length === 0) return [];
    if (!this.#layers) throw new LambdaError('InvalidParameterValueException', 'Layers are not supported by this Kindling registry.');
    return this.#layers.resolve(arns);
  }

  #buildSpec(record: FunctionRecord): FunctionVersionSpec | undefined {
    const d = record.deployed;
    if (!d) return undefined;
    const c = d.config;
    return Object.freeze({
      // A new deployment id on every completed update: code or any setting the sandbox sees.
      key: this.#specKey(record),
      functionName: record.name,
      functionArn: functionArn(this.#partition, record.name),
      version: record.version,
      runtime: c.runtime,
      handler: c.handler,
      memorySize: c.memorySize,
      timeout: c.timeout,
      ephemeralStorage: c.ephemeralStorageSize,
      environment: Object.freeze({ ...(c.environment ?? {}) }),
      codeDir: this.#taskRoot(c.codeSha256Hex),
      codeSha256: hexToBase64(c.codeSha256Hex),
      region: this.#partition.region,
      ...(layerHexes(c).length > 0 ? { optDir: this.#taskRoot(layersKey(layerHexes(c))), layers: Object.freeze(layerHexes(c)) } : {}),
      egress: this.#egress(record),
    });
  }

  /** Lambda's FunctionConfiguration for a record; `listing` drops what ListFunctions omits. */
  #configuration(r: FunctionRecord, arn: string, listing: boolean): FunctionConfiguration {
    const c = r.config;
    const out: FunctionConfiguration = {
      FunctionName: r.name,
      FunctionArn: arn,
      Runtime: c.runtime,
      Role: c.role,
      Handler: c.handler,
      CodeSize: c.codeSize,
      Description: c.description,
      Timeout: c.timeout,
      MemorySize: c.memorySize,
      LastModified: formatLastModified(r.lastModified),
      CodeSha256: hexToBase64(c.codeSha256Hex),
      Version: r.version,
    };
    // Only when set, as Lambda answers (LS-A test_lambda_destinations: DeadLetterConfig {TargetArn}).
    if (c.deadLetterTargetArn !== undefined) out['DeadLetterConfig'] = { TargetArn: c.deadLetterTargetArn };
    if (c.environment !== undefined) out['Environment'] = { Variables: { ...c.environment } };
    // Only when the function has layers (LS-A test_layer_lifecycle: get_fn_config_result has none).
    if (c.layers && c.layers.length > 0) out['Layers'] = c.layers.map((l) => ({ Arn: l.arn, CodeSize: l.codeSize }));
    out['TracingConfig'] = { Mode: 'PassThrough' };
    out['RevisionId'] = r.revisionId;
    if (!listing) {
      out['State'] = r.state;
      if (r.stateReason !== undefined) out['StateReason'] = r.stateReason;
      if (r.stateReasonCode !== undefined) out['StateReasonCode'] = r.stateReasonCode;
      if (r.lastUpdateStatus !== undefined) out['LastUpdateStatus'] = r.lastUpdateStatus;
      if (r.lastUpdateStatusReason !== undefined) out['LastUpdateStatusReason'] = r.lastUpdateStatusReason;
      if (r.lastUpdateStatusReasonCode !== undefined) out['LastUpdateStatusReasonCode'] = r.lastUpdateStatusReasonCode;
    }
    out['PackageType'] = 'Zip';
    out['Architectures'] = [...c.architectures];
    out['EphemeralStorage'] = { Size: c.ephemeralStorageSize };
    out['SnapStart'] = { ApplyOn: 'None', OptimizationStatus: 'Off' };
    if (!listing) {
      // Identifies the runtime build; Kindling's is named by a hash of the runtime identifier.
      const build = createHash('sha256').update(`kindling:${c.runtime}`).digest('hex');
      out['RuntimeVersionConfig'] = { RuntimeVersionArn: `arn:aws:lambda:${this.#partition.region}::runtime:${build}` };
    }
    out['LoggingConfig'] = { LogFormat: 'Text', LogGroup: `/aws/lambda/${r.name}` };
    return out;
  }

  #notifyDeleted(name: string, version: string | undefined): void {
    for (const listener of this.#deleteListeners) {
      try {
        listener(name, version);
      } catch (err) {
        this.#logger.error('kindling: onDeleted listener failed', err);
      }
    }
  }

  #notifyChanged(name: string): void {
    try {
      this.#onFunctionChanged?.(name);
    } catch (err) {
      this.#logger.error('kindling: onFunctionChanged listener failed', err);
    }
  }

  async #locked<T>(name: string, fn: () => Promise<T>): Promise<T> {
    const prev = this.#locks.get(name) ?? Promise.resolve();
    let release!: () => void;
    const mine = new Promise<void>((r) => (release = r));
    const tail = prev.then(() => mine);
    this.#locks.set(name, tail);
    await prev;
    try {
      return await fn();
    } finally {
      release();
      if (this.#locks.get(name) === tail) this.#locks.delete(name);
    }
  }
}

