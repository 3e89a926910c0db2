import type { ServerResponse } from 'node:http';
import { ERRORS, LambdaError } from '../shared/errors.js';

/** Where the API reports errors that are not the caller's fault. */
export interface ApiLogger {
  error(message: string, err?: unknown): void;
}

/** Lambda's text for a ServiceException (500). */
const SERVICE_EXCEPTION_MESSAGE = 'An internal error occurred in the Lambda service. Try again.';

/** The wire form of an error: status, x-amzn-ErrorType, JSON body. */
export interface WireError {
  readonly status: number;
  readonly code: string;
  readonly body: string;
}

/**
 * THE mapping of any error to AWS's wire shape (the only one in Kindling).
 * A LambdaError answers with its row of the error table: status, header
 * `x-amzn-ErrorType: <code>`, body {"Type": ..., "message"|"Message": ..., ...fields}.
 * Anything else is a bug or an outage: 500 ServiceException, logged, details
 * never leaked to the caller.
 */
export function toWireError(err: unknown, logger: ApiLogger | undefined): WireError {
  if (err instanceof LambdaError) {
    const row = ERRORS[err.code];
    const body: Record<string, unknown> = {};
    if (row.type !== undefined) body['Type'] = row.type;
    body[row.messageField] = err.message;
    Object.assign(body, err.fields);
    return { status: row.status, code: err.code, body: JSON.stringify(body) };
  }
  logger?.error('kindling api: internal error', err);
  const row = ERRORS.ServiceException;
  return {
    status: row.status,
    code: 'ServiceException',
    body: JSON.stringify({ Type: row.type, [row.messageField]: SERVICE_EXCEPTION_MESSAGE }),
  };
}

/** Writes an error response (if the response is still open). */
export function writeError(res: ServerResponse, requestId: string, err: unknown, logger: ApiLogger | undefined): void {
  const wire = toWireError(err, logger);
  if (res.headersSent) {
    // Too late for a status: cut the connection so the client sees a failure, not a truncated success.
    res.destroy();
    return;
  }
  res.writeHead(wire.status, {
    'x-amzn-RequestId': requestId,
    'x-amzn-ErrorType': wire.code,
    'Content-Type': 'application/json',
    'Content-Length': Buffer.byteLength(wire.body),
  });
  res.end(wire.body);
}
