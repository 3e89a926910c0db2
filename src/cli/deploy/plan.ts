/**
 * What kindling deploy has to change: the template's wishes against what
 * the platform has, compared field by field. Pure functions; apply.ts calls
 * the API for what they find different.
 */
import type {
  EventInvokeConfig,
  FunctionConfiguration,
  FunctionSettings,
  FunctionUrlConfig,
  FunctionUrlSettings,
  GetFunctionOutput,
  LayerVersion,
  Route,
} from '../client.js';
import type { FunctionSpec, LayerSpec } from './model.js';

export interface FunctionPlan {
  readonly action: 'create' | 'update' | 'unchanged';
  /** The code differs (by CodeSha256). */
  readonly code: boolean;
  /** The configuration fields that differ. */
  readonly config: readonly string[];
  /** ReservedConcurrentExecutions to put, or 'delete', or undefined when it is right. */
  readonly concurrency: number | 'delete' | undefined;
}

const sameJson = (a: unknown, b: unknown): boolean => JSON.stringify(sortKeys(a)) === JSON.stringify(sortKeys(b));

function sortKeys(v: unknown): unknown {
  if (Array.isArray(v)) return v.map(sortKeys);
  if (v && typeof v === 'object') {
    return Object.fromEntries(
      Object.entries(v as Record<string, unknown>)
        .filter(([, x]) => x !== undefined)
        .sort(([a], [b]) => a.localeCompare(b))
        .map(([k, x]) => [k, sortKeys(x)]),
    );
  }
  return v;
}

/** The configuration fields whose current value is not the desired one (Lambda's defaults filled in for absent fields). */
export function settingsChanges(desired: FunctionSettings, current: FunctionConfiguration): string[] {
  const now: FunctionSettings = {
    Runtime: current.Runtime ?? '',
    Handler: current.Handler ?? '',
    Role: current.Role ?? '',
    Description: current.Description ?? '',
    Timeout: current.Timeout ?? 3,
    MemorySize: current.MemorySize ?? 128,
    Environment: { Variables: current.Environment?.Variables ?? {} },
    Layers: (current.Layers ?? []).map((l) => l.Arn),
    Architectures: current.Architectures ?? ['x86_64'],
    EphemeralStorage: { Size: current.EphemeralStorage?.Size ?? 512 },
  };
  return (Object.keys(desired) as (keyof FunctionSettings)[]).filter((k) => !sameJson(desired[k], now[k]));
}

/** The plan for one function: current is GetFunction's answer, undefined when it does not exist. */
export function planFunction(spec: FunctionSpec, codeSha256: string, current: GetFunctionOutput | undefined): FunctionPlan {
  const reserved = current?.Concurrency?.ReservedConcurrentExecutions;
  // The template is the truth for what it manages, as in CloudFormation: a
  // limit that is no longer in the template is removed.
  const concurrency =
    spec.reservedConcurrency !== undefined ? (spec.reservedConcurrency === reserved ? undefined : spec.reservedConcurrency) : reserved !== undefined ? 'delete' : undefined;
  if (!current) return { action: 'create', code: true, config: [], concurrency: spec.reservedConcurrency };
  const code = current.Configuration.CodeSha256 !== codeSha256;
  const config = settingsChanges(spec.settings, current.Configuration);
  return { action: code || config.length > 0 ? 'update' : 'unchanged', code, config, concurrency };
}

/** Whether the EventInvokeConfig must be put (desired differs) or deleted (no longer in the template). */
export function planEventInvokeConfig(desired: EventInvokeConfig | undefined, current: EventInvokeConfig | undefined): 'put' | 'delete' | undefined {
  if (!desired) return current ? 'delete' : undefined;
  if (!current) return 'put';
  const norm = (c: EventInvokeConfig) => ({
    MaximumRetryAttempts: c.MaximumRetryAttempts,
    MaximumEventAgeInSeconds: c.MaximumEventAgeInSeconds,
    OnSuccess: c.DestinationConfig?.OnSuccess?.Destination,
    OnFailure: c.DestinationConfig?.OnFailure?.Destination,
  });
  const d = norm(desired);
  const c = norm(current);
  // Put replaces the whole config; a number the template leaves out is whatever
  // the server reports for "not set" (absent or Lambda's default).
  const numbersSame =
    (d.MaximumRetryAttempts === undefined || d.MaximumRetryAttempts === c.MaximumRetryAttempts) &&
    (d.MaximumEventAgeInSeconds === undefined || d.MaximumEventAgeInSeconds === c.MaximumEventAgeInSeconds);
  return numbersSame && d.OnSuccess === c.OnSuccess && d.OnFailure === c.OnFailure ? undefined : 'put';
}

/** Whether the function URL must be created or updated. InvokeMode defaults to BUFFERED (botocore's FunctionUrlConfig). */
export function planUrl(desired: FunctionUrlSettings, current: FunctionUrlConfig | undefined): 'create' | 'update' | undefined {
  if (!current) return 'create';
  const same =
    desired.AuthType === current.AuthType &&
    (desired.InvokeMode ?? 'BUFFERED') === (current.InvokeMode ?? 'BUFFERED') &&
    sameJson(desired.Cors ?? {}, current.Cors ?? {});
  return same ? undefined : 'update';
}

/** The same routes (method, path, payload format and the qualifier they invoke), in any order. */
export function sameRoutes(a: readonly Route[], b: readonly Route[]): boolean {
  const key = (r: Route) => JSON.stringify([r.Method, r.Path, r.PayloadFormatVersion, r.Qualifier ?? null]);
  return sameJson([...a].map(key).sort(), [...b].map(key).sort());
}

/**
 * Whether a layer needs a new version: none yet, or the latest one's content
 * (CodeSha256), description or runtimes differ. Lambda's versions are
 * immutable, so any change is a new version.
 */
export function layerNeedsPublish(spec: LayerSpec, codeSha256: string, latest: LayerVersion | undefined): boolean {
  if (!latest) return true;
  return (
    latest.Content?.CodeSha256 !== codeSha256 ||
    (latest.Description ?? '') !== spec.description ||
    !sameJson([...(latest.CompatibleRuntimes ?? [])].sort(), [...spec.compatibleRuntimes].sort())
  );
}
