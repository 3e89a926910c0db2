/**
 * Carrying out a deploy: layers first (their LayerVersionArns go into the
 * functions' Layers), then each function — code and configuration, reserved
 * concurrency, a version and alias (AutoPublishAlias), EventInvokeConfig,
 * function URL, routes — calling the API only for what differs, and waiting
 * between calls while Lambda reports the function Pending or InProgress
 * (it answers 409 ResourceConflictException to an update meanwhile).
 */
import { ApiError, type KindlingClient, type RouteListing } from '../client.js';
import type { FunctionSpec, Model } from './model.js';
import { codeSha256, packageCode } from './package.js';
import { layerNeedsPublish, planEventInvokeConfig, planFunction, planUrl, sameRoutes } from './plan.js';

/** The API calls deploy makes (KindlingClient; a fake in tests). */
export type DeployApi = Pick<
  KindlingClient,
  | 'getFunction'
  | 'createFunction'
  | 'updateFunctionCode'
  | 'updateFunctionConfiguration'
  | 'putFunctionConcurrency'
  | 'deleteFunctionConcurrency'
  | 'getFunctionEventInvokeConfig'
  | 'putFunctionEventInvokeConfig'
  | 'deleteFunctionEventInvokeConfig'
  | 'publishVersion'
  | 'getAlias'
  | 'createAlias'
  | 'updateAlias'
  | 'listLayerVersions'
  | 'getLayerVersion'
  | 'publishLayerVersion'
  | 'getFunctionUrlConfig'
  | 'createFunctionUrlConfig'
  | 'updateFunctionUrlConfig'
  | 'deleteFunctionUrlConfig'
  | 'listRoutes'
  | 'putRoutes'
  | 'deleteRoutes'
>;

export interface LayerResult {
  readonly logicalId: string;
  readonly layerName: string;
  readonly action: 'published' | 'unchanged';
  readonly layerVersionArn: string;
  readonly version: number;
}

export interface FunctionResult {
  readonly logicalId: string;
  readonly name: string;
  readonly action: 'created' | 'updated' | 'unchanged';
  /** What changed: code, configuration fields, concurrency, alias, … */
  readonly changes: string[];
  alias?: { name: string; version: string };
  url?: string;
  routes?: RouteListing[];
}

export interface DeployResult {
  readonly layers: LayerResult[];
  readonly functions: FunctionResult[];
  readonly warnings: readonly string[];
}

export interface ApplyOptions {
  /** Progress for a terminal ("creating fn-a"); not called when piped. */
  readonly progress?: (message: string) => void;
  readonly sleep?: (ms: number) => Promise<void>;
  /** How long to wait for a function to become Active or Successful (default 120 s). */
  readonly waitMs?: number;
  readonly now?: () => number;
}

const realSleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));

/** A call needing a server feature: UnknownOperation becomes a sentence saying which feature is missing. */
async function needs<T>(feature: string, call: () => Promise<T>): Promise<T> {
  try {
    return await call();
  } catch (err) {
    if (err instanceof ApiError && err.unknownOperation) {
      throw new Error(`${feature} needs a kindling server that has it; this one answered ${err.type} (${err.detail})`);
    }
    throw err;
  }
}

async function waitUntilReady(api: DeployApi, name: string, o: Required<Pick<ApplyOptions, 'sleep' | 'waitMs' | 'now'>>): Promise<void> {
  const deadline = o.now() + o.waitMs;
  for (;;) {
    const c = (await api.getFunction(name)).Configuration;
    if (c.State === 'Failed') throw new Error(`the function is Failed: ${c.StateReason ?? 'no reason given'}`);
    if (c.LastUpdateStatus === 'Failed') throw new Error(`its last update Failed: ${c.LastUpdateStatusReason ?? 'no reason given'}`);
    if ((c.State === undefined || c.State === 'Active') && c.LastUpdateStatus !== 'InProgress') return;
    if (o.now() > deadline) throw new Error(`still ${c.State}/${c.LastUpdateStatus ?? '-'} after ${Math.round(o.waitMs / 1000)} s`);
    await o.sleep(200);
  }
}

/** Deploys the model; returns what was done. An error names the template line of the resource it happened to. */
export async function applyModel(api: DeployApi, model: Model, options: ApplyOptions = {}): Promise<DeployResult> {
  const progress = options.progress ?? (() => {});
  const wait = { sleep: options.sleep ?? realSleep, waitMs: options.waitMs ?? 120_000, now: options.now ?? Date.now };
  const at = async <T>(line: number, what: string, fn: () => Promise<T>): Promise<T> => {
    try {
      return await fn();
    } catch (err) {
      throw new Error(`${model.file}:${line}: ${what}: ${err instanceof Error ? err.message : String(err)}`, { cause: err });
    }
  };

  const layers: LayerResult[] = [];
  const layerArns = new Map<string, string>();
  for (const l of model.layers) {
    const result = await at(l.line, `layer ${l.layerName}`, async () => {
      progress(`packaging layer ${l.layerName}`);
      const zip = await packageCode(l.content);
      const sha = codeSha256(zip);
      const versions = await needs('AWS::Serverless::LayerVersion', () => api.listLayerVersions(l.layerName));
      let latest = versions[0];
      // ListLayerVersions items carry no Content (botocore LayerVersionsListItem): ask GetLayerVersion.
      if (latest && !latest.Content?.CodeSha256) latest = await api.getLayerVersion(l.layerName, latest.Version);
      if (latest && !layerNeedsPublish(l, sha, latest)) {
        return { logicalId: l.logicalId, layerName: l.layerName, action: 'unchanged' as const, layerVersionArn: latest.LayerVersionArn, version: latest.Version };
      }
      progress(`publishing layer ${l.layerName}`);
      const published = await api.publishLayerVersion({
        LayerName: l.layerName,
        ZipFile: zip,
        Description: l.description,
        CompatibleRuntimes: l.compatibleRuntimes,
        ...(l.licenseInfo !== undefined ? { LicenseInfo: l.licenseInfo } : {}),
      });
      return { logicalId: l.logicalId, layerName: l.layerName, action: 'published' as const, layerVersionArn: published.LayerVersionArn, version: published.Version };
    });
    layers.push(result);
    layerArns.set(l.logicalId, result.layerVersionArn);
  }

  const specs = model.functions(layerArns);
  // Routes are listed once; a server without the routes API is fine as long as no function has Events.
  let routes: RouteListing[] | undefined;
  try {
    routes = await api.listRoutes();
  } catch (err) {
    if (!(err instanceof ApiError && err.unknownOperation)) throw err;
    const withEvents = specs.find((s) => s.routes !== undefined);
    if (withEvents) {
      throw new Error(`${model.file}:${withEvents.line}: Events (Api/HttpApi) need a kindling server with the routes API; this one answered ${err.type} (${err.detail})`);
    }
  }

  const functions: FunctionResult[] = [];
  for (const spec of specs) {
    functions.push(await at(spec.line, spec.name, () => applyFunction(api, spec, routes, progress, wait)));
  }
  return { layers, functions, warnings: model.warnings };
}

async function applyFunction(
  api: DeployApi,
  spec: FunctionSpec,
  allRoutes: RouteListing[] | undefined,
  progress: (m: string) => void,
  wait: Required<Pick<ApplyOptions, 'sleep' | 'waitMs' | 'now'>>,
): Promise<FunctionResult> {
  const name = spec.name;
  progress(`packaging ${name}`);
  const zip = await packageCode(spec.code);
  const sha = codeSha256(zip);
  let current;
  try {
    current = await api.getFunction(name);
  } catch (err) {
    if (!(err instanceof ApiError && err.notFound)) throw err;
  }
  const plan = planFunction(spec, sha, current);
  const changes: string[] = [];
  if (plan.action === 'create') {
    progress(`creating ${name}`);
    await api.createFunction({ FunctionName: name, ZipFile: zip, ...spec.settings });
    await waitUntilReady(api, name, wait);
  } else {
    if (current) await waitUntilReady(api, name, wait);
    if (plan.code) {
      progress(`updating the code of ${name}`);
      await api.updateFunctionCode(name, zip);
      await waitUntilReady(api, name, wait);
      changes.push('code');
    }
    if (plan.config.length > 0) {
      progress(`updating the configuration of ${name}`);
      await api.updateFunctionConfiguration(name, spec.settings);
      await waitUntilReady(api, name, wait);
      changes.push(...plan.config);
    }
  }
  if (plan.concurrency !== undefined) {
    if (plan.concurrency === 'delete') await api.deleteFunctionConcurrency(name);
    else await api.putFunctionConcurrency(name, plan.concurrency);
    if (plan.action !== 'create') changes.push('ReservedConcurrentExecutions');
  }
  const changed = plan.action !== 'unchanged';

  const result: FunctionResult = { logicalId: spec.logicalId, name, action: 'unchanged', changes };
  // AutoPublishAlias (SAM): a new version when the code or configuration
  // changed, and the alias pointed at it. PublishVersion returns the latest
  // version when nothing changed since it was published.
  if (spec.alias !== undefined) {
    const alias = spec.alias;
    const existing = await needs('AutoPublishAlias', () => api.getAlias(name, alias));
    if (!existing || changed) {
      progress(`publishing a version of ${name}`);
      const version = (await needs('AutoPublishAlias', () => api.publishVersion(name, sha))).Version ?? '';
      if (!existing) await api.createAlias(name, alias, version);
      else if (existing.FunctionVersion !== version) await api.updateAlias(name, alias, version);
      if (!existing || existing.FunctionVersion !== version) changes.push(`alias ${alias} → version ${version}`);
      result.alias = { name: alias, version };
    } else result.alias = { name: alias, version: existing.FunctionVersion };
  }
  // SAM puts EventInvokeConfig and the function URL on the alias when there is one.
  const qualifier = spec.alias;

  const eicNow = await api.getFunctionEventInvokeConfig(name, qualifier);
  const eic = planEventInvokeConfig(spec.eventInvokeConfig, eicNow);
  if (eic === 'put') await api.putFunctionEventInvokeConfig(name, spec.eventInvokeConfig!, qualifier);
  if (eic === 'delete') await api.deleteFunctionEventInvokeConfig(name, qualifier);
  if (eic && plan.action !== 'create') changes.push('EventInvokeConfig');

  if (spec.url) {
    const desired = spec.url;
    const urlNow = await needs('FunctionUrlConfig', () => api.getFunctionUrlConfig(name, qualifier));
    const urlPlan = planUrl(desired, urlNow);
    let url = urlNow?.FunctionUrl;
    if (urlPlan === 'create') url = (await api.createFunctionUrlConfig(name, desired, qualifier)).FunctionUrl;
    if (urlPlan === 'update') url = (await api.updateFunctionUrlConfig(name, desired, qualifier)).FunctionUrl;
    if (urlPlan && plan.action !== 'create') changes.push('FunctionUrlConfig');
    if (url !== undefined) result.url = url;
  } else {
    // No FunctionUrlConfig in the template: a URL deploy made before is removed (a server without URLs has none).
    let urlNow;
    try {
      urlNow = await api.getFunctionUrlConfig(name, qualifier);
    } catch (err) {
      if (!(err instanceof ApiError && err.unknownOperation)) throw err;
    }
    if (urlNow) {
      await api.deleteFunctionUrlConfig(name, qualifier);
      changes.push('FunctionUrlConfig removed');
    }
  }

  if (allRoutes !== undefined) {
    const mine = allRoutes.filter((r) => r.FunctionName === name);
    if (spec.routes !== undefined && spec.routes.length > 0) {
      if (!sameRoutes(spec.routes, mine)) {
        const out = await api.putRoutes(name, spec.routes);
        if (plan.action !== 'create') changes.push('routes');
        result.routes = out.Routes ?? spec.routes.map((r) => ({ ...r, FunctionName: name }));
      } else result.routes = mine;
    } else if (mine.length > 0) {
      await api.deleteRoutes(name);
      changes.push('routes removed');
    }
  }

  return { ...result, action: plan.action === 'create' ? 'created' : changes.length > 0 ? 'updated' : 'unchanged' };
}
