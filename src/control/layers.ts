/**
 * Lambda layers (control plane): PublishLayerVersion and its siblings under
 * /2018-10-31/layers, and the resolution of a function's `Layers` (layer
 * version ARNs) into the copies a function keeps.
 *
 * A layer version is immutable; its zip is stored in the BlobStore by
 * SHA-256 like function code, its metadata in the LayerStore. Version numbers
 * count up per layer name and are never reused, also after every version was
 * deleted. Deleting a version does not touch the functions that reference it:
 * they keep their copy (the zip stays in the BlobStore), as on Lambda.
 *
 * Wording: localstack's snapshot tests recorded against AWS
 * (tests/aws/services/lambda_/test_lambda_api.snapshot.json, TestLambdaLayer;
 * cited below as LS-A) and the API model (botocore lambda/2015-03-31
 * service-2.json: LayerName, LayerVersionArn, Description, LicenseInfo,
 * CompatibleRuntimes, CompatibleArchitectures, MaxLayerListItems).
 */
import { z } from 'zod';
import type { Partition } from '../shared/arn.js';
import type { Clock } from '../shared/clock.js';
import { LambdaError } from '../shared/errors.js';
import type { BlobStore, LayerStore, LayerVersionRecord, StoredFunctionLayer } from '../store/types.js';
import { inspectZip } from './code.js';
import { formatLastModified } from './registry.js';
import { checkPattern, checkZipSize, decodeBase64, LAMBDA_RUNTIME_ENUM, parseShape, validationError, Violations } from './validation.js';
import { encodeMarker, markerKey } from './list-paging.js';

/** botocore LayerName: length 1..140; a name or a layer ARN. */
export const LAYER_NAME_PATTERN = '(arn:[a-zA-Z0-9-]+:lambda:[a-zA-Z0-9-]+:\\d{12}:layer:[a-zA-Z0-9-_]+)|[a-zA-Z0-9-_]+';
const LAYER_NAME_MAX = 140;
/**
 * The layer version ARN pattern AWS answers with today (LS-A recorded
 * get_layer_version_by_arn_exc_invalidarn and add_layer_arn_without_version_exc;
 * newer than botocore's LayerVersionArn).
 */
export const LAYER_VERSION_ARN_PATTERN =
  '(arn:(aws[a-zA-Z-]*)?:lambda:(eusc-)?[a-z]{2}((-gov)|(-iso([a-z]?)))?-[a-z]+-\\d{1}:\\d{12}:layer:[a-zA-Z0-9-_]+:[0-9]+)|(arn:[a-zA-Z0-9-]+:lambda:::awslayer:[a-zA-Z0-9-_]+)';
/** A function references at most 5 layers (Lambda quotas; LS-A create_function_with_six_layers). */
export const MAX_FUNCTION_LAYERS = 5;
/** botocore: Description 0..256, LicenseInfo 0..512, CompatibleRuntimes 0..15, CompatibleArchitectures 0..2. */
const DESCRIPTION_MAX = 256;
const LICENSE_INFO_MAX = 512;
const COMPATIBLE_RUNTIMES_MAX = 15;
const COMPATIBLE_ARCHITECTURES_MAX = 2;
/** botocore MaxLayerListItems 1..50; Lambda's page size when MaxItems is not given. */
const LIST_MAX_ITEMS = 50;

const NOT_FOUND = 'The resource you requested does not exist.';
const VERSION_BELOW_ONE = 'Layer Version Cannot be less than 1';
const ARCHITECTURES = ['x86_64', 'arm64'];

/**
 * The Runtime enum of ListLayers/ListLayerVersions' CompatibleRuntime filter,
 * in the order AWS prints it (LS-A list_layers_exc_compatibleruntime_invalid):
 * the model's whole Runtime enum, deprecated identifiers included.
 */
const FILTER_RUNTIME_ENUM =
  '[ruby3.5, ruby2.6, dotnetcore1.0, python3.7, nodejs8.10, nasa, ruby2.7, python2.7-greengrass, dotnetcore2.0, python3.8, java21, dotnet6, dotnetcore2.1, python3.9, java11, nodejs6.10, provided, dotnetcore3.1, dotnet8, java25, java17, nodejs, nodejs4.3, java8.al2, go1.x, dotnet10, nodejs20.x, go1.9, byol, nodejs10.x, provided.al2023, nodejs22.x, python3.10, java8, nodejs12.x, python3.11, nodejs24.x, nodejs8.x, python3.12, nodejs14.x, nodejs8.9, nodejs26.x, python3.13, python3.14, nodejs16.x, python3.15, provided.al2, nodejs4.3-edge, nodejs18.x, ruby3.2, python3.4, ruby3.3, ruby3.4, ruby2.5, python3.6, python2.7]';
const FILTER_RUNTIMES = new Set(FILTER_RUNTIME_ENUM.slice(1, -1).split(', '));

/** PublishLayerVersion's answer, GetLayerVersion's and GetLayerVersionByArn's (JSON-ready). */
export type LayerVersionResponse = Record<string, unknown>;

export interface ListLayersResponse {
  Layers: { LayerName: string; LayerArn: string; LatestMatchingVersion: Record<string, unknown> }[];
  NextMarker?: string;
}

export interface ListLayerVersionsResponse {
  LayerVersions: Record<string, unknown>[];
  NextMarker?: string;
}

/** What the function registry asks of layers: the copies a function keeps of the layer versions it names. */
export interface LayerResolver {
  /** Validates a function's Layers (in Lambda's words) and resolves them, in order. */
  resolve(arns: readonly string[]): Promise<StoredFunctionLayer[]>;
  /** Bytes of every layer version's zip (GetAccountSettings counts layer archives in TotalCodeSize). */
  totalCodeSize(): number;
}

export interface LayerRegistryOptions {
  readonly store: LayerStore;
  readonly blobs: BlobStore;
  readonly clock: Clock;
  readonly partition: Partition;
}

const publishShape = z.looseObject({
  Content: z.looseObject({ ZipFile: z.string().nullish(), S3Bucket: z.string().nullish(), S3Key: z.string().nullish(), S3ObjectVersion: z.string().nullish() }).nullish(),
  Description: z.string().nullish(),
  CompatibleRuntimes: z.array(z.string()).nullish(),
  LicenseInfo: z.string().nullish(),
  CompatibleArchitectures: z.array(z.string()).nullish(),
});

/**
 * The layer registry. Every layer version is held in memory too (they are
 * few and small); writes go to the store first. Publishes of one name are
 * serialised by the store's transaction, which hands out the next number.
 */
export class LayerRegistry implements LayerResolver {
  readonly #store: LayerStore;
  readonly #blobs: BlobStore;
  readonly #clock: Clock;
  readonly #partition: Partition;
  /** name → version → record */
  readonly #layers = new Map<string, Map<number, LayerVersionRecord>>();

  private constructor(options: LayerRegistryOptions) {
    this.#store = options.store;
    this.#blobs = options.blobs;
    this.#clock = options.clock;
    this.#partition = options.partition;
  }

  static async open(options: LayerRegistryOptions): Promise<LayerRegistry> {
    const registry = new LayerRegistry(options);
    for (const r of await options.store.listLayerVersions()) registry.#remember(r);
    return registry;
  }

  /** arn:aws:lambda:REGION:ACCOUNT:layer:NAME */
  layerArn(name: string): string {
    return `arn:aws:lambda:${this.#partition.region}:${this.#partition.accountId}:layer:${name}`;
  }

  // ------------------------------------------------------------------ operations

  /** PublishLayerVersion (201). `location` turns a zip hash into its download URL. */
  async publish(layerName: string, body: unknown, location: (sha256hex: string) => string): Promise<LayerVersionResponse> {
    const name = this.#nameOf(layerName);
    const b = parseShape(publishShape, body);
    const v = new Violations();
    // Members in the order of the model's PublishLayerVersionRequest.
    checkPattern(v, b.Description, 'description', '[\\s\\S]*', DESCRIPTION_MAX);
    if (b.Content == null) v.add(null, 'content', 'Member must not be null');
    checkCompatibleRuntimes(v, b.CompatibleRuntimes);
    checkPattern(v, b.LicenseInfo, 'licenseInfo', '[\\s\\S]*', LICENSE_INFO_MAX);
    checkCompatibleArchitectures(v, b.CompatibleArchitectures);
    v.throwIfAny();
    const content = b.Content!;
    if (content.S3Bucket || content.S3Key || content.S3ObjectVersion) {
      throw new LambdaError(
        'InvalidParameterValueException',
        'Kindling accepts layer content only as Content.ZipFile (a base64 zip in the request); S3Bucket/S3Key/S3ObjectVersion are not supported.',
      );
    }
    if (content.ZipFile == null) {
      throw new LambdaError('InvalidParameterValueException', 'Please provide a source for the layer content: Content.ZipFile (a base64 zip).');
    }
    const zip = decodeBase64(content.ZipFile);
    checkZipSize(zip);
    const { unzippedBytes } = await inspectZip(zip);
    const hex = await this.#blobs.put(zip);
    const now = this.#clock.now();
    const record = await this.#store.publishLayerVersion(name, (version) => ({
      layerName: name,
      version,
      description: b.Description ?? '',
      licenseInfo: b.LicenseInfo ?? undefined,
      compatibleRuntimes: b.CompatibleRuntimes ?? undefined,
      compatibleArchitectures: b.CompatibleArchitectures ?? undefined,
      codeSha256Hex: hex,
      codeSize: zip.length,
      unzippedSize: unzippedBytes,
      createdDate: now,
    }));
    this.#remember(record);
    return this.#response(record, location);
  }

  /** GetLayerVersion. */
  async get(layerName: string, versionNumber: string, location: (sha256hex: string) => string): Promise<LayerVersionResponse> {
    const name = this.#nameOf(layerName);
    const version = parseVersionNumber(versionNumber);
    const record = this.#layers.get(name)?.get(version);
    if (!record) throw new LambdaError('ResourceNotFoundException', NOT_FOUND);
    return this.#response(record, location);
  }

  /** GetLayerVersionByArn (?find=LayerVersion&Arn=). */
  async getByArn(arn: string | undefined, location: (sha256hex: string) => string): Promise<LayerVersionResponse> {
    if (arn === undefined) throw validationError(null, 'arn', 'Member must not be null');
    const v = new Violations();
    checkPattern(v, arn, 'arn', LAYER_VERSION_ARN_PATTERN, LAYER_NAME_MAX);
    v.throwIfAny();
    const record = this.#byArn(arn);
    if (!record) throw new LambdaError('ResourceNotFoundException', NOT_FOUND);
    return this.#response(record, location);
  }

  /**
   * ListLayers: each layer with its newest version that matches the filters
   * (LatestMatchingVersion); a layer with no matching version is left out.
   * By layer name.
   */
  async list(query: { runtime?: string | undefined; architecture?: string | undefined; marker?: string | undefined; maxItems?: string | undefined }): Promise<ListLayersResponse> {
    const maxItems = checkListQuery(query.runtime, query.architecture, query.maxItems);
    const after = markerKey(query.marker, 1)?.[0];
    const names = [...this.#layers.keys()].sort().filter((n) => after === undefined || n > after);
    const out: ListLayersResponse = { Layers: [] };
    for (const name of names) {
      const versions = [...this.#layers.get(name)!.values()].sort((a, b) => b.version - a.version);
      const latest = versions.find((r) => matches(r, query.runtime, query.architecture));
      if (!latest) continue;
      if (out.Layers.length === maxItems) {
        out.NextMarker = encodeMarker([out.Layers.at(-1)!.LayerName]);
        break;
      }
      out.Layers.push({ LayerName: name, LayerArn: this.layerArn(name), LatestMatchingVersion: this.#listItem(latest) });
    }
    return out;
  }

  /** ListLayerVersions: newest first (LS-A list_layer_versions_predelete); [] for a layer that does not exist. */
  async listVersions(
    layerName: string,
    query: { runtime?: string | undefined; architecture?: string | undefined; marker?: string | undefined; maxItems?: string | undefined },
  ): Promise<ListLayerVersionsResponse> {
    const name = this.#nameOf(layerName);
    const maxItems = checkListQuery(query.runtime, query.architecture, query.maxItems);
    const m = markerKey(query.marker, 1, ([v]) => /^[1-9]\d*$/.test(v!))?.[0];
    const before = m === undefined ? undefined : Number(m);
    const versions = [...(this.#layers.get(name)?.values() ?? [])]
      .filter((r) => (before === undefined || r.version < before) && matches(r, query.runtime, query.architecture))
      .sort((a, b) => b.version - a.version);
    const page = versions.slice(0, maxItems);
    const out: ListLayerVersionsResponse = { LayerVersions: page.map((r) => this.#listItem(r)) };
    if (versions.length > maxItems) out.NextMarker = encodeMarker([String(page.at(-1)!.version)]);
    return out;
  }

  /**
   * DeleteLayerVersion (204): also for a layer or a version that does not
   * exist (LS-A delete_nonexistent_response, delete_layer_again_response).
   * Functions that reference the version keep their copy.
   */
  async delete(layerName: string, versionNumber: string): Promise<void> {
    const version = parseVersionNumber(versionNumber);
    const name = this.#nameOf(layerName);
    const versions = this.#layers.get(name);
    if (!versions?.has(version)) return;
    await this.#store.deleteLayerVersion(name, version);
    versions.delete(version);
    if (versions.size === 0) this.#layers.delete(name);
  }

  /** The stored zip of a layer version that exists (Content.Location's download), else undefined. */
  codePath(sha256hex: string): string | undefined {
    if (!/^[0-9a-f]{64}$/.test(sha256hex)) return undefined;
    for (const versions of this.#layers.values()) for (const r of versions.values()) if (r.codeSha256Hex === sha256hex) return this.#blobs.path(sha256hex);
    return undefined;
  }

  // ------------------------------------------------------------------ LayerResolver

  /**
   * A function's Layers, checked as Lambda checks them (LS-A
   * test_layer_function_exceptions, test_layer_function_quota_exception;
   * the order of the checks is localstack's provider's): at most 5; each an
   * ARN of a layer version; in this region; existing; no two versions of
   * one layer.
   */
  async resolve(arns: readonly string[]): Promise<StoredFunctionLayer[]> {
    if (arns.length > MAX_FUNCTION_LAYERS) throw new LambdaError('InvalidParameterValueException', `Cannot reference more than ${MAX_FUNCTION_LAYERS} layers.`);
    const pattern = new RegExp(`^(?:${LAYER_VERSION_ARN_PATTERN})$`);
    const bad = arns.find((a) => a.length < 1 || a.length > 2048 || !pattern.test(a) || a.includes(':awslayer:'));
    if (bad !== undefined) {
      throw new LambdaError(
        'ValidationException',
        `1 validation error detected: Value '[${arns.join(', ')}]' at 'layers' failed to satisfy constraint: Member must satisfy constraint: [Member must have length less than or equal to 2048, Member must have length greater than or equal to 1, Member must satisfy regular expression pattern: ${LAYER_VERSION_ARN_PATTERN}, Member must not be null]`,
      );
    }
    const seen = new Map<string, string>();
    const out: StoredFunctionLayer[] = [];
    for (const arn of arns) {
      const parts = arn.split(':');
      if (parts[3] !== this.#partition.region) {
        throw new LambdaError(
          'InvalidParameterValueException',
          `Layers are not in the same region as the function. Layers are expected to be in region ${this.#partition.region}.`,
        );
      }
      const record = this.#byArn(arn);
      if (!record) throw new LambdaError('InvalidParameterValueException', `Layer version ${arn} does not exist.`);
      const layer = parts.slice(0, -1).join(':');
      const other = seen.get(layer);
      if (other !== undefined) {
        throw new LambdaError(
          'InvalidParameterValueException',
          `Two different versions of the same layer are not allowed to be referenced in the same function. ${other} and ${arn} are versions of the same layer.`,
        );
      }
      seen.set(layer, arn);
      out.push({
        arn: `${this.layerArn(record.layerName)}:${record.version}`,
        codeSize: record.codeSize,
        codeSha256Hex: record.codeSha256Hex,
        ...(record.unzippedSize !== undefined ? { unzippedSize: record.unzippedSize } : {}),
      });
    }
    return out;
  }

  totalCodeSize(): number {
    let total = 0;
    for (const versions of this.#layers.values()) for (const r of versions.values()) total += r.codeSize;
    return total;
  }

  // ------------------------------------------------------------------ internals

  #remember(r: LayerVersionRecord): void {
    let versions = this.#layers.get(r.layerName);
    if (!versions) {
      versions = new Map();
      this.#layers.set(r.layerName, versions);
    }
    versions.set(r.version, r);
  }

  /** {LayerName}: a name, or the layer's ARN (botocore LayerName). Validated against the model. */
  #nameOf(layerName: string): string {
    const v = new Violations();
    if (layerName.length < 1) v.add(layerName, 'layerName', 'Member must have length greater than or equal to 1');
    else checkPattern(v, layerName, 'layerName', LAYER_NAME_PATTERN, LAYER_NAME_MAX);
    v.throwIfAny();
    if (!layerName.startsWith('arn:')) return layerName;
    const parts = layerName.split(':');
    if (parts[3] !== this.#partition.region || parts[4] !== this.#partition.accountId) {
      // A layer of another region or account: Kindling has one of each, so it does not exist.
      throw new LambdaError('ResourceNotFoundException', NOT_FOUND);
    }
    return parts[6]!;
  }

  #byArn(arn: string): LayerVersionRecord | undefined {
    const parts = arn.split(':');
    if (parts[3] !== this.#partition.region || parts[4] !== this.#partition.accountId) return undefined;
    return this.#layers.get(parts[6]!)?.get(Number(parts[7]));
  }

  #listItem(r: LayerVersionRecord): Record<string, unknown> {
    const out: Record<string, unknown> = {
      LayerVersionArn: `${this.layerArn(r.layerName)}:${r.version}`,
      Version: r.version,
      Description: r.description,
      CreatedDate: formatLastModified(r.createdDate),
    };
    // Only when the publish gave them, [] included (LS-A publish_empty_result vs publish_layer_result).
    if (r.compatibleRuntimes !== undefined) out['CompatibleRuntimes'] = [...r.compatibleRuntimes];
    if (r.licenseInfo !== undefined) out['LicenseInfo'] = r.licenseInfo;
    if (r.compatibleArchitectures !== undefined) out['CompatibleArchitectures'] = [...r.compatibleArchitectures];
    return out;
  }

  #response(r: LayerVersionRecord, location: (sha256hex: string) => string): LayerVersionResponse {
    return {
      Content: { Location: location(r.codeSha256Hex), CodeSha256: Buffer.from(r.codeSha256Hex, 'hex').toString('base64'), CodeSize: r.codeSize },
      LayerArn: this.layerArn(r.layerName),
      ...this.#listItem(r),
    };
  }
}

/** {VersionNumber}: a long in the path; below 1 is refused in Lambda's words (LS-A). */
function parseVersionNumber(raw: string): number {
  if (!/^-?\d+$/.test(raw)) throw new LambdaError('SerializationException', 'STRING_VALUE can not be converted to a Long');
  const n = Number(raw);
  if (n < 1) throw new LambdaError('InvalidParameterValueException', VERSION_BELOW_ONE);
  return n;
}

/** PublishLayerVersion's CompatibleRuntimes (LS-A publish_layer_version_exc_invalid_runtime_arch). */
function checkCompatibleRuntimes(v: Violations, runtimes: readonly string[] | null | undefined): void {
  if (!runtimes) return;
  const shown = `[${runtimes.join(', ')}]`;
  if (runtimes.length > COMPATIBLE_RUNTIMES_MAX) v.add(shown, 'compatibleRuntimes', `Member must have length less than or equal to ${COMPATIBLE_RUNTIMES_MAX}`);
  else if (runtimes.some((r) => !LAMBDA_RUNTIME_ENUM.includes(r))) {
    v.add(shown, 'compatibleRuntimes', `Member must satisfy enum value set: [${LAMBDA_RUNTIME_ENUM.join(', ')}]`);
  }
}

function checkCompatibleArchitectures(v: Violations, archs: readonly string[] | null | undefined): void {
  if (!archs) return;
  const shown = `[${archs.join(', ')}]`;
  if (archs.length > COMPATIBLE_ARCHITECTURES_MAX) v.add(shown, 'compatibleArchitectures', `Member must have length less than or equal to ${COMPATIBLE_ARCHITECTURES_MAX}`);
  else if (archs.some((a) => !ARCHITECTURES.includes(a))) {
    v.add(shown, 'compatibleArchitectures', 'Member must satisfy constraint: [Member must satisfy enum value set: [x86_64, arm64], Member must not be null]');
  }
}

/** The filters and MaxItems of ListLayers/ListLayerVersions (LS-A list_layers_exc_*). Returns the page size. */
function checkListQuery(runtime: string | undefined, architecture: string | undefined, maxItems: string | undefined): number {
  let n = LIST_MAX_ITEMS;
  if (maxItems !== undefined) {
    n = Number(maxItems);
    if (!/^-?\d+$/.test(maxItems)) throw new LambdaError('SerializationException', 'STRING_VALUE can not be converted to an Integer');
  }
  const v = new Violations();
  if (runtime !== undefined && !FILTER_RUNTIMES.has(runtime)) v.add(runtime, 'compatibleRuntime', `Member must satisfy enum value set: ${FILTER_RUNTIME_ENUM}`);
  if (maxItems !== undefined && n < 1) v.add(maxItems, 'maxItems', 'Member must have value greater than or equal to 1');
  else if (maxItems !== undefined && n > LIST_MAX_ITEMS) v.add(maxItems, 'maxItems', `Member must have value less than or equal to ${LIST_MAX_ITEMS}`);
  if (architecture !== undefined && !ARCHITECTURES.includes(architecture)) {
    v.add(architecture, 'compatibleArchitecture', 'Member must satisfy enum value set: [x86_64, arm64]');
  }
  v.throwIfAny();
  return n;
}

function matches(r: LayerVersionRecord, runtime: string | undefined, architecture: string | undefined): boolean {
  if (runtime !== undefined && !(r.compatibleRuntimes ?? []).includes(runtime)) return false;
  if (architecture !== undefined && !(r.compatibleArchitectures ?? []).includes(architecture)) return false;
  return true;
}
