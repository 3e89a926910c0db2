/**
 * HTTP requests as Lambda events, and Lambda results as HTTP responses, the
 * way function URLs and API Gateway do it. Pure functions: the front door
 * (function-urls.ts) reads the request and writes the response.
 *
 * Sources: "Invoking Lambda function URLs" (Lambda developer guide: request
 * and response payloads), "Working with AWS Lambda proxy integrations for
 * HTTP APIs" (API Gateway developer guide: payload format versions 1.0 and
 * 2.0, response inference), "Set up Lambda proxy integrations in API
 * Gateway" (REST API input and output format), and the behaviour of real
 * function URLs that localstack recorded (tests/aws/services/lambda_/
 * test_lambda.snapshot.json, TestLambdaURL; cited as LS-A).
 */

/** What the front door read of one request. */
export interface HttpRequestInfo {
  readonly method: string;
  /** The path as received, still percent-encoded. */
  readonly rawPath: string;
  /** After the '?', '' when none. */
  readonly rawQueryString: string;
  /** Node's rawHeaders: name, value, name, value, ... in the order received. */
  readonly rawHeaders: readonly string[];
  readonly body: Buffer;
  readonly sourceIp: string;
  /** 'HTTP/1.1' */
  readonly protocol: string;
  readonly requestId: string;
  /** Epoch ms the request arrived. */
  readonly timeEpoch: number;
  /** The front door's port (x-forwarded-port). */
  readonly localPort?: number;
}

/** An HTTP response to write. Header values in arrays are sent as repeated headers. */
export interface HttpResponse {
  readonly statusCode: number;
  readonly headers: Record<string, string | string[]>;
  readonly body: Buffer;
}

// ---------------------------------------------------------------- request pieces

/**
 * The headers the AWS front end adds to what the client sent (as in the
 * documented example events): x-forwarded-for (the client's address
 * appended), x-forwarded-proto, x-forwarded-port, x-amzn-trace-id (X-Ray's
 * "Root=1-<epoch seconds hex>-<24 hex>", here from the request id).
 */
function withForwarding(rawHeaders: readonly string[], req: HttpRequestInfo): string[] {
  const out: string[] = [];
  let forwardedFor: string | undefined;
  for (let i = 0; i + 1 < rawHeaders.length; i += 2) {
    const name = rawHeaders[i]!.toLowerCase();
    if (name === 'x-forwarded-for') forwardedFor = forwardedFor === undefined ? rawHeaders[i + 1]! : `${forwardedFor}, ${rawHeaders[i + 1]!}`;
    else if (name !== 'x-forwarded-proto' && name !== 'x-forwarded-port' && name !== 'x-amzn-trace-id') out.push(rawHeaders[i]!, rawHeaders[i + 1]!);
  }
  const hex = req.requestId.replace(/-/g, '').padEnd(24, '0').slice(0, 24);
  out.push('X-Amzn-Trace-Id', `Root=1-${Math.floor(req.timeEpoch / 1000).toString(16).padStart(8, '0')}-${hex}`);
  out.push('X-Forwarded-For', forwardedFor === undefined ? req.sourceIp : `${forwardedFor}, ${req.sourceIp}`);
  if (req.localPort !== undefined) out.push('X-Forwarded-Port', String(req.localPort));
  out.push('X-Forwarded-Proto', 'http');
  return out;
}

/** Header names lower-cased, repeated headers joined with commas (payload 2.0: "Duplicate headers are combined with commas"). */
function joinedHeaders(rawHeaders: readonly string[], skipCookie: boolean): Record<string, string> {
  const out: Record<string, string> = {};
  for (let i = 0; i + 1 < rawHeaders.length; i += 2) {
    const name = rawHeaders[i]!.toLowerCase();
    if (skipCookie && name === 'cookie') continue;
    const value = rawHeaders[i + 1]!;
    out[name] = out[name] === undefined ? value : `${out[name]},${value}`;
  }
  return out;
}

function header(rawHeaders: readonly string[], name: string): string | undefined {
  let found: string | undefined;
  for (let i = 0; i + 1 < rawHeaders.length; i += 2) {
    if (rawHeaders[i]!.toLowerCase() === name) found = found === undefined ? rawHeaders[i + 1]! : `${found},${rawHeaders[i + 1]!}`;
  }
  return found;
}

/** Payload 2.0 `cookies`: every cookie of the Cookie header(s), as sent ("name=value"). */
function cookiesOf(rawHeaders: readonly string[]): string[] {
  const out: string[] = [];
  for (let i = 0; i + 1 < rawHeaders.length; i += 2) {
    if (rawHeaders[i]!.toLowerCase() !== 'cookie') continue;
    for (const c of rawHeaders[i + 1]!.split(';')) {
      const t = c.trim();
      if (t !== '') out.push(t);
    }
  }
  return out;
}

function decode(s: string): string {
  try {
    return decodeURIComponent(s.replace(/\+/g, ' '));
  } catch {
    return s;
  }
}

/** name → every value, decoded, in order. */
function queryValues(rawQueryString: string): Map<string, string[]> {
  const out = new Map<string, string[]>();
  if (rawQueryString === '') return out;
  for (const part of rawQueryString.split('&')) {
    if (part === '') continue;
    const eq = part.indexOf('=');
    const name = decode(eq < 0 ? part : part.slice(0, eq));
    const value = eq < 0 ? '' : decode(part.slice(eq + 1));
    const list = out.get(name);
    if (list) list.push(value);
    else out.set(name, [value]);
  }
  return out;
}

/**
 * Whether a body goes to the function as text or base64. Function URLs
 * base64-encode "binary" bodies; real URLs passed text/plain as text and
 * multipart/form-data as base64 (LS-A test_lambda_url_echo_invoke,
 * test_lambda_url_form_payload). Text here: text/*, and JSON, XML and
 * JavaScript types (+json, +xml included), and only when the bytes are UTF-8.
 */
export function isTextBody(contentType: string | undefined, body: Buffer): boolean {
  if (contentType === undefined) return false;
  const type = contentType.split(';')[0]!.trim().toLowerCase();
  const textual = type.startsWith('text/') || /(^|[/+.-])(json|xml|javascript)($|[+.;-])/.test(type) || type === 'application/x-www-form-urlencoded';
  return textual && Buffer.from(body.toString('utf8'), 'utf8').equals(body);
}

function bodyFields(req: HttpRequestInfo): { body?: string; isBase64Encoded: boolean } {
  if (req.body.length === 0) return { isBase64Encoded: false };
  if (isTextBody(header(req.rawHeaders, 'content-type'), req.body)) return { body: req.body.toString('utf8'), isBase64Encoded: false };
  return { body: req.body.toString('base64'), isBase64Encoded: true };
}

/** "12/Mar/2020:19:03:58 +0000", the `time` of payload 2.0 and `requestTime` of 1.0. */
export function clfTime(ms: number): string {
  const d = new Date(ms);
  const months = ['Jan', 'Feb', 'Mar', 'Apr', 'May', 'Jun', 'Jul', 'Aug', 'Sep', 'Oct', 'Nov', 'Dec'];
  const p = (n: number): string => String(n).padStart(2, '0');
  return `${p(d.getUTCDate())}/${months[d.getUTCMonth()]}/${d.getUTCFullYear()}:${p(d.getUTCHours())}:${p(d.getUTCMinutes())}:${p(d.getUTCSeconds())} +0000`;
}

function hostOf(req: HttpRequestInfo): string {
  return (header(req.rawHeaders, 'host') ?? '').split(',')[0]!.trim();
}

// ---------------------------------------------------------------- events

export interface UrlEventContext {
  /** The url-id: requestContext.apiId and domainPrefix. */
  readonly urlId: string;
}

/**
 * The event of a function URL: API Gateway's payload format 2.0, with
 * routeKey and stage "$default", accountId "anonymous" (AuthType NONE) and
 * no pathParameters or stageVariables ("Lambda sets this to null or
 * excludes this from the JSON"). body is absent when the request has none.
 */
export function functionUrlEvent(req: HttpRequestInfo, ctx: UrlEventContext): Record<string, unknown> {
  return payloadV2(req, { routeKey: '$default', accountId: 'anonymous', apiId: ctx.urlId, domainPrefix: ctx.urlId, pathParameters: undefined });
}

export interface RouteEventContext {
  /** The route as registered: "/items/{id}". */
  readonly resource: string;
  readonly method: string;
  readonly pathParameters: Readonly<Record<string, string>> | undefined;
  readonly accountId: string;
  readonly apiId: string;
}

/** The event of an HttpApi route: payload format 2.0 with routeKey "GET /items/{id}" and pathParameters. */
export function httpApiEvent(req: HttpRequestInfo, ctx: RouteEventContext): Record<string, unknown> {
  const host = hostOf(req);
  return payloadV2(req, {
    routeKey: `${ctx.method} ${ctx.resource}`,
    accountId: ctx.accountId,
    apiId: ctx.apiId,
    domainPrefix: host.split('.')[0]!.split(':')[0]!,
    pathParameters: ctx.pathParameters,
  });
}

function payloadV2(
  req: HttpRequestInfo,
  o: { routeKey: string; accountId: string; apiId: string; domainPrefix: string; pathParameters: Readonly<Record<string, string>> | undefined },
): Record<string, unknown> {
  const cookies = cookiesOf(req.rawHeaders);
  const query = queryValues(req.rawQueryString);
  const event: Record<string, unknown> = {
    version: '2.0',
    routeKey: o.routeKey,
    rawPath: req.rawPath,
    rawQueryString: req.rawQueryString,
  };
  if (cookies.length > 0) event['cookies'] = cookies;
  event['headers'] = joinedHeaders(withForwarding(req.rawHeaders, req), true);
  // "Query parameters with multiple values are combined with commas."
  if (query.size > 0) event['queryStringParameters'] = Object.fromEntries([...query].map(([k, v]) => [k, v.join(',')]));
  event['requestContext'] = {
    accountId: o.accountId,
    apiId: o.apiId,
    domainName: hostOf(req).replace(/:\d+$/, ''),
    domainPrefix: o.domainPrefix,
    http: {
      method: req.method,
      path: req.rawPath,
      protocol: req.protocol,
      sourceIp: req.sourceIp,
      userAgent: header(req.rawHeaders, 'user-agent') ?? '',
    },
    requestId: req.requestId,
    routeKey: o.routeKey,
    stage: '$default',
    time: clfTime(req.timeEpoch),
    timeEpoch: req.timeEpoch,
  };
  if (o.pathParameters !== undefined && Object.keys(o.pathParameters).length > 0) event['pathParameters'] = { ...o.pathParameters };
  Object.assign(event, bodyFields(req));
  return event;
}

/**
 * The event of an Api (REST API) route: payload format 1.0, as API Gateway's
 * Lambda proxy integration and `sam local start-api` send it: single- and
 * multi-value headers and query strings, null where there are none.
 */
export function restApiEvent(req: HttpRequestInfo, ctx: RouteEventContext): Record<string, unknown> {
  const headers: Record<string, string> = {};
  const multiValueHeaders: Record<string, string[]> = {};
  const raw = withForwarding(req.rawHeaders, req);
  for (let i = 0; i + 1 < raw.length; i += 2) {
    const name = raw[i]!;
    const value = raw[i + 1]!;
    headers[name] = value;
    (multiValueHeaders[name] ??= []).push(value);
  }
  const query = queryValues(req.rawQueryString);
  const path = decodePath(req.rawPath);
  const { body, isBase64Encoded } = bodyFields(req);
  const host = hostOf(req);
  return {
    resource: ctx.resource,
    path,
    httpMethod: req.method,
    headers,
    multiValueHeaders,
    queryStringParameters: query.size > 0 ? Object.fromEntries([...query].map(([k, v]) => [k, v.at(-1)!])) : null,
    multiValueQueryStringParameters: query.size > 0 ? Object.fromEntries(query) : null,
    pathParameters: ctx.pathParameters !== undefined && Object.keys(ctx.pathParameters).length > 0 ? { ...ctx.pathParameters } : null,
    stageVariables: null,
    requestContext: {
      accountId: ctx.accountId,
      apiId: ctx.apiId,
      domainName: host.replace(/:\d+$/, ''),
      domainPrefix: host.split('.')[0]!.split(':')[0]!,
      extendedRequestId: req.requestId,
      httpMethod: req.method,
      identity: {
        accessKey: null,
        accountId: null,
        caller: null,
        cognitoAuthenticationProvider: null,
        cognitoAuthenticationType: null,
        cognitoIdentityId: null,
        cognitoIdentityPoolId: null,
        principalOrgId: null,
        sourceIp: req.sourceIp,
        user: null,
        userAgent: header(req.rawHeaders, 'user-agent') ?? '',
        userArn: null,
      },
      path,
      protocol: req.protocol,
      requestId: req.requestId,
      requestTime: clfTime(req.timeEpoch),
      requestTimeEpoch: req.timeEpoch,
      resourceId: ctx.apiId,
      resourcePath: ctx.resource,
      stage: 'Prod',
    },
    body: body ?? null,
    isBase64Encoded,
  };
}

function decodePath(rawPath: string): string {
  try {
    return decodeURIComponent(rawPath);
  } catch {
    return rawPath;
  }
}

// ---------------------------------------------------------------- responses

/** The result could not be mapped to a response: the caller answers with its service's error. */
export class BadFunctionResponse extends Error {}

function toStringValue(v: unknown): string {
  return typeof v === 'string' ? v : JSON.stringify(v);
}

function statusOf(v: unknown): number {
  // Real URLs accept "418" as well as 418 (LS-A test_lambda_url_headers_and_status).
  const n = typeof v === 'string' && /^\d+$/.test(v) ? Number(v) : v;
  if (typeof n !== 'number' || !Number.isInteger(n) || n < 100 || n > 599) throw new BadFunctionResponse(`statusCode ${JSON.stringify(v)} is not an HTTP status`);
  return n;
}

function addHeader(headers: Record<string, string | string[]>, name: string, value: string): void {
  // Names are matched case-insensitively: one entry per name.
  const key = Object.keys(headers).find((k) => k.toLowerCase() === name.toLowerCase()) ?? name;
  const current = headers[key];
  if (current === undefined) headers[key] = value;
  else headers[key] = Array.isArray(current) ? [...current, value] : [current, value];
}

function setHeader(headers: Record<string, string | string[]>, name: string, value: string): void {
  for (const k of Object.keys(headers)) if (k.toLowerCase() === name.toLowerCase()) delete headers[k];
  headers[name] = value;
}

function hasHeader(headers: Record<string, string | string[]>, name: string): boolean {
  return Object.keys(headers).some((k) => k.toLowerCase() === name.toLowerCase());
}

function structured(value: Record<string, unknown>, multiValue: boolean, cookies: boolean): HttpResponse {
  const statusCode = statusOf(value['statusCode']);
  const headers: Record<string, string | string[]> = {};
  const h = value['headers'];
  if (h !== undefined && h !== null) {
    if (typeof h !== 'object' || Array.isArray(h)) throw new BadFunctionResponse('headers is not an object');
    for (const [k, v] of Object.entries(h)) if (v !== null && v !== undefined) setHeader(headers, k, toStringValue(v));
  }
  const mv = value['multiValueHeaders'];
  if (multiValue && mv !== undefined && mv !== null) {
    if (typeof mv !== 'object' || Array.isArray(mv)) throw new BadFunctionResponse('multiValueHeaders is not an object');
    for (const [k, list] of Object.entries(mv)) {
      if (!Array.isArray(list)) throw new BadFunctionResponse(`multiValueHeaders.${k} is not a list`);
      // REST API: multiValueHeaders and headers are merged; headers' value comes first when both name a header.
      for (const v of list) if (!(hasHeader(headers, k) && headers[k] === toStringValue(v))) addHeader(headers, k, toStringValue(v));
    }
  }
  const c = value['cookies'];
  if (cookies && c !== undefined && c !== null) {
    if (!Array.isArray(c)) throw new BadFunctionResponse('cookies is not a list');
    for (const cookie of c) addHeader(headers, 'Set-Cookie', toStringValue(cookie));
  }
  const rawBody = value['body'];
  let body: Buffer;
  if (rawBody === undefined || rawBody === null) body = Buffer.alloc(0);
  else if (value['isBase64Encoded'] === true) {
    if (typeof rawBody !== 'string') throw new BadFunctionResponse('a base64 body is not a string');
    body = Buffer.from(rawBody, 'base64');
  } else body = Buffer.from(toStringValue(rawBody), 'utf8');
  if (!hasHeader(headers, 'content-type')) headers['Content-Type'] = 'application/json';
  return { statusCode, headers, body };
}

/**
 * Payload format 2.0 responses (function URLs and HttpApi routes): an object
 * with statusCode is a response (statusCode, headers, cookies as
 * Set-Cookie, body, isBase64Encoded); anything else is the body of a 200
 * application/json response — a string as it is, any other value as its
 * JSON (real URLs answered "hello" for "hello", {"hello":"world"} for a
 * dict: LS-A test_lambda_url_invocation[*]). Throws BadFunctionResponse for
 * a response object that is not one.
 */
export function mapV2Response(payload: Buffer): HttpResponse {
  let value: unknown;
  try {
    value = JSON.parse(payload.toString('utf8'));
  } catch {
    // The runtime always answers JSON; a custom runtime may not.
    return { statusCode: 200, headers: { 'Content-Type': 'application/json' }, body: payload };
  }
  if (value !== null && typeof value === 'object' && !Array.isArray(value) && 'statusCode' in value) {
    return structured(value, false, true);
  }
  const body = typeof value === 'string' ? value : JSON.stringify(value);
  return { statusCode: 200, headers: { 'Content-Type': 'application/json' }, body: Buffer.from(body, 'utf8') };
}

/**
 * Payload format 1.0 responses (Api routes): the proxy integration's output
 * format, {statusCode, headers, multiValueHeaders, body, isBase64Encoded};
 * anything else is a malformed proxy response (BadFunctionResponse).
 */
export function mapV1Response(payload: Buffer): HttpResponse {
  let value: unknown;
  try {
    value = JSON.parse(payload.toString('utf8'));
  } catch {
    throw new BadFunctionResponse('the result is not JSON');
  }
  if (value === null || typeof value !== 'object' || Array.isArray(value) || !('statusCode' in value)) {
    throw new BadFunctionResponse('the result has no statusCode');
  }
  return structured(value, true, false);
}

// ---------------------------------------------------------------- routes

export interface RouteLike {
  readonly method: string;
  readonly path: string;
}

/** Segment ranks: a literal is more specific than {param}, which is more specific than {proxy+}. */
function segmentRank(segment: string): number {
  if (/^\{\w+\+\}$/.test(segment)) return 2;
  if (/^\{\w+\}$/.test(segment)) return 1;
  return 0;
}

/**
 * The route that serves a request, most specific first: segment by segment
 * a literal before {param} before {proxy+}, then a route of the method
 * before ANY (API Gateway's route selection). Returns the path parameters,
 * decoded.
 */
export function matchRoute<R extends RouteLike>(
  routes: readonly R[],
  method: string,
  rawPath: string,
): { route: R; pathParameters: Record<string, string> } | undefined {
  const segments = rawPath === '/' ? [] : rawPath.replace(/^\//, '').split('/');
  let best: { route: R; pathParameters: Record<string, string>; key: number[] } | undefined;
  for (const route of routes) {
    if (route.method !== method && route.method !== 'ANY') continue;
    const pattern = route.path === '/' ? [] : route.path.slice(1).split('/');
    const params: Record<string, string> = {};
    const key: number[] = [];
    let ok = true;
    for (let i = 0; i < pattern.length && ok; i++) {
      const p = pattern[i]!;
      const rank = segmentRank(p);
      key.push(rank);
      if (rank === 2) {
        const rest = segments.slice(i);
        if (rest.length === 0 || rest.every((s) => s === '')) ok = false;
        else params[p.slice(1, -2)] = decodePath(rest.join('/'));
        break;
      }
      const s = segments[i];
      if (s === undefined || s === '') ok = false;
      else if (rank === 1) params[p.slice(1, -1)] = decodePath(s);
      else if (decodePath(s) !== p) ok = false;
      if (ok && i === pattern.length - 1 && segments.length > pattern.length) ok = false;
    }
    if (pattern.length === 0 && segments.length > 0) ok = false;
    if (!ok) continue;
    key.push(route.method === 'ANY' ? 1 : 0);
    if (!best || lexLess(key, best.key)) best = { route, pathParameters: params, key };
  }
  return best && { route: best.route, pathParameters: best.pathParameters };
}

function lexLess(a: readonly number[], b: readonly number[]): boolean {
  for (let i = 0; i < Math.max(a.length, b.length); i++) {
    const x = a[i] ?? -1;
    const y = b[i] ?? -1;
    if (x !== y) return x < y;
  }
  return false;
}
