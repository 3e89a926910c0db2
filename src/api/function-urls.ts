/**
 * The HTTP front door: the second listener of the platform, serving
 * function URLs (http://<url-id>.lambda-url.<region>.localhost:<port>/) and
 * the HTTP routes of SAM `Api`/`HttpApi` events. It turns each request into
 * the event Lambda sends (http-events.ts), invokes the function through the
 * same invoker as the Lambda API (the Front End Invoke: counting, warm
 * sandboxes and limits apply), and turns the result into the response.
 *
 * Routing is by the Host header's first label: a url-id of a function URL
 * goes to that URL; any other host name is matched against the routes.
 * Holds no state.
 */
import { randomUUID } from 'node:crypto';
import { createServer } from 'node:http';
import type { IncomingMessage, Server, ServerResponse } from 'node:http';
import type { InvokeResponse } from '../frontend/types.js';
import { LambdaError } from '../shared/errors.js';
import { readCappedBodyAsync } from '../shared/http.js';
import type { FunctionUrlCors, FunctionUrlRecord, HttpRouteRecord } from '../store/http-endpoints.js';
import { toWireError } from './errors.js';
import type { ApiLogger } from './errors.js';
import { BadFunctionResponse, functionUrlEvent, httpApiEvent, mapV1Response, mapV2Response, matchRoute, restApiEvent } from './http-events.js';
import type { HttpRequestInfo, HttpResponse } from './http-events.js';
import type { ApiInvoker } from './server.js';

/** What the front door reads of the endpoints (control/function-urls.ts implements it). */
export interface FrontDoorDirectory {
  urlById(urlId: string): FunctionUrlRecord | undefined;
  routes(): readonly HttpRouteRecord[];
}

export interface FrontDoorDeps {
  readonly directory: FrontDoorDirectory;
  readonly invoker: ApiInvoker;
  /** requestContext.accountId of route events. */
  readonly accountId: string;
  readonly logger?: ApiLogger;
  /** Epoch ms now. Default Date.now. */
  readonly now?: () => number;
}

/** Function URLs take requests of up to 6 MB, as synchronous invokes ("Lambda quotas": invocation payload). */
export const MAX_URL_REQUEST = 6_291_456;

/** requestContext.apiId of route events: the platform's routes are one API. */
const ROUTES_API_ID = 'kindling';
const URL_HOST = /^([a-z0-9]{32})\.lambda-url\./;
/** Real URLs' answer for a url-id that names no URL (LS-A test_lambda_url_non_existing_url). */
const NO_SUCH_URL = '{"Message":null}';
/** Real URLs' answer once the alias of a URL is gone (LS-A test_lambda_url_persists_after_alias_delete). */
const FORBIDDEN =
  '{"Message":"Forbidden. For troubleshooting Function URL authorization issues, see: https://docs.aws.amazon.com/lambda/latest/dg/urls-auth.html"}';

function json(statusCode: number, body: string, extra: Record<string, string> = {}): HttpResponse {
  return { statusCode, headers: { 'Content-Type': 'application/json', ...extra }, body: Buffer.from(body) };
}

/** The request handler of the front door. Never rejects; no input crashes it. */
export class FrontDoor {
  readonly #directory: FrontDoorDirectory;
  readonly #invoker: ApiInvoker;
  readonly #accountId: string;
  readonly #logger: ApiLogger | undefined;
  readonly #now: () => number;

  constructor(deps: FrontDoorDeps) {
    this.#directory = deps.directory;
    this.#invoker = deps.invoker;
    this.#accountId = deps.accountId;
    this.#logger = deps.logger;
    this.#now = deps.now ?? Date.now;
  }

  handle = (req: IncomingMessage, res: ServerResponse): void => {
    const requestId = randomUUID();
    this.#serve(req, requestId).then(
      (out) => write(res, requestId, out),
      (err: unknown) => {
        if (!req.readableEnded) req.resume();
        const wire = toWireError(err, this.#logger);
        write(res, requestId, json(wire.status, wire.body, { 'x-amzn-ErrorType': wire.code }));
      },
    );
  };

  async #serve(req: IncomingMessage, requestId: string): Promise<HttpResponse> {
    const timeEpoch = this.#now();
    const hostHeader = req.headers.host ?? '';
    const host = hostHeader.toLowerCase().replace(/:\d+$/, '');
    const firstLabel = host.split('.')[0] ?? '';
    const url = this.#directory.urlById(firstLabel);
    const body = await readCappedBodyAsync(req, MAX_URL_REQUEST);
    if (body === undefined) throw new LambdaError('RequestEntityTooLargeException', `Request must be smaller than ${MAX_URL_REQUEST} bytes for the InvokeFunction operation`);
    const target = req.url ?? '/';
    const q = target.indexOf('?');
    const info: HttpRequestInfo = {
      method: req.method ?? 'GET',
      rawPath: q < 0 ? target : target.slice(0, q),
      rawQueryString: q < 0 ? '' : target.slice(q + 1),
      rawHeaders: req.rawHeaders,
      body,
      sourceIp: (req.socket.remoteAddress ?? '').replace(/^::ffff:/, ''),
      protocol: `HTTP/${req.httpVersion}`,
      requestId,
      timeEpoch,
      ...(req.socket.localPort !== undefined ? { localPort: req.socket.localPort } : {}),
    };
    if (url) return this.#functionUrl(url, info);
    if (URL_HOST.test(host)) return json(403, NO_SUCH_URL, { 'x-amzn-ErrorType': 'AccessDeniedException' });
    return this.#route(info);
  }

  async #functionUrl(url: FunctionUrlRecord, req: HttpRequestInfo): Promise<HttpResponse> {
    const origin = headerOf(req, 'origin');
    const cors = url.cors;
    if (cors && req.method === 'OPTIONS' && origin !== undefined && headerOf(req, 'access-control-request-method') !== undefined) {
      // A CORS preflight: Lambda answers it from the URL's Cors config, without invoking the function.
      return { statusCode: 200, headers: preflightHeaders(cors, origin, req), body: Buffer.alloc(0) };
    }
    let out: InvokeResponse;
    try {
      out = await this.#invoke(url.functionName, url.qualifier, functionUrlEvent(req, { urlId: url.urlId }), req.requestId);
    } catch (err) {
      // The URL's alias (or function) is gone: Lambda answers 403 (LS-A invoke_deleted_alias_url_response_delayed).
      if (err instanceof LambdaError && err.code === 'ResourceNotFoundException') return json(403, FORBIDDEN, { 'x-amzn-ErrorType': 'AccessDeniedException' });
      throw err;
    }
    let response: HttpResponse;
    // An error of the function (thrown, timed out, crashed): "Internal Server Error", 502 (LS-A test_lambda_url_invocation_exception).
    if (out.functionError !== undefined) response = { statusCode: 502, headers: { 'Content-Type': 'application/json' }, body: Buffer.from('Internal Server Error') };
    else {
      try {
        response = mapV2Response(out.payload);
      } catch (err) {
        if (!(err instanceof BadFunctionResponse)) throw err;
        response = { statusCode: 502, headers: { 'Content-Type': 'application/json' }, body: Buffer.from('Internal Server Error') };
      }
    }
    if (cors && origin !== undefined) applyCors(response.headers, cors, origin);
    return response;
  }

  async #route(req: HttpRequestInfo): Promise<HttpResponse> {
    const match = matchRoute(this.#directory.routes(), req.method, req.rawPath);
    // API Gateway's answer for a request no route matches.
    if (!match) return json(404, '{"message":"Not Found"}');
    const { route, pathParameters } = match;
    const v1 = route.payloadFormatVersion === '1.0';
    const ctx = { resource: route.path, method: route.method, pathParameters, accountId: this.#accountId, apiId: ROUTES_API_ID };
    const event = v1 ? restApiEvent(req, ctx) : httpApiEvent(req, ctx);
    // API Gateway's answers when the integration fails: REST APIs 502 "Internal server error", HTTP APIs 500 "Internal Server Error".
    const failed = v1 ? json(502, '{"message": "Internal server error"}') : json(500, '{"message":"Internal Server Error"}');
    let out: InvokeResponse;
    try {
      // A route of a SAM function with AutoPublishAlias invokes the alias (its integration URI names the alias ARN).
      out = await this.#invoke(route.functionName, route.qualifier, event, req.requestId);
    } catch (err) {
      if (err instanceof LambdaError && err.code === 'TooManyRequestsException') return json(429, '{"message":"Too Many Requests"}');
      // The integration's target is gone (the route's alias was deleted): a configuration error, which
      // API Gateway answers 500 for both kinds of API ("Execution failed due to configuration error";
      // AWS re:Post knowledge center, api-gateway-internal-server-error: REST APIs {"message": "Internal server error"}).
      if (err instanceof LambdaError && err.code === 'ResourceNotFoundException') {
        return v1 ? json(500, '{"message": "Internal server error"}') : json(500, '{"message":"Internal Server Error"}');
      }
      if (err instanceof LambdaError) return failed;
      throw err;
    }
    if (out.functionError !== undefined) return failed;
    try {
      return v1 ? mapV1Response(out.payload) : mapV2Response(out.payload);
    } catch (err) {
      if (err instanceof BadFunctionResponse) return failed;
      throw err;
    }
  }

  #invoke(functionName: string, qualifier: string | undefined, event: Record<string, unknown>, requestId: string): Promise<InvokeResponse> {
    return this.#invoker.invoke({
      requestId,
      functionName,
      qualifier,
      invocationType: 'RequestResponse',
      logType: 'None',
      clientContext: undefined,
      payload: Buffer.from(JSON.stringify(event)),
    });
  }
}

function headerOf(req: HttpRequestInfo, name: string): string | undefined {
  for (let i = 0; i + 1 < req.rawHeaders.length; i += 2) if (req.rawHeaders[i]!.toLowerCase() === name) return req.rawHeaders[i + 1]!;
  return undefined;
}

/** The value of Access-Control-Allow-Origin for this origin, or undefined when the config does not allow it. */
function allowedOrigin(cors: FunctionUrlCors, origin: string): string | undefined {
  const origins = cors.AllowOrigins ?? [];
  if (origins.some((o) => o.toLowerCase() === origin.toLowerCase())) return origin;
  if (origins.includes('*')) return cors.AllowCredentials === true ? origin : '*';
  return undefined;
}

/** CORS headers of an actual request from an allowed origin; the URL's config replaces any the function set. */
function applyCors(headers: Record<string, string | string[]>, cors: FunctionUrlCors, origin: string): void {
  for (const k of Object.keys(headers)) if (k.toLowerCase().startsWith('access-control-')) delete headers[k];
  const allow = allowedOrigin(cors, origin);
  headers['Vary'] = 'Origin';
  if (allow === undefined) return;
  headers['Access-Control-Allow-Origin'] = allow;
  if (cors.AllowCredentials === true) headers['Access-Control-Allow-Credentials'] = 'true';
  if (cors.ExposeHeaders?.length) headers['Access-Control-Expose-Headers'] = cors.ExposeHeaders.join(',');
}

function preflightHeaders(cors: FunctionUrlCors, origin: string, req: HttpRequestInfo): Record<string, string> {
  const headers: Record<string, string> = { Vary: 'Origin' };
  const allow = allowedOrigin(cors, origin);
  const method = (headerOf(req, 'access-control-request-method') ?? '').toUpperCase();
  const methods = (cors.AllowMethods ?? []).map((m) => m.toUpperCase());
  if (allow === undefined || !(methods.includes('*') || methods.includes(method))) return headers;
  headers['Access-Control-Allow-Origin'] = allow;
  headers['Access-Control-Allow-Methods'] = methods.includes('*') ? method : methods.join(',');
  const requested = headerOf(req, 'access-control-request-headers');
  const allowHeaders = cors.AllowHeaders ?? [];
  if (allowHeaders.includes('*')) {
    if (requested !== undefined) headers['Access-Control-Allow-Headers'] = requested;
  } else if (allowHeaders.length > 0) headers['Access-Control-Allow-Headers'] = allowHeaders.join(',');
  if (cors.AllowCredentials === true) headers['Access-Control-Allow-Credentials'] = 'true';
  if (cors.ExposeHeaders?.length) headers['Access-Control-Expose-Headers'] = cors.ExposeHeaders.join(',');
  if (cors.MaxAge !== undefined) headers['Access-Control-Max-Age'] = String(cors.MaxAge);
  return headers;
}

const FRAMING_HEADERS = new Set(['content-length', 'transfer-encoding', 'connection', 'keep-alive', 'x-amzn-requestid']);

function write(res: ServerResponse, requestId: string, out: HttpResponse): void {
  if (res.headersSent) {
    res.destroy();
    return;
  }
  const headers: Record<string, string | string[] | number> = {};
  for (const [k, v] of Object.entries(out.headers)) {
    // The front door frames the response itself: a function's own framing headers would contradict it.
    if (FRAMING_HEADERS.has(k.toLowerCase())) continue;
    // Header values a function returned may hold characters HTTP forbids: those are dropped, not sent.
    const values = (Array.isArray(v) ? v : [v]).filter((x) => !/[\r\n\0]/.test(x));
    if (/^[!#$%&'*+.^_`|~0-9A-Za-z-]+$/.test(k) && values.length > 0) headers[k] = values.length === 1 ? values[0]! : values;
  }
  headers['x-amzn-RequestId'] = requestId;
  headers['Content-Length'] = out.body.length;
  try {
    res.writeHead(out.statusCode, headers);
  } catch {
    // A header value node refuses (e.g. non-Latin-1): answer as a function error would.
    res.writeHead(502, { 'x-amzn-RequestId': requestId, 'Content-Type': 'application/json', 'Content-Length': 21 });
    res.end('Internal Server Error');
    return;
  }
  res.end(out.body);
}

/** Creates the front door's server (not listening yet). */
export function createFrontDoorServer(deps: FrontDoorDeps): Server {
  const door = new FrontDoor(deps);
  const server = createServer({ keepAlive: true }, door.handle);
  server.on('clientError', (err: NodeJS.ErrnoException, socket) => {
    if (socket.writable && err.code !== 'ECONNRESET') socket.end('HTTP/1.1 400 Bad Request\r\nConnection: close\r\nContent-Length: 0\r\n\r\n');
    else socket.destroy();
  });
  return server;
}
