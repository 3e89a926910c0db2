import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import { Resolver } from './intrinsics.js';
import { buildModel, parseParameterOverrides, type ModelOptions } from './model.js';
import { parseTemplate, TemplateError, type TMap } from './template.js';

const dir = mkdtempSync(join(tmpdir(), 'kindling-model-'));
after(() => rmSync(dir, { recursive: true, force: true }));
mkdirSync(join(dir, 'src'));
writeFileSync(join(dir, 'src', 'app.js'), 'exports.handler = async () => 1;');
mkdirSync(join(dir, 'layer', 'nodejs'), { recursive: true });
writeFileSync(join(dir, 'layer', 'nodejs', 'x.js'), '');

const OPTIONS: ModelOptions = { region: 'eu-west-1', accountId: '000000000000', parameterOverrides: {} };

const model = (text: string, options: Partial<ModelOptions> = {}) => buildModel(parseTemplate(text, 'template.yaml', dir), { ...OPTIONS, ...options });

/** The TemplateError `fn` throws: file:line: problem. */
function templateError(fn: () => unknown, line: number, problem: RegExp | string): void {
  assert.throws(fn, (err: unknown) => {
    assert.ok(err instanceof TemplateError, String(err));
    assert.equal(err.line, line, err.message);
    if (typeof problem === 'string') assert.equal(err.problem, problem);
    else assert.match(err.problem, problem);
    assert.equal(err.message, `template.yaml:${line}: ${err.problem}`);
    return true;
  });
}

const HEADER = 'Transform: AWS::Serverless-2016-10-31\n';

describe('parseTemplate', () => {
  it('turns short-form tags into their long form, keeping lines', () => {
    const t = parseTemplate('A: !Ref X\nB: !GetAtt Fn.Arn\nC: !Sub\n  - "${a}"\n  - a: 1\nD:\n  Fn::Join: [",", [a]]\n', 't.yaml', dir);
    const a = t.root.entries[0]!;
    assert.deepEqual(a.value, { kind: 'map', line: 1, entries: [{ key: 'Ref', keyLine: 1, value: { kind: 'scalar', value: 'X', line: 1 } }] });
    const b = t.root.entries[1]!.value as TMap;
    assert.equal(b.entries[0]!.key, 'Fn::GetAtt');
    assert.deepEqual(
      (b.entries[0]!.value as unknown as { items: { value: unknown }[] }).items.map((i) => i.value),
      ['Fn', 'Arn'],
    );
    const c = t.root.entries[2]!.value as TMap;
    assert.equal(c.entries[0]!.key, 'Fn::Sub');
    assert.equal(c.line, 4);
    assert.equal(t.root.entries[3]!.keyLine, 6);
  });

  it('reads JSON templates too', () => {
    const t = parseTemplate('{\n "Transform": "AWS::Serverless-2016-10-31",\n "Resources": {}\n}', 't.json', dir);
    assert.equal(t.root.entries[1]!.keyLine, 3);
  });

  it('names the line of a YAML syntax error', () => {
    assert.throws(
      () => parseTemplate('Resources:\n  A:\n    Type: x\n   bad: [\n', 'template.yaml', dir),
      (err: unknown) => err instanceof TemplateError && err.line >= 4 && /not a valid YAML or JSON template/.test(err.message),
    );
  });

  it('refuses a duplicate key at its line', () => {
    assert.throws(() => parseTemplate('A: 1\nB: 2\nA: 3\n', 'template.yaml', dir), (err: unknown) => err instanceof TemplateError && err.line === 3);
  });
});

describe('intrinsic functions', () => {
  const resolver = new Resolver({
    file: 'template.yaml',
    parameters: new Map<string, string | string[]>([
      ['Stage', 'prod'],
      ['Subnets', ['a', 'b']],
    ]),
    region: 'eu-west-1',
    accountId: '000000000000',
    stackName: 'shop',
    resources: new Map([['Fn', { type: 'AWS::Serverless::Function', ref: 'shop-Fn', attributes: { Arn: 'arn:aws:lambda:eu-west-1:000000000000:function:shop-Fn' } }]]),
  });
  const r = (yaml: string) => resolver.resolve(parseTemplate(`V: ${yaml}\n`, 'template.yaml', dir).root.entries[0]!.value);
  const fails = (yaml: string, problem: RegExp) => templateError(() => r(yaml), 1, problem);

  it('Ref: parameters, pseudo parameters, resources', () => {
    assert.equal(r('!Ref Stage'), 'prod');
    assert.deepEqual(r('!Ref Subnets'), ['a', 'b']);
    assert.equal(r('!Ref AWS::Region'), 'eu-west-1');
    assert.equal(r('!Ref AWS::AccountId'), '000000000000');
    assert.equal(r('!Ref AWS::StackName'), 'shop');
    assert.equal(r('!Ref Fn'), 'shop-Fn');
    assert.equal(r('{ Ref: Stage }'), 'prod');
  });

  it('Sub: names, attributes, ${!Literal}, a variables map', () => {
    assert.equal(r('!Sub "${Stage}-${AWS::Region}: ${Fn.Arn} ${!Keep}"'), 'prod-eu-west-1: arn:aws:lambda:eu-west-1:000000000000:function:shop-Fn ${Keep}');
    assert.equal(r('!Sub ["${A}/${Stage}", { A: !Ref Fn }]'), 'shop-Fn/prod');
  });

  it('GetAtt, Join, Select, Split, AWS::NoValue', () => {
    assert.equal(r('!GetAtt Fn.Arn'), 'arn:aws:lambda:eu-west-1:000000000000:function:shop-Fn');
    assert.equal(r('!GetAtt [Fn, Arn]'), 'arn:aws:lambda:eu-west-1:000000000000:function:shop-Fn');
    assert.equal(r('!Join ["-", [a, !Ref Stage, 3]]'), 'a-prod-3');
    assert.equal(r('!Select [1, !Ref Subnets]'), 'b');
    assert.deepEqual(r('!Split [",", "x,y"]'), ['x', 'y']);
    assert.deepEqual(r('{ A: 1, B: !Ref AWS::NoValue }'), { A: 1 });
    assert.deepEqual(r('[1, !Ref AWS::NoValue, 2]'), [1, 2]);
  });

  it('names the line of what it cannot resolve', () => {
    fails('!Ref Nope', /^Ref to Nope: no parameter or resource of that name in the template$/);
    fails('!GetAtt Fn.Version', /^Fn::GetAtt Fn\.Version is not supported by kindling deploy \(AWS::Serverless::Function has Arn\)$/);
    fails('!If [c, a, b]', /^Fn::If is not supported by kindling deploy$/);
    fails('!ImportValue x', /^Fn::ImportValue is not supported by kindling deploy$/);
    fails('!Ref AWS::NotificationARNs', /^pseudo parameter AWS::NotificationARNs is not supported by kindling deploy$/);
    fails('!Select [5, [a]]', /index 5 is out of range/);
    fails('!Sub "${Nope}"', /^Ref to Nope/);
  });
});

describe('buildModel', () => {
  it('a function with Globals merged, parameters, overrides and every supported property', () => {
    const text = `${HEADER}Parameters:
  Stage:
    Type: String
    Default: dev
    AllowedValues: [dev, prod]
  Memory:
    Type: Number
    Default: 256
Globals:
  Function:
    Runtime: nodejs20.x
    Timeout: 10
    Layers: [arn:aws:lambda:eu-west-1:000000000000:layer:global:1]
    Environment:
      Variables:
        STAGE: !Ref Stage
        SHARED: g
Resources:
  Api:
    Type: AWS::Serverless::Function
    Properties:
      Handler: app.handler
      CodeUri: src/
      MemorySize: !Ref Memory
      Environment:
        Variables:
          SHARED: mine
          COUNT: 3
      Layers: [!Ref Deps]
      ReservedConcurrentExecutions: 4
      EventInvokeConfig:
        MaximumRetryAttempts: 0
        DestinationConfig:
          OnFailure:
            Type: SQS
            Destination: arn:aws:sqs:eu-west-1:000000000000:dlq
      AutoPublishAlias: live
      FunctionUrlConfig:
        AuthType: NONE
        Cors:
          AllowOrigins: ["*"]
      Events:
        Get:
          Type: Api
          Properties:
            Path: /items/{id}
            Method: get
        Any:
          Type: HttpApi
        Post:
          Type: HttpApi
          Properties:
            Path: /items
            Method: POST
            PayloadFormatVersion: "1.0"
  Deps:
    Type: AWS::Serverless::LayerVersion
    Properties:
      ContentUri: layer/
      CompatibleRuntimes: [nodejs20.x]
`;
    const m = model(text, { parameterOverrides: { Stage: 'prod' }, stackName: 'shop' });
    assert.equal(m.layers.length, 1);
    assert.equal(m.layers[0]!.layerName, 'shop-Deps');
    assert.deepEqual(m.layers[0]!.content, { kind: 'dir', path: join(dir, 'layer') });
    const [fn] = m.functions(new Map([['Deps', 'arn:aws:lambda:eu-west-1:000000000000:layer:shop-Deps:7']]));
    assert.ok(fn);
    assert.equal(fn.name, 'shop-Api');
    assert.deepEqual(fn.code, { kind: 'dir', path: join(dir, 'src') });
    assert.deepEqual(fn.settings, {
      Runtime: 'nodejs20.x',
      Handler: 'app.handler',
      Role: 'arn:aws:iam::000000000000:role/ApiRole',
      Description: '',
      Timeout: 10,
      MemorySize: 256,
      // Maps merge, the function's value wins; lists concatenate, Globals first.
      Environment: { Variables: { STAGE: 'prod', SHARED: 'mine', COUNT: '3' } },
      Layers: ['arn:aws:lambda:eu-west-1:000000000000:layer:global:1', 'arn:aws:lambda:eu-west-1:000000000000:layer:shop-Deps:7'],
      Architectures: ['x86_64'],
      EphemeralStorage: { Size: 512 },
    });
    assert.equal(fn.reservedConcurrency, 4);
    assert.deepEqual(fn.eventInvokeConfig, { MaximumRetryAttempts: 0, DestinationConfig: { OnFailure: { Destination: 'arn:aws:sqs:eu-west-1:000000000000:dlq' } } });
    assert.equal(fn.alias, 'live');
    assert.deepEqual(fn.url, { AuthType: 'NONE', Cors: { AllowOrigins: ['*'] } });
    // AutoPublishAlias: the events invoke the alias (SAM's integration URI names the alias ARN).
    assert.deepEqual(fn.routes, [
      { Method: 'GET', Path: '/items/{id}', PayloadFormatVersion: '1.0', Qualifier: 'live' },
      { Method: 'ANY', Path: '/{proxy+}', PayloadFormatVersion: '2.0', Qualifier: 'live' },
      { Method: 'POST', Path: '/items', PayloadFormatVersion: '1.0', Qualifier: 'live' },
    ]);
  });

  it('InlineCode, FunctionName, a function without Events has no routes to manage', () => {
    const m = model(`${HEADER}Resources:
  Small:
    Type: AWS::Serverless::Function
    Properties:
      FunctionName: tiny
      Runtime: nodejs20.x
      Handler: index.handler
      InlineCode: "exports.handler = async () => 1;"
`);
    const [fn] = m.functions(new Map());
    assert.equal(fn!.name, 'tiny');
    assert.deepEqual(fn!.code, { kind: 'inline', source: 'exports.handler = async () => 1;' });
    assert.equal(fn!.routes, undefined);
    assert.equal(fn!.reservedConcurrency, undefined);
  });

  const fn = (props: string, extra = '') =>
    `${HEADER}${extra}Resources:\n  Fn:\n    Type: AWS::Serverless::Function\n    Properties:\n      Runtime: nodejs20.x\n      Handler: app.handler\n      CodeUri: src/\n${props}`;

  it('names the template line of anything unsupported', () => {
    templateError(
      () => model(fn('      Events:\n        Queue:\n          Type: SQS\n          Properties:\n            Queue: arn:aws:sqs:us-east-1:000000000000:q\n')),
      11,
      'Events.Queue type SQS is not supported by kindling deploy (only Api and HttpApi)',
    );
    templateError(() => model(fn('      VpcConfig:\n        SubnetIds: []\n')), 9, 'Resources.Fn.Properties.VpcConfig is not supported by kindling deploy');
    templateError(() => model(`${HEADER}Resources:\n  Bucket:\n    Type: AWS::S3::Bucket\n`), 4, 'Resources.Bucket: type AWS::S3::Bucket is not supported by kindling deploy');
    templateError(() => model(fn('      Events:\n        E:\n          Type: Api\n          Properties:\n            Path: /x\n            Method: get\n            Auth: {}\n')), 15, /Events\.E\.Properties\.Auth \(Api\) is not supported/);
    templateError(() => model(fn('      Timeout: !If [c, 1, 2]\n')), 9, 'Fn::If is not supported by kindling deploy');
    templateError(() => model(fn('', 'Conditions:\n  IsProd: !Equals [a, b]\n')), 2, 'the Conditions section is not supported by kindling deploy');
    templateError(() => model(fn('', 'Globals:\n  Api:\n    Cors: "*"\n')), 3, 'Globals.Api is not supported by kindling deploy');
    templateError(() => model(fn('      CodeUri: s3://bucket/key.zip\n').replace('      CodeUri: src/\n', '')), 8, /CodeUri s3:\/\/bucket\/key\.zip \(an S3 location\) is not supported/);
    templateError(() => model('Resources:\n  A:\n    Type: AWS::Serverless::Function\n'), 1, /must say Transform: AWS::Serverless-2016-10-31/);
  });

  it('checks what it reads, at the line', () => {
    templateError(() => model(fn('      Timeout: soon\n')), 9, 'Resources.Fn.Properties.Timeout must be a whole number');
    templateError(() => model(fn('').replace('      CodeUri: src/\n', '      CodeUri: nowhere/\n')), 8, /^CodeUri nowhere\/: no such file or directory/);
    templateError(() => model(fn('').replace('      Handler: app.handler\n', '')), 3, 'Resources.Fn.Properties.Handler is required');
    templateError(() => model(fn('      AutoPublishAlias: "123"\n')), 9, /is not a valid alias name/);
    templateError(() => model(fn('      EventInvokeConfig:\n        DestinationConfig:\n          OnSuccess:\n            Type: SQS\n')), 11, /Destination is required by kindling deploy/);
    templateError(() => model(fn('      FunctionUrlConfig:\n        Cors: {}\n')), 10, /FunctionUrlConfig\.AuthType is required/);
  });

  it('parameters: defaults, overrides, AllowedValues, Number, missing values, unknown overrides', () => {
    const params = 'Parameters:\n  Size:\n    Type: Number\n    Default: 128\n  Stage:\n    Type: String\n    AllowedValues: [dev, prod]\n';
    const text = fn('      MemorySize: !Ref Size\n      Description: !Sub "${Stage}"\n', params);
    templateError(() => model(text), 6, 'parameter Stage has no Default: give it a value with --parameter-overrides Stage=VALUE');
    templateError(() => model(text, { parameterOverrides: { Stage: 'test' } }), 6, "parameter Stage: value 'test' is not one of its AllowedValues (dev, prod)");
    templateError(() => model(text, { parameterOverrides: { Stage: 'dev', Size: 'big' } }), 3, "parameter Size is a Number: 'big' is not a number");
    templateError(() => model(text, { parameterOverrides: { Stage: 'dev', Nope: '1' } }), 2, '--parameter-overrides names Nope, which is not a parameter of the template');
    const [f] = model(text, { parameterOverrides: { Stage: 'prod', Size: '512' } }).functions(new Map());
    assert.equal(f!.settings.MemorySize, 512);
    assert.equal(f!.settings.Description, 'prod');
  });

  it('warns about properties that mean nothing on kindling', () => {
    const m = model(fn('      Policies:\n        - AWSLambdaBasicExecutionRole\n'));
    assert.deepEqual(m.warnings, ['template.yaml:9: Resources.Fn.Properties.Policies ignored (kindling has no IAM or X-Ray)']);
  });

  it('parseParameterOverrides takes Key=Value and the ParameterKey= form', () => {
    assert.deepEqual(parseParameterOverrides(['Stage=prod', 'ParameterKey=Size,ParameterValue=256', 'Url=a=b']), { Stage: 'prod', Size: '256', Url: 'a=b' });
    assert.throws(() => parseParameterOverrides(['oops']), /expected Key=Value, got 'oops'/);
  });
});
