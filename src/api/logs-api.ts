/**
 * Function logs over HTTP, on the Lambda API's listener (Kindling's own
 * API; `kindling logs` reads it). Field names are CloudWatch Logs'
 * (FilterLogEvents, DescribeLogStreams), so they read as they do on AWS:
 *
 *   GET /kindling/v1/logs/{FunctionName}?startTime=&endTime=&limit=&nextToken=&logStreamName=
 *       → {"logGroupName":"/aws/lambda/NAME","events":[{"logStreamName","timestamp","message","ingestionTime"}],"nextToken"}
 *   GET /kindling/v1/logs/{FunctionName}/streams
 *       → {"logGroupName","logStreams":[{"logStreamName","creationTime","firstEventTimestamp","lastEventTimestamp","storedBytes"}]}
 *
 * startTime/endTime: epoch ms, endTime exclusive; limit 1..10000 (default
 * 1000). Events come in timestamp order, one per line; nextToken is always
 * present: polling with it returns only newer events (follow).
 *
 * A function whose group does not exist (never invoked, or unknown) is
 * CloudWatch Logs' 404 ResourceNotFoundException "The specified log group
 * does not exist." (the wording the AWS SDKs' own cloudwatchlogs feature
 * test expects of GetLogEvents); an unknown logStreamName is "The specified
 * log stream does not exist.". The group of a deleted function stays, as
 * on Lambda (its log group outlives the function); retention removes it.
 */
import { randomUUID } from 'node:crypto';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { parseFunctionRef } from '../shared/arn.js';
import type { Partition } from '../shared/arn.js';
import { LambdaError } from '../shared/errors.js';
import { decodePathSegment, replyJson } from '../shared/http.js';
import { InvalidTokenError, LogStreamNotFoundError, functionLogGroup } from '../store/log-store.js';
import type { LogReader } from '../store/log-store.js';
import { writeError } from './errors.js';
import type { ApiLogger } from './errors.js';

export const LOGS_PATH = '/kindling/v1/logs';
export const DEFAULT_LOG_LIMIT = 1000;
export const MAX_LOG_LIMIT = 10_000;

export interface LogsApiOptions {
  readonly logs: LogReader;
  readonly partition: Partition;
  readonly logger?: ApiLogger;
}

/** "1 validation error detected: ..." as CloudWatch Logs' front door words a bad member. */
function invalid(value: string, field: string, constraint: string): LambdaError {
  return new LambdaError('ValidationException', `1 validation error detected: Value '${value}' at '${field}' failed to satisfy constraint: ${constraint}`);
}

/** A non-negative integer query parameter (epoch ms, limit), or undefined when absent. */
function intParam(q: URLSearchParams, field: string, min: number, max: number): number | undefined {
  const raw = q.get(field);
  if (raw === null) return undefined;
  if (!/^-?\d{1,16}$/.test(raw)) throw invalid(raw, field, 'Member must be an integer');
  const n = Number(raw);
  if (n < min) throw invalid(raw, field, `Member must have value greater than or equal to ${min}`);
  if (n > max) throw invalid(raw, field, `Member must have value less than or equal to ${max}`);
  return n;
}

export class LogsApi {
  readonly #o: LogsApiOptions;

  constructor(options: LogsApiOptions) {
    this.#o = options;
  }

  /** True when the request is the logs API's; it is then answered. */
  handle(req: IncomingMessage, res: ServerResponse): boolean {
    const url = req.url ?? '';
    if (!url.startsWith(`${LOGS_PATH}/`)) return false;
    const requestId = randomUUID();
    try {
      this.#route(req, res, url);
    } catch (err) {
      writeError(res, requestId, err, this.#o.logger);
    }
    return true;
  }

  #route(req: IncomingMessage, res: ServerResponse, url: string): void {
    const q = url.indexOf('?');
    const path = q < 0 ? url : url.slice(0, q);
    const query = new URLSearchParams(q < 0 ? '' : url.slice(q + 1));
    const parts = path.slice(LOGS_PATH.length + 1).split('/');
    if (req.method !== 'GET' || parts.length > 2 || (parts.length === 2 && parts[1] !== 'streams') || parts[0] === '') {
      throw new LambdaError('UnknownOperationException', `No logs operation ${req.method ?? ''} ${path}`);
    }
    const ref = parseFunctionRef(decodePathSegment(parts[0]!), this.#o.partition, 'functionName');
    const logGroupName = functionLogGroup(ref.name);
    const notFound = (): LambdaError => new LambdaError('ResourceNotFoundException', 'The specified log group does not exist.');
    if (parts.length === 2) {
      const streams = this.#o.logs.streams(logGroupName);
      if (streams === undefined) throw notFound();
      return replyJson(res, 200, { logGroupName, logStreams: streams });
    }
    const startTime = intParam(query, 'startTime', 0, Number.MAX_SAFE_INTEGER);
    const endTime = intParam(query, 'endTime', 0, Number.MAX_SAFE_INTEGER);
    const limit = intParam(query, 'limit', 1, MAX_LOG_LIMIT) ?? DEFAULT_LOG_LIMIT;
    const nextToken = query.get('nextToken') ?? undefined;
    const logStreamName = query.get('logStreamName') ?? undefined;
    let page;
    try {
      page = this.#o.logs.read(logGroupName, {
        limit,
        ...(startTime !== undefined ? { startTime } : {}),
        ...(endTime !== undefined ? { endTime } : {}),
        ...(nextToken !== undefined ? { nextToken } : {}),
        ...(logStreamName !== undefined ? { logStreamName } : {}),
      });
    } catch (err) {
      if (err instanceof InvalidTokenError) throw new LambdaError('InvalidParameterException', err.message);
      if (err instanceof LogStreamNotFoundError) throw new LambdaError('ResourceNotFoundException', err.message);
      throw err;
    }
    if (page === undefined) throw notFound();
    replyJson(res, 200, { logGroupName, events: page.events, nextToken: page.nextToken });
  }
}
