import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import {
  ApiError,
  type AliasConfiguration,
  type CreateFunctionInput,
  type EventInvokeConfig,
  type FunctionConfiguration,
  type FunctionSettings,
  type FunctionUrlConfig,
  type FunctionUrlSettings,
  type GetFunctionOutput,
  type LayerVersion,
  type PublishLayerVersionInput,
  type Route,
  type RouteListing,
} from '../client.js';
import { makeOutput } from '../output.js';
import { applyModel, type DeployApi } from './apply.js';
import { summary, templatePath } from './index.js';
import { buildModel } from './model.js';
import { codeSha256 } from './package.js';
import { planEventInvokeConfig, planUrl, settingsChanges } from './plan.js';
import { parseTemplate } from './template.js';

const ACCOUNT = '000000000000';
const fnArn = (n: string) => `arn:aws:lambda:us-east-1:${ACCOUNT}:function:${n}`;

const notFound = (what: string) => new ApiError(404, 'ResourceNotFoundException', `${what} not found`);
const unknown = () => new ApiError(404, 'UnknownOperationException', 'Unknown operation');

interface FakeFunction {
  config: FunctionConfiguration;
  reserved?: number;
  eic: Map<string, EventInvokeConfig>;
  versions: { version: string; sha: string }[];
  aliases: Map<string, string>;
  urls: Map<string, FunctionUrlConfig>;
  /** GetFunction calls left before Pending/InProgress settles. */
  busy: number;
}

/** An in-memory Lambda with Lambda's states: Pending after create, InProgress after an update, 409 meanwhile. */
class FakeLambda implements DeployApi {
  readonly functions = new Map<string, FakeFunction>();
  readonly layers = new Map<string, { version: LayerVersion; sha: string }[]>();
  readonly routes = new Map<string, Route[]>();
  readonly calls: string[] = [];
  readonly missing = new Set<'layers' | 'aliases' | 'urls' | 'routes'>();

  #fn(name: string): FakeFunction {
    const f = this.functions.get(name);
    if (!f) throw notFound(`Function ${fnArn(name)}`);
    return f;
  }

  #idle(f: FakeFunction): void {
    if (f.busy > 0) throw new ApiError(409, 'ResourceConflictException', `An update is in progress for resource: ${f.config.FunctionArn}`);
  }

  #configure(f: FakeFunction, s: FunctionSettings): void {
    Object.assign(f.config, { ...s, Layers: s.Layers.map((Arn) => ({ Arn })) });
  }

  #q(q: string | undefined): string {
    if (q !== undefined && q !== '$LATEST' && this.missing.has('aliases')) throw unknown();
    return q ?? '$LATEST';
  }

  getFunction(name: string): Promise<GetFunctionOutput> {
    const f = this.#fn(name);
    if (f.busy > 0) f.busy--;
    const settled = f.busy === 0;
    const config = { ...f.config, State: settled || f.config.State === 'Active' ? 'Active' : 'Pending', LastUpdateStatus: settled ? 'Successful' : 'InProgress' };
    if (settled) f.config.State = 'Active';
    return Promise.resolve({ Configuration: config, ...(f.reserved !== undefined ? { Concurrency: { ReservedConcurrentExecutions: f.reserved } } : {}) });
  }

  createFunction(input: CreateFunctionInput): Promise<FunctionConfiguration> {
    this.calls.push(`createFunction ${input.FunctionName}`);
    if (this.functions.has(input.FunctionName)) throw new ApiError(409, 'ResourceConflictException', 'Function already exist');
    const f: FakeFunction = {
      config: { FunctionName: input.FunctionName, FunctionArn: fnArn(input.FunctionName), CodeSha256: codeSha256(input.ZipFile), State: 'Pending' },
      eic: new Map(),
      versions: [],
      aliases: new Map(),
      urls: new Map(),
      busy: 2,
    };
    this.#configure(f, input);
    this.functions.set(input.FunctionName, f);
    return Promise.resolve(f.config);
  }

  updateFunctionCode(name: string, zip: Buffer): Promise<FunctionConfiguration> {
    this.calls.push(`updateFunctionCode ${name}`);
    const f = this.#fn(name);
    this.#idle(f);
    f.config.CodeSha256 = codeSha256(zip);
    f.busy = 2;
    return Promise.resolve(f.config);
  }

  updateFunctionConfiguration(name: string, settings: FunctionSettings): Promise<FunctionConfiguration> {
    this.calls.push(`updateFunctionConfiguration ${name}`);
    const f = this.#fn(name);
    this.#idle(f);
    this.#configure(f, settings);
    f.busy = 2;
    return Promise.resolve(f.config);
  }

  putFunctionConcurrency(name: string, reserved: number): Promise<void> {
    this.calls.push(`putFunctionConcurrency ${name} ${reserved}`);
    this.#fn(name).reserved = reserved;
    return Promise.resolve();
  }

  deleteFunctionConcurrency(name: string): Promise<void> {
    this.calls.push(`deleteFunctionConcurrency ${name}`);
    delete this.#fn(name).reserved;
    return Promise.resolve();
  }

  getFunctionEventInvokeConfig(name: string, qualifier?: string): Promise<EventInvokeConfig | undefined> {
    return Promise.resolve(this.#fn(name).eic.get(this.#q(qualifier)));
  }

  putFunctionEventInvokeConfig(name: string, config: EventInvokeConfig, qualifier?: string): Promise<void> {
    this.calls.push(`putFunctionEventInvokeConfig ${name} ${this.#q(qualifier)}`);
    this.#fn(name).eic.set(this.#q(qualifier), config);
    return Promise.resolve();
  }

  deleteFunctionEventInvokeConfig(name: string, qualifier?: string): Promise<void> {
    this.calls.push(`deleteFunctionEventInvokeConfig ${name}`);
    this.#fn(name).eic.delete(this.#q(qualifier));
    return Promise.resolve();
  }

  publishVersion(name: string): Promise<FunctionConfiguration> {
    if (this.missing.has('aliases')) throw unknown();
    const f = this.#fn(name);
    this.#idle(f);
    const last = f.versions.at(-1);
    const state = JSON.stringify({ ...f.config, State: undefined });
    // Lambda: neither code nor configuration changed since the last version → that version again.
    if (last && last.sha === state) return Promise.resolve({ ...f.config, Version: last.version });
    const version = String(f.versions.length + 1);
    this.calls.push(`publishVersion ${name} → ${version}`);
    f.versions.push({ version, sha: state });
    return Promise.resolve({ ...f.config, Version: version });
  }

  getAlias(name: string, alias: string): Promise<AliasConfiguration | undefined> {
    if (this.missing.has('aliases')) throw unknown();
    const v = this.#fn(name).aliases.get(alias);
    return Promise.resolve(v === undefined ? undefined : { AliasArn: `${fnArn(name)}:${alias}`, Name: alias, FunctionVersion: v });
  }

  createAlias(name: string, alias: string, version: string): Promise<AliasConfiguration> {
    this.calls.push(`createAlias ${name} ${alias} ${version}`);
    this.#fn(name).aliases.set(alias, version);
    return Promise.resolve({ AliasArn: `${fnArn(name)}:${alias}`, Name: alias, FunctionVersion: version });
  }

  updateAlias(name: string, alias: string, version: string): Promise<AliasConfiguration> {
    this.calls.push(`updateAlias ${name} ${alias} ${version}`);
    this.#fn(name).aliases.set(alias, version);
    return Promise.resolve({ AliasArn: `${fnArn(name)}:${alias}`, Name: alias, FunctionVersion: version });
  }

  listLayerVersions(layer: string): Promise<LayerVersion[]> {
    if (this.missing.has('layers')) throw unknown();
    // As on Lambda: list items carry no Content.
    return Promise.resolve((this.layers.get(layer) ?? []).map(({ version: { Content: _c, ...rest } }) => rest).reverse());
  }

  getLayerVersion(layer: string, version: number): Promise<LayerVersion> {
    const v = this.layers.get(layer)?.find((x) => x.version.Version === version);
    if (!v) throw notFound('Layer version');
    return Promise.resolve(v.version);
  }

  publishLayerVersion(input: PublishLayerVersionInput): Promise<LayerVersion> {
    if (this.missing.has('layers')) throw unknown();
    const list = this.layers.get(input.LayerName) ?? [];
    const n = list.length + 1;
    this.calls.push(`publishLayerVersion ${input.LayerName} → ${n}`);
    const sha = codeSha256(input.ZipFile);
    const version: LayerVersion = {
      LayerVersionArn: `arn:aws:lambda:us-east-1:${ACCOUNT}:layer:${input.LayerName}:${n}`,
      Version: n,
      Description: input.Description,
      CompatibleRuntimes: input.CompatibleRuntimes,
      Content: { CodeSha256: sha },
    };
    list.push({ version, sha });
    this.layers.set(input.LayerName, list);
    return Promise.resolve(version);
  }

  getFunctionUrlConfig(name: string, qualifier?: string): Promise<FunctionUrlConfig | undefined> {
    if (this.missing.has('urls')) throw unknown();
    return Promise.resolve(this.#fn(name).urls.get(this.#q(qualifier)));
  }

  #setUrl(name: string, settings: FunctionUrlSettings, qualifier?: string): FunctionUrlConfig {
    const c = { ...settings, FunctionUrl: `http://${name}.lambda-url.test/` };
    this.#fn(name).urls.set(this.#q(qualifier), c);
    return c;
  }

  createFunctionUrlConfig(name: string, settings: FunctionUrlSettings, qualifier?: string): Promise<FunctionUrlConfig> {
    this.calls.push(`createFunctionUrlConfig ${name} ${this.#q(qualifier)}`);
    return Promise.resolve(this.#setUrl(name, settings, qualifier));
  }

  updateFunctionUrlConfig(name: string, settings: FunctionUrlSettings, qualifier?: string): Promise<FunctionUrlConfig> {
    this.calls.push(`updateFunctionUrlConfig ${name}`);
    return Promise.resolve(this.#setUrl(name, settings, qualifier));
  }

  deleteFunctionUrlConfig(name: string, qualifier?: string): Promise<void> {
    this.calls.push(`deleteFunctionUrlConfig ${name}`);
    this.#fn(name).urls.delete(this.#q(qualifier));
    return Promise.resolve();
  }

  listRoutes(): Promise<RouteListing[]> {
    if (this.missing.has('routes')) throw unknown();
    return Promise.resolve([...this.routes].flatMap(([FunctionName, rs]) => rs.map((r) => ({ ...r, FunctionName }))));
  }

  putRoutes(name: string, routes: readonly Route[]): Promise<{ Routes?: RouteListing[] }> {
    if (this.missing.has('routes')) throw unknown();
    this.calls.push(`putRoutes ${name} ${routes.map((r) => `${r.Method} ${r.Path}${r.Qualifier !== undefined ? ` → ${r.Qualifier}` : ''}`).join(', ')}`);
    this.routes.set(name, [...routes]);
    return Promise.resolve({ Routes: routes.map((r) => ({ ...r, FunctionName: name })) });
  }

  deleteRoutes(name: string): Promise<void> {
    this.calls.push(`deleteRoutes ${name}`);
    this.routes.delete(name);
    return Promise.resolve();
  }
}

const root = mkdtempSync(join(tmpdir(), 'kindling-apply-'));
after(() => rmSync(root, { recursive: true, force: true }));

function project(name: string): string {
  const dir = join(root, name);
  mkdirSync(join(dir, 'api', 'node_modules', 'dep'), { recursive: true });
  mkdirSync(join(dir, 'deps', 'nodejs'), { recursive: true });
  writeFileSync(join(dir, 'api', 'app.js'), 'exports.handler = async () => require("dep");');
  writeFileSync(join(dir, 'api', 'node_modules', 'dep', 'index.js'), 'module.exports = 1;');
  writeFileSync(join(dir, 'deps', 'nodejs', 'lib.js'), 'module.exports = "lib";');
  return dir;
}

const TEMPLATE = `Transform: AWS::Serverless-2016-10-31
Parameters:
  Reserved:
    Type: Number
    Default: 5
Globals:
  Function:
    Runtime: nodejs20.x
    Timeout: 10
Resources:
  Deps:
    Type: AWS::Serverless::LayerVersion
    Properties:
      LayerName: deps
      ContentUri: deps/
  Api:
    Type: AWS::Serverless::Function
    Properties:
      FunctionName: api
      Handler: app.handler
      CodeUri: api/
      Layers: [!Ref Deps]
      ReservedConcurrentExecutions: !Ref Reserved
      AutoPublishAlias: live
      FunctionUrlConfig:
        AuthType: NONE
      EventInvokeConfig:
        MaximumRetryAttempts: 0
      Events:
        Get:
          Type: HttpApi
          Properties:
            Path: /items/{id}
            Method: GET
  Small:
    Type: AWS::Serverless::Function
    Properties:
      Handler: index.handler
      InlineCode: "exports.handler = async () => 'small';"
`;

const deployOnce = (api: DeployApi, dir: string, text = TEMPLATE, overrides: Record<string, string> = {}) =>
  applyModel(api, buildModel(parseTemplate(text, 'template.yaml', dir), { region: 'us-east-1', accountId: ACCOUNT, parameterOverrides: overrides }), {
    sleep: () => Promise.resolve(),
  });

const plain = makeOutput({ isTTY: false, write: () => true }, { isTTY: false, write: () => true }, {});

describe('applyModel against a fake Lambda', () => {
  it('creates everything the first time, waiting out Pending and InProgress', async () => {
    const api = new FakeLambda();
    const dir = project('first');
    const result = await deployOnce(api, dir);
    assert.deepEqual(api.calls, [
      'publishLayerVersion deps → 1',
      'createFunction api',
      'putFunctionConcurrency api 5',
      'publishVersion api → 1',
      'createAlias api live 1',
      'putFunctionEventInvokeConfig api live',
      'createFunctionUrlConfig api live',
      'putRoutes api GET /items/{id} → live',
      'createFunction Small',
    ]);
    assert.deepEqual(api.functions.get('api')!.config.Layers, [{ Arn: 'arn:aws:lambda:us-east-1:000000000000:layer:deps:1' }]);
    assert.deepEqual(summary(result, plain), [
      'published  layer deps:1',
      'created    api',
      'created    Small',
      '',
      'alias  api:live  → version 1',
      'url    api       http://api.lambda-url.test/',
      'route  api       GET /items/{id} → api:live',
      "(routes are served by the platform's HTTP front door: `kindling up --http-port`, by default the API's port + 1)",
    ]);
  });

  it('changes nothing when nothing changed, and says so', async () => {
    const api = new FakeLambda();
    const dir = project('again');
    await deployOnce(api, dir);
    api.calls.length = 0;
    const result = await deployOnce(api, dir);
    assert.deepEqual(api.calls, []);
    assert.deepEqual(
      result.functions.map((f) => f.action),
      ['unchanged', 'unchanged'],
    );
    assert.equal(result.layers[0]!.action, 'unchanged');
    assert.deepEqual(summary(result, plain).slice(0, 3), ['unchanged  layer deps:1', 'unchanged  api', 'unchanged  Small']);
  });

  it('updates only the function whose file changed, publishing a version and moving the alias', async () => {
    const api = new FakeLambda();
    const dir = project('code');
    await deployOnce(api, dir);
    api.calls.length = 0;
    writeFileSync(join(dir, 'api', 'node_modules', 'dep', 'index.js'), 'module.exports = 2;');
    const result = await deployOnce(api, dir);
    assert.deepEqual(api.calls, ['updateFunctionCode api', 'publishVersion api → 2', 'updateAlias api live 2']);
    assert.deepEqual(result.functions.map((f) => [f.name, f.action, f.changes]), [
      ['api', 'updated', ['code', 'alias live → version 2']],
      ['Small', 'unchanged', []],
    ]);
    assert.equal(summary(result, plain)[1], 'updated    api (code, alias live → version 2)');
  });

  it('a new layer version goes into the functions that use it; configuration and concurrency changes are named', async () => {
    const api = new FakeLambda();
    const dir = project('layer');
    await deployOnce(api, dir);
    api.calls.length = 0;
    writeFileSync(join(dir, 'deps', 'nodejs', 'lib.js'), 'module.exports = "lib 2";');
    const text = TEMPLATE.replace('    Timeout: 10\n', '    Timeout: 20\n');
    const result = await deployOnce(api, dir, text, { Reserved: '7' });
    assert.deepEqual(api.calls, [
      'publishLayerVersion deps → 2',
      'updateFunctionConfiguration api',
      'putFunctionConcurrency api 7',
      'publishVersion api → 2',
      'updateAlias api live 2',
      'updateFunctionConfiguration Small',
    ]);
    assert.deepEqual(result.functions[0]!.changes, ['Timeout', 'Layers', 'ReservedConcurrentExecutions', 'alias live → version 2']);
    assert.deepEqual(api.functions.get('api')!.config.Layers, [{ Arn: 'arn:aws:lambda:us-east-1:000000000000:layer:deps:2' }]);
    assert.deepEqual(result.functions[1]!.changes, ['Timeout']);
  });

  it('routes follow AutoPublishAlias: routes of $LATEST are put again with the alias, and without it once it leaves', async () => {
    const api = new FakeLambda();
    const dir = project('qualified');
    await deployOnce(api, dir);
    // Routes as a kindling without route qualifiers stored them: they differ, and are put again.
    api.routes.set('api', [{ Method: 'GET', Path: '/items/{id}', PayloadFormatVersion: '2.0' }]);
    api.calls.length = 0;
    let result = await deployOnce(api, dir);
    assert.deepEqual(api.calls, ['putRoutes api GET /items/{id} → live']);
    assert.deepEqual(result.functions[0]!.changes, ['routes']);
    // Without AutoPublishAlias the routes invoke $LATEST again (the alias itself is left alone, as before).
    api.calls.length = 0;
    result = await deployOnce(api, dir, TEMPLATE.replace('      AutoPublishAlias: live\n', ''));
    assert.ok(api.calls.includes('putRoutes api GET /items/{id}'), api.calls.join('; '));
    assert.deepEqual(api.routes.get('api'), [{ Method: 'GET', Path: '/items/{id}', PayloadFormatVersion: '2.0' }]);
  });

  it('what leaves the template is removed: concurrency, EventInvokeConfig, URL, routes', async () => {
    const api = new FakeLambda();
    const dir = project('remove');
    await deployOnce(api, dir);
    api.calls.length = 0;
    const text = TEMPLATE.replace(/ {6}ReservedConcurrentExecutions[^]*? {12}Method: GET\n/, '      AutoPublishAlias: live\n');
    const result = await deployOnce(api, dir, text);
    assert.deepEqual(api.calls, ['deleteFunctionConcurrency api', 'deleteFunctionEventInvokeConfig api', 'deleteFunctionUrlConfig api', 'deleteRoutes api']);
    assert.deepEqual(result.functions[0]!.changes, ['ReservedConcurrentExecutions', 'EventInvokeConfig', 'FunctionUrlConfig removed', 'routes removed']);
  });

  it('a server without a feature: a clear error naming the template line, and no error for templates not using it', async () => {
    const api = new FakeLambda();
    api.missing.add('routes').add('layers').add('urls').add('aliases');
    const dir = project('old-server');
    await assert.rejects(deployOnce(api, dir), /^Error: template\.yaml:11: layer deps: AWS::Serverless::LayerVersion needs a kindling server that has it; this one answered UnknownOperationException \(Unknown operation\)$/);
    const noLayer = TEMPLATE.replace(/ {2}Deps:[^]*?ContentUri: deps\/\n/, '').replace('      Layers: [!Ref Deps]\n', '');
    await assert.rejects(deployOnce(api, dir, noLayer), /^Error: template\.yaml:11: Events \(Api\/HttpApi\) need a kindling server with the routes API/);
    const simple = noLayer.replace(/ {6}AutoPublishAlias[^]*? {12}Method: GET\n/, '');
    const result = await deployOnce(api, dir, simple);
    assert.deepEqual(result.functions.map((f) => f.action), ['created', 'created']);
  });

  it("an API error names the resource's template line and the function", async () => {
    const api = new FakeLambda();
    api.createFunction = () => Promise.reject(new ApiError(400, 'InvalidParameterValueException', 'The runtime parameter of nodejs9.x is no longer supported'));
    await assert.rejects(
      deployOnce(api, project('bad'), TEMPLATE.replace(/ {2}Deps:[^]*?ContentUri: deps\/\n/, '').replace('      Layers: [!Ref Deps]\n', '')),
      /^Error: template\.yaml:11: api: InvalidParameterValueException: The runtime parameter of nodejs9\.x is no longer supported$/,
    );
  });
});

describe('plan', () => {
  const settings: FunctionSettings = {
    Runtime: 'nodejs20.x',
    Handler: 'index.handler',
    Role: 'arn:aws:iam::000000000000:role/r',
    Description: '',
    Timeout: 3,
    MemorySize: 128,
    Environment: { Variables: {} },
    Layers: [],
    Architectures: ['x86_64'],
    EphemeralStorage: { Size: 512 },
  };
  it("fills Lambda's defaults for absent fields", () => {
    const current: FunctionConfiguration = { FunctionName: 'f', FunctionArn: fnArn('f'), Runtime: 'nodejs20.x', Handler: 'index.handler', Role: settings.Role };
    assert.deepEqual(settingsChanges(settings, current), []);
    assert.deepEqual(settingsChanges({ ...settings, Environment: { Variables: { A: '1' } }, MemorySize: 256 }, current), ['MemorySize', 'Environment']);
  });

  it('EventInvokeConfig: put, delete or leave', () => {
    assert.equal(planEventInvokeConfig(undefined, undefined), undefined);
    assert.equal(planEventInvokeConfig(undefined, { MaximumRetryAttempts: 1 }), 'delete');
    assert.equal(planEventInvokeConfig({ MaximumRetryAttempts: 1 }, undefined), 'put');
    assert.equal(planEventInvokeConfig({ MaximumRetryAttempts: 1 }, { MaximumRetryAttempts: 1, DestinationConfig: { OnSuccess: {}, OnFailure: {} } }), undefined);
    assert.equal(planEventInvokeConfig({ MaximumRetryAttempts: 1 }, { MaximumRetryAttempts: 2 }), 'put');
    assert.equal(planEventInvokeConfig({ DestinationConfig: { OnFailure: { Destination: 'arn:a' } } }, { DestinationConfig: { OnFailure: {} } }), 'put');
  });

  it('function URL: InvokeMode defaults to BUFFERED', () => {
    assert.equal(planUrl({ AuthType: 'NONE' }, undefined), 'create');
    assert.equal(planUrl({ AuthType: 'NONE' }, { AuthType: 'NONE', InvokeMode: 'BUFFERED', FunctionUrl: 'u' }), undefined);
    assert.equal(planUrl({ AuthType: 'AWS_IAM' }, { AuthType: 'NONE', FunctionUrl: 'u' }), 'update');
    assert.equal(planUrl({ AuthType: 'NONE', Cors: { AllowOrigins: ['*'] } }, { AuthType: 'NONE', FunctionUrl: 'u' }), 'update');
  });
});

describe('the deploy command', () => {
  it('finds template.yaml, template.yml or template.json, or asks for -t', () => {
    const dir = mkdtempSync(join(root, 'tpl-'));
    assert.throws(() => templatePath(undefined, dir), /no template\.yaml here: give the template with -t FILE/);
    writeFileSync(join(dir, 'template.yml'), '');
    assert.equal(templatePath(undefined, dir), 'template.yml');
    assert.equal(templatePath('other.yaml', dir), 'other.yaml');
  });

  it('colours the summary on a terminal only', () => {
    const tty = makeOutput({ isTTY: true, write: () => true }, { isTTY: true, write: () => true }, {});
    const result = { layers: [], warnings: [], functions: [{ logicalId: 'A', name: 'a', action: 'created' as const, changes: [] }] };
    assert.deepEqual(summary(result, tty), ['\x1b[32mcreated  a\x1b[39m']);
    assert.deepEqual(summary(result, plain), ['created  a']);
    const noColor = makeOutput({ isTTY: true, write: () => true }, { isTTY: true, write: () => true }, { NO_COLOR: '1' });
    assert.deepEqual(summary(result, noColor), ['created  a']);
  });
});
