/**
 * A function's tags (CreateFunction Tags, TagResource, UntagResource,
 * ListTags) and the one tag Kindling reads itself: `kindling:egress`, the
 * network egress of the function's sandboxes (shared/spec.ts Egress).
 *
 * Lambda tags the function, never a version or an alias: the tag operations
 * take the function's unqualified ARN, and every version runs with the
 * function's current tags.
 */
import { z } from 'zod';
import { LambdaError } from '../shared/errors.js';
import type { Egress } from '../shared/spec.js';

/** The tag that sets a function's network egress ('none' or 'internet'). */
export const EGRESS_TAG = 'kindling:egress';
const EGRESS_VALUES: readonly Egress[] = ['none', 'internet'];

/** Lambda's tag quota: 50 per function (AWS tagging docs; TagResource). */
export const MAX_TAGS = 50;
/**
 * AWS's tag limits: key 1..128 characters, value 0..256, no `aws:` prefix
 * (Lambda developer guide, "Using tags"). AWS's wording for breaking them is
 * not recorded anywhere we found: these messages are Kindling's.
 */
const KEY_MAX = 128;
const VALUE_MAX = 256;

export type Tags = Readonly<Record<string, string>>;

/**
 * Checks a set of tags as Lambda's tag rules do, plus the value of
 * `kindling:egress`. Throws InvalidParameterValueException naming the tag.
 */
export function checkTags(tags: Tags): void {
  const keys = Object.keys(tags);
  // The limit counts the merged total (LS-A recorded TestLambdaTags, wording AWS's).
  if (keys.length > MAX_TAGS) throw new LambdaError('InvalidParameterValueException', 'Number of tags exceeds resource tag limit.');
  for (const key of keys) {
    if (key.length < 1 || key.length > KEY_MAX) {
      throw new LambdaError('InvalidParameterValueException', `Tag key must be 1 to ${KEY_MAX} characters long: '${key}'.`);
    }
    if (key.toLowerCase().startsWith('aws:')) {
      throw new LambdaError('InvalidParameterValueException', `Tag keys starting with "aws:" are reserved for AWS use: '${key}'.`);
    }
    const value = tags[key]!;
    if (value.length > VALUE_MAX) {
      throw new LambdaError('InvalidParameterValueException', `Tag value of '${key}' must be at most ${VALUE_MAX} characters long.`);
    }
  }
  const egress = tags[EGRESS_TAG];
  if (egress !== undefined && !(EGRESS_VALUES as readonly string[]).includes(egress)) {
    throw new LambdaError(
      'InvalidParameterValueException',
      `Tag ${EGRESS_TAG} must be one of ${EGRESS_VALUES.join(', ')} (got '${egress}'): 'none' gives the function's sandboxes no network, 'internet' outbound access through NAT.`,
    );
  }
}

/** The egress a function's tags ask for, else the platform's default. */
export function egressOf(tags: Tags | undefined, platformDefault: Egress): Egress {
  const value = tags?.[EGRESS_TAG];
  return value === 'internet' || value === 'none' ? value : platformDefault;
}

const tagResourceShape = z.looseObject({ Tags: z.record(z.string(), z.string()).nullish() });

/** TagResource's body: {"Tags": {...}} (required). */
export function parseTagResource(body: unknown): Tags {
  const parsed = tagResourceShape.safeParse(body);
  if (!parsed.success || body === null || typeof body !== 'object' || Array.isArray(body)) {
    throw new LambdaError('SerializationException', 'Unexpected value type in payload');
  }
  if (parsed.data.Tags == null) {
    throw new LambdaError('ValidationException', "1 validation error detected: Value null at 'tags' failed to satisfy constraint: Member must not be null");
  }
  // An empty map: AWS's recorded answer (LS-A TestLambdaTag), vague as it is.
  if (Object.keys(parsed.data.Tags).length === 0) throw new LambdaError('InvalidParameterValueException', 'An error occurred and the request cannot be processed.');
  return parsed.data.Tags;
}

/** UntagResource's ?tagKeys= (required, repeated). */
export function checkUntagKeys(keys: readonly string[]): void {
  if (keys.length === 0) {
    throw new LambdaError('ValidationException', "1 validation error detected: Value null at 'tagKeys' failed to satisfy constraint: Member must not be null");
  }
}
