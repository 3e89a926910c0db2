/**
 * PublishVersion's request and the comparison that decides whether $LATEST
 * changed since the last published version (the registry publishes; this
 * file holds what can be tested on its own).
 *
 * Lambda: "Lambda doesn't publish a version if the function's configuration
 * and code haven't changed since the last version" (PublishVersion API
 * reference); it answers the last version instead (LS-A
 * test_publish_version_on_create, repeated_publish_response: Version "1",
 * the same RevisionId).
 */
import { z } from 'zod';
import { DESCRIPTION_MAX, parseShape, Violations } from './validation.js';

export interface PublishVersionInput {
  /** Base64 SHA-256 that $LATEST's code must have, else the publish is refused. */
  readonly codeSha256: string | undefined;
  /** The version's Description; $LATEST's when not given. */
  readonly description: string | undefined;
  /** $LATEST's RevisionId the caller saw, else the publish is refused (412). */
  readonly revisionId: string | undefined;
}

const publishShape = z.looseObject({
  CodeSha256: z.string().nullish(),
  Description: z.string().nullish(),
  RevisionId: z.string().nullish(),
});

/** The PublishVersion body (botocore PublishVersionRequest: Description max 256). */
export function parsePublishVersion(body: unknown): PublishVersionInput {
  const b = parseShape(publishShape, body);
  const v = new Violations();
  if (b.Description != null && b.Description.length > DESCRIPTION_MAX) {
    v.add(b.Description, 'description', `Member must have length less than or equal to ${DESCRIPTION_MAX}`);
  }
  v.throwIfAny();
  return { codeSha256: b.CodeSha256 ?? undefined, description: b.Description ?? undefined, revisionId: b.RevisionId ?? undefined };
}

/**
 * JSON with object keys sorted at every level: two configurations that hold
 * the same values compare equal whatever order their members were set in.
 */
export function canonicalJson(value: unknown): string {
  return JSON.stringify(value, (_key, v: unknown) => {
    if (v === null || typeof v !== 'object' || Array.isArray(v)) return v;
    const o = v as Record<string, unknown>;
    return Object.fromEntries(Object.keys(o).sort().map((k) => [k, o[k]]));
  });
}
