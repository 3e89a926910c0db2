/**
 * The ARNs the outcome of an asynchronous invoke can be sent to: the
 * destinations of an EventInvokeConfig (OnSuccess, OnFailure) and a
 * function's dead-letter target (DeadLetterConfig.TargetArn).
 *
 * Kindling delivers to two kinds of target, both named as on AWS so that
 * templates and SDK calls carry over unchanged:
 *  - another Kindling function: arn:aws:lambda:REGION:ACCOUNT:function:NAME[:QUALIFIER]
 *  - a Kindling queue, named like an SQS queue: arn:aws:sqs:REGION:ACCOUNT:NAME
 * Lambda also takes SNS topics, EventBridge event buses and S3 buckets
 * (API reference, DestinationConfig); Kindling has none of those yet.
 */
import type { Partition } from '../shared/arn.js';

/** Where an asynchronous invoke's outcome goes, as the data plane delivers it. */
export type DestinationTarget =
  | { readonly kind: 'function'; readonly name: string; readonly qualifier: string | undefined }
  | { readonly kind: 'queue'; readonly name: string };

/** SQS's rule for a queue name: 1 to 80 alphanumerics, hyphens and underscores (CreateQueue QueueName). */
export const QUEUE_NAME_PATTERN = /^[A-Za-z0-9_-]{1,80}$/;

// arn:PARTITION:SERVICE:REGION:ACCOUNT:RESOURCE (RESOURCE may hold further ':').
const ARN = /^arn:([^:]*):([^:]*):([^:]*):([^:]*):(.*)$/s;
// Lambda's function name and qualifier rules (botocore FunctionName; Qualifier of a function ARN).
const FUNCTION_RESOURCE = /^function:([a-zA-Z0-9_-]{1,64})(?::(\$LATEST|[a-zA-Z0-9_-]{1,128}))?$/;

/** The service part of an ARN ('lambda', 'sqs', 'sns', ...), or undefined when the text is no ARN. */
export function arnService(arn: string): string | undefined {
  return ARN.exec(arn)?.[2];
}

/**
 * Parses a destination or dead-letter ARN into what Kindling delivers to.
 * undefined when it names nothing Kindling can deliver to: not a function or
 * queue ARN of the `aws` partition, a malformed name, or (with `where`) a
 * region or account other than this platform's, where nothing of it lives.
 * The data plane calls it on stored ARNs, which the control plane checked
 * with it before storing them.
 */
export function parseDestinationArn(arn: string, where?: Partition): DestinationTarget | undefined {
  const m = ARN.exec(arn);
  if (!m) return undefined;
  const [, partition, service, region, account, resource] = m as unknown as [string, string, string, string, string, string];
  if (partition !== 'aws' || !/^\d{12}$/.test(account) || region === '') return undefined;
  if (where && (region !== where.region || account !== where.accountId)) return undefined;
  if (service === 'lambda') {
    const f = FUNCTION_RESOURCE.exec(resource);
    return f ? { kind: 'function', name: f[1]!, qualifier: f[2] } : undefined;
  }
  if (service === 'sqs') return QUEUE_NAME_PATTERN.test(resource) ? { kind: 'queue', name: resource } : undefined;
  return undefined;
}

/** What Kindling calls the destination services it does not have yet, by ARN service. */
export const UNSUPPORTED_DESTINATION_SERVICES: Readonly<Record<string, string>> = {
  sns: 'Amazon SNS topic',
  events: 'Amazon EventBridge event bus',
  s3: 'Amazon S3 bucket',
};

/** The form of a Kindling queue's ARN on this platform, for messages. */
export function queueArnForm(where: Partition): string {
  return `arn:aws:sqs:${where.region}:${where.accountId}:NAME (NAME: 1 to 80 letters, digits, hyphens or underscores)`;
}
