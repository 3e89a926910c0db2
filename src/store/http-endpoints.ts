/**
 * Records of a function's HTTP endpoints: its function URLs
 * (CreateFunctionUrlConfig) and the HTTP routes that a SAM template's `Api`
 * and `HttpApi` events register (Kindling's /kindling/v1/routes). Both belong
 * to a function and are dropped with it; neither is part of a version record
 * (they never change its RevisionId).
 */

/** One function URL: (function name, qualifier) → its config. */
export interface FunctionUrlRecord {
  readonly functionName: string;
  /** undefined: the unqualified function ($LATEST); else an alias name (Lambda accepts no version number). */
  readonly qualifier: string | undefined;
  /** 32 lower-case letters and digits: the first label of the URL's host name. */
  readonly urlId: string;
  readonly authType: 'NONE' | 'AWS_IAM';
  /** undefined: never set (it reads as BUFFERED, but Lambda's Update answers without it). */
  readonly invokeMode: 'BUFFERED' | 'RESPONSE_STREAM' | undefined;
  /** The Cors member as the API answers it (JSON-ready), undefined when none is set. */
  readonly cors: FunctionUrlCors | undefined;
  /** Epoch ms. */
  readonly creationTime: number;
  /** Epoch ms. */
  readonly lastModifiedTime: number;
}

/** Lambda's Cors shape (botocore lambda 2015-03-31 `Cors`). */
export interface FunctionUrlCors {
  readonly AllowCredentials?: boolean;
  readonly AllowHeaders?: readonly string[];
  readonly AllowMethods?: readonly string[];
  readonly AllowOrigins?: readonly string[];
  readonly ExposeHeaders?: readonly string[];
  readonly MaxAge?: number;
}

/** One HTTP route of a function (a SAM `Api` or `HttpApi` event). */
export interface HttpRouteRecord {
  readonly functionName: string;
  /** GET, POST, ... or ANY. */
  readonly method: string;
  /** '/', '/items/{id}', '/files/{proxy+}'. */
  readonly path: string;
  readonly payloadFormatVersion: '1.0' | '2.0';
  /** The alias or version the route invokes (SAM AutoPublishAlias); absent: $LATEST. */
  readonly qualifier?: string;
}

/** Where function URLs and HTTP routes are kept (SqliteMetadataStore implements it). */
export interface HttpEndpointStore {
  /** Inserts or replaces the URL of (functionName, qualifier). */
  putFunctionUrl(record: FunctionUrlRecord): Promise<void>;
  /** Removes it; no-op when there is none. */
  deleteFunctionUrl(functionName: string, qualifier: string | undefined): Promise<void>;
  /** Every function URL (read once at startup). */
  listFunctionUrls(): Promise<FunctionUrlRecord[]>;
  /** Replaces every route of the function with these (none: removes them), atomically. */
  replaceHttpRoutes(functionName: string, routes: readonly HttpRouteRecord[]): Promise<void>;
  /** Every route (read once at startup). */
  listHttpRoutes(): Promise<HttpRouteRecord[]>;
}
