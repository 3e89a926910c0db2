/**
 * From a SAM template to what should exist: the layers and functions with
 * every property resolved and checked. Whatever kindling deploy cannot do is
 * a TemplateError naming the template line, before anything is deployed.
 *
 * Names: a function is named by its FunctionName property, else by its
 * logical id (prefixed `<stack>-` with --stack-name); a layer by LayerName,
 * else its logical id (same prefix). SAM's Globals merge (SAM developer guide,
 * "Globals section of the AWS SAM template"): maps merge key by key, lists
 * are concatenated (Globals first), anything else in the resource wins.
 */
import { existsSync, statSync } from 'node:fs';
import { resolve as resolvePath } from 'node:path';
import type { Cors, EventInvokeConfig, FunctionSettings, FunctionUrlSettings, Route } from '../client.js';
import { intrinsicOf, Resolver, scalarText, type Json, type ResourceRefs } from './intrinsics.js';
import { entry, get, TemplateError, type Template, type TEntry, type TMap, type TValue } from './template.js';

export const SAM_TRANSFORM = 'AWS::Serverless-2016-10-31';

export interface ModelOptions {
  /** Prefix of generated names (`<stack>-<LogicalId>`) and AWS::StackName. */
  readonly stackName?: string;
  readonly region: string;
  readonly accountId: string;
  /** --parameter-overrides Key=Value. */
  readonly parameterOverrides: Readonly<Record<string, string>>;
}

export type CodeSource = { readonly kind: 'dir' | 'zip'; readonly path: string } | { readonly kind: 'inline'; readonly source: string };

export interface LayerSpec {
  readonly logicalId: string;
  readonly line: number;
  readonly layerName: string;
  readonly content: CodeSource;
  readonly description: string;
  readonly compatibleRuntimes: string[];
  readonly licenseInfo?: string;
}

export interface FunctionSpec {
  readonly logicalId: string;
  readonly line: number;
  readonly name: string;
  readonly settings: FunctionSettings;
  readonly code: CodeSource;
  readonly reservedConcurrency?: number;
  readonly eventInvokeConfig?: EventInvokeConfig;
  readonly alias?: string;
  readonly url?: FunctionUrlSettings;
  /** Api/HttpApi events; undefined when the function has no Events (its routes are left alone). */
  readonly routes?: Route[];
}

export interface Model {
  readonly file: string;
  readonly layers: readonly LayerSpec[];
  /** Ignored properties (no effect on kindling), as "file:line: …" lines. */
  readonly warnings: readonly string[];
  /** The functions, with each layer's Ref resolved to the given LayerVersionArn (by logical id). */
  functions(layerArns: ReadonlyMap<string, string>): FunctionSpec[];
}

const TOP_LEVEL = new Set(['AWSTemplateFormatVersion', 'Transform', 'Description', 'Metadata', 'Parameters', 'Globals', 'Resources', 'Outputs']);
const RESOURCE_KEYS = new Set(['Type', 'Properties', 'DependsOn', 'Metadata', 'DeletionPolicy', 'UpdateReplacePolicy']);
const FUNCTION_TYPE = 'AWS::Serverless::Function';
const LAYER_TYPE = 'AWS::Serverless::LayerVersion';

/** Properties with no meaning on kindling (IAM, X-Ray): accepted with a warning. */
const IGNORED_FUNCTION_PROPS = new Set(['Policies', 'PermissionsBoundary', 'Tracing', 'AssumeRolePolicyDocument', 'RolePath']);
const FUNCTION_PROPS = new Set([
  'Handler', 'Runtime', 'CodeUri', 'InlineCode', 'MemorySize', 'Timeout', 'Environment', 'Layers', 'ReservedConcurrentExecutions',
  'EventInvokeConfig', 'AutoPublishAlias', 'FunctionUrlConfig', 'Events', 'FunctionName', 'Description', 'Architectures',
  'EphemeralStorage', 'Role', 'PackageType', ...IGNORED_FUNCTION_PROPS,
]);
const LAYER_PROPS = new Set(['LayerName', 'ContentUri', 'CompatibleRuntimes', 'Description', 'LicenseInfo', 'RetentionPolicy']);

const unsupported = (what: string) => `${what} is not supported by kindling deploy`;

/** Reads the template into a Model; throws TemplateError for anything it cannot deploy. */
export function buildModel(t: Template, options: ModelOptions): Model {
  const fail = (line: number, problem: string): never => {
    throw new TemplateError(t.file, line, problem);
  };
  const warnings: string[] = [];
  const root = t.root;
  for (const e of root.entries) {
    if (e.key === 'Mappings' || e.key === 'Conditions') fail(e.keyLine, unsupported(`the ${e.key} section`));
    if (!TOP_LEVEL.has(e.key)) fail(e.keyLine, `unknown top-level section ${e.key}`);
  }

  // Transform: AWS::Serverless-2016-10-31 (a string or a list holding it).
  const transform = entry(root, 'Transform');
  const transforms = transform ? (transform.value.kind === 'seq' ? transform.value.items : [transform.value]) : [];
  const names = transforms.map((v) => (v.kind === 'scalar' ? String(v.value) : '(not a name)'));
  if (!names.includes(SAM_TRANSFORM)) {
    fail(transform?.keyLine ?? 1, `kindling deploy reads SAM templates: the template must say Transform: ${SAM_TRANSFORM}`);
  }
  for (const n of names) if (n !== SAM_TRANSFORM) fail(transform!.keyLine, unsupported(`Transform ${n}`));

  const parameters = readParameters(t, options.parameterOverrides);

  const resourcesEntry = entry(root, 'Resources');
  if (!resourcesEntry || resourcesEntry.value.kind !== 'map' || resourcesEntry.value.entries.length === 0) {
    return fail(resourcesEntry?.keyLine ?? 1, 'the template has no Resources');
  }
  const resources = resourcesEntry.value;

  // Globals: only Function.
  let globalFunction: TMap | undefined;
  const globals = get(root, 'Globals');
  if (globals) {
    if (globals.kind !== 'map') fail(globals.line, 'Globals must be a map');
    for (const e of (globals as TMap).entries) {
      if (e.key !== 'Function') fail(e.keyLine, unsupported(`Globals.${e.key}`));
      if (e.value.kind !== 'map') fail(e.value.line, 'Globals.Function must be a map');
      globalFunction = e.value as TMap;
      for (const p of globalFunction.entries) {
        if (['FunctionName', 'Events', 'InlineCode', 'FunctionUrlConfig'].includes(p.key) || !FUNCTION_PROPS.has(p.key)) {
          fail(p.keyLine, unsupported(`Globals.Function.${p.key}`));
        }
      }
    }
  }

  const prefix = options.stackName ? `${options.stackName}-` : '';
  const stackName = options.stackName ?? 'kindling';
  const arn = (kind: string, name: string) => `arn:aws:lambda:${options.region}:${options.accountId}:${kind}:${name}`;

  interface Decl {
    logicalId: string;
    line: number;
    type: string;
    props: TMap;
  }
  const decls: Decl[] = [];
  for (const r of resources.entries) {
    if (r.value.kind !== 'map') fail(r.value.line, `Resources.${r.key} must be a map with Type and Properties`);
    const res = r.value as TMap;
    for (const e of res.entries) {
      if (e.key === 'Condition') fail(e.keyLine, unsupported(`Resources.${r.key}.Condition`));
      if (!RESOURCE_KEYS.has(e.key)) fail(e.keyLine, `Resources.${r.key}: unknown key ${e.key}`);
    }
    const typeNode = get(res, 'Type');
    if (!typeNode || typeNode.kind !== 'scalar' || typeof typeNode.value !== 'string') return fail(r.keyLine, `Resources.${r.key} has no Type`);
    const type = typeNode.value;
    if (type !== FUNCTION_TYPE && type !== LAYER_TYPE) fail(typeNode.line, `Resources.${r.key}: type ${type} ${unsupported('').trim()}`);
    const props = get(res, 'Properties') ?? { kind: 'map', entries: [], line: r.keyLine };
    if (props.kind !== 'map') fail(props.line, `Resources.${r.key}.Properties must be a map`);
    decls.push({ logicalId: r.key, line: r.keyLine, type, props: props as TMap });
  }

  // Names are needed by Ref before anything is resolved; a name given as an
  // intrinsic may refer only to parameters (resolved with no resources known).
  const paramResolver = new Resolver({ file: t.file, parameters, region: options.region, accountId: options.accountId, stackName, resources: new Map() });
  const nameOf = (d: Decl, key: string): string => {
    const v = get(d.props, key);
    return v ? paramResolver.string(v, `Resources.${d.logicalId}.Properties.${key}`) : `${prefix}${d.logicalId}`;
  };
  const functionNames = new Map<string, string>();
  const layerNames = new Map<string, string>();
  for (const d of decls) {
    if (d.type === FUNCTION_TYPE) functionNames.set(d.logicalId, nameOf(d, 'FunctionName'));
    else layerNames.set(d.logicalId, nameOf(d, 'LayerName'));
  }
  const seen = new Map<string, string>();
  for (const [id, name] of functionNames) {
    const other = seen.get(name);
    if (other) fail(decls.find((d) => d.logicalId === id)!.line, `Resources.${id}: function name ${name} is also the name of ${other}`);
    seen.set(name, id);
  }

  const resolverWith = (layerArns: ReadonlyMap<string, string>): Resolver => {
    const refs = new Map<string, ResourceRefs>();
    for (const [id, name] of functionNames) refs.set(id, { type: FUNCTION_TYPE, ref: name, attributes: { Arn: arn('function', name) } });
    for (const [id, name] of layerNames) {
      const a = layerArns.get(id) ?? `${arn('layer', name)}:1`;
      refs.set(id, { type: LAYER_TYPE, ref: a, attributes: { LayerVersionArn: a } });
    }
    return new Resolver({ file: t.file, parameters, region: options.region, accountId: options.accountId, stackName, resources: refs });
  };

  const layers = decls.filter((d) => d.type === LAYER_TYPE).map((d) => readLayer(t, d.logicalId, d.line, d.props, layerNames.get(d.logicalId)!, resolverWith(new Map())));
  const functionDecls = decls.filter((d) => d.type === FUNCTION_TYPE);

  const functions = (layerArns: ReadonlyMap<string, string>): FunctionSpec[] => {
    const r = resolverWith(layerArns);
    return functionDecls.map((d) => {
      const props = globalFunction ? mergeGlobals(globalFunction, d.props) : d.props;
      return readFunction(t, d.logicalId, d.line, props, functionNames.get(d.logicalId)!, r, options, warnings);
    });
  };
  // Checked now, so a template error stops the deploy before anything changes.
  functions(new Map());
  return { file: t.file, layers, warnings, functions };
}

/** Globals merged into a function's properties (maps by key, lists concatenated, the resource's value wins). */
export function mergeGlobals(globals: TMap, local: TMap): TMap {
  const merge = (g: TValue, l: TValue): TValue => {
    if (g.kind === 'map' && l.kind === 'map' && !intrinsicOf(g) && !intrinsicOf(l)) {
      const entries: TEntry[] = [];
      for (const ge of g.entries) {
        const le = l.entries.find((e) => e.key === ge.key);
        entries.push(le ? { ...le, value: merge(ge.value, le.value) } : ge);
      }
      for (const le of l.entries) if (!g.entries.some((e) => e.key === le.key)) entries.push(le);
      return { kind: 'map', entries, line: l.line };
    }
    if (g.kind === 'seq' && l.kind === 'seq') return { kind: 'seq', items: [...g.items, ...l.items], line: l.line };
    return l;
  };
  return merge(globals, local) as TMap;
}

function readParameters(t: Template, overrides: Readonly<Record<string, string>>): Map<string, string | string[]> {
  const fail = (line: number, problem: string): never => {
    throw new TemplateError(t.file, line, problem);
  };
  const out = new Map<string, string | string[]>();
  const section = get(t.root, 'Parameters');
  const declared = new Set<string>();
  if (section) {
    if (section.kind !== 'map') fail(section.line, 'Parameters must be a map');
    for (const p of (section as TMap).entries) {
      declared.add(p.key);
      if (p.value.kind !== 'map') fail(p.value.line, `Parameters.${p.key} must be a map with a Type`);
      const decl = p.value as TMap;
      const scalar = (key: string): string | undefined => {
        const v = get(decl, key);
        if (v === undefined) return undefined;
        if (v.kind !== 'scalar' || v.value === null) return fail(v.line, `Parameters.${p.key}.${key} must be a plain value`);
        return String(v.value);
      };
      const type = scalar('Type') ?? fail(p.keyLine, `Parameters.${p.key} has no Type`);
      const value = overrides[p.key] ?? scalar('Default');
      if (value === undefined) fail(p.keyLine, `parameter ${p.key} has no Default: give it a value with --parameter-overrides ${p.key}=VALUE`);
      const v = value!;
      const allowed = get(decl, 'AllowedValues');
      if (allowed && allowed.kind === 'seq') {
        const values = allowed.items.map((i) => (i.kind === 'scalar' ? String(i.value) : ''));
        if (!values.includes(v)) fail(p.keyLine, `parameter ${p.key}: value '${v}' is not one of its AllowedValues (${values.join(', ')})`);
      }
      const allowedPattern = scalar('AllowedPattern');
      if (allowedPattern !== undefined && !new RegExp(`^(?:${allowedPattern})$`).test(v)) fail(p.keyLine, `parameter ${p.key}: value '${v}' does not match its AllowedPattern ${allowedPattern}`);
      if (type === 'Number' && (v.trim() === '' || !Number.isFinite(Number(v)))) fail(p.keyLine, `parameter ${p.key} is a Number: '${v}' is not a number`);
      if (type === 'CommaDelimitedList' || type.startsWith('List<')) out.set(p.key, v.split(',').map((s) => s.trim()));
      else if (type === 'String' || type === 'Number' || type.startsWith('AWS::')) out.set(p.key, v);
      else fail(p.keyLine, unsupported(`parameter type ${type}`));
    }
  }
  for (const key of Object.keys(overrides)) {
    if (!declared.has(key)) throw new TemplateError(t.file, entry(t.root, 'Parameters')?.keyLine ?? 1, `--parameter-overrides names ${key}, which is not a parameter of the template`);
  }
  return out;
}

function codeSource(t: Template, v: TValue, what: string, r: Resolver): CodeSource {
  if (v.kind === 'map' && !intrinsicOf(v)) throw new TemplateError(t.file, v.line, unsupported(`${what} as an S3 location`) + ': give a local directory or .zip file');
  const uri = r.string(v, what);
  if (/^s3:\/\//.test(uri)) throw new TemplateError(t.file, v.line, unsupported(`${what} ${uri} (an S3 location)`) + ': give a local directory or .zip file');
  const path = resolvePath(t.dir, uri);
  if (!existsSync(path)) throw new TemplateError(t.file, v.line, `${what} ${uri}: no such file or directory (${path})`);
  const st = statSync(path);
  if (st.isDirectory()) return { kind: 'dir', path };
  if (/\.(zip|jar)$/i.test(path)) return { kind: 'zip', path };
  throw new TemplateError(t.file, v.line, `${what} ${uri} must be a directory or a .zip file`);
}

function readLayer(t: Template, logicalId: string, line: number, props: TMap, layerName: string, r: Resolver): LayerSpec {
  const where = `Resources.${logicalId}.Properties`;
  for (const e of props.entries) if (!LAYER_PROPS.has(e.key)) throw new TemplateError(t.file, e.keyLine, unsupported(`${where}.${e.key}`));
  const content = get(props, 'ContentUri');
  if (!content) throw new TemplateError(t.file, line, `${where}.ContentUri is required (the layer's directory)`);
  const runtimes = get(props, 'CompatibleRuntimes');
  const description = get(props, 'Description');
  const license = get(props, 'LicenseInfo');
  return {
    logicalId,
    line,
    layerName,
    content: codeSource(t, content, 'ContentUri', r),
    description: description ? r.string(description, `${where}.Description`) : '',
    compatibleRuntimes: runtimes ? stringList(t, r, runtimes, `${where}.CompatibleRuntimes`) : [],
    ...(license ? { licenseInfo: r.string(license, `${where}.LicenseInfo`) } : {}),
  };
}

function stringList(t: Template, r: Resolver, v: TValue, what: string): string[] {
  const list = r.resolve(v);
  if (!Array.isArray(list) || list.some((x) => typeof x !== 'string')) throw new TemplateError(t.file, v.line, `${what} must be a list of strings`);
  return list as string[];
}

function integer(t: Template, r: Resolver, v: TValue, what: string): number {
  const x = r.resolve(v);
  const n = typeof x === 'string' && x.trim() !== '' ? Number(x) : x;
  if (typeof n !== 'number' || !Number.isInteger(n)) throw new TemplateError(t.file, v.line, `${what} must be a whole number`);
  return n;
}

function readFunction(
  t: Template,
  logicalId: string,
  line: number,
  props: TMap,
  name: string,
  r: Resolver,
  options: ModelOptions,
  warnings: string[],
): FunctionSpec {
  const where = `Resources.${logicalId}.Properties`;
  const fail = (l: number, problem: string): never => {
    throw new TemplateError(t.file, l, problem);
  };
  for (const e of props.entries) {
    if (!FUNCTION_PROPS.has(e.key)) fail(e.keyLine, unsupported(`${where}.${e.key}`));
    if (IGNORED_FUNCTION_PROPS.has(e.key)) {
      const w = `${t.file}:${e.keyLine}: ${where}.${e.key} ignored (kindling has no IAM or X-Ray)`;
      if (!warnings.includes(w)) warnings.push(w);
    }
  }
  const str = (key: string): string | undefined => {
    const v = get(props, key);
    return v ? r.string(v, `${where}.${key}`) : undefined;
  };
  const int = (key: string): number | undefined => {
    const v = get(props, key);
    return v ? integer(t, r, v, `${where}.${key}`) : undefined;
  };

  const packageType = str('PackageType');
  if (packageType !== undefined && packageType !== 'Zip') fail(entry(props, 'PackageType')!.keyLine, unsupported(`PackageType ${packageType}`));
  const handler = str('Handler') ?? fail(line, `${where}.Handler is required`);
  const runtime = str('Runtime') ?? fail(line, `${where}.Runtime is required`);

  const codeUri = get(props, 'CodeUri');
  const inline = get(props, 'InlineCode');
  if (codeUri && inline) fail(inline.line, `${where}: give CodeUri or InlineCode, not both`);
  let code: CodeSource;
  if (inline) code = { kind: 'inline', source: r.string(inline, `${where}.InlineCode`) };
  else if (codeUri) code = codeSource(t, codeUri, 'CodeUri', r);
  else return fail(line, `${where}.CodeUri (a directory) or InlineCode is required`);

  // Environment: { Variables: { NAME: value } }, values written out as strings.
  const variables: Record<string, string> = {};
  const env = get(props, 'Environment');
  if (env) {
    const e = r.resolve(env);
    if (e === null || typeof e !== 'object' || Array.isArray(e)) return fail(env.line, `${where}.Environment must be a map with Variables`);
    for (const k of Object.keys(e)) if (k !== 'Variables') fail(env.line, unsupported(`${where}.Environment.${k}`));
    const vars = e['Variables'] ?? {};
    if (vars === null || typeof vars !== 'object' || Array.isArray(vars)) return fail(env.line, `${where}.Environment.Variables must be a map`);
    for (const [k, v] of Object.entries(vars)) {
      variables[k] = scalarText(v) ?? fail(env.line, `${where}.Environment.Variables.${k} must be a string`);
    }
  }

  const layersNode = get(props, 'Layers');
  const arch = get(props, 'Architectures');
  const storage = get(props, 'EphemeralStorage');
  let ephemeral = 512;
  if (storage) {
    const s = get(storage.kind === 'map' ? storage : { kind: 'map', entries: [], line: storage.line }, 'Size');
    if (!s) return fail(storage.line, `${where}.EphemeralStorage must be a map with Size`);
    ephemeral = integer(t, r, s, `${where}.EphemeralStorage.Size`);
  }

  const settings: FunctionSettings = {
    Runtime: runtime,
    Handler: handler,
    Role: str('Role') ?? `arn:aws:iam::${options.accountId}:role/${logicalId}Role`,
    Description: str('Description') ?? '',
    Timeout: int('Timeout') ?? 3,
    MemorySize: int('MemorySize') ?? 128,
    Environment: { Variables: variables },
    Layers: layersNode ? stringList(t, r, layersNode, `${where}.Layers`) : [],
    Architectures: arch ? stringList(t, r, arch, `${where}.Architectures`) : ['x86_64'],
    EphemeralStorage: { Size: ephemeral },
  };

  const reserved = int('ReservedConcurrentExecutions');
  if (reserved !== undefined && reserved < 0) fail(get(props, 'ReservedConcurrentExecutions')!.line, `${where}.ReservedConcurrentExecutions must be 0 or more`);
  const alias = str('AutoPublishAlias');
  if (alias !== undefined && !/^(?!^[0-9]+$)([a-zA-Z0-9-_]+)$/.test(alias)) {
    // botocore's Alias name pattern.
    fail(get(props, 'AutoPublishAlias')!.line, `${where}.AutoPublishAlias '${alias}' is not a valid alias name (letters, digits, - and _, not only digits)`);
  }

  const eic = get(props, 'EventInvokeConfig');
  const url = get(props, 'FunctionUrlConfig');
  const events = get(props, 'Events');
  return {
    logicalId,
    line,
    name,
    settings,
    code,
    ...(reserved !== undefined ? { reservedConcurrency: reserved } : {}),
    ...(eic ? { eventInvokeConfig: readEventInvokeConfig(t, r, eic, `${where}.EventInvokeConfig`) } : {}),
    ...(alias !== undefined ? { alias } : {}),
    ...(url ? { url: readUrlConfig(t, r, url, `${where}.FunctionUrlConfig`) } : {}),
    // With AutoPublishAlias, SAM points the events' integrations at the alias ARN: the routes invoke the alias.
    ...(events ? { routes: readEvents(t, r, events, `${where}.Events`, alias) } : {}),
  };
}

function plainMap(t: Template, v: TValue, what: string): TMap {
  if (v.kind !== 'map' || intrinsicOf(v)) throw new TemplateError(t.file, v.line, `${what} must be a map`);
  return v;
}

function readEventInvokeConfig(t: Template, r: Resolver, v: TValue, where: string): EventInvokeConfig {
  const m = plainMap(t, v, where);
  const out: EventInvokeConfig = {};
  for (const e of m.entries) {
    if (e.key === 'MaximumEventAgeInSeconds' || e.key === 'MaximumRetryAttempts') out[e.key] = integer(t, r, e.value, `${where}.${e.key}`);
    else if (e.key === 'DestinationConfig') {
      const dc = plainMap(t, e.value, `${where}.DestinationConfig`);
      const config: Record<string, { Destination: string }> = {};
      for (const d of dc.entries) {
        if (d.key !== 'OnSuccess' && d.key !== 'OnFailure') throw new TemplateError(t.file, d.keyLine, unsupported(`${where}.DestinationConfig.${d.key}`));
        const dm = plainMap(t, d.value, `${where}.DestinationConfig.${d.key}`);
        for (const k of dm.entries) if (k.key !== 'Type' && k.key !== 'Destination') throw new TemplateError(t.file, k.keyLine, unsupported(`${where}.DestinationConfig.${d.key}.${k.key}`));
        const dest = get(dm, 'Destination');
        // SAM creates the destination resource when Destination is left out; kindling cannot.
        if (!dest) throw new TemplateError(t.file, d.keyLine, `${where}.DestinationConfig.${d.key}.Destination is required by kindling deploy (an ARN: it does not create destination resources)`);
        config[d.key] = { Destination: r.string(dest, `${where}.DestinationConfig.${d.key}.Destination`) };
      }
      out.DestinationConfig = config;
    } else throw new TemplateError(t.file, e.keyLine, unsupported(`${where}.${e.key}`));
  }
  return out;
}

function readUrlConfig(t: Template, r: Resolver, v: TValue, where: string): FunctionUrlSettings {
  const m = plainMap(t, v, where);
  let authType: string | undefined;
  let invokeMode: string | undefined;
  let cors: Cors | undefined;
  for (const e of m.entries) {
    if (e.key === 'AuthType') authType = r.string(e.value, `${where}.AuthType`);
    else if (e.key === 'InvokeMode') invokeMode = r.string(e.value, `${where}.InvokeMode`);
    else if (e.key === 'Cors') {
      const c = r.resolve(e.value);
      if (c === null || typeof c !== 'object' || Array.isArray(c)) throw new TemplateError(t.file, e.value.line, `${where}.Cors must be a map`);
      const known = ['AllowCredentials', 'AllowHeaders', 'AllowMethods', 'AllowOrigins', 'ExposeHeaders', 'MaxAge'];
      for (const k of Object.keys(c)) if (!known.includes(k)) throw new TemplateError(t.file, e.value.line, unsupported(`${where}.Cors.${k}`));
      cors = c;
    } else throw new TemplateError(t.file, e.keyLine, unsupported(`${where}.${e.key}`));
  }
  if (authType === undefined) throw new TemplateError(t.file, m.line, `${where}.AuthType is required (NONE or AWS_IAM)`);
  return { AuthType: authType, ...(invokeMode !== undefined ? { InvokeMode: invokeMode } : {}), ...(cors ? { Cors: cors } : {}) };
}

const METHODS = new Set(['GET', 'POST', 'PUT', 'PATCH', 'DELETE', 'HEAD', 'OPTIONS', 'ANY']);

function readEvents(t: Template, r: Resolver, v: TValue, where: string, alias: string | undefined): Route[] {
  const m = plainMap(t, v, where);
  const routes: Route[] = [];
  for (const ev of m.entries) {
    const e = plainMap(t, ev.value, `${where}.${ev.key}`);
    const typeNode = get(e, 'Type');
    if (!typeNode) throw new TemplateError(t.file, ev.keyLine, `Events.${ev.key} has no Type`);
    const type = r.string(typeNode, `Events.${ev.key}.Type`);
    if (type !== 'Api' && type !== 'HttpApi') throw new TemplateError(t.file, typeNode.line, `Events.${ev.key} type ${type} is not supported by kindling deploy (only Api and HttpApi)`);
    for (const k of e.entries) if (k.key !== 'Type' && k.key !== 'Properties') throw new TemplateError(t.file, k.keyLine, unsupported(`Events.${ev.key}.${k.key}`));
    const propsNode = get(e, 'Properties');
    const props = propsNode ? plainMap(t, propsNode, `Events.${ev.key}.Properties`) : ({ kind: 'map', entries: [], line: ev.keyLine } as TMap);
    const known = type === 'Api' ? ['Path', 'Method'] : ['Path', 'Method', 'PayloadFormatVersion'];
    for (const k of props.entries) if (!known.includes(k.key)) throw new TemplateError(t.file, k.keyLine, unsupported(`Events.${ev.key}.Properties.${k.key} (${type})`));
    const path = get(props, 'Path');
    const method = get(props, 'Method');
    const pfv = get(props, 'PayloadFormatVersion');
    if (type === 'Api' && (!path || !method)) throw new TemplateError(t.file, ev.keyLine, `Events.${ev.key}: an Api event needs Properties.Path and Properties.Method`);
    // An HttpApi event without Path and Method is the API's catch-all ($default) route.
    const routePath = path ? r.string(path, `Events.${ev.key}.Properties.Path`) : '/{proxy+}';
    let routeMethod = method ? r.string(method, `Events.${ev.key}.Properties.Method`).toUpperCase() : 'ANY';
    if (routeMethod === 'X-AMAZON-APIGATEWAY-ANY-METHOD') routeMethod = 'ANY';
    if (!METHODS.has(routeMethod)) throw new TemplateError(t.file, method!.line, `Events.${ev.key}: method ${routeMethod} is not an HTTP method kindling routes (${[...METHODS].join(', ')})`);
    if (!routePath.startsWith('/')) throw new TemplateError(t.file, path!.line, `Events.${ev.key}: Path must start with /`);
    const version = pfv ? r.string(pfv, `Events.${ev.key}.Properties.PayloadFormatVersion`) : type === 'Api' ? '1.0' : '2.0';
    if (version !== '1.0' && version !== '2.0') throw new TemplateError(t.file, pfv!.line, `Events.${ev.key}: PayloadFormatVersion must be 1.0 or 2.0`);
    routes.push({ Method: routeMethod, Path: routePath, PayloadFormatVersion: version, ...(alias !== undefined ? { Qualifier: alias } : {}) });
  }
  return routes;
}

/** Parses `--parameter-overrides` words: Key=Value or ParameterKey=Key,ParameterValue=Value (as sam deploy takes them). */
export function parseParameterOverrides(words: readonly string[]): Record<string, string> {
  const out: Record<string, string> = {};
  for (const word of words) {
    const long = /^ParameterKey=([^,]+),ParameterValue=(.*)$/.exec(word);
    if (long) {
      out[long[1]!] = long[2]!;
      continue;
    }
    const eq = word.indexOf('=');
    if (eq <= 0) throw new Error(`--parameter-overrides: expected Key=Value, got '${word}'`);
    out[word.slice(0, eq)] = word.slice(eq + 1);
  }
  return out;
}

export type { Json };
