/**
 * The one table of errors Kindling answers with. Every component throws a
 * LambdaError naming a row of this table; api/ turns it into AWS's wire shape
 * in one place (api/errors.ts). Codes, statuses and body fields are Lambda's:
 * clients (the AWS SDKs, the CLI) and people match on them.
 *
 * Wire shape: header `x-amzn-ErrorType: <code>` and a JSON body. Lambda's own
 * errors carry `"Type": "User"` (or `"Service"`); ResourceNotFoundException and
 * ServiceException spell the text `Message`, the others `message`; the
 * ValidationException of the AWS front door has no Type.
 */
export const ERRORS = {
  ResourceNotFoundException: { status: 404, type: 'User', messageField: 'Message' },
  ResourceConflictException: { status: 409, type: 'User', messageField: 'message' },
  ResourceNotReadyException: { status: 502, type: 'User', messageField: 'message' },
  InvalidParameterValueException: { status: 400, type: 'User', messageField: 'message' },
  InvalidRequestContentException: { status: 400, type: 'User', messageField: 'message' },
  RequestEntityTooLargeException: { status: 413, type: 'User', messageField: 'message' },
  PreconditionFailedException: { status: 412, type: 'User', messageField: 'message' },
  TooManyRequestsException: { status: 429, type: 'User', messageField: 'message' },
  ValidationException: { status: 400, type: undefined, messageField: 'message' },
  SerializationException: { status: 400, type: undefined, messageField: 'Message' },
  UnknownOperationException: { status: 404, type: undefined, messageField: 'message' },
  UnsupportedMediaTypeException: { status: 415, type: 'User', messageField: 'message' },
  ServiceException: { status: 500, type: 'Service', messageField: 'Message' },
  // CloudWatch Logs' (the logs API, api/logs-api.ts): no Type.
  InvalidParameterException: { status: 400, type: undefined, messageField: 'message' },
} as const satisfies Record<string, { status: number; type: 'User' | 'Service' | undefined; messageField: 'message' | 'Message' }>;

export type ErrorCode = keyof typeof ERRORS;

/** An error with a row in ERRORS; `fields` are extra body fields (e.g. Reason for 429). */
export class LambdaError extends Error {
  readonly code: ErrorCode;
  readonly fields: Readonly<Record<string, string | number>>;

  constructor(code: ErrorCode, message: string, fields: Record<string, string | number> = {}) {
    super(message);
    this.name = code;
    this.code = code;
    this.fields = fields;
  }

  get status(): number {
    return ERRORS[this.code].status;
  }
}

/** "Function not found: <arn>", Lambda's 404 for a function or a qualifier that does not exist. */
export function functionNotFound(arn: string): LambdaError {
  return new LambdaError('ResourceNotFoundException', `Function not found: ${arn}`);
}
