/**
 * State behind small interfaces. The control plane stores function records in
 * a MetadataStore and deployment packages in a BlobStore; the embedded
 * implementations are SQLite + files (sqlite-metadata.ts, file-blobs.ts), a
 * distributed one (PostgreSQL) can implement the same interfaces later. Both
 * interfaces are asynchronous for that reason, even though SQLite is not.
 */

/** '$LATEST' or a published version number ('1', '2', ...). */
export type FunctionVersionName = string;

export const LATEST = '$LATEST';

/** The part of a function's configuration that a version snapshots. */
export interface StoredFunctionConfig {
  readonly runtime: string;
  readonly handler: string;
  readonly role: string;
  readonly description: string;
  readonly timeout: number;
  readonly memorySize: number;
  readonly ephemeralStorageSize: number;
  readonly architectures: readonly string[];
  /** undefined when the function never had Environment set (Lambda then omits Environment). */
  readonly environment: Readonly<Record<string, string>> | undefined;
  /** Lower-case hex SHA-256 of the zip: the BlobStore key. */
  readonly codeSha256Hex: string;
  /** Size of the zip in bytes (Lambda's CodeSize). */
  readonly codeSize: number;
  /**
   * DeadLetterConfig.TargetArn: where the asynchronous invokes of this
   * version go when every attempt failed. Absent when none is set (also in
   * every record written before Kindling had dead-letter targets: the
   * configuration is stored as a JSON document, so they read as "none").
   */
  readonly deadLetterTargetArn?: string;
  /**
   * Layers (Lambda's Layers), in the order they are extracted into /opt.
   * Each holds its own copy of the layer version's identity and zip hash:
   * deleting the layer version leaves the function working, as on Lambda.
   * Absent (also in records written before Kindling had layers): none.
   */
  readonly layers?: readonly StoredFunctionLayer[];
}

/** One layer version a function references. */
export interface StoredFunctionLayer {
  /** The layer version ARN (arn:aws:lambda:REGION:ACCOUNT:layer:NAME:N). */
  readonly arn: string;
  /** Size of the layer's zip in bytes (FunctionConfiguration Layers[].CodeSize). */
  readonly codeSize: number;
  /** Lower-case hex SHA-256 of the layer's zip: its BlobStore key. */
  readonly codeSha256Hex: string;
  /** Bytes of the layer unzipped (Lambda's 250 MB quota counts the function and its layers together). */
  readonly unzippedSize?: number;
}

/**
 * One published layer version (PublishLayerVersion). Immutable once
 * published; DeleteLayerVersion removes it, and its number is never reused.
 */
export interface LayerVersionRecord {
  readonly layerName: string;
  /** 1, 2, ... */
  readonly version: number;
  readonly description: string;
  /** undefined when the request did not give it (Lambda then omits it). */
  readonly licenseInfo: string | undefined;
  /** undefined when the request did not give it; [] when it gave an empty list (Lambda answers []). */
  readonly compatibleRuntimes: readonly string[] | undefined;
  readonly compatibleArchitectures: readonly string[] | undefined;
  /** Lower-case hex SHA-256 of the zip: the BlobStore key. */
  readonly codeSha256Hex: string;
  readonly codeSize: number;
  /** Bytes of the zip's content unzipped. */
  readonly unzippedSize?: number;
  /** Epoch ms of the publish (Lambda's CreatedDate). */
  readonly createdDate: number;
}

/**
 * Layer versions, kept beside the function records. The highest version
 * number ever published under a name is kept too, also after every version
 * of it was deleted: Lambda never reuses a layer version number.
 */
export interface LayerStore {
  /**
   * Publishes a new version of `layerName` atomically: its number is one
   * more than the highest ever published under that name. `make` builds the
   * record for that number.
   */
  publishLayerVersion(layerName: string, make: (version: number) => LayerVersionRecord): Promise<LayerVersionRecord>;
  getLayerVersion(layerName: string, version: number): Promise<LayerVersionRecord | undefined>;
  /** Every version of every layer, by name then version (read once at startup). */
  listLayerVersions(): Promise<LayerVersionRecord[]>;
  /** Removes one version; no-op when it does not exist. The version counter is kept. */
  deleteLayerVersion(layerName: string, version: number): Promise<void>;
}

export type FunctionState = 'Pending' | 'Active' | 'Failed';
export type LastUpdateStatus = 'InProgress' | 'Successful' | 'Failed';

/**
 * One function version, keyed by (name, version). `$LATEST` is mutable;
 * published versions are immutable snapshots of `$LATEST`'s config.
 */
export interface FunctionRecord {
  readonly name: string;
  readonly version: FunctionVersionName;
  /** The configuration the API shows (for $LATEST during an update: the new one). */
  readonly config: StoredFunctionConfig;
  /**
   * The configuration the data plane runs, with the identity of that
   * deployment. It lags `config` while an update is InProgress (invokes keep
   * using the previous deployment, as on Lambda); undefined until the first
   * deployment finished (State Pending, or Failed at create).
   */
  readonly deployed: { readonly config: StoredFunctionConfig; readonly deploymentId: string } | undefined;
  readonly state: FunctionState;
  readonly stateReason: string | undefined;
  readonly stateReasonCode: string | undefined;
  /** undefined while the function is being created (Lambda omits it then). */
  readonly lastUpdateStatus: LastUpdateStatus | undefined;
  readonly lastUpdateStatusReason: string | undefined;
  readonly lastUpdateStatusReasonCode: string | undefined;
  readonly revisionId: string;
  /** Epoch ms of the last change of code or configuration (Lambda's LastModified). */
  readonly lastModified: number;
  /** $LATEST only: the highest version number ever published (never reused). */
  readonly lastPublishedVersion: number;
  /** $LATEST only: the function's tags (Lambda tags the function, not versions). */
  readonly tags: Readonly<Record<string, string>> | undefined;
  /**
   * Published versions made by PublishVersion: the canonical JSON of the
   * $LATEST configuration they were published from (their own may differ by
   * PublishVersion's Description), so that publishing an unchanged $LATEST
   * again answers this version instead of a new one. Absent in older records
   * and in versions published by CreateFunction/UpdateFunctionCode Publish
   * (their configuration is $LATEST's as it was).
   */
  readonly publishedFrom?: string;
}

/**
 * A function alias (CreateAlias): a name that points to one version, or to
 * two with a weight on the second (RoutingConfig.AdditionalVersionWeights).
 * Kept apart from the version records, keyed by (function name, alias name).
 */
export interface AliasRecord {
  readonly functionName: string;
  readonly name: string;
  /** '$LATEST' or a published version number. */
  readonly functionVersion: string;
  readonly description: string;
  /** The one additional version Lambda allows and the share of invokes it gets (0..1); undefined when none. */
  readonly routing: { readonly version: string; readonly weight: number } | undefined;
  readonly revisionId: string;
}

/**
 * A function's (or one version's) EventInvokeConfig: how Lambda retries its
 * asynchronous invokes and where their outcome goes
 * (PutFunctionEventInvokeConfig). Kept apart from the version records, keyed
 * by (function name, qualifier): it never changes a version's RevisionId, and
 * a published version does not snapshot it (each qualifier has its own).
 */
export interface EventInvokeConfigRecord {
  readonly functionName: string;
  /** '$LATEST', a published version number or an alias name. */
  readonly qualifier: string;
  /** 0..2; undefined when not set (the data plane then uses Lambda's default, 2). */
  readonly maximumRetryAttempts: number | undefined;
  /** 60..21600; undefined when not set (Lambda's default: 21600). */
  readonly maximumEventAgeInSeconds: number | undefined;
  /** DestinationConfig.OnSuccess.Destination (an ARN), undefined when none. */
  readonly onSuccess: string | undefined;
  /** DestinationConfig.OnFailure.Destination (an ARN), undefined when none. */
  readonly onFailure: string | undefined;
  /** Epoch ms of the last Put/Update. */
  readonly lastModified: number;
}

export interface FunctionKey {
  readonly name: string;
  readonly version: FunctionVersionName;
}

export interface ListFunctionsQuery {
  /** Return records strictly after this key (in list order). */
  readonly after: FunctionKey | undefined;
  readonly limit: number;
  /** true: only $LATEST records; false: every version. */
  readonly latestOnly: boolean;
}

/**
 * Function records. List order is by name, then version with $LATEST first
 * and published versions in numeric order — the order Lambda lists them.
 */
export interface MetadataStore {
  getFunction(name: string, version: FunctionVersionName): Promise<FunctionRecord | undefined>;
  /** Inserts or replaces the record with the same (name, version). */
  putFunction(record: FunctionRecord): Promise<void>;
  /** Writes several records atomically (all or none). */
  putFunctions(records: readonly FunctionRecord[]): Promise<void>;
  /**
   * Deletes one version and, in the same transaction, that version's
   * EventInvokeConfig; with version undefined, every version of the function
   * and, in the same transaction, the settings kept beside its records (its
   * reserved concurrency, every EventInvokeConfig and alias of it): a function created
   * again under the same name starts clean, as on Lambda.
   */
  deleteFunction(name: string, version: FunctionVersionName | undefined): Promise<void>;
  listFunctions(query: ListFunctionsQuery): Promise<FunctionRecord[]>;
  /**
   * Sets a function's reserved concurrency (PutFunctionConcurrency). It
   * belongs to the function as a whole, not to a version, so it is kept
   * apart from the version records and never changes their RevisionId.
   */
  putReservedConcurrency(name: string, reserved: number): Promise<void>;
  /** Removes a function's reserved concurrency (DeleteFunctionConcurrency); no-op when none is set. */
  deleteReservedConcurrency(name: string): Promise<void>;
  /** Every reserved concurrency, by function name (read once at startup). */
  listReservedConcurrency(): Promise<Map<string, number>>;
  /** Inserts or replaces the EventInvokeConfig of (functionName, qualifier). */
  putEventInvokeConfig(record: EventInvokeConfigRecord): Promise<void>;
  /** Removes the EventInvokeConfig of (name, qualifier); no-op when there is none. */
  deleteEventInvokeConfig(name: string, qualifier: string): Promise<void>;
  /** Every EventInvokeConfig, by function name then qualifier (read once at startup). */
  listEventInvokeConfigs(): Promise<EventInvokeConfigRecord[]>;
  /** Inserts or replaces the alias (functionName, name). */
  putAlias(record: AliasRecord): Promise<void>;
  /** Deletes the alias and, in the same transaction, its EventInvokeConfig; no-op when there is none. */
  deleteAlias(functionName: string, name: string): Promise<void>;
  /** Every alias, by function name then alias name (read once at startup). */
  listAliases(): Promise<AliasRecord[]>;
  close(): Promise<void>;
}

/**
 * Deployment packages stored by SHA-256, and their unpacked task roots.
 * Content addressed: putting the same bytes twice stores them once.
 */
export interface BlobStore {
  /** Stores the zip (atomically: a crash never leaves a partial file under its key). Returns its hex SHA-256. */
  put(bytes: Buffer): Promise<string>;
  has(sha256hex: string): Promise<boolean>;
  /** Absolute path of the stored zip (whether or not it exists). */
  path(sha256hex: string): string;
  read(sha256hex: string): Promise<Buffer>;
  delete(sha256hex: string): Promise<void>;
  /** Absolute path of the unpacked task root for this code (whether or not it exists). */
  taskRootPath(sha256hex: string): string;
  hasTaskRoot(sha256hex: string): Promise<boolean>;
  /**
   * Creates the task root: `fill` writes into a fresh temporary directory,
   * which is then renamed into place, so a crash never leaves a half-filled
   * root under the final path. Returns the final path. If the root exists
   * already, `fill` is not called.
   */
  installTaskRoot(sha256hex: string, fill: (tempDir: string) => Promise<void>): Promise<string>;
}
