/**
 * The `kindling` CLI's HTTP client: Lambda's REST API (the paths in
 * LAMBDA-REFERENCE.md) and Kindling's own routes and logs APIs, over fetch.
 * Every error answer becomes an ApiError whose message is one line,
 * `<ErrorType>: <message>`, as the AWS CLI prints it.
 */

/** Where the platform is: `--endpoint` > $KINDLING_ENDPOINT > http://127.0.0.1:9000. No trailing slash. */
export function resolveEndpoint(flag: string | undefined, env: NodeJS.ProcessEnv = process.env): string {
  const url = flag ?? (env['KINDLING_ENDPOINT'] || undefined) ?? DEFAULT_ENDPOINT;
  return url.replace(/\/+$/, '');
}

export const DEFAULT_ENDPOINT = 'http://127.0.0.1:9000';

/** An error answer of the platform. */
export class ApiError extends Error {
  constructor(
    readonly status: number,
    /** Lambda's error type (x-amzn-ErrorType), e.g. ResourceNotFoundException. */
    readonly type: string,
    readonly detail: string,
    /** The error body as JSON, when it was JSON. */
    readonly body?: unknown,
  ) {
    super(`${type}: ${detail}`);
    this.name = 'ApiError';
  }

  /** The server does not know this operation at all (a feature of a newer server). */
  get unknownOperation(): boolean {
    return this.status === 404 && this.type === 'UnknownOperationException';
  }

  get notFound(): boolean {
    return this.status === 404 && this.type === 'ResourceNotFoundException';
  }
}

/** The part of FunctionConfiguration the CLI reads. */
export interface FunctionConfiguration {
  FunctionName: string;
  FunctionArn: string;
  Runtime?: string;
  Handler?: string;
  Role?: string;
  CodeSha256?: string;
  CodeSize?: number;
  Description?: string;
  Timeout?: number;
  MemorySize?: number;
  LastModified?: string;
  Version?: string;
  Environment?: { Variables?: Record<string, string> };
  Layers?: { Arn: string; CodeSize?: number }[];
  Architectures?: string[];
  EphemeralStorage?: { Size: number };
  State?: string;
  StateReason?: string;
  LastUpdateStatus?: string;
  LastUpdateStatusReason?: string;
}

export interface GetFunctionOutput {
  Configuration: FunctionConfiguration;
  Concurrency?: { ReservedConcurrentExecutions?: number };
}

/** The configuration fields CreateFunction and UpdateFunctionConfiguration take (what deploy manages). */
export interface FunctionSettings {
  Runtime: string;
  Handler: string;
  Role: string;
  Description: string;
  Timeout: number;
  MemorySize: number;
  Environment: { Variables: Record<string, string> };
  Layers: string[];
  Architectures: string[];
  EphemeralStorage: { Size: number };
}

export interface CreateFunctionInput extends FunctionSettings {
  FunctionName: string;
  /** The deployment package (sent base64, as Lambda's JSON wants blobs). */
  ZipFile: Buffer;
}

export interface DestinationConfig {
  OnSuccess?: { Destination?: string };
  OnFailure?: { Destination?: string };
}

export interface EventInvokeConfig {
  MaximumRetryAttempts?: number;
  MaximumEventAgeInSeconds?: number;
  DestinationConfig?: DestinationConfig;
}

export interface AliasConfiguration {
  AliasArn: string;
  Name: string;
  FunctionVersion: string;
  Description?: string;
}

export interface LayerVersion {
  LayerVersionArn: string;
  Version: number;
  Description?: string;
  CompatibleRuntimes?: string[];
  Content?: { CodeSha256?: string; CodeSize?: number };
}

export interface PublishLayerVersionInput {
  LayerName: string;
  ZipFile: Buffer;
  Description: string;
  CompatibleRuntimes: string[];
  LicenseInfo?: string;
}

export interface Cors {
  AllowCredentials?: boolean;
  AllowHeaders?: string[];
  AllowMethods?: string[];
  AllowOrigins?: string[];
  ExposeHeaders?: string[];
  MaxAge?: number;
}

export interface FunctionUrlSettings {
  AuthType: string;
  InvokeMode?: string;
  Cors?: Cors;
}

export interface FunctionUrlConfig extends FunctionUrlSettings {
  FunctionUrl: string;
  FunctionArn?: string;
}

export interface Route {
  Method: string;
  Path: string;
  PayloadFormatVersion: string;
  /** The alias or version the route invokes; absent: $LATEST. */
  Qualifier?: string;
}

export interface RouteListing extends Route {
  FunctionName: string;
  Url?: string;
}

export interface LogEvent {
  logStreamName: string;
  timestamp: number;
  message: string;
  ingestionTime?: number;
}

export interface LogPage {
  logGroupName?: string;
  events: LogEvent[];
  nextToken?: string;
}

export interface InvokeOutput {
  status: number;
  requestId: string | undefined;
  executedVersion: string | undefined;
  functionError: string | undefined;
  /** The decoded X-Amz-Log-Result (Tail), when asked for. */
  logTail: string | undefined;
  payload: Buffer;
}

export interface InvokeInput {
  FunctionName: string;
  Payload?: Buffer;
  Qualifier?: string;
  InvocationType?: 'RequestResponse' | 'Event' | 'DryRun';
  LogType?: 'None' | 'Tail';
}

const enc = encodeURIComponent;
const qs = (params: Record<string, string | number | undefined>): string => {
  const p = new URLSearchParams();
  for (const [k, v] of Object.entries(params)) if (v !== undefined) p.set(k, String(v));
  const s = p.toString();
  return s ? `?${s}` : '';
};

/** Turns an error answer into an ApiError: x-amzn-ErrorType, else the body's __type/code, and Message or message. */
export function apiError(status: number, errorTypeHeader: string | null, text: string): ApiError {
  let body: unknown;
  try {
    body = JSON.parse(text) as unknown;
  } catch {
    body = undefined;
  }
  const b = (body && typeof body === 'object' ? body : {}) as Record<string, unknown>;
  // As the SDK reads it (LAMBDA-REFERENCE "Wire conventions"): the header's text before ':', then the body.
  const type =
    errorTypeHeader?.split(':')[0] ||
    (typeof b['code'] === 'string' ? b['code'] : undefined) ||
    (typeof b['__type'] === 'string' ? b['__type'].split('#').pop() : undefined) ||
    `HTTP ${status}`;
  const message =
    (typeof b['Message'] === 'string' ? b['Message'] : undefined) ??
    (typeof b['message'] === 'string' ? b['message'] : undefined) ??
    (text.trim() || 'no message');
  return new ApiError(status, type, message.replace(/\s*\n\s*/g, ' '), body);
}

/** The Lambda REST API and Kindling's routes and logs APIs of one platform. */
export class KindlingClient {
  constructor(readonly endpoint: string) {}

  async #request(method: string, path: string, body?: unknown, headers: Record<string, string> = {}): Promise<Response> {
    let res: Response;
    try {
      res = await fetch(`${this.endpoint}${path}`, {
        method,
        headers: { ...(body !== undefined && !Buffer.isBuffer(body) ? { 'content-type': 'application/json' } : {}), ...headers },
        ...(body !== undefined ? { body: Buffer.isBuffer(body) ? body : JSON.stringify(body) } : {}),
      });
    } catch (err) {
      const cause = (err as { cause?: { code?: string; message?: string } }).cause;
      throw new Error(`cannot reach ${this.endpoint} (${cause?.code ?? cause?.message ?? String(err)}); is \`kindling up\` running there? (set --endpoint or KINDLING_ENDPOINT)`);
    }
    if (!res.ok) throw apiError(res.status, res.headers.get('x-amzn-errortype'), await res.text());
    return res;
  }

  async #json<T>(method: string, path: string, body?: unknown): Promise<T> {
    const res = await this.#request(method, path, body);
    const text = await res.text();
    return (text === '' ? {} : JSON.parse(text)) as T;
  }

  // ---- functions ----
  getFunction(name: string, qualifier?: string): Promise<GetFunctionOutput> {
    return this.#json('GET', `/2015-03-31/functions/${enc(name)}${qs({ Qualifier: qualifier })}`);
  }

  async listFunctions(): Promise<FunctionConfiguration[]> {
    const out: FunctionConfiguration[] = [];
    let marker: string | undefined;
    do {
      const page = await this.#json<{ Functions: FunctionConfiguration[]; NextMarker?: string }>('GET', `/2015-03-31/functions${qs({ Marker: marker })}`);
      out.push(...page.Functions);
      marker = page.NextMarker ?? undefined;
    } while (marker);
    return out;
  }

  createFunction(input: CreateFunctionInput): Promise<FunctionConfiguration> {
    const { ZipFile, ...rest } = input;
    return this.#json('POST', '/2015-03-31/functions', { ...rest, Code: { ZipFile: ZipFile.toString('base64') } });
  }

  updateFunctionCode(name: string, zip: Buffer): Promise<FunctionConfiguration> {
    return this.#json('PUT', `/2015-03-31/functions/${enc(name)}/code`, { ZipFile: zip.toString('base64') });
  }

  updateFunctionConfiguration(name: string, settings: FunctionSettings): Promise<FunctionConfiguration> {
    return this.#json('PUT', `/2015-03-31/functions/${enc(name)}/configuration`, settings);
  }

  async deleteFunction(name: string, qualifier?: string): Promise<void> {
    await this.#request('DELETE', `/2015-03-31/functions/${enc(name)}${qs({ Qualifier: qualifier })}`);
  }

  async putFunctionConcurrency(name: string, reserved: number): Promise<void> {
    await this.#request('PUT', `/2017-10-31/functions/${enc(name)}/concurrency`, { ReservedConcurrentExecutions: reserved });
  }

  async deleteFunctionConcurrency(name: string): Promise<void> {
    await this.#request('DELETE', `/2017-10-31/functions/${enc(name)}/concurrency`);
  }

  /** The function's EventInvokeConfig, or undefined when it has none. */
  async getFunctionEventInvokeConfig(name: string, qualifier?: string): Promise<EventInvokeConfig | undefined> {
    try {
      return await this.#json<EventInvokeConfig>('GET', `/2019-09-25/functions/${enc(name)}/event-invoke-config${qs({ Qualifier: qualifier })}`);
    } catch (err) {
      if (err instanceof ApiError && err.notFound) return undefined;
      throw err;
    }
  }

  async putFunctionEventInvokeConfig(name: string, config: EventInvokeConfig, qualifier?: string): Promise<void> {
    await this.#request('PUT', `/2019-09-25/functions/${enc(name)}/event-invoke-config${qs({ Qualifier: qualifier })}`, config);
  }

  async deleteFunctionEventInvokeConfig(name: string, qualifier?: string): Promise<void> {
    await this.#request('DELETE', `/2019-09-25/functions/${enc(name)}/event-invoke-config${qs({ Qualifier: qualifier })}`);
  }

  async invoke(input: InvokeInput): Promise<InvokeOutput> {
    const res = await this.#request(
      'POST',
      `/2015-03-31/functions/${enc(input.FunctionName)}/invocations${qs({ Qualifier: input.Qualifier })}`,
      input.Payload ?? Buffer.alloc(0),
      {
        'x-amz-invocation-type': input.InvocationType ?? 'RequestResponse',
        'x-amz-log-type': input.LogType ?? 'None',
        'content-type': 'application/json',
      },
    );
    const log = res.headers.get('x-amz-log-result');
    return {
      status: res.status,
      requestId: res.headers.get('x-amzn-requestid') ?? undefined,
      executedVersion: res.headers.get('x-amz-executed-version') ?? undefined,
      functionError: res.headers.get('x-amz-function-error') ?? undefined,
      logTail: log ? Buffer.from(log, 'base64').toString('utf8') : undefined,
      payload: Buffer.from(await res.arrayBuffer()),
    };
  }

  // ---- versions and aliases ----
  publishVersion(name: string, codeSha256?: string): Promise<FunctionConfiguration> {
    return this.#json('POST', `/2015-03-31/functions/${enc(name)}/versions`, codeSha256 ? { CodeSha256: codeSha256 } : {});
  }

  /** The alias, or undefined when the function has no alias of that name. */
  async getAlias(name: string, alias: string): Promise<AliasConfiguration | undefined> {
    try {
      return await this.#json<AliasConfiguration>('GET', `/2015-03-31/functions/${enc(name)}/aliases/${enc(alias)}`);
    } catch (err) {
      if (err instanceof ApiError && err.notFound) return undefined;
      throw err;
    }
  }

  createAlias(name: string, alias: string, version: string): Promise<AliasConfiguration> {
    return this.#json('POST', `/2015-03-31/functions/${enc(name)}/aliases`, { Name: alias, FunctionVersion: version });
  }

  updateAlias(name: string, alias: string, version: string): Promise<AliasConfiguration> {
    return this.#json('PUT', `/2015-03-31/functions/${enc(name)}/aliases/${enc(alias)}`, { FunctionVersion: version });
  }

  // ---- layers ----
  /** The layer's versions, newest first; [] when the layer does not exist. */
  async listLayerVersions(layer: string): Promise<LayerVersion[]> {
    const out: LayerVersion[] = [];
    let marker: string | undefined;
    do {
      let page: { LayerVersions?: LayerVersion[]; NextMarker?: string };
      try {
        page = await this.#json('GET', `/2018-10-31/layers/${enc(layer)}/versions${qs({ Marker: marker })}`);
      } catch (err) {
        if (err instanceof ApiError && err.notFound) return [];
        throw err;
      }
      out.push(...(page.LayerVersions ?? []));
      marker = page.NextMarker ?? undefined;
    } while (marker);
    return out.sort((a, b) => b.Version - a.Version);
  }

  getLayerVersion(layer: string, version: number): Promise<LayerVersion> {
    return this.#json('GET', `/2018-10-31/layers/${enc(layer)}/versions/${version}`);
  }

  publishLayerVersion(input: PublishLayerVersionInput): Promise<LayerVersion> {
    const { LayerName, ZipFile, ...rest } = input;
    return this.#json('POST', `/2018-10-31/layers/${enc(LayerName)}/versions`, { ...rest, Content: { ZipFile: ZipFile.toString('base64') } });
  }

  // ---- function URLs ----
  /** The URL config, or undefined when there is none. */
  async getFunctionUrlConfig(name: string, qualifier?: string): Promise<FunctionUrlConfig | undefined> {
    try {
      return await this.#json<FunctionUrlConfig>('GET', `/2021-10-31/functions/${enc(name)}/url${qs({ Qualifier: qualifier })}`);
    } catch (err) {
      if (err instanceof ApiError && err.notFound) return undefined;
      throw err;
    }
  }

  createFunctionUrlConfig(name: string, settings: FunctionUrlSettings, qualifier?: string): Promise<FunctionUrlConfig> {
    return this.#json('POST', `/2021-10-31/functions/${enc(name)}/url${qs({ Qualifier: qualifier })}`, settings);
  }

  updateFunctionUrlConfig(name: string, settings: FunctionUrlSettings, qualifier?: string): Promise<FunctionUrlConfig> {
    return this.#json('PUT', `/2021-10-31/functions/${enc(name)}/url${qs({ Qualifier: qualifier })}`, settings);
  }

  async deleteFunctionUrlConfig(name: string, qualifier?: string): Promise<void> {
    await this.#request('DELETE', `/2021-10-31/functions/${enc(name)}/url${qs({ Qualifier: qualifier })}`);
  }

  // ---- Kindling routes (SAM Api/HttpApi events) ----
  async listRoutes(): Promise<RouteListing[]> {
    const out = await this.#json<{ Routes?: RouteListing[] }>('GET', '/kindling/v1/routes');
    return out.Routes ?? [];
  }

  putRoutes(name: string, routes: readonly Route[]): Promise<{ Routes?: RouteListing[] }> {
    return this.#json('PUT', `/kindling/v1/routes/${enc(name)}`, { Routes: routes });
  }

  async deleteRoutes(name: string): Promise<void> {
    await this.#request('DELETE', `/kindling/v1/routes/${enc(name)}`);
  }

  // ---- Kindling logs ----
  getLogs(name: string, options: { startTime?: number; endTime?: number; limit?: number; nextToken?: string } = {}): Promise<LogPage> {
    return this.#json('GET', `/kindling/v1/logs/${enc(name)}${qs(options)}`);
  }
}
