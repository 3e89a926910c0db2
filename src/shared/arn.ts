import { LambdaError } from './errors.js';

/** Where this platform says its functions live: the region and account in every ARN. */
export interface Partition {
  readonly region: string;
  readonly accountId: string;
}

export const DEFAULT_ACCOUNT_ID = '000000000000';

/** A function named in a request: by name, name:qualifier, partial ARN or full ARN. */
export interface FunctionRef {
  readonly name: string;
  readonly qualifier: string | undefined;
}

// Lambda's FunctionName pattern (botocore lambda 2015-03-31, NamespacedFunctionName):
// (arn:(aws[a-zA-Z-]*)?:lambda:)?([a-z]{2}(-gov)?-[a-z]+-\d{1}:)?(\d{12}:)?(function:)?([a-zA-Z0-9-_\.]+)(:(\$LATEST|[a-zA-Z0-9-_]+))?
const FUNCTION_REF =
  /^(?:arn:(?:aws[a-zA-Z-]*)?:lambda:)?(?:([a-z]{2}(?:-gov)?-[a-z]+-\d{1}):)?(?:(\d{12}):)?(?:function:)?([a-zA-Z0-9\-_.]+)(?::(\$LATEST|[a-zA-Z0-9\-_]+))?$/;
export const FUNCTION_NAME_PATTERN = '(arn:(aws[a-zA-Z-]*)?:lambda:)?([a-z]{2}(-gov)?-[a-z]+-\\d{1}:)?(\\d{12}:)?(function:)?([a-zA-Z0-9-_\\.]+)(:(\\$LATEST|[a-zA-Z0-9-_]+))?';

/**
 * Parses the {FunctionName} of a request (already URL-decoded). Throws
 * ValidationException in Lambda's words when it does not match Lambda's
 * pattern, and ResourceNotFoundException when the ARN names another region
 * or account (nothing of this platform lives there).
 */
export function parseFunctionRef(raw: string, partition: Partition, field = 'functionName'): FunctionRef {
  const m = FUNCTION_REF.exec(raw);
  if (!m || raw.length > 140) {
    const constraint =
      raw.length > 140
        ? 'Member must have length less than or equal to 140'
        : `Member must satisfy regular expression pattern: ${FUNCTION_NAME_PATTERN}`;
    throw new LambdaError(
      'ValidationException',
      `1 validation error detected: Value '${raw}' at '${field}' failed to satisfy constraint: ${constraint}`,
    );
  }
  const [, region, account, name, qualifier] = m;
  const ref = { name: name!, qualifier };
  if ((region !== undefined && region !== partition.region) || (account !== undefined && account !== partition.accountId)) {
    throw new LambdaError('ResourceNotFoundException', `Function not found: ${functionArn(partition, ref.name, ref.qualifier)}`);
  }
  if (ref.name.length > 64) {
    throw new LambdaError(
      'ValidationException',
      `1 validation error detected: Value '${raw}' at '${field}' failed to satisfy constraint: Member must have length less than or equal to 64`,
    );
  }
  return ref;
}

/** arn:aws:lambda:REGION:ACCOUNT:function:NAME[:QUALIFIER] */
export function functionArn(partition: Partition, name: string, qualifier?: string): string {
  const base = `arn:aws:lambda:${partition.region}:${partition.accountId}:function:${name}`;
  return qualifier === undefined ? base : `${base}:${qualifier}`;
}
