import type Database from 'better-sqlite3';
import type { AliasRecord, EventInvokeConfigRecord, FunctionRecord, FunctionVersionName, LayerStore, LayerVersionRecord, ListFunctionsQuery, MetadataStore } from './types.js';
import { LATEST } from './types.js';
import { openSqlite } from './sqlite-schema.js';
import type { FunctionUrlRecord, HttpEndpointStore, HttpRouteRecord } from './http-endpoints.js';

/**
 * Sort key of a version inside one function: $LATEST first, then published
 * versions numerically (Lambda lists "1", "2", ..., "10", not "1", "10", "2").
 */
function versionOrder(version: FunctionVersionName): number {
  if (version === LATEST) return 0;
  const n = Number(version);
  if (!Number.isSafeInteger(n) || n < 1) throw new Error(`invalid function version: ${version}`);
  return n;
}

interface Row {
  record: string;
}

interface ReservationRow {
  name: string;
  reserved: number;
}

interface AliasRow {
  function_name: string;
  name: string;
  function_version: string;
  description: string;
  routing_version: string | null;
  routing_weight: number | null;
  revision_id: string;
}

interface FunctionUrlRow {
  name: string;
  qualifier: string;
  url_id: string;
  auth_type: string;
  invoke_mode: string | null;
  cors: string | null;
  creation_time: number;
  last_modified_time: number;
}

interface HttpRouteRow {
  name: string;
  method: string;
  path: string;
  payload_format_version: string;
  qualifier: string | null;
}

interface EventInvokeConfigRow {
  name: string;
  qualifier: string;
  maximum_retry_attempts: number | null;
  maximum_event_age_in_seconds: number | null;
  on_success: string | null;
  on_failure: string | null;
  last_modified: number;
}

/**
 * The schema, as the steps that build it (sqlite-schema.ts runs them): a
 * database is brought up to date when it is opened, so a data directory
 * written by an earlier Kindling keeps working (its records are left as they
 * are). Steps are only ever appended, never edited.
 *
 * Version 0 is both a fresh file and a data directory of the first Kindling
 * releases, which created the functions table without recording a version:
 * step 0 therefore creates it only if it does not exist.
 */
const MIGRATIONS: readonly string[] = [
  // 0 → 1: function versions, as JSON documents.
  `CREATE TABLE IF NOT EXISTS functions (
     name          TEXT    NOT NULL,
     version       TEXT    NOT NULL,
     version_order INTEGER NOT NULL,
     record        TEXT    NOT NULL,
     PRIMARY KEY (name, version)
   );
   CREATE UNIQUE INDEX IF NOT EXISTS functions_list_order ON functions (name, version_order);`,
  // 1 → 2: reserved concurrency, a setting of the function as a whole (PutFunctionConcurrency).
  `CREATE TABLE function_concurrency (
     name     TEXT    NOT NULL PRIMARY KEY,
     reserved INTEGER NOT NULL CHECK (reserved >= 0)
   );`,
  // 2 → 3: EventInvokeConfig per (function, qualifier) (PutFunctionEventInvokeConfig).
  // NULL: the member is not set (Lambda answers without it). The ranges are
  // the API model's (botocore MaximumRetryAttempts 0..2, MaximumEventAgeInSeconds 60..21600).
  `CREATE TABLE event_invoke_configs (
     name                         TEXT    NOT NULL,
     qualifier                    TEXT    NOT NULL,
     maximum_retry_attempts       INTEGER CHECK (maximum_retry_attempts BETWEEN 0 AND 2),
     maximum_event_age_in_seconds INTEGER CHECK (maximum_event_age_in_seconds BETWEEN 60 AND 21600),
     on_success                   TEXT,
     on_failure                   TEXT,
     last_modified                INTEGER NOT NULL,
     PRIMARY KEY (name, qualifier)
   );`,
  // 3 → 4: function aliases (CreateAlias). routing_version/routing_weight:
  // RoutingConfig.AdditionalVersionWeights, NULL when the alias routes to one
  // version (Lambda allows one additional version, weight 0.0..1.0).
  `CREATE TABLE aliases (
     function_name    TEXT NOT NULL,
     name             TEXT NOT NULL,
     function_version TEXT NOT NULL,
     description      TEXT NOT NULL,
     routing_version  TEXT,
     routing_weight   REAL CHECK (routing_weight BETWEEN 0 AND 1),
     revision_id      TEXT NOT NULL,
     PRIMARY KEY (function_name, name),
     CHECK ((routing_version IS NULL) = (routing_weight IS NULL))
   );`,
  // 4 → 5: Lambda layers (PublishLayerVersion). layers.last_version is the
  // highest version ever published under the name: it stays when every
  // version is deleted, since Lambda never reuses a layer version number.
  `CREATE TABLE layers (
     name         TEXT    NOT NULL PRIMARY KEY,
     last_version INTEGER NOT NULL CHECK (last_version >= 1)
   );
   CREATE TABLE layer_versions (
     name    TEXT    NOT NULL,
     version INTEGER NOT NULL CHECK (version >= 1),
     record  TEXT    NOT NULL,
     PRIMARY KEY (name, version)
   );`,
  // 5 → 6: function URLs (CreateFunctionUrlConfig) and HTTP routes (SAM Api/HttpApi events).
  // qualifier '' is the unqualified function; url_id is the host's first label, unique;
  // invoke_mode NULL: never set (read as BUFFERED).
  // cors: the Cors member as JSON, NULL when none. A route path is the
  // platform's, shared by all functions: (method, path) is unique.
  `CREATE TABLE function_urls (
     name               TEXT    NOT NULL,
     qualifier          TEXT    NOT NULL,
     url_id             TEXT    NOT NULL UNIQUE,
     auth_type          TEXT    NOT NULL,
     invoke_mode        TEXT,
     cors               TEXT,
     creation_time      INTEGER NOT NULL,
     last_modified_time INTEGER NOT NULL,
     PRIMARY KEY (name, qualifier)
   );
   CREATE TABLE http_routes (
     name                   TEXT NOT NULL,
     method                 TEXT NOT NULL,
     path                   TEXT NOT NULL,
     payload_format_version TEXT NOT NULL,
     PRIMARY KEY (method, path)
   );
   CREATE INDEX http_routes_by_function ON http_routes (name);`,
  // 6 → 7: a route may invoke an alias or a version (SAM AutoPublishAlias):
  // qualifier NULL invokes $LATEST.
  `ALTER TABLE http_routes ADD COLUMN qualifier TEXT;`,
];

/** The schema version this code writes (and the newest it can read). */
export const METADATA_SCHEMA_VERSION = MIGRATIONS.length;


/**
 * MetadataStore on SQLite (better-sqlite3), one file in the data directory.
 * WAL mode: readers never block the writer, and a crash loses at most the
 * transaction in flight. Records are JSON documents keyed by (name, version).
 */
export class SqliteMetadataStore implements MetadataStore, LayerStore, HttpEndpointStore {
  readonly #db: Database.Database;
  readonly #get: Database.Statement<[string, string], Row>;
  readonly #put: Database.Statement<[string, string, number, string]>;
  readonly #deleteOne: Database.Statement<[string, string]>;
  readonly #deleteAll: (name: string) => void;
  readonly #putMany: (records: readonly FunctionRecord[]) => void;
  readonly #putReservation: Database.Statement<[string, number]>;
  readonly #deleteReservation: Database.Statement<[string]>;
  readonly #listReservations: Database.Statement<[], ReservationRow>;
  readonly #putInvokeConfig: Database.Statement<[string, string, number | null, number | null, string | null, string | null, number]>;
  readonly #deleteInvokeConfig: Database.Statement<[string, string]>;
  readonly #listInvokeConfigs: Database.Statement<[], EventInvokeConfigRow>;
  readonly #deleteVersion: (name: string, version: string) => void;
  readonly #putAlias: Database.Statement<[string, string, string, string, string | null, number | null, string]>;
  readonly #deleteAlias: (functionName: string, name: string) => void;
  readonly #listAliases: Database.Statement<[], AliasRow>;
  readonly #publishLayer: (name: string, make: (version: number) => LayerVersionRecord) => LayerVersionRecord;
  readonly #getLayer: Database.Statement<[string, number], Row>;
  readonly #listLayers: Database.Statement<[], Row>;
  readonly #deleteLayer: Database.Statement<[string, number]>;
  readonly #putUrl: Database.Statement<[string, string, string, string, string | null, string | null, number, number]>;
  readonly #deleteUrl: Database.Statement<[string, string]>;
  readonly #listUrls: Database.Statement<[], FunctionUrlRow>;
  readonly #replaceRoutes: (name: string, routes: readonly HttpRouteRecord[]) => void;
  readonly #listRoutes: Database.Statement<[], HttpRouteRow>;

  /** Opens (creating if needed) `<dataDir>/kindling.db`; pass ':memory:' as file for a private in-memory DB. */
  constructor(dataDir: string, file = 'kindling.db') {
    this.#db = openSqlite(dataDir, file, 'metadata', MIGRATIONS);
    this.#get = this.#db.prepare('SELECT record FROM functions WHERE name = ? AND version = ?');
    this.#put = this.#db.prepare(
      `INSERT INTO functions (name, version, version_order, record) VALUES (?, ?, ?, ?)
       ON CONFLICT (name, version) DO UPDATE SET record = excluded.record`,
    );
    this.#deleteOne = this.#db.prepare('DELETE FROM functions WHERE name = ? AND version = ?');
    const deleteVersions = this.#db.prepare<[string]>('DELETE FROM functions WHERE name = ?');
    this.#putReservation = this.#db.prepare(
      'INSERT INTO function_concurrency (name, reserved) VALUES (?, ?) ON CONFLICT (name) DO UPDATE SET reserved = excluded.reserved',
    );
    this.#deleteReservation = this.#db.prepare('DELETE FROM function_concurrency WHERE name = ?');
    this.#listReservations = this.#db.prepare('SELECT name, reserved FROM function_concurrency ORDER BY name');
    this.#putInvokeConfig = this.#db.prepare(
      `INSERT INTO event_invoke_configs
         (name, qualifier, maximum_retry_attempts, maximum_event_age_in_seconds, on_success, on_failure, last_modified)
       VALUES (?, ?, ?, ?, ?, ?, ?)
       ON CONFLICT (name, qualifier) DO UPDATE SET
         maximum_retry_attempts = excluded.maximum_retry_attempts,
         maximum_event_age_in_seconds = excluded.maximum_event_age_in_seconds,
         on_success = excluded.on_success,
         on_failure = excluded.on_failure,
         last_modified = excluded.last_modified`,
    );
    this.#deleteInvokeConfig = this.#db.prepare('DELETE FROM event_invoke_configs WHERE name = ? AND qualifier = ?');
    this.#listInvokeConfigs = this.#db.prepare('SELECT * FROM event_invoke_configs ORDER BY name, qualifier');
    const deleteInvokeConfigs = this.#db.prepare<[string]>('DELETE FROM event_invoke_configs WHERE name = ?');
    this.#putAlias = this.#db.prepare(
      `INSERT INTO aliases (function_name, name, function_version, description, routing_version, routing_weight, revision_id)
       VALUES (?, ?, ?, ?, ?, ?, ?)
       ON CONFLICT (function_name, name) DO UPDATE SET
         function_version = excluded.function_version,
         description = excluded.description,
         routing_version = excluded.routing_version,
         routing_weight = excluded.routing_weight,
         revision_id = excluded.revision_id`,
    );
    this.#listAliases = this.#db.prepare('SELECT * FROM aliases ORDER BY function_name, name');
    const deleteOneAlias = this.#db.prepare<[string, string]>('DELETE FROM aliases WHERE function_name = ? AND name = ?');
    const deleteAliases = this.#db.prepare<[string]>('DELETE FROM aliases WHERE function_name = ?');
    this.#deleteAlias = this.#db.transaction((functionName: string, name: string) => {
      deleteOneAlias.run(functionName, name);
      this.#deleteInvokeConfig.run(functionName, name);
    });
    this.#putUrl = this.#db.prepare(
      `INSERT INTO function_urls (name, qualifier, url_id, auth_type, invoke_mode, cors, creation_time, last_modified_time)
       VALUES (?, ?, ?, ?, ?, ?, ?, ?)
       ON CONFLICT (name, qualifier) DO UPDATE SET
         auth_type = excluded.auth_type,
         invoke_mode = excluded.invoke_mode,
         cors = excluded.cors,
         last_modified_time = excluded.last_modified_time`,
    );
    this.#deleteUrl = this.#db.prepare('DELETE FROM function_urls WHERE name = ? AND qualifier = ?');
    this.#listUrls = this.#db.prepare('SELECT * FROM function_urls ORDER BY name, qualifier');
    const deleteUrls = this.#db.prepare<[string]>('DELETE FROM function_urls WHERE name = ?');
    const deleteRoutes = this.#db.prepare<[string]>('DELETE FROM http_routes WHERE name = ?');
    const insertRoute = this.#db.prepare<[string, string, string, string, string | null]>(
      'INSERT INTO http_routes (name, method, path, payload_format_version, qualifier) VALUES (?, ?, ?, ?, ?)',
    );
    this.#replaceRoutes = this.#db.transaction((name: string, routes: readonly HttpRouteRecord[]) => {
      deleteRoutes.run(name);
      for (const r of routes) insertRoute.run(name, r.method, r.path, r.payloadFormatVersion, r.qualifier ?? null);
    });
    this.#listRoutes = this.#db.prepare('SELECT * FROM http_routes ORDER BY name, path, method');
    this.#deleteAll = this.#db.transaction((name: string) => {
      deleteVersions.run(name);
      this.#deleteReservation.run(name);
      deleteInvokeConfigs.run(name);
      deleteAliases.run(name);
      deleteUrls.run(name);
      deleteRoutes.run(name);
    });
    this.#deleteVersion = this.#db.transaction((name: string, version: string) => {
      this.#deleteOne.run(name, version);
      this.#deleteInvokeConfig.run(name, version);
    });
    const lastLayerVersion = this.#db.prepare<[string], { last_version: number }>('SELECT last_version FROM layers WHERE name = ?');
    const bumpLayer = this.#db.prepare<[string, number]>(
      'INSERT INTO layers (name, last_version) VALUES (?, ?) ON CONFLICT (name) DO UPDATE SET last_version = excluded.last_version',
    );
    const insertLayerVersion = this.#db.prepare<[string, number, string]>('INSERT INTO layer_versions (name, version, record) VALUES (?, ?, ?)');
    this.#publishLayer = this.#db.transaction((name: string, make: (version: number) => LayerVersionRecord) => {
      const version = (lastLayerVersion.get(name)?.last_version ?? 0) + 1;
      const record = make(version);
      if (record.layerName !== name || record.version !== version) throw new Error('a layer version record must keep the name and number it was made for');
      bumpLayer.run(name, version);
      insertLayerVersion.run(name, version, JSON.stringify(record));
      return record;
    });
    this.#getLayer = this.#db.prepare('SELECT record FROM layer_versions WHERE name = ? AND version = ?');
    this.#listLayers = this.#db.prepare('SELECT record FROM layer_versions ORDER BY name, version');
    this.#deleteLayer = this.#db.prepare('DELETE FROM layer_versions WHERE name = ? AND version = ?');
    this.#putMany = this.#db.transaction((records: readonly FunctionRecord[]) => {
      for (const r of records) this.#put.run(r.name, r.version, versionOrder(r.version), JSON.stringify(r));
    });
  }

  async getFunction(name: string, version: FunctionVersionName): Promise<FunctionRecord | undefined> {
    const row = this.#get.get(name, version);
    return row ? (JSON.parse(row.record) as FunctionRecord) : undefined;
  }

  async putFunction(record: FunctionRecord): Promise<void> {
    this.#put.run(record.name, record.version, versionOrder(record.version), JSON.stringify(record));
  }

  async putFunctions(records: readonly FunctionRecord[]): Promise<void> {
    this.#putMany(records);
  }

  async deleteFunction(name: string, version: FunctionVersionName | undefined): Promise<void> {
    if (version === undefined) this.#deleteAll(name);
    else this.#deleteVersion(name, version);
  }

  async listFunctions(query: ListFunctionsQuery): Promise<FunctionRecord[]> {
    const where: string[] = [];
    const params: (string | number)[] = [];
    if (query.latestOnly) where.push('version_order = 0');
    if (query.after) {
      where.push('(name > ? OR (name = ? AND version_order > ?))');
      params.push(query.after.name, query.after.name, versionOrder(query.after.version));
    }
    const sql =
      `SELECT record FROM functions ${where.length ? `WHERE ${where.join(' AND ')}` : ''} ` +
      'ORDER BY name, version_order LIMIT ?';
    params.push(query.limit);
    const rows = this.#db.prepare<(string | number)[], Row>(sql).all(...params);
    return rows.map((r) => JSON.parse(r.record) as FunctionRecord);
  }

  async putReservedConcurrency(name: string, reserved: number): Promise<void> {
    if (!Number.isSafeInteger(reserved) || reserved < 0) throw new Error(`invalid reserved concurrency: ${reserved}`);
    this.#putReservation.run(name, reserved);
  }

  async deleteReservedConcurrency(name: string): Promise<void> {
    this.#deleteReservation.run(name);
  }

  async listReservedConcurrency(): Promise<Map<string, number>> {
    return new Map(this.#listReservations.all().map((r) => [r.name, r.reserved]));
  }

  async putEventInvokeConfig(r: EventInvokeConfigRecord): Promise<void> {
    this.#putInvokeConfig.run(
      r.functionName,
      r.qualifier,
      r.maximumRetryAttempts ?? null,
      r.maximumEventAgeInSeconds ?? null,
      r.onSuccess ?? null,
      r.onFailure ?? null,
      r.lastModified,
    );
  }

  async deleteEventInvokeConfig(name: string, qualifier: string): Promise<void> {
    this.#deleteInvokeConfig.run(name, qualifier);
  }

  async listEventInvokeConfigs(): Promise<EventInvokeConfigRecord[]> {
    return this.#listInvokeConfigs.all().map((row) => ({
      functionName: row.name,
      qualifier: row.qualifier,
      maximumRetryAttempts: row.maximum_retry_attempts ?? undefined,
      maximumEventAgeInSeconds: row.maximum_event_age_in_seconds ?? undefined,
      onSuccess: row.on_success ?? undefined,
      onFailure: row.on_failure ?? undefined,
      lastModified: row.last_modified,
    }));
  }

  async putAlias(r: AliasRecord): Promise<void> {
    this.#putAlias.run(r.functionName, r.name, r.functionVersion, r.description, r.routing?.version ?? null, r.routing?.weight ?? null, r.revisionId);
  }

  async deleteAlias(functionName: string, name: string): Promise<void> {
    this.#deleteAlias(functionName, name);
  }

  async listAliases(): Promise<AliasRecord[]> {
    return this.#listAliases.all().map((row) => ({
      functionName: row.function_name,
      name: row.name,
      functionVersion: row.function_version,
      description: row.description,
      routing: row.routing_version === null || row.routing_weight === null ? undefined : { version: row.routing_version, weight: row.routing_weight },
      revisionId: row.revision_id,
    }));
  }

  async publishLayerVersion(layerName: string, make: (version: number) => LayerVersionRecord): Promise<LayerVersionRecord> {
    return this.#publishLayer(layerName, make);
  }

  async getLayerVersion(layerName: string, version: number): Promise<LayerVersionRecord | undefined> {
    const row = this.#getLayer.get(layerName, version);
    return row ? (JSON.parse(row.record) as LayerVersionRecord) : undefined;
  }

  async listLayerVersions(): Promise<LayerVersionRecord[]> {
    return this.#listLayers.all().map((r) => JSON.parse(r.record) as LayerVersionRecord);
  }

  async deleteLayerVersion(layerName: string, version: number): Promise<void> {
    this.#deleteLayer.run(layerName, version);
  }

  async putFunctionUrl(r: FunctionUrlRecord): Promise<void> {
    this.#putUrl.run(r.functionName, r.qualifier ?? '', r.urlId, r.authType, r.invokeMode ?? null, r.cors === undefined ? null : JSON.stringify(r.cors), r.creationTime, r.lastModifiedTime);
  }

  async deleteFunctionUrl(name: string, qualifier: string | undefined): Promise<void> {
    this.#deleteUrl.run(name, qualifier ?? '');
  }

  async listFunctionUrls(): Promise<FunctionUrlRecord[]> {
    return this.#listUrls.all().map((row) => ({
      functionName: row.name,
      qualifier: row.qualifier === '' ? undefined : row.qualifier,
      urlId: row.url_id,
      authType: row.auth_type as FunctionUrlRecord['authType'],
      invokeMode: (row.invoke_mode ?? undefined) as FunctionUrlRecord['invokeMode'],
      cors: row.cors === null ? undefined : (JSON.parse(row.cors) as FunctionUrlRecord['cors']),
      creationTime: row.creation_time,
      lastModifiedTime: row.last_modified_time,
    }));
  }

  async replaceHttpRoutes(name: string, routes: readonly HttpRouteRecord[]): Promise<void> {
    this.#replaceRoutes(name, routes);
  }

  async listHttpRoutes(): Promise<HttpRouteRecord[]> {
    return this.#listRoutes.all().map((row) => ({
      functionName: row.name,
      method: row.method,
      path: row.path,
      payloadFormatVersion: row.payload_format_version as HttpRouteRecord['payloadFormatVersion'],
      ...(row.qualifier !== null ? { qualifier: row.qualifier } : {}),
    }));
  }

  async close(): Promise<void> {
    if (this.#db.open) this.#db.close();
  }
}
