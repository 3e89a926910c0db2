/**
 * The control plane of asynchronous invocation through the real SDK against
 * the real `kindling up`: EventInvokeConfig (Put/Update/Get/List/Delete) and
 * DeadLetterConfig, and both surviving a restart. No function runs here.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import {
  DeleteFunctionCommand,
  DeleteFunctionEventInvokeConfigCommand,
  GetFunctionConfigurationCommand,
  GetFunctionEventInvokeConfigCommand,
  ListFunctionEventInvokeConfigsCommand,
  PutFunctionEventInvokeConfigCommand,
  UpdateFunctionConfigurationCommand,
  UpdateFunctionEventInvokeConfigCommand,
  waitUntilFunctionUpdatedV2,
  type LambdaServiceException,
} from '@aws-sdk/client-lambda';
import { deploy, startKindling } from './harness.js';

const ARN = (name: string, q?: string) => `arn:aws:lambda:us-east-1:000000000000:function:${name}${q ? `:${q}` : ''}`;
const QUEUE = (name: string) => `arn:aws:sqs:us-east-1:000000000000:${name}`;
const HANDLER = { 'index.js': 'exports.handler = async (e) => e;' };

async function rejects(p: Promise<unknown>, name: string, message: string | RegExp): Promise<void> {
  await assert.rejects(p, (err: LambdaServiceException) => {
    assert.equal(err.name, name, err.message);
    if (typeof message === 'string') assert.equal(err.message, message);
    else assert.match(err.message, message);
    return true;
  });
}

test('EventInvokeConfig and DeadLetterConfig through the AWS SDK, kept across a restart', async (t) => {
  const dataDir = mkdtempSync(join(tmpdir(), 'kindling-eic-e2e-'));
  t.after(() => rmSync(dataDir, { recursive: true, force: true }));
  const first = await startKindling(t, { dataDir });
  const lambda = first.client;
  await deploy(lambda, 'worker', HANDLER, { Publish: true, DeadLetterConfig: { TargetArn: QUEUE('worker-dlq') } });
  await deploy(lambda, 'on-success', HANDLER);

  // DeadLetterConfig: answered when set, snapshotted by the published version.
  assert.deepEqual((await lambda.send(new GetFunctionConfigurationCommand({ FunctionName: 'worker' }))).DeadLetterConfig, { TargetArn: QUEUE('worker-dlq') });
  assert.deepEqual((await lambda.send(new GetFunctionConfigurationCommand({ FunctionName: 'worker', Qualifier: '1' }))).DeadLetterConfig, { TargetArn: QUEUE('worker-dlq') });
  assert.equal((await lambda.send(new GetFunctionConfigurationCommand({ FunctionName: 'on-success' }))).DeadLetterConfig, undefined);

  const before = Date.now();
  const put = await lambda.send(new PutFunctionEventInvokeConfigCommand({
    FunctionName: 'worker',
    MaximumRetryAttempts: 1,
    MaximumEventAgeInSeconds: 3600,
    DestinationConfig: { OnSuccess: { Destination: ARN('on-success') }, OnFailure: { Destination: QUEUE('failures') } },
  }));
  assert.equal(put.FunctionArn, ARN('worker', '$LATEST'));
  assert.ok(put.LastModified instanceof Date && Math.abs(put.LastModified.getTime() - before) < 60_000, String(put.LastModified));
  assert.deepEqual(put.DestinationConfig, { OnSuccess: { Destination: ARN('on-success') }, OnFailure: { Destination: QUEUE('failures') } });

  const updated = await lambda.send(new UpdateFunctionEventInvokeConfigCommand({ FunctionName: 'worker', MaximumRetryAttempts: 0 }));
  assert.equal(updated.MaximumRetryAttempts, 0);
  assert.equal(updated.MaximumEventAgeInSeconds, 3600);
  assert.deepEqual(updated.DestinationConfig, put.DestinationConfig);

  const v1 = await lambda.send(new PutFunctionEventInvokeConfigCommand({ FunctionName: 'worker:1', MaximumEventAgeInSeconds: 60 }));
  assert.equal(v1.FunctionArn, ARN('worker', '1'));
  assert.deepEqual(v1.DestinationConfig, { OnSuccess: {}, OnFailure: {} });
  assert.equal(v1.MaximumRetryAttempts, undefined);

  const got = await lambda.send(new GetFunctionEventInvokeConfigCommand({ FunctionName: ARN('worker'), Qualifier: '$LATEST' }));
  assert.equal(got.MaximumRetryAttempts, 0);
  assert.equal(got.LastModified?.getTime(), updated.LastModified?.getTime());
  const listed = await lambda.send(new ListFunctionEventInvokeConfigsCommand({ FunctionName: 'worker' }));
  assert.deepEqual(listed.FunctionEventInvokeConfigs?.map((c) => c.FunctionArn), [ARN('worker', '$LATEST'), ARN('worker', '1')]);
  const page = await lambda.send(new ListFunctionEventInvokeConfigsCommand({ FunctionName: 'worker', MaxItems: 1 }));
  const rest = await lambda.send(new ListFunctionEventInvokeConfigsCommand({ FunctionName: 'worker', MaxItems: 1, Marker: page.NextMarker }));
  assert.deepEqual([...(page.FunctionEventInvokeConfigs ?? []), ...(rest.FunctionEventInvokeConfigs ?? [])].map((c) => c.FunctionArn),
    [ARN('worker', '$LATEST'), ARN('worker', '1')]);

  await rejects(lambda.send(new PutFunctionEventInvokeConfigCommand({ FunctionName: 'worker' })), 'InvalidParameterValueException',
    'You must specify at least one of error handling or destination setting.');
  await rejects(lambda.send(new PutFunctionEventInvokeConfigCommand({ FunctionName: 'worker', DestinationConfig: { OnFailure: { Destination: ARN('worker') } } })),
    'InvalidParameterValueException', "You can't specify the function as a destination for itself.");
  await rejects(lambda.send(new PutFunctionEventInvokeConfigCommand({ FunctionName: 'worker', DestinationConfig: { OnFailure: { Destination: 'arn:aws:sns:us-east-1:000000000000:t' } } })),
    'InvalidParameterValueException', /^Kindling does not support Amazon SNS topic destinations yet/);
  await rejects(lambda.send(new PutFunctionEventInvokeConfigCommand({ FunctionName: 'worker', MaximumEventAgeInSeconds: 30 })), 'ValidationException',
    "1 validation error detected: Value '30' at 'maximumEventAgeInSeconds' failed to satisfy constraint: Member must have value greater than or equal to 60");
  await rejects(lambda.send(new GetFunctionEventInvokeConfigCommand({ FunctionName: 'on-success' })), 'ResourceNotFoundException',
    `The function ${ARN('on-success', '$LATEST')} doesn't have an EventInvokeConfig`);

  assert.equal(await first.stop(), 0);
  const second = await startKindling(t, { dataDir });
  const again = second.client;
  const kept = await again.send(new GetFunctionEventInvokeConfigCommand({ FunctionName: 'worker' }));
  assert.deepEqual({ ...kept, $metadata: undefined }, { ...got, $metadata: undefined });
  assert.equal((await again.send(new GetFunctionEventInvokeConfigCommand({ FunctionName: 'worker', Qualifier: '1' }))).MaximumEventAgeInSeconds, 60);
  assert.deepEqual((await again.send(new GetFunctionConfigurationCommand({ FunctionName: 'worker' }))).DeadLetterConfig, { TargetArn: QUEUE('worker-dlq') });

  // TargetArn "" removes the dead-letter target; the published version keeps its own.
  await again.send(new UpdateFunctionConfigurationCommand({ FunctionName: 'worker', DeadLetterConfig: { TargetArn: '' } }));
  await waitUntilFunctionUpdatedV2({ client: again, maxWaitTime: 60 }, { FunctionName: 'worker' });
  assert.equal((await again.send(new GetFunctionConfigurationCommand({ FunctionName: 'worker' }))).DeadLetterConfig, undefined);
  assert.deepEqual((await again.send(new GetFunctionConfigurationCommand({ FunctionName: 'worker', Qualifier: '1' }))).DeadLetterConfig, { TargetArn: QUEUE('worker-dlq') });

  const del = await again.send(new DeleteFunctionEventInvokeConfigCommand({ FunctionName: 'worker', Qualifier: '1' }));
  assert.equal(del.$metadata.httpStatusCode, 204);
  await rejects(again.send(new DeleteFunctionEventInvokeConfigCommand({ FunctionName: 'worker', Qualifier: '1' })), 'ResourceNotFoundException',
    `The function ${ARN('worker', '1')} doesn't have an EventInvokeConfig`);

  // A function deleted and created again starts with no EventInvokeConfig.
  await again.send(new DeleteFunctionCommand({ FunctionName: 'worker' }));
  await deploy(again, 'worker', HANDLER);
  assert.deepEqual((await again.send(new ListFunctionEventInvokeConfigsCommand({ FunctionName: 'worker' }))).FunctionEventInvokeConfigs, []);
});
