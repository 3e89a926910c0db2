/**
 * Every validation rule of the control plane's requests, in one place.
 *
 * Two stages, as Lambda's front door has them:
 *  1. Shape (zod): a member of the wrong JSON type fails deserialisation with
 *     400 SerializationException before any constraint is looked at (rest-json
 *     protocol; Lambda is a Coral service). Explicit null reads as absent.
 *  2. Constraints of the API model (botocore lambda/2015-03-31 service-2.json
 *     min/max/pattern/enum): ValidationException, all violations in one
 *     message: "N validation error(s) detected: Value 'X' at 'field' failed to
 *     satisfy constraint: ...; ...". Then Lambda's own checks, which answer
 *     InvalidParameterValueException (runtime, environment, code source).
 *
 * Wording sources: localstack's snapshot tests recorded against AWS
 * (tests/aws/services/lambda_/test_lambda_api.snapshot.json) and real error
 * quotes collected in /tmp/research-lambda.md; cited per rule below.
 */
import { z } from 'zod';
import { parseFunctionRef } from '../shared/arn.js';
import type { Partition } from '../shared/arn.js';
import { LambdaError } from '../shared/errors.js';
import { arnService, parseDestinationArn, queueArnForm } from './destination-arn.js';
import { checkTags } from './tags.js';

// ---------------------------------------------------------------- limits

/** botocore Timeout: min 1; Lambda's maximum is 900 s (ValidationException, real quote "...less than or equal to 900"). */
export const TIMEOUT_MIN = 1;
export const TIMEOUT_MAX = 900;
/** botocore MemorySize min 128; Lambda's maximum 10240 (real CloudFormation quote "...less than or equal to 10240"). */
export const MEMORY_MIN = 128;
export const MEMORY_MAX = 10240;
/** botocore EphemeralStorageSize min 512 max 10240. */
export const EPHEMERAL_MIN = 512;
export const EPHEMERAL_MAX = 10240;
/** botocore Description max 256. */
export const DESCRIPTION_MAX = 256;
/** botocore Handler max 128, pattern [^\s]+. */
export const HANDLER_MAX = 128;
export const HANDLER_PATTERN = '[^\\s]+';
/** Lambda's 4 KB environment quota, measured on the compact JSON of Variables. */
export const ENVIRONMENT_MAX_BYTES = 4096;
/** Direct-upload zip limit (RequestEntityTooLargeException "Zipped size must be smaller than 52428800 bytes", LS test_oversized_zipped_create_lambda). */
export const MAX_ZIPPED_BYTES = 52_428_800;
/** ListFunctions MaxItems 1..10000 (botocore MaxListItems); default 50. */
export const LIST_MAX_ITEMS = 10000;
export const LIST_DEFAULT_ITEMS = 50;

/** botocore RoleArn pattern (message recorded: LS-A "Value 'r1' at 'role'"). */
export const ROLE_PATTERN = 'arn:(aws[a-zA-Z-]*)?:iam::\\d{12}:role/?[a-zA-Z_0-9+=,.@\\-_/]+';
/** CreateFunction FunctionName pattern, recorded by LS-A (no '.' in names, unlike other operations). */
export const CREATE_FUNCTION_NAME_PATTERN =
  '(arn:(aws[a-zA-Z-]*)?:lambda:)?((eusc-)?[a-z]{2}((-gov)|(-iso([a-z]?)))?-[a-z]+-\\d{1}:)?(\\d{12}:)?(function:)?([a-zA-Z0-9-_]+)(:(\\$LATEST|[a-zA-Z0-9-_]+))?';
/** botocore Qualifier pattern (GetFunction, DeleteFunction, Invoke ?Qualifier=), length 1..128. */
export const QUALIFIER_PATTERN = '(|[a-zA-Z0-9$_-]+)';
/** botocore ResourceArn pattern (DeadLetterConfig.TargetArn): an ARN, or empty. */
export const RESOURCE_ARN_PATTERN = '(arn:(aws[a-zA-Z-]*)?:[a-z0-9-.]+:.*)|()';
/** botocore EnvironmentVariableName pattern. */
export const ENV_KEY_PATTERN = '[a-zA-Z]([a-zA-Z0-9_])+';

/** The runtimes Kindling runs. */
export const SUPPORTED_RUNTIMES = ['nodejs20.x', 'nodejs22.x', 'provided.al2023', 'provided.al2'] as const;
export type SupportedRuntime = (typeof SUPPORTED_RUNTIMES)[number];

/**
 * Lambda's Runtime enum as AWS answers it for an unknown value (LS-A
 * recorded 2026-01-12; order as AWS prints it).
 */
export const LAMBDA_RUNTIME_ENUM = [
  'nodejs20.x', 'python3.14', 'provided.al2023', 'python3.12', 'python3.13', 'nodejs24.x', 'nodejs22.x',
  'java25', 'python3.10', 'python3.11', 'java21', 'ruby3.3', 'ruby3.4', 'ruby3.2', 'python3.8', 'python3.9',
  'java17', 'nodejs16.x', 'dotnet10', 'dotnet8', 'java11', 'dotnet6', 'nodejs18.x', 'provided.al2', 'java8.al2',
];

/**
 * Runtimes Lambda no longer accepts for create/update ("The runtime parameter
 * of X is no longer supported ...", LS-A test_create_deprecated_function_runtime):
 * the retired identifiers, plus those in the enum whose "block function
 * create/update" date has passed (Lambda runtime deprecation schedule).
 */
export const DEPRECATED_RUNTIMES = new Set([
  'nodejs', 'nodejs4.3', 'nodejs4.3-edge', 'nodejs6.10', 'nodejs8.10', 'nodejs10.x', 'nodejs12.x', 'nodejs14.x',
  'nodejs16.x', 'nodejs18.x', 'python2.7', 'python3.6', 'python3.7', 'python3.8', 'python3.9', 'dotnetcore1.0',
  'dotnetcore2.0', 'dotnetcore2.1', 'dotnetcore3.1', 'dotnet5.0', 'dotnet6', 'java8', 'go1.x', 'provided',
  'ruby2.5', 'ruby2.7',
]);

/**
 * Environment keys Lambda sets itself and refuses in Environment.Variables
 * (AWS docs "Defined runtime environment variables", reserved list). TZ and
 * _X_AMZN_TRACE_ID are in that list but Lambda accepts TZ from users, so
 * neither is refused here.
 */
export const RESERVED_ENV_KEYS = new Set([
  '_HANDLER', 'AWS_REGION', 'AWS_DEFAULT_REGION', 'AWS_EXECUTION_ENV', 'AWS_LAMBDA_FUNCTION_NAME',
  'AWS_LAMBDA_FUNCTION_MEMORY_SIZE', 'AWS_LAMBDA_FUNCTION_VERSION', 'AWS_LAMBDA_INITIALIZATION_TYPE',
  'AWS_LAMBDA_LOG_GROUP_NAME', 'AWS_LAMBDA_LOG_STREAM_NAME', 'AWS_ACCESS_KEY', 'AWS_ACCESS_KEY_ID',
  'AWS_SECRET_ACCESS_KEY', 'AWS_SESSION_TOKEN', 'AWS_LAMBDA_RUNTIME_API', 'LAMBDA_TASK_ROOT', 'LAMBDA_RUNTIME_DIR',
]);

// ---------------------------------------------------------------- shapes (stage 1)

const str = z.string().nullish();
const int = z.number().int().nullish();
const bool = z.boolean().nullish();
const strMap = z.record(z.string(), z.string()).nullish();
const obj = <T extends z.ZodRawShape>(shape: T) => z.looseObject(shape).nullish();

const environmentShape = obj({ Variables: strMap });
const deadLetterShape = obj({ TargetArn: str });
const ephemeralShape = obj({ Size: int });
const architecturesShape = z.array(z.string()).nullish();
/** Layer version ARNs (control/layers.ts checks and resolves them). */
const layersShape = z.array(z.string()).nullish();
/** Members Kindling does not implement: refused when they ask for behaviour, accepted when they are Lambda's defaults. */
const unsupportedShapes = {
  VpcConfig: obj({ SubnetIds: z.array(z.string()).nullish(), SecurityGroupIds: z.array(z.string()).nullish() }),
  TracingConfig: obj({ Mode: str }),
  KMSKeyArn: str,
  FileSystemConfigs: z.array(z.unknown()).nullish(),
  ImageConfig: z.looseObject({}).nullish(),
  SnapStart: obj({ ApplyOn: str }),
  LoggingConfig: obj({ LogFormat: str, LogGroup: str, ApplicationLogLevel: str, SystemLogLevel: str }),
};

const createShape = z.looseObject({
  FunctionName: str,
  Role: str,
  Runtime: str,
  Handler: str,
  Code: obj({ ZipFile: str, S3Bucket: str, S3Key: str, S3ObjectVersion: str, ImageUri: str }),
  Description: str,
  Timeout: int,
  MemorySize: int,
  Environment: environmentShape,
  Publish: bool,
  PackageType: str,
  Architectures: architecturesShape,
  EphemeralStorage: ephemeralShape,
  Tags: strMap,
  CodeSigningConfigArn: str,
  DeadLetterConfig: deadLetterShape,
  Layers: layersShape,
  ...unsupportedShapes,
});

const updateCodeShape = z.looseObject({
  ZipFile: str,
  S3Bucket: str,
  S3Key: str,
  S3ObjectVersion: str,
  ImageUri: str,
  Publish: bool,
  DryRun: bool,
  RevisionId: str,
  Architectures: architecturesShape,
});

const updateConfigShape = z.looseObject({
  Role: str,
  Handler: str,
  Description: str,
  Timeout: int,
  MemorySize: int,
  Environment: environmentShape,
  Runtime: str,
  RevisionId: str,
  EphemeralStorage: ephemeralShape,
  DeadLetterConfig: deadLetterShape,
  Layers: layersShape,
  ...unsupportedShapes,
});

function jsonKind(v: unknown): string {
  if (typeof v === 'string') return 'STRING_VALUE';
  if (typeof v === 'number') return 'NUMBER_VALUE';
  if (typeof v === 'boolean') return v ? 'TRUE_VALUE' : 'FALSE_VALUE';
  if (Array.isArray(v)) return 'START_ARRAY';
  return 'START_OBJECT';
}

function valueAt(body: unknown, path: readonly PropertyKey[]): unknown {
  let v = body;
  for (const k of path) v = v !== null && typeof v === 'object' ? (v as Record<PropertyKey, unknown>)[k] : undefined;
  return v;
}

/**
 * Stage 1. Throws SerializationException in the deserializer's style
 * ("<JSON token> can not be converted to <type>"; for a structure given a
 * scalar, "Unexpected value type in payload"). The exact Coral text for each
 * mismatch is not published; the exception type is what clients act on.
 */
export function parseShape<T extends z.ZodType>(schema: T, body: unknown): z.infer<T> {
  if (body === null || typeof body !== 'object' || Array.isArray(body)) {
    throw new LambdaError('SerializationException', Array.isArray(body) ? 'Start of list found where not expected' : 'Unexpected value type in payload');
  }
  const result = schema.safeParse(body);
  if (result.success) return result.data;
  const issue = result.error.issues[0]!;
  const value = valueAt(body, issue.path);
  let message = 'Unexpected value type in payload';
  if (issue.code === 'invalid_type') {
    const expected = String(issue.expected);
    if (expected === 'string') message = `${jsonKind(value)} can not be converted to a String`;
    else if (expected === 'number' || expected === 'int') message = `${jsonKind(value)} can not be converted to an Integer`;
    else if (expected === 'boolean') message = `${jsonKind(value)} can not be converted to a Boolean`;
    else if (expected === 'array') message = 'Unexpected value type in payload';
    else if (expected === 'object' || expected === 'record') message = 'Unexpected value type in payload';
  } else if (typeof value === 'number') {
    // A non-integer where an Integer is modelled.
    message = `NUMBER_VALUE can not be converted to an Integer`;
  }
  throw new LambdaError('SerializationException', message);
}

// ---------------------------------------------------------------- constraints (stage 2)

/** Collects model violations, then throws one ValidationException naming them all. */
export class Violations {
  readonly #list: string[] = [];

  add(value: string | null, field: string, constraint: string): void {
    const shown = value === null ? 'Value null' : `Value '${value}'`;
    this.#list.push(`${shown} at '${field}' failed to satisfy constraint: ${constraint}`);
  }

  /** Sensitive members (environment variables) are reported without their value, as Lambda does. */
  addSensitive(field: string, constraint: string): void {
    this.#list.push(`Value at '${field}' failed to satisfy constraint: ${constraint}`);
  }

  throwIfAny(): void {
    const n = this.#list.length;
    if (n === 0) return;
    throw new LambdaError('ValidationException', `${n} validation error${n === 1 ? '' : 's'} detected: ${this.#list.join('; ')}`);
  }
}

/** A single-violation ValidationException, worded like the model's constraint checks. */
export function validationError(value: string | null, field: string, constraint: string): LambdaError {
  const shown = value === null ? 'Value null' : `Value '${value}'`;
  return new LambdaError('ValidationException', `1 validation error detected: ${shown} at '${field}' failed to satisfy constraint: ${constraint}`);
}

export function checkInt(v: Violations, value: number | null | undefined, field: string, min: number, max: number): void {
  if (value === null || value === undefined) return;
  if (value < min) v.add(String(value), field, `Member must have value greater than or equal to ${min}`);
  else if (value > max) v.add(String(value), field, `Member must have value less than or equal to ${max}`);
}

export function checkPattern(v: Violations, value: string | null | undefined, field: string, pattern: string, maxLen?: number): void {
  if (value === null || value === undefined) return;
  if (maxLen !== undefined && value.length > maxLen) {
    v.add(value, field, `Member must have length less than or equal to ${maxLen}`);
  } else if (!new RegExp(`^(?:${pattern})$`).test(value)) {
    v.add(value, field, `Member must satisfy regular expression pattern: ${pattern}`);
  }
}

/**
 * Handler: Lambda's pattern and length. No handler can name a file with a NUL
 * byte in it, so one is refused as not matching the pattern too (it must
 * never reach a sandbox's set-up, whose arguments are NUL-separated).
 */
function checkHandler(v: Violations, handler: string | null | undefined): void {
  if (handler?.includes('\0') && handler.length <= HANDLER_MAX) {
    v.add(handler, 'handler', `Member must satisfy regular expression pattern: ${HANDLER_PATTERN}`);
  } else {
    checkPattern(v, handler, 'handler', HANDLER_PATTERN, HANDLER_MAX);
  }
}

function checkArchitectures(v: Violations, archs: readonly string[] | null | undefined): void {
  if (archs === null || archs === undefined) return;
  const shown = `[${archs.join(', ')}]`;
  // Recorded wording (LS-A): more than one → length; a bad member → nested enum constraint.
  if (archs.length > 1) v.add(shown, 'architectures', 'Member must have length less than or equal to 1');
  else if (archs.length < 1) v.add(shown, 'architectures', 'Member must have length greater than or equal to 1');
  else if (archs.some((a) => a !== 'x86_64' && a !== 'arm64')) {
    v.add(shown, 'architectures', 'Member must satisfy constraint: [Member must satisfy enum value set: [x86_64, arm64], Member must not be null]');
  }
}

function checkEnvironmentKeys(v: Violations, vars: Readonly<Record<string, string>> | null | undefined): void {
  if (!vars) return;
  const re = new RegExp(`^(?:${ENV_KEY_PATTERN})$`);
  if (Object.keys(vars).some((k) => !re.test(k))) {
    v.addSensitive('environment.variables', `Map keys must satisfy constraint: [Member must satisfy regular expression pattern: ${ENV_KEY_PATTERN}]`);
  }
}

/**
 * Lambda's own environment checks (InvalidParameterValueException):
 * reserved keys first, then the 4 KB quota measured on the compact JSON.
 * Wording: real error quotes (reserved keys) and LS-A (4KB limit).
 */
function checkEnvironmentRules(vars: Readonly<Record<string, string>> | undefined): void {
  if (!vars) return;
  const reserved = Object.keys(vars).filter((k) => RESERVED_ENV_KEYS.has(k));
  if (reserved.length > 0) {
    throw new LambdaError(
      'InvalidParameterValueException',
      'Lambda was unable to configure your environment variables because the environment variables you have provided contains reserved keys that are currently not supported for modification. ' +
        `Reserved keys used in this request: ${reserved.join(', ')}`,
    );
  }
  // A process environment cannot hold a NUL byte (execve's strings end at
  // one), so such a value could never reach the function; refused here, it
  // can never reach a sandbox's set-up either (bwrap's arguments are
  // NUL-separated).
  const withNul = Object.entries(vars).filter(([, value]) => value.includes('\0')).map(([key]) => key);
  if (withNul.length > 0) {
    throw new LambdaError(
      'InvalidParameterValueException',
      `Lambda was unable to configure your environment variables because the values of these keys contain a NUL character: ${withNul.join(', ')}`,
    );
  }
  const measured = JSON.stringify(vars);
  if (Buffer.byteLength(measured) > ENVIRONMENT_MAX_BYTES) {
    throw new LambdaError(
      'InvalidParameterValueException',
      `Lambda was unable to configure your environment variables because the environment variables you have provided exceeded the 4KB limit. String measured: ${measured}`,
    );
  }
}

/**
 * Runtime checks (InvalidParameterValueException, LS-A recorded wording):
 * not a Lambda runtime → enum message (value unquoted, no count prefix);
 * deprecated → "no longer supported"; a real Lambda runtime Kindling cannot
 * run → a Kindling message naming what it supports.
 */
function checkRuntime(runtime: string): SupportedRuntime {
  if ((SUPPORTED_RUNTIMES as readonly string[]).includes(runtime)) return runtime as SupportedRuntime;
  if (DEPRECATED_RUNTIMES.has(runtime)) {
    throw new LambdaError(
      'InvalidParameterValueException',
      `The runtime parameter of ${runtime} is no longer supported for creating or updating AWS Lambda functions. We recommend you use a supported runtime while creating or updating functions.`,
    );
  }
  if (LAMBDA_RUNTIME_ENUM.includes(runtime)) {
    throw new LambdaError(
      'InvalidParameterValueException',
      `The runtime parameter of ${runtime} is not supported by Kindling. Supported runtimes: ${SUPPORTED_RUNTIMES.join(', ')}.`,
    );
  }
  throw new LambdaError(
    'InvalidParameterValueException',
    `Value ${runtime} at 'runtime' failed to satisfy constraint: Member must satisfy enum value set: [${LAMBDA_RUNTIME_ENUM.join(', ')}] or be a valid ARN`,
  );
}

function checkArchitectureHost(archs: readonly string[] | null | undefined, hostArch: 'x86_64' | 'arm64'): void {
  const arch = archs?.[0];
  if (arch !== undefined && arch !== hostArch) {
    throw new LambdaError(
      'InvalidParameterValueException',
      `Architecture ${arch} is not available on this Kindling host, which runs ${hostArch}. Use Architectures ["${hostArch}"].`,
    );
  }
}

type UnsupportedFields = { [K in keyof typeof unsupportedShapes]?: z.infer<(typeof unsupportedShapes)[K]> };

/**
 * Members of Lambda's API that Kindling does not implement. Values that equal
 * Lambda's defaults (what SAM and the CLI send) are accepted; anything that
 * asks for behaviour is refused rather than silently ignored.
 */
function checkUnsupported(body: UnsupportedFields, functionName: string): void {
  const refuse = (member: string): never => {
    throw new LambdaError('InvalidParameterValueException', `${member} is not supported by Kindling yet.`);
  };
  if (body.VpcConfig && ((body.VpcConfig.SubnetIds?.length ?? 0) > 0 || (body.VpcConfig.SecurityGroupIds?.length ?? 0) > 0)) refuse('VpcConfig');
  if (body.TracingConfig?.Mode && body.TracingConfig.Mode !== 'PassThrough') refuse('TracingConfig Mode Active');
  if (body.KMSKeyArn) refuse('KMSKeyArn');
  if (body.FileSystemConfigs && body.FileSystemConfigs.length > 0) refuse('FileSystemConfigs');
  if (body.ImageConfig && Object.keys(body.ImageConfig).length > 0) refuse('ImageConfig');
  if (body.SnapStart?.ApplyOn && body.SnapStart.ApplyOn !== 'None') refuse('SnapStart');
  const lc = body.LoggingConfig;
  if (lc && ((lc.LogFormat && lc.LogFormat !== 'Text') || (lc.LogGroup && lc.LogGroup !== `/aws/lambda/${functionName}`) || lc.ApplicationLogLevel || lc.SystemLogLevel)) {
    refuse('LoggingConfig other than the default (Text, /aws/lambda/<name>)');
  }
}

/**
 * DeadLetterConfig.TargetArn (Lambda: an SQS queue or an SNS topic; API
 * reference, DeadLetterConfig). Kindling delivers to its own queues, named
 * like SQS queues; SNS topics it does not have yet. The empty ARN is refused
 * on create (real quote, cloud-custodian/cloud-custodian#1990: "Invalid dead
 * letter queue ARN: ARNs must start with 'arn:'"); on update it removes the
 * target, as on Lambda (node-lambda#248; Terraform clears it that way).
 */
function checkDeadLetterTarget(arn: string, partition: Partition): void {
  if (arn === '') {
    throw new LambdaError('InvalidParameterValueException', "Invalid dead letter queue ARN: ARNs must start with 'arn:'");
  }
  const service = arnService(arn);
  if (service === 'sns') {
    throw new LambdaError(
      'InvalidParameterValueException',
      `Kindling does not support Amazon SNS topics as dead-letter targets yet (${arn}). Use a Kindling queue: ${queueArnForm(partition)}.`,
    );
  }
  if (service !== 'sqs') {
    // Kindling's wording: Lambda's answer for an ARN of another service is not recorded.
    throw new LambdaError(
      'InvalidParameterValueException',
      `Invalid dead letter queue ARN: ${arn} is neither an Amazon SQS queue nor an Amazon SNS topic. Use a Kindling queue: ${queueArnForm(partition)}.`,
    );
  }
  if (parseDestinationArn(arn, partition)?.kind !== 'queue') {
    throw new LambdaError('InvalidParameterValueException', `Invalid dead letter queue ARN: ${arn}. Kindling queues are named ${queueArnForm(partition)}.`);
  }
}

/**
 * Decodes a blob member (rest-json blobs are base64). Lambda's deserializer
 * refuses text that is not base64 with a SerializationException.
 */
export function decodeBase64(text: string): Buffer {
  const clean = text.replace(/[\r\n]/g, '');
  if (!/^[A-Za-z0-9+/]*={0,2}$/.test(clean) || clean.length % 4 === 1) {
    throw new LambdaError('SerializationException', 'Base64 encoded value is not valid');
  }
  return Buffer.from(clean, 'base64');
}

export function checkZipSize(zip: Buffer): void {
  if (zip.length > MAX_ZIPPED_BYTES) {
    throw new LambdaError('RequestEntityTooLargeException', `Zipped size must be smaller than ${MAX_ZIPPED_BYTES} bytes`);
  }
}

function refuseNonZipSources(c: { S3Bucket?: string | null | undefined; S3Key?: string | null | undefined; S3ObjectVersion?: string | null | undefined; ImageUri?: string | null | undefined }): void {
  if (c.S3Bucket || c.S3Key || c.S3ObjectVersion || c.ImageUri) {
    throw new LambdaError(
      'InvalidParameterValueException',
      'Kindling accepts deployment packages only as Code.ZipFile (a base64 zip in the request); S3Bucket/S3Key/S3ObjectVersion and ImageUri are not supported.',
    );
  }
}

// ---------------------------------------------------------------- parsed commands

/** A validated CreateFunction request. */
export interface CreateFunctionInput {
  readonly functionName: string;
  readonly role: string;
  readonly runtime: SupportedRuntime;
  readonly handler: string;
  readonly zip: Buffer;
  readonly description: string;
  readonly timeout: number;
  readonly memorySize: number;
  readonly environment: Readonly<Record<string, string>> | undefined;
  readonly publish: boolean;
  readonly architectures: readonly string[];
  readonly ephemeralStorageSize: number;
  readonly tags: Readonly<Record<string, string>> | undefined;
  /** DeadLetterConfig.TargetArn, undefined when none is given. */
  readonly deadLetterTargetArn: string | undefined;
  /** Layers: layer version ARNs, checked and resolved by the registry (control/layers.ts). */
  readonly layers: readonly string[];
}

export interface ValidationContext {
  readonly partition: Partition;
  readonly hostArchitecture: 'x86_64' | 'arm64';
}

/** Validates a CreateFunction body (already JSON-parsed). */
export function parseCreateFunction(body: unknown, ctx: ValidationContext): CreateFunctionInput {
  const b = parseShape(createShape, body);
  const v = new Violations();
  // Members in the order of the model's CreateFunctionRequest.
  if (b.FunctionName == null) v.add(null, 'functionName', 'Member must not be null');
  else if (b.FunctionName.length > 140) v.add(b.FunctionName, 'functionName', 'Member must have length less than or equal to 140');
  else checkPattern(v, b.FunctionName, 'functionName', CREATE_FUNCTION_NAME_PATTERN);
  if (b.Role == null) v.add(null, 'role', 'Member must not be null');
  else checkPattern(v, b.Role, 'role', ROLE_PATTERN);
  checkHandler(v, b.Handler);
  if (b.Code == null) v.add(null, 'code', 'Member must not be null');
  checkPattern(v, b.Description, 'description', '[\\s\\S]*', DESCRIPTION_MAX);
  checkInt(v, b.Timeout, 'timeout', TIMEOUT_MIN, TIMEOUT_MAX);
  checkInt(v, b.MemorySize, 'memorySize', MEMORY_MIN, MEMORY_MAX);
  if (b.PackageType != null && b.PackageType !== 'Zip' && b.PackageType !== 'Image') {
    v.add(b.PackageType, 'packageType', 'Member must satisfy enum value set: [Image, Zip]');
  }
  checkPattern(v, b.DeadLetterConfig?.TargetArn, 'deadLetterConfig.targetArn', RESOURCE_ARN_PATTERN);
  checkEnvironmentKeys(v, b.Environment?.Variables);
  checkArchitectures(v, b.Architectures);
  checkInt(v, b.EphemeralStorage?.Size, 'ephemeralStorage.size', EPHEMERAL_MIN, EPHEMERAL_MAX);
  v.throwIfAny();

  // Lambda answers an over-long name on create with InvalidParameterValueException (LS-A recorded).
  let ref;
  try {
    ref = parseFunctionRef(b.FunctionName!, ctx.partition);
  } catch (err) {
    if (err instanceof LambdaError && err.code === 'ValidationException' && err.message.endsWith('less than or equal to 64')) {
      throw new LambdaError('InvalidParameterValueException', err.message);
    }
    throw err;
  }
  if (ref.qualifier !== undefined) {
    throw new LambdaError('InvalidParameterValueException', 'A function name with a qualifier (name:qualifier) cannot be created; pass the unqualified name.');
  }

  if (b.PackageType === 'Image' || b.Code!.ImageUri) {
    throw new LambdaError('InvalidParameterValueException', 'Kindling supports only PackageType Zip; container images (ImageUri) are not supported.');
  }
  refuseNonZipSources(b.Code!);
  if (b.Runtime == null || b.Handler == null) {
    // Real quote (CloudFormation): "Runtime and Handler are mandatory parameters for functions created with deployment packages."
    throw new LambdaError('InvalidParameterValueException', 'Runtime and Handler are mandatory parameters for functions created with deployment packages.');
  }
  const runtime = checkRuntime(b.Runtime);
  if (b.Code!.ZipFile == null) {
    throw new LambdaError('InvalidParameterValueException', 'Please provide a source for function code: Code.ZipFile (a base64 zip).');
  }
  const zip = decodeBase64(b.Code!.ZipFile);
  checkZipSize(zip);
  checkArchitectureHost(b.Architectures, ctx.hostArchitecture);
  const environment = b.Environment?.Variables ?? (b.Environment ? {} : undefined);
  checkEnvironmentRules(environment);
  checkUnsupported(b, ref.name);
  const deadLetterTargetArn = b.DeadLetterConfig?.TargetArn ?? undefined;
  if (deadLetterTargetArn !== undefined) checkDeadLetterTarget(deadLetterTargetArn, ctx.partition);
  if (b.Tags) checkTags(b.Tags);
  if (b.CodeSigningConfigArn) throw new LambdaError('InvalidParameterValueException', 'CodeSigningConfigArn is not supported by Kindling yet.');

  return {
    functionName: ref.name,
    role: b.Role!,
    runtime,
    handler: b.Handler,
    zip,
    description: b.Description ?? '',
    timeout: b.Timeout ?? 3,
    memorySize: b.MemorySize ?? 128,
    environment,
    publish: b.Publish ?? false,
    architectures: b.Architectures ?? ['x86_64'],
    ephemeralStorageSize: b.EphemeralStorage?.Size ?? 512,
    tags: b.Tags && Object.keys(b.Tags).length > 0 ? b.Tags : undefined,
    deadLetterTargetArn,
    layers: b.Layers ?? [],
  };
}

/** A validated UpdateFunctionCode request. */
export interface UpdateCodeInput {
  readonly zip: Buffer;
  readonly publish: boolean;
  readonly dryRun: boolean;
  readonly revisionId: string | undefined;
}

export function parseUpdateCode(body: unknown, ctx: ValidationContext): UpdateCodeInput {
  const b = parseShape(updateCodeShape, body);
  const v = new Violations();
  checkArchitectures(v, b.Architectures);
  v.throwIfAny();
  if (b.ImageUri) {
    // LS-A recorded: "Please don't provide ImageUri when updating a function with packageType Zip."
    throw new LambdaError('InvalidParameterValueException', "Please don't provide ImageUri when updating a function with packageType Zip.");
  }
  refuseNonZipSources(b);
  if (b.ZipFile == null) {
    throw new LambdaError('InvalidParameterValueException', 'Please provide a source for function code: ZipFile (a base64 zip).');
  }
  const zip = decodeBase64(b.ZipFile);
  checkZipSize(zip);
  checkArchitectureHost(b.Architectures, ctx.hostArchitecture);
  return { zip, publish: b.Publish ?? false, dryRun: b.DryRun ?? false, revisionId: b.RevisionId ?? undefined };
}

/** A validated UpdateFunctionConfiguration request: only the members given change (merge semantics). */
export interface UpdateConfigurationInput {
  readonly role?: string;
  readonly handler?: string;
  readonly description?: string;
  readonly timeout?: number;
  readonly memorySize?: number;
  /** Replaces the whole map when given (Lambda's semantics); {} clears it. */
  readonly environment?: Readonly<Record<string, string>>;
  readonly runtime?: SupportedRuntime;
  readonly ephemeralStorageSize?: number;
  /** Given when DeadLetterConfig.TargetArn is: the new target, undefined to remove it (TargetArn ""). */
  readonly deadLetter?: { readonly targetArn: string | undefined };
  /** Given when Layers is: the new list (replaces the old one; [] removes every layer). */
  readonly layers?: readonly string[];
  readonly revisionId: string | undefined;
}

export function parseUpdateConfiguration(body: unknown, functionName: string, partition: Partition): UpdateConfigurationInput {
  const b = parseShape(updateConfigShape, body);
  const v = new Violations();
  checkPattern(v, b.Role, 'role', ROLE_PATTERN);
  checkHandler(v, b.Handler);
  checkPattern(v, b.Description, 'description', '[\\s\\S]*', DESCRIPTION_MAX);
  checkInt(v, b.Timeout, 'timeout', TIMEOUT_MIN, TIMEOUT_MAX);
  checkInt(v, b.MemorySize, 'memorySize', MEMORY_MIN, MEMORY_MAX);
  checkEnvironmentKeys(v, b.Environment?.Variables);
  checkPattern(v, b.DeadLetterConfig?.TargetArn, 'deadLetterConfig.targetArn', RESOURCE_ARN_PATTERN);
  checkInt(v, b.EphemeralStorage?.Size, 'ephemeralStorage.size', EPHEMERAL_MIN, EPHEMERAL_MAX);
  v.throwIfAny();
  const runtime = b.Runtime != null ? checkRuntime(b.Runtime) : undefined;
  const environment = b.Environment ? (b.Environment.Variables ?? {}) : undefined;
  checkEnvironmentRules(environment);
  checkUnsupported(b, functionName);
  // DeadLetterConfig {} (no TargetArn) changes nothing: AWS answers the target still set (LS-A
  // test_lambda_destinations TestLambdaDLQ delete_dlq); TargetArn "" removes it.
  const target = b.DeadLetterConfig?.TargetArn ?? undefined;
  if (target) checkDeadLetterTarget(target, partition);
  return {
    ...(b.Role != null ? { role: b.Role } : {}),
    ...(b.Handler != null ? { handler: b.Handler } : {}),
    ...(b.Description != null ? { description: b.Description } : {}),
    ...(b.Timeout != null ? { timeout: b.Timeout } : {}),
    ...(b.MemorySize != null ? { memorySize: b.MemorySize } : {}),
    ...(environment !== undefined ? { environment } : {}),
    ...(runtime !== undefined ? { runtime } : {}),
    ...(b.EphemeralStorage?.Size != null ? { ephemeralStorageSize: b.EphemeralStorage.Size } : {}),
    ...(target !== undefined ? { deadLetter: { targetArn: target === '' ? undefined : target } } : {}),
    ...(b.Layers != null ? { layers: b.Layers } : {}),
    revisionId: b.RevisionId ?? undefined,
  };
}

const putConcurrencyShape = z.looseObject({ ReservedConcurrentExecutions: int });

/**
 * {FunctionName} of the operations whose model types it as FunctionName
 * rather than NamespacedFunctionName (Put/Get/DeleteFunctionConcurrency):
 * length 1..140 and the pattern without '.', the one LS-A recorded for
 * CreateFunction (the same shape).
 */
function checkFunctionNameMember(v: Violations, functionName: string): void {
  if (functionName.length < 1) v.add(functionName, 'functionName', 'Member must have length greater than or equal to 1');
  else checkPattern(v, functionName, 'functionName', CREATE_FUNCTION_NAME_PATTERN, 140);
}

/** Validates {FunctionName} of GetFunctionConcurrency/DeleteFunctionConcurrency against the model. */
export function checkConcurrencyFunctionName(functionName: string): void {
  const v = new Violations();
  checkFunctionNameMember(v, functionName);
  v.throwIfAny();
}

/**
 * Validates a PutFunctionConcurrency request against the model (botocore
 * PutFunctionConcurrencyRequest: FunctionName, then ReservedConcurrentExecutions
 * required, integer, min 0). The account-level rule (unreserved stays at its
 * minimum) needs the registry's state and is checked there.
 */
export function parsePutFunctionConcurrency(functionName: string, body: unknown): { reserved: number } {
  const b = parseShape(putConcurrencyShape, body);
  const v = new Violations();
  checkFunctionNameMember(v, functionName);
  if (b.ReservedConcurrentExecutions == null) v.add(null, 'reservedConcurrentExecutions', 'Member must not be null');
  else checkInt(v, b.ReservedConcurrentExecutions, 'reservedConcurrentExecutions', 0, Number.MAX_SAFE_INTEGER);
  v.throwIfAny();
  return { reserved: b.ReservedConcurrentExecutions! };
}

/** ?Qualifier= of GetFunction/DeleteFunction/Invoke (botocore Qualifier: length 1..128, pattern). */
export function checkQualifier(qualifier: string | undefined): void {
  if (qualifier === undefined) return;
  const v = new Violations();
  if (qualifier.length < 1) v.add(qualifier, 'qualifier', 'Member must have length greater than or equal to 1');
  else checkPattern(v, qualifier, 'qualifier', QUALIFIER_PATTERN, 128);
  v.throwIfAny();
}

/** ListFunctions MaxItems (1..10000) and FunctionVersion (enum [ALL], LS-A recorded wording). */
export function parseListQuery(maxItems: string | number | undefined, functionVersion: string | undefined): { maxItems: number; all: boolean } {
  const v = new Violations();
  let n = LIST_DEFAULT_ITEMS;
  if (maxItems !== undefined) {
    n = typeof maxItems === 'number' ? maxItems : Number(maxItems);
    if (!Number.isInteger(n)) {
      throw new LambdaError('SerializationException', `STRING_VALUE can not be converted to an Integer`);
    }
    checkInt(v, n, 'maxItems', 1, LIST_MAX_ITEMS);
  }
  if (functionVersion !== undefined && functionVersion !== 'ALL') {
    v.add(functionVersion, 'functionVersion', 'Member must satisfy enum value set: [ALL]');
  }
  v.throwIfAny();
  return { maxItems: n, all: functionVersion === 'ALL' };
}
