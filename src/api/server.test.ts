import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { Agent, request } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import {
  CreateFunctionCommand,
  DeleteFunctionCommand,
  DeleteFunctionConcurrencyCommand,
  DeleteFunctionEventInvokeConfigCommand,
  GetAccountSettingsCommand,
  GetFunctionCommand,
  GetFunctionConcurrencyCommand,
  GetFunctionConfigurationCommand,
  GetFunctionEventInvokeConfigCommand,
  InvokeCommand as SdkInvokeCommand,
  LambdaClient,
  ListFunctionEventInvokeConfigsCommand,
  ListFunctionsCommand,
  PutFunctionConcurrencyCommand,
  PutFunctionEventInvokeConfigCommand,
  UpdateFunctionCodeCommand,
  UpdateFunctionConfigurationCommand,
  UpdateFunctionEventInvokeConfigCommand,
} from '@aws-sdk/client-lambda';
import type { CreateFunctionCommandInput } from '@aws-sdk/client-lambda';
import { ZipCodePreparer } from '../control/code.js';
import type { CodePreparer } from '../control/code.js';
import { EventInvokeConfigs } from '../control/event-invoke-config.js';
import { FunctionRegistry } from '../control/registry.js';
import { handlerZip, ManualPreparer } from '../control/testing.js';
import type { InvokeCommand, InvokeResponse } from '../frontend/types.js';
import { ManualClock } from '../shared/clock.js';
import { FileBlobStore } from '../store/file-blobs.js';
import { SqliteMetadataStore } from '../store/sqlite-metadata.js';
import { createApiServer } from './server.js';

const partition = { region: 'us-east-1', accountId: '000000000000' };
const ROLE = 'arn:aws:iam::000000000000:role/lambda-role';
const ARN = (name: string, q?: string) => `arn:aws:lambda:us-east-1:000000000000:function:${name}${q ? `:${q}` : ''}`;
/** The clock of EventInvokeConfig changes (LastModified). */
const CONFIG_TIME = Date.UTC(2026, 10, 23, 7, 30, 0, 123);

/** A fake invoker that resolves through the real registry (as frontend/ does) and echoes the payload. */
class FakeInvoker {
  readonly commands: InvokeCommand[] = [];
  failWith: Error | undefined;
  constructor(readonly registry: FunctionRegistry) {}
  async invoke(cmd: InvokeCommand): Promise<InvokeResponse> {
    this.commands.push(cmd);
    if (this.failWith) throw this.failWith;
    const { executedVersion } = this.registry.resolveForInvoke(cmd.functionName, cmd.qualifier);
    if (cmd.invocationType === 'Event') return { statusCode: 202, executedVersion: undefined, functionError: undefined, logResult: undefined, payload: Buffer.alloc(0) };
    if (cmd.invocationType === 'DryRun') return { statusCode: 204, executedVersion: undefined, functionError: undefined, logResult: undefined, payload: Buffer.alloc(0) };
    const failed = cmd.payload.includes('"fail"');
    return {
      statusCode: 200,
      executedVersion,
      functionError: failed ? 'Unhandled' : undefined,
      logResult: cmd.logType === 'Tail' ? Buffer.from(`START RequestId: ${cmd.requestId}\n`).toString('base64') : undefined,
      payload: failed ? Buffer.from('{"errorType":"Error","errorMessage":"boom","trace":[]}') : cmd.payload,
    };
  }
}

interface Env {
  client: LambdaClient;
  base: string;
  registry: FunctionRegistry;
  invoker: FakeInvoker;
  preparer: ManualPreparer | undefined;
}

async function start(t: { after(fn: () => unknown): void }, manual = false, concurrentExecutions = 100): Promise<Env> {
  const dir = mkdtempSync(join(tmpdir(), 'kindling-api-'));
  const metadata = new SqliteMetadataStore(dir);
  const blobs = new FileBlobStore(dir);
  const preparer: CodePreparer = manual ? new ManualPreparer() : new ZipCodePreparer(blobs);
  const registry = await FunctionRegistry.open({
    metadata, blobs, preparer, clock: new ManualClock(), partition, hostArchitecture: 'x86_64', concurrentExecutions, logger: { error: () => {} },
  });
  const invoker = new FakeInvoker(registry);
  const clock = new ManualClock(CONFIG_TIME);
  const eventInvokeConfigs = await EventInvokeConfigs.open({ metadata, functions: registry, partition, clock, logger: { error: () => {} } });
  const server = createApiServer({ registry, eventInvokeConfigs, invoker, partition, logger: { error: () => {} } });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const port = (server.address() as AddressInfo).port;
  const client = new LambdaClient({
    region: 'us-east-1', endpoint: `http://127.0.0.1:${port}`, credentials: { accessKeyId: 'test', secretAccessKey: 'test' }, maxAttempts: 1,
  });
  t.after(async () => {
    client.destroy();
    server.closeAllConnections();
    await new Promise((r) => server.close(r));
    registry.close();
    await metadata.close();
    rmSync(dir, { recursive: true, force: true });
  });
  return { client, base: `http://127.0.0.1:${port}`, registry, invoker, preparer: manual ? (preparer as ManualPreparer) : undefined };
}

async function createInput(name: string, extra: Partial<CreateFunctionCommandInput> = {}): Promise<CreateFunctionCommandInput> {
  return { FunctionName: name, Role: ROLE, Runtime: 'nodejs20.x', Handler: 'index.handler', Code: { ZipFile: await handlerZip() }, ...extra };
}

/** Asserts an SDK call fails with this error name, HTTP status and message. */
async function sdkRejects(p: Promise<unknown>, name: string, status: number, message: string | RegExp): Promise<void> {
  await assert.rejects(p, (err: unknown) => {
    const e = err as { name: string; message: string; $metadata: { httpStatusCode?: number } };
    assert.equal(e.name, name, `${e.name}: ${e.message}`);
    assert.equal(e.$metadata.httpStatusCode, status);
    if (typeof message === 'string') assert.equal(e.message, message);
    else assert.match(e.message, message);
    return true;
  });
}

async function active(env: Env, name: string, extra: Partial<CreateFunctionCommandInput> = {}): Promise<void> {
  await env.client.send(new CreateFunctionCommand(await createInput(name, extra)));
  await env.registry.whenIdle();
}

describe('API with the AWS SDK: control plane', () => {
  it('creates, gets, lists, updates and deletes a function', async (t) => {
    const env = await start(t);
    const created = await env.client.send(new CreateFunctionCommand(await createInput('fn', { Environment: { Variables: { KEY: 'v' } } })));
    assert.equal(created.$metadata.httpStatusCode, 201);
    assert.equal(created.State, 'Pending');
    assert.equal(created.StateReasonCode, 'Creating');
    assert.equal(created.FunctionArn, ARN('fn'));
    await env.registry.whenIdle();

    const got = await env.client.send(new GetFunctionCommand({ FunctionName: 'fn' }));
    assert.equal(got.Configuration?.State, 'Active');
    assert.equal(got.Configuration?.LastUpdateStatus, 'Successful');
    assert.equal(got.Code?.RepositoryType, 'S3');
    const download = await fetch(got.Code.Location!);
    assert.equal(download.status, 200);
    assert.deepEqual(Buffer.from(await download.arrayBuffer()), await handlerZip());

    const byArn = await env.client.send(new GetFunctionConfigurationCommand({ FunctionName: ARN('fn') }));
    assert.equal(byArn.FunctionName, 'fn');

    const updated = await env.client.send(new UpdateFunctionConfigurationCommand({ FunctionName: 'fn', Timeout: 20 }));
    assert.equal(updated.LastUpdateStatus, 'InProgress');
    assert.deepEqual(updated.Environment?.Variables, { KEY: 'v' });
    await env.registry.whenIdle();
    const code = await env.client.send(new UpdateFunctionCodeCommand({ FunctionName: 'fn', ZipFile: await handlerZip('// v2') }));
    assert.equal(code.LastUpdateStatus, 'InProgress');
    await env.registry.whenIdle();

    const list = await env.client.send(new ListFunctionsCommand({}));
    assert.deepEqual(list.Functions?.map((f) => [f.FunctionName, f.Timeout, f.State]), [['fn', 20, undefined]]);

    const del = await env.client.send(new DeleteFunctionCommand({ FunctionName: 'fn' }));
    assert.equal(del.$metadata.httpStatusCode, 204);
    await sdkRejects(env.client.send(new GetFunctionCommand({ FunctionName: 'fn' })), 'ResourceNotFoundException', 404, `Function not found: ${ARN('fn')}`);
    const gone = await fetch(got.Code.Location!);
    assert.equal(gone.status, 404);
  });

  it('paginates ListFunctions and lists every version with FunctionVersion=ALL', async (t) => {
    const env = await start(t);
    for (const n of ['b', 'a', 'c']) await active(env, n, { Publish: n === 'b' });
    const p1 = await env.client.send(new ListFunctionsCommand({ MaxItems: 2 }));
    assert.deepEqual(p1.Functions?.map((f) => f.FunctionName), ['a', 'b']);
    const p2 = await env.client.send(new ListFunctionsCommand({ MaxItems: 2, Marker: p1.NextMarker! }));
    assert.deepEqual(p2.Functions?.map((f) => f.FunctionName), ['c']);
    assert.equal(p2.NextMarker, undefined);
    const all = await env.client.send(new ListFunctionsCommand({ FunctionVersion: 'ALL' }));
    assert.deepEqual(all.Functions?.map((f) => f.FunctionArn), [ARN('a', '$LATEST'), ARN('b', '$LATEST'), ARN('b', '1'), ARN('c', '$LATEST')]);
    await sdkRejects(env.client.send(new ListFunctionsCommand({ MaxItems: 10001 })), 'ValidationException', 400,
      "1 validation error detected: Value '10001' at 'maxItems' failed to satisfy constraint: Member must have value less than or equal to 10000");
  });

  it('answers every create error in Lambda words', async (t) => {
    const env = await start(t);
    await active(env, 'exists');
    const send = async (extra: Partial<CreateFunctionCommandInput>, name = 'x') => env.client.send(new CreateFunctionCommand(await createInput(name, extra)));
    await sdkRejects(send({}, 'exists'), 'ResourceConflictException', 409, 'Function already exist: exists');
    await sdkRejects(send({ Timeout: 1200 }), 'ValidationException', 400,
      "1 validation error detected: Value '1200' at 'timeout' failed to satisfy constraint: Member must have value less than or equal to 900");
    await sdkRejects(send({ Timeout: 1200, MemorySize: 64 }), 'ValidationException', 400, /^2 validation errors detected: .*timeout.*; .*memorySize.*greater than or equal to 128$/);
    await sdkRejects(send({ Role: 'r1' }), 'ValidationException', 400, /^1 validation error detected: Value 'r1' at 'role' failed to satisfy constraint/);
    await sdkRejects(send({ Runtime: 'nodejs12.x' }), 'InvalidParameterValueException', 400, /^The runtime parameter of nodejs12\.x is no longer supported/);
    await sdkRejects(send({ Runtime: 'cobol' as never }), 'InvalidParameterValueException', 400, /^Value cobol at 'runtime' failed to satisfy constraint: Member must satisfy enum value set: \[/);
    await sdkRejects(send({ Handler: undefined }), 'InvalidParameterValueException', 400, 'Runtime and Handler are mandatory parameters for functions created with deployment packages.');
    await sdkRejects(send({ Code: { ZipFile: Buffer.from('not a zip') } }), 'InvalidParameterValueException', 400,
      'Could not unzip uploaded file. Please check your file, then try to upload again.');
    await sdkRejects(send({ Code: { S3Bucket: 'b', S3Key: 'k' } }), 'InvalidParameterValueException', 400, /only as Code\.ZipFile/);
    await sdkRejects(send({ Environment: { Variables: { AWS_REGION: 'eu-west-1' } } }), 'InvalidParameterValueException', 400, /Reserved keys used in this request: AWS_REGION$/);
    await sdkRejects(send({ Environment: { Variables: { BIG: 'x'.repeat(5000) } } }), 'InvalidParameterValueException', 400, /exceeded the 4KB limit\. String measured: \{"BIG":"x+"\}$/);
    await sdkRejects(send({ Architectures: ['arm64'] }), 'InvalidParameterValueException', 400, /arm64 is not available/);
    await sdkRejects(send({ EphemeralStorage: { Size: 20000 } }), 'ValidationException', 400, /at 'ephemeralStorage\.size'.*less than or equal to 10240$/);
    await sdkRejects(send({}, 'bad!name'), 'ValidationException', 400, /^1 validation error detected: Value 'bad!name' at 'functionName'/);
    await sdkRejects(send({ Code: { ZipFile: Buffer.alloc(52_428_801) } }), 'RequestEntityTooLargeException', 413, 'Zipped size must be smaller than 52428800 bytes');
  });

  it('answers update errors: in progress (409), Pending (409), RevisionId (412), not found (404)', async (t) => {
    const env = await start(t, true);
    await env.client.send(new CreateFunctionCommand(await createInput('u')));
    await sdkRejects(env.client.send(new UpdateFunctionConfigurationCommand({ FunctionName: 'u', Timeout: 9 })), 'ResourceConflictException', 409,
      'The operation cannot be performed at this time. The function is currently in the following state: Pending');
    await sdkRejects(env.client.send(new SdkInvokeCommand({ FunctionName: 'u' })), 'ResourceConflictException', 409,
      'The operation cannot be performed at this time. The function is currently in the following state: Pending');
    env.preparer!.complete();
    await env.registry.whenIdle();
    await env.client.send(new UpdateFunctionConfigurationCommand({ FunctionName: 'u', Timeout: 9 }));
    await sdkRejects(env.client.send(new UpdateFunctionCodeCommand({ FunctionName: 'u', ZipFile: await handlerZip('// 2') })), 'ResourceConflictException', 409,
      `The operation cannot be performed at this time. An update is in progress for resource: ${ARN('u')}`);
    env.preparer!.complete();
    await env.registry.whenIdle();
    await sdkRejects(env.client.send(new UpdateFunctionCodeCommand({ FunctionName: 'u', ZipFile: await handlerZip(), RevisionId: 'old' })), 'PreconditionFailedException', 412,
      'The Revision Id provided does not match the latest Revision Id. Call the GetFunction/GetAlias API to retrieve the latest Revision Id');
    await sdkRejects(env.client.send(new UpdateFunctionConfigurationCommand({ FunctionName: 'missing', Timeout: 9 })), 'ResourceNotFoundException', 404, `Function not found: ${ARN('missing')}`);
    await sdkRejects(env.client.send(new DeleteFunctionCommand({ FunctionName: 'u', Qualifier: '$LATEST' })), 'InvalidParameterValueException', 400,
      '$LATEST version cannot be deleted without deleting the function.');
  });

  it('reports account settings', async (t) => {
    const env = await start(t);
    await active(env, 'acc');
    const s = await env.client.send(new GetAccountSettingsCommand({}));
    assert.equal(s.AccountLimit?.ConcurrentExecutions, 100);
    assert.equal(s.AccountLimit?.UnreservedConcurrentExecutions, 100);
    assert.equal(s.AccountLimit?.CodeSizeZipped, 52428800);
    assert.equal(s.AccountUsage?.FunctionCount, 1);
    assert.equal(s.AccountUsage?.TotalCodeSize, (await handlerZip()).length);
    const slash = await fetch(`${env.base}/2016-08-19/account-settings/`);
    assert.equal(slash.status, 200);
  });
});

describe('API with the AWS SDK: reserved concurrency', () => {
  it('puts, gets and deletes reserved concurrency on Lambda\'s paths', async (t) => {
    const env = await start(t, false, 1000);
    await active(env, 'fn');
    const empty = await env.client.send(new GetFunctionConcurrencyCommand({ FunctionName: 'fn' }));
    assert.equal(empty.$metadata.httpStatusCode, 200);
    assert.equal(empty.ReservedConcurrentExecutions, undefined);

    const put = await env.client.send(new PutFunctionConcurrencyCommand({ FunctionName: 'fn', ReservedConcurrentExecutions: 25 }));
    assert.equal(put.$metadata.httpStatusCode, 200);
    assert.equal(put.ReservedConcurrentExecutions, 25);
    assert.equal((await env.client.send(new GetFunctionConcurrencyCommand({ FunctionName: ARN('fn') }))).ReservedConcurrentExecutions, 25);
    assert.deepEqual((await env.client.send(new GetFunctionCommand({ FunctionName: 'fn' }))).Concurrency, { ReservedConcurrentExecutions: 25 });
    assert.equal((await env.client.send(new GetAccountSettingsCommand({}))).AccountLimit?.UnreservedConcurrentExecutions, 975);

    const del = await env.client.send(new DeleteFunctionConcurrencyCommand({ FunctionName: 'fn' }));
    assert.equal(del.$metadata.httpStatusCode, 204);
    assert.equal((await env.client.send(new GetFunctionConcurrencyCommand({ FunctionName: 'fn' }))).ReservedConcurrentExecutions, undefined);
    assert.equal((await env.client.send(new GetFunctionCommand({ FunctionName: 'fn' }))).Concurrency, undefined);
    assert.equal((await env.client.send(new GetAccountSettingsCommand({}))).AccountLimit?.UnreservedConcurrentExecutions, 1000);
  });

  it('answers concurrency errors in Lambda words', async (t) => {
    const env = await start(t, false, 1000);
    await active(env, 'fn');
    await sdkRejects(env.client.send(new PutFunctionConcurrencyCommand({ FunctionName: 'doesnotexist', ReservedConcurrentExecutions: 1 })),
      'ResourceNotFoundException', 404, `Function not found: ${ARN('doesnotexist', '$LATEST')}`);
    await sdkRejects(env.client.send(new PutFunctionConcurrencyCommand({ FunctionName: ARN('fn', '$LATEST'), ReservedConcurrentExecutions: 0 })),
      'InvalidParameterValueException', 400,
      'This operation is permitted on Lambda functions only. Aliases and versions do not support this operation. Please specify either a function name or an unqualified function ARN.');
    await sdkRejects(env.client.send(new PutFunctionConcurrencyCommand({ FunctionName: 'fn', ReservedConcurrentExecutions: 901 })),
      'InvalidParameterValueException', 400,
      "Specified ReservedConcurrentExecutions for function decreases account's UnreservedConcurrentExecution below its minimum value of [100].");
    await sdkRejects(env.client.send(new PutFunctionConcurrencyCommand({ FunctionName: 'fn', ReservedConcurrentExecutions: -1 })),
      'ValidationException', 400,
      "1 validation error detected: Value '-1' at 'reservedConcurrentExecutions' failed to satisfy constraint: Member must have value greater than or equal to 0");
    await sdkRejects(env.client.send(new GetFunctionConcurrencyCommand({ FunctionName: 'nope' })), 'ResourceNotFoundException', 404,
      `Function not found: ${ARN('nope', '$LATEST')}`);
    await sdkRejects(env.client.send(new DeleteFunctionConcurrencyCommand({ FunctionName: 'fn:1' })), 'InvalidParameterValueException', 400,
      /^This operation is permitted on Lambda functions only/);
  });
});

describe('API with the AWS SDK: EventInvokeConfig', () => {
  it('puts, updates, gets, lists and deletes on Lambda\'s paths, and the SDK reads every field', async (t) => {
    const env = await start(t);
    await active(env, 'fn', { Publish: true });
    await active(env, 'other');
    const put = await env.client.send(new PutFunctionEventInvokeConfigCommand({
      FunctionName: 'fn', MaximumRetryAttempts: 1, MaximumEventAgeInSeconds: 3600,
      DestinationConfig: { OnFailure: { Destination: 'arn:aws:sqs:us-east-1:000000000000:failures' } },
    }));
    assert.equal(put.$metadata.httpStatusCode, 200);
    assert.equal(put.FunctionArn, ARN('fn', '$LATEST'));
    assert.ok(put.LastModified instanceof Date);
    assert.equal(put.LastModified.getTime(), CONFIG_TIME);
    assert.deepEqual(put.DestinationConfig, { OnFailure: { Destination: 'arn:aws:sqs:us-east-1:000000000000:failures' }, OnSuccess: {} });

    const updated = await env.client.send(new UpdateFunctionEventInvokeConfigCommand({ FunctionName: 'fn', MaximumRetryAttempts: 0 }));
    assert.equal(updated.MaximumRetryAttempts, 0);
    assert.equal(updated.MaximumEventAgeInSeconds, 3600);
    assert.equal(updated.DestinationConfig?.OnFailure?.Destination, 'arn:aws:sqs:us-east-1:000000000000:failures');

    await env.client.send(new PutFunctionEventInvokeConfigCommand({ FunctionName: 'fn', Qualifier: '1', DestinationConfig: { OnSuccess: { Destination: ARN('other') } } }));
    const got = await env.client.send(new GetFunctionEventInvokeConfigCommand({ FunctionName: 'fn:1' }));
    assert.equal(got.FunctionArn, ARN('fn', '1'));
    assert.equal(got.MaximumRetryAttempts, undefined);
    assert.equal(got.DestinationConfig?.OnSuccess?.Destination, ARN('other'));

    const listed = await env.client.send(new ListFunctionEventInvokeConfigsCommand({ FunctionName: 'fn' }));
    assert.deepEqual(listed.FunctionEventInvokeConfigs?.map((c) => c.FunctionArn), [ARN('fn', '$LATEST'), ARN('fn', '1')]);
    const page = await env.client.send(new ListFunctionEventInvokeConfigsCommand({ FunctionName: 'fn', MaxItems: 1 }));
    assert.equal(page.FunctionEventInvokeConfigs?.length, 1);
    const next = await env.client.send(new ListFunctionEventInvokeConfigsCommand({ FunctionName: 'fn', MaxItems: 1, Marker: page.NextMarker }));
    assert.deepEqual(next.FunctionEventInvokeConfigs?.map((c) => c.FunctionArn), [ARN('fn', '1')]);
    assert.equal(next.NextMarker, undefined);

    const del = await env.client.send(new DeleteFunctionEventInvokeConfigCommand({ FunctionName: 'fn', Qualifier: '1' }));
    assert.equal(del.$metadata.httpStatusCode, 204);
    assert.deepEqual((await env.client.send(new ListFunctionEventInvokeConfigsCommand({ FunctionName: 'fn' }))).FunctionEventInvokeConfigs?.map((c) => c.FunctionArn),
      [ARN('fn', '$LATEST')]);

    await env.client.send(new DeleteFunctionCommand({ FunctionName: 'fn' }));
    await active(env, 'fn');
    await sdkRejects(env.client.send(new GetFunctionEventInvokeConfigCommand({ FunctionName: 'fn' })), 'ResourceNotFoundException', 404,
      `The function ${ARN('fn', '$LATEST')} doesn't have an EventInvokeConfig`);
  });

  it('round-trips DeadLetterConfig through CreateFunction, UpdateFunctionConfiguration and GetFunction', async (t) => {
    const env = await start(t);
    const queue = 'arn:aws:sqs:us-east-1:000000000000:dlq';
    const created = await env.client.send(new CreateFunctionCommand(await createInput('fn', { DeadLetterConfig: { TargetArn: queue } })));
    assert.deepEqual(created.DeadLetterConfig, { TargetArn: queue });
    await env.registry.whenIdle();
    assert.deepEqual((await env.client.send(new GetFunctionCommand({ FunctionName: 'fn' }))).Configuration?.DeadLetterConfig, { TargetArn: queue });
    const cleared = await env.client.send(new UpdateFunctionConfigurationCommand({ FunctionName: 'fn', DeadLetterConfig: { TargetArn: '' } }));
    assert.equal(cleared.DeadLetterConfig, undefined);
    await env.registry.whenIdle();
    assert.equal((await env.client.send(new GetFunctionConfigurationCommand({ FunctionName: 'fn' }))).DeadLetterConfig, undefined);
    await sdkRejects(env.client.send(new UpdateFunctionConfigurationCommand({ FunctionName: 'fn', DeadLetterConfig: { TargetArn: 'arn:aws:sns:us-east-1:000000000000:t' } })),
      'InvalidParameterValueException', 400, /^Kindling does not support Amazon SNS topics as dead-letter targets yet/);
  });

  it('answers EventInvokeConfig errors in Lambda words', async (t) => {
    const env = await start(t);
    await active(env, 'fn');
    await sdkRejects(env.client.send(new PutFunctionEventInvokeConfigCommand({ FunctionName: 'fn' })), 'InvalidParameterValueException', 400,
      'You must specify at least one of error handling or destination setting.');
    await sdkRejects(env.client.send(new PutFunctionEventInvokeConfigCommand({ FunctionName: 'nope', MaximumRetryAttempts: 1 })), 'ResourceNotFoundException', 404,
      "The function doesn't exist.");
    await sdkRejects(env.client.send(new PutFunctionEventInvokeConfigCommand({ FunctionName: 'fn', MaximumRetryAttempts: 3 })), 'ValidationException', 400,
      "1 validation error detected: Value '3' at 'maximumRetryAttempts' failed to satisfy constraint: Member must have value less than or equal to 2");
    await sdkRejects(env.client.send(new PutFunctionEventInvokeConfigCommand({ FunctionName: 'fn', DestinationConfig: { OnSuccess: { Destination: ARN('fn') } } })),
      'InvalidParameterValueException', 400, "You can't specify the function as a destination for itself.");
    await sdkRejects(env.client.send(new PutFunctionEventInvokeConfigCommand({ FunctionName: 'fn', DestinationConfig: { OnFailure: { Destination: 'arn:aws:sns:us-east-1:000000000000:t' } } })),
      'InvalidParameterValueException', 400, /^Kindling does not support Amazon SNS topic destinations yet/);
    await sdkRejects(env.client.send(new UpdateFunctionEventInvokeConfigCommand({ FunctionName: 'fn', MaximumRetryAttempts: 1 })), 'ResourceNotFoundException', 404,
      `The function ${ARN('fn', '$LATEST')} doesn't have an EventInvokeConfig`);
    await sdkRejects(env.client.send(new DeleteFunctionEventInvokeConfigCommand({ FunctionName: 'nope' })), 'ResourceNotFoundException', 404,
      `The function ${ARN('nope', '$LATEST')} doesn't have an EventInvokeConfig`);
    await sdkRejects(env.client.send(new ListFunctionEventInvokeConfigsCommand({ FunctionName: 'nope' })), 'ResourceNotFoundException', 404, "The function doesn't exist.");
    await sdkRejects(env.client.send(new ListFunctionEventInvokeConfigsCommand({ FunctionName: 'fn', MaxItems: 51 })), 'ValidationException', 400,
      "1 validation error detected: Value '51' at 'maxItems' failed to satisfy constraint: Member must have value less than or equal to 50");
  });
});

describe('API with the AWS SDK: Invoke', () => {
  it('invokes and writes status, headers and the payload unchanged', async (t) => {
    const env = await start(t);
    await active(env, 'inv');
    const out = await env.client.send(new SdkInvokeCommand({ FunctionName: 'inv', Payload: Buffer.from('{"a": [1, 2]}'), LogType: 'Tail' }));
    assert.equal(out.StatusCode, 200);
    assert.equal(out.ExecutedVersion, '$LATEST');
    assert.equal(Buffer.from(out.Payload!).toString(), '{"a": [1, 2]}');
    const cmd = env.invoker.commands.at(-1)!;
    assert.equal(cmd.logType, 'Tail');
    assert.equal(Buffer.from(out.LogResult!, 'base64').toString(), `START RequestId: ${cmd.requestId}\n`);
    assert.equal(out.$metadata.requestId, cmd.requestId, 'x-amzn-RequestId is the invoke request id');

    const failed = await env.client.send(new SdkInvokeCommand({ FunctionName: 'inv', Payload: Buffer.from('"fail"') }));
    assert.equal(failed.FunctionError, 'Unhandled');
    const ev = await env.client.send(new SdkInvokeCommand({ FunctionName: 'inv', InvocationType: 'Event' }));
    assert.equal(ev.StatusCode, 202);
    assert.equal(env.invoker.commands.at(-1)!.payload.toString(), '{}', 'empty body becomes {}');
    const dry = await env.client.send(new SdkInvokeCommand({ FunctionName: 'inv', InvocationType: 'DryRun' }));
    assert.equal(dry.StatusCode, 204);

    const ctx = Buffer.from(JSON.stringify({ custom: { k: 'v' } })).toString('base64');
    await env.client.send(new SdkInvokeCommand({ FunctionName: 'inv', ClientContext: ctx }));
    assert.equal(env.invoker.commands.at(-1)!.clientContext, '{"custom":{"k":"v"}}');
    await env.client.send(new SdkInvokeCommand({ FunctionName: 'inv', Qualifier: '$LATEST' }));
    assert.equal(env.invoker.commands.at(-1)!.qualifier, '$LATEST');
  });

  it('answers invoke errors in Lambda words', async (t) => {
    const env = await start(t);
    await active(env, 'inv');
    const invoke = (input: Record<string, unknown>) => env.client.send(new SdkInvokeCommand({ FunctionName: 'inv', ...input }));
    await sdkRejects(invoke({ FunctionName: 'nope' }), 'ResourceNotFoundException', 404, `Function not found: ${ARN('nope')}`);
    await sdkRejects(invoke({ Qualifier: '7' }), 'ResourceNotFoundException', 404, `Function not found: ${ARN('inv', '7')}`);
    await sdkRejects(invoke({ FunctionName: 'inv:1', Qualifier: '2' }), 'InvalidParameterValueException', 400,
      'The derived qualifier from the function name does not match the specified qualifier.');
    await sdkRejects(invoke({ InvocationType: 'Sometimes' }), 'ValidationException', 400,
      "1 validation error detected: Value 'Sometimes' at 'invocationType' failed to satisfy constraint: Member must satisfy enum value set: [Event, RequestResponse, DryRun]");
    await sdkRejects(invoke({ LogType: 'All' }), 'ValidationException', 400,
      "1 validation error detected: Value 'All' at 'logType' failed to satisfy constraint: Member must satisfy enum value set: [None, Tail]");
    await sdkRejects(invoke({ ClientContext: 'not base64!' }), 'InvalidParameterValueException', 400, 'Client context must be a valid Base64-encoded JSON object.');
    await sdkRejects(invoke({ ClientContext: Buffer.from('[1]').toString('base64') }), 'InvalidParameterValueException', 400, 'Client context must be a valid Base64-encoded JSON object.');
    await sdkRejects(invoke({ ClientContext: Buffer.from(`{"a":"${'x'.repeat(3000)}"}`).toString('base64') }), 'InvalidParameterValueException', 400, /at most 3583 bytes/);
    await sdkRejects(invoke({ Payload: Buffer.from('{not json') }), 'InvalidRequestContentException', 400,
      /^Could not parse request body into json: Could not parse payload into json: Unexpected character \('n' \(code 110\)\)/);
    await sdkRejects(invoke({ Payload: Buffer.alloc(6_291_457, 0x20) }), 'RequestEntityTooLargeException', 413,
      'Request must be smaller than 6291456 bytes for the InvokeFunction operation');
    env.invoker.failWith = new Error('worker exploded');
    await sdkRejects(invoke({}), 'ServiceException', 500, /internal error/);
    env.invoker.failWith = undefined;
    const ok = await invoke({});
    assert.equal(ok.StatusCode, 200, 'the server keeps working after a 500');
  });
});

/** A raw HTTP request on a given agent, for what the SDK cannot send. */
function raw(base: string, agent: Agent, method: string, path: string, body?: Buffer | string, headers: Record<string, string> = {}):
  Promise<{ status: number; headers: Record<string, string | string[] | undefined>; body: string; reused: boolean }> {
  return new Promise((resolve, reject) => {
    const req = request(`${base}${path}`, { method, agent, headers }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () => resolve({ status: res.statusCode!, headers: res.headers, body: Buffer.concat(chunks).toString(), reused: req.reusedSocket }));
    });
    req.on('error', reject);
    req.end(body);
  });
}

describe('API on the wire (raw HTTP)', () => {
  it('shapes errors: x-amzn-ErrorType, Type, Message vs message', async (t) => {
    const env = await start(t, true);
    const agent = new Agent({ keepAlive: true });
    t.after(() => agent.destroy());
    const nf = await raw(env.base, agent, 'GET', '/2015-03-31/functions/nope');
    assert.equal(nf.status, 404);
    assert.equal(nf.headers['x-amzn-errortype'], 'ResourceNotFoundException');
    assert.match(String(nf.headers['x-amzn-requestid']), /^[0-9a-f-]{36}$/);
    assert.deepEqual(JSON.parse(nf.body), { Type: 'User', Message: `Function not found: ${ARN('nope')}` });

    await env.client.send(new CreateFunctionCommand(await createInput('p')));
    const conflict = await raw(env.base, agent, 'POST', '/2015-03-31/functions/p/invocations', '{}');
    assert.equal(conflict.status, 409);
    assert.deepEqual(JSON.parse(conflict.body), {
      Type: 'User', message: 'The operation cannot be performed at this time. The function is currently in the following state: Pending',
    });

    const validation = await raw(env.base, agent, 'GET', '/2015-03-31/functions?MaxItems=0');
    assert.equal(validation.headers['x-amzn-errortype'], 'ValidationException');
    assert.deepEqual(JSON.parse(validation.body), {
      message: "1 validation error detected: Value '0' at 'maxItems' failed to satisfy constraint: Member must have value greater than or equal to 1",
    });

    const unknown = await raw(env.base, agent, 'GET', '/2099-01-01/nothing');
    assert.equal(unknown.status, 404);
    assert.equal(unknown.headers['x-amzn-errortype'], 'UnknownOperationException');

    const encoded = await raw(env.base, agent, 'GET', `/2015-03-31/functions/${encodeURIComponent(ARN('nope'))}/configuration`);
    assert.deepEqual(JSON.parse(encoded.body), { Type: 'User', Message: `Function not found: ${ARN('nope')}` });
  });

  it('serves concurrency only on Lambda\'s paths and methods, with Lambda\'s bodies', async (t) => {
    const env = await start(t, false, 1000);
    await active(env, 'fn');
    const agent = new Agent({ keepAlive: true });
    t.after(() => agent.destroy());
    const none = await raw(env.base, agent, 'GET', '/2019-09-30/functions/fn/concurrency');
    assert.equal(none.status, 200);
    assert.deepEqual(JSON.parse(none.body), {});
    const put = await raw(env.base, agent, 'PUT', '/2017-10-31/functions/fn/concurrency', '{"ReservedConcurrentExecutions":3}');
    assert.equal(put.status, 200);
    assert.deepEqual(JSON.parse(put.body), { ReservedConcurrentExecutions: 3 });
    const missing = await raw(env.base, agent, 'PUT', '/2017-10-31/functions/fn/concurrency', '{}');
    assert.equal(missing.headers['x-amzn-errortype'], 'ValidationException');
    assert.deepEqual(JSON.parse(missing.body), {
      message: "1 validation error detected: Value null at 'reservedConcurrentExecutions' failed to satisfy constraint: Member must not be null",
    });
    const wrongType = await raw(env.base, agent, 'PUT', '/2017-10-31/functions/fn/concurrency', '{"ReservedConcurrentExecutions":"3"}');
    assert.equal(wrongType.headers['x-amzn-errortype'], 'SerializationException');
    for (const [method, path] of [
      ['GET', '/2017-10-31/functions/fn/concurrency'],
      ['PUT', '/2019-09-30/functions/fn/concurrency'],
      ['PUT', '/2015-03-31/functions/fn/concurrency'],
      ['POST', '/2017-10-31/functions/fn/concurrency'],
    ] as const) {
      const r = await raw(env.base, agent, method, path, method === 'GET' ? undefined : '{"ReservedConcurrentExecutions":1}');
      assert.equal(r.headers['x-amzn-errortype'], 'UnknownOperationException', `${method} ${path}`);
    }
    const del = await raw(env.base, agent, 'DELETE', '/2017-10-31/functions/fn/concurrency');
    assert.equal(del.status, 204);
    assert.equal(del.body, '');
    assert.deepEqual(JSON.parse((await raw(env.base, agent, 'GET', '/2019-09-30/functions/fn/concurrency')).body), {});
  });

  it('serves EventInvokeConfig only on Lambda\'s paths and methods, with Lambda\'s bodies', async (t) => {
    const env = await start(t);
    await active(env, 'fn');
    const agent = new Agent({ keepAlive: true });
    t.after(() => agent.destroy());
    const path = '/2019-09-25/functions/fn/event-invoke-config';
    const put = await raw(env.base, agent, 'PUT', path, '{"MaximumRetryAttempts":0}');
    assert.equal(put.status, 200);
    // LastModified in Unix time seconds (milliseconds as the fraction); both destinations present, empty.
    assert.deepEqual(JSON.parse(put.body), {
      FunctionArn: ARN('fn', '$LATEST'), LastModified: CONFIG_TIME / 1000, DestinationConfig: { OnSuccess: {}, OnFailure: {} }, MaximumRetryAttempts: 0,
    });
    assert.match(put.body, /"LastModified":1795419000\.123[,}]/);
    const viaQuery = await raw(env.base, agent, 'GET', `/2019-09-25/functions/${encodeURIComponent(ARN('fn'))}/event-invoke-config?Qualifier=%24LATEST`);
    assert.equal(viaQuery.body, put.body);
    const post = await raw(env.base, agent, 'POST', path, '{"MaximumEventAgeInSeconds":60}');
    assert.equal((JSON.parse(post.body) as { MaximumEventAgeInSeconds: number }).MaximumEventAgeInSeconds, 60);
    const list = await raw(env.base, agent, 'GET', `${path}/list?MaxItems=1`);
    assert.equal(list.status, 200);
    assert.equal((JSON.parse(list.body) as { FunctionEventInvokeConfigs: unknown[] }).FunctionEventInvokeConfigs.length, 1);
    const notFound = await raw(env.base, agent, 'GET', '/2019-09-25/functions/fn/event-invoke-config?Qualifier=3');
    assert.equal(notFound.headers['x-amzn-errortype'], 'ResourceNotFoundException');
    assert.deepEqual(JSON.parse(notFound.body), { Type: 'User', Message: `The function ${ARN('fn', '3')} doesn't have an EventInvokeConfig` });
    const invalid = await raw(env.base, agent, 'PUT', path, '{}');
    assert.deepEqual(JSON.parse(invalid.body), { Type: 'User', message: 'You must specify at least one of error handling or destination setting.' });
    const badJson = await raw(env.base, agent, 'PUT', path, '{"MaximumRetryAttempts":');
    assert.equal(badJson.headers['x-amzn-errortype'], 'InvalidRequestContentException');
    for (const [method, p] of [
      ['PATCH', path],
      ['POST', `${path}/list`],
      ['GET', '/2015-03-31/functions/fn/event-invoke-config'],
      ['GET', `${path}/other`],
    ] as const) {
      const r = await raw(env.base, agent, method, p);
      assert.equal(r.headers['x-amzn-errortype'], 'UnknownOperationException', `${method} ${p}`);
    }
    const del = await raw(env.base, agent, 'DELETE', path);
    assert.equal(del.status, 204);
    assert.equal(del.body, '');
  });

  it('refuses malformed control-plane JSON and wrong JSON types', async (t) => {
    const env = await start(t);
    const agent = new Agent({ keepAlive: true });
    t.after(() => agent.destroy());
    const bad = await raw(env.base, agent, 'POST', '/2015-03-31/functions', '{"FunctionName": ', { 'content-type': 'application/json' });
    assert.equal(bad.status, 400);
    assert.equal(bad.headers['x-amzn-errortype'], 'InvalidRequestContentException');
    assert.match((JSON.parse(bad.body) as { message: string }).message, /^Could not parse request body into json: Unexpected end-of-input/);
    const wrongType = await raw(env.base, agent, 'POST', '/2015-03-31/functions', JSON.stringify({ FunctionName: 'f', Role: ROLE, Timeout: 'ten' }));
    assert.equal(wrongType.status, 400);
    assert.equal(wrongType.headers['x-amzn-errortype'], 'SerializationException');
    const notObject = await raw(env.base, agent, 'PUT', '/2015-03-31/functions/f/configuration', '[1,2]');
    assert.equal(notObject.headers['x-amzn-errortype'], 'SerializationException');
  });

  it('validates invoke payloads without re-serialising them', async (t) => {
    const env = await start(t);
    await active(env, 'inv');
    const agent = new Agent({ keepAlive: true });
    t.after(() => agent.destroy());
    const path = '/2015-03-31/functions/inv/invocations';
    const notJson = await raw(env.base, agent, 'POST', path, "'test'");
    assert.equal(notJson.status, 400);
    assert.deepEqual(JSON.parse(notJson.body), {
      Type: 'User',
      message: "Could not parse request body into json: Could not parse payload into json: Unexpected character (''' (code 39)): expected a valid value (JSON String, Number, Array, Object or token 'null', 'true' or 'false')\n at [Source: REDACTED (`StreamReadFeature.INCLUDE_SOURCE_IN_LOCATION` disabled); line: 1, column: 1]",
    });
    const badUtf8 = await raw(env.base, agent, 'POST', path, Buffer.from([0x22, 0x87, 0x22]));
    assert.equal(badUtf8.headers['x-amzn-errortype'], 'InvalidRequestContentException');
    assert.match((JSON.parse(badUtf8.body) as { message: string }).message, /Invalid UTF-8 start byte 0x87/);

    const spaced = '{ "keep" :   "my spacing" }';
    const ok = await raw(env.base, agent, 'POST', path, spaced);
    assert.equal(ok.status, 200);
    assert.equal(ok.body, spaced);
    assert.equal(ok.headers['content-type'], 'application/json');
    assert.equal(ok.headers['x-amz-executed-version'], '$LATEST');
    const event = await raw(env.base, agent, 'POST', path, '{}', { 'X-Amz-Invocation-Type': 'Event' });
    assert.equal(event.status, 202);
    assert.equal(event.body, '');
  });

  it('answers 413 for oversize bodies and keeps the keep-alive connection usable', async (t) => {
    const env = await start(t);
    await active(env, 'inv');
    const agent = new Agent({ keepAlive: true, maxSockets: 1 });
    t.after(() => agent.destroy());
    const path = '/2015-03-31/functions/inv/invocations';
    const first = await raw(env.base, agent, 'POST', path, '{}');
    assert.equal(first.status, 200);
    const big = await raw(env.base, agent, 'POST', path, Buffer.alloc(6_291_457, 0x20));
    assert.equal(big.status, 413);
    assert.equal(big.headers['x-amzn-errortype'], 'RequestEntityTooLargeException');
    assert.match(big.body, /Request must be smaller than 6291456 bytes for the InvokeFunction operation/);
    const after = await raw(env.base, agent, 'POST', path, '{"again":true}');
    assert.equal(after.status, 200);
    assert.equal(after.body, '{"again":true}');
    assert.equal(after.reused, true, 'the same connection served the request after the 413');

    const huge = await raw(env.base, agent, 'POST', '/2015-03-31/functions', Buffer.alloc(70_167_212, 0x20));
    assert.equal(huge.status, 413);
    assert.match(huge.body, /Request must be smaller than 70167211 bytes for the CreateFunction operation/);
    const still = await raw(env.base, agent, 'GET', '/2016-08-19/account-settings');
    assert.equal(still.status, 200);
  });

  it('survives a client that disconnects mid-body', async (t) => {
    const env = await start(t);
    await active(env, 'inv');
    await new Promise<void>((resolve) => {
      const req = request(`${env.base}/2015-03-31/functions/inv/invocations`, { method: 'POST', headers: { 'content-length': '1000' } });
      req.on('error', () => resolve());
      req.write('{"partial": ', () => setImmediate(() => { req.destroy(); resolve(); }));
    });
    const res = await fetch(`${env.base}/2016-08-19/account-settings`);
    assert.equal(res.status, 200);
  });
});

describe('API: versions and aliases on the wire', () => {
  it('routes PublishVersion, ListVersionsByFunction and the alias operations with Lambda\'s statuses', async (t) => {
    const env = await start(t);
    await active(env, 'fn');
    const call = async (method: string, path: string, body?: unknown) => {
      const res = await fetch(`${env.base}${path}`, { method, ...(body === undefined ? {} : { body: JSON.stringify(body) }) });
      const text = await res.text();
      return { status: res.status, type: res.headers.get('x-amzn-errortype'), body: text === '' ? undefined : (JSON.parse(text) as Record<string, unknown>) };
    };
    const published = await call('POST', '/2015-03-31/functions/fn/versions', {});
    assert.equal(published.status, 201);
    assert.equal(published.body?.['FunctionArn'], ARN('fn', '1'));
    const listed = await call('GET', '/2015-03-31/functions/fn/versions?MaxItems=1');
    assert.equal(listed.status, 200);
    assert.deepEqual((listed.body?.['Versions'] as { Version: string }[]).map((v) => v.Version), ['$LATEST']);
    assert.equal(typeof listed.body?.['NextMarker'], 'string');

    const created = await call('POST', `/2015-03-31/functions/${encodeURIComponent(ARN('fn'))}/aliases`, { Name: 'live', FunctionVersion: '1' });
    assert.equal(created.status, 201);
    assert.equal(created.body?.['AliasArn'], ARN('fn', 'live'));
    assert.equal((await call('GET', '/2015-03-31/functions/fn/aliases/live')).status, 200);
    const updated = await call('PUT', '/2015-03-31/functions/fn/aliases/live', { Description: 'd' });
    assert.deepEqual([updated.status, updated.body?.['Description']], [200, 'd']);
    assert.deepEqual((await call('GET', '/2015-03-31/functions/fn/aliases?FunctionVersion=1')).body?.['Aliases'], [updated.body]);
    const conflict = await call('POST', '/2015-03-31/functions/fn/aliases', { Name: 'live', FunctionVersion: '1' });
    assert.deepEqual([conflict.status, conflict.type, conflict.body], [409, 'ResourceConflictException', { Type: 'User', message: `Alias already exists: ${ARN('fn', 'live')}` }]);
    const missing = await call('GET', '/2015-03-31/functions/fn/aliases/gone');
    assert.deepEqual([missing.status, missing.type, missing.body], [404, 'ResourceNotFoundException', { Type: 'User', Message: `Cannot find alias arn: ${ARN('fn', 'gone')}` }]);
    const invoked = await fetch(`${env.base}/2015-03-31/functions/fn:live/invocations`, { method: 'POST', body: '{}' });
    assert.equal(invoked.headers.get('x-amz-executed-version'), '1');
    await invoked.arrayBuffer();
    assert.equal((await call('DELETE', '/2015-03-31/functions/fn/aliases/live')).status, 204);
    assert.equal((await call('DELETE', '/2015-03-31/functions/fn/aliases/live')).status, 204);
    assert.equal((await call('PATCH', '/2015-03-31/functions/fn/aliases/live')).type, 'UnknownOperationException');
    assert.equal((await call('PUT', '/2015-03-31/functions/fn/versions')).type, 'UnknownOperationException');
  });
});
