/**
 * Versions and aliases end to end: the real `kindling up`, the real AWS SDK,
 * real sandboxes. Two versions whose code differs (so every answer says which
 * one ran), an alias routed between them by weight, an Event invoke through
 * the alias, Lambda's refusals, and aliases kept across a restart.
 */
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import {
  CreateAliasCommand,
  DeleteAliasCommand,
  DeleteFunctionCommand,
  GetAliasCommand,
  GetFunctionCommand,
  InvokeCommand,
  ListAliasesCommand,
  ListVersionsByFunctionCommand,
  PublishVersionCommand,
  PutFunctionEventInvokeConfigCommand,
  UpdateAliasCommand,
  UpdateFunctionCodeCommand,
  waitUntilFunctionUpdatedV2,
  type LambdaClient,
  type LambdaServiceException,
} from '@aws-sdk/client-lambda';
import { deploy, json, startKindling, zip } from './harness.js';

const ARN = (name: string, q?: string) => `arn:aws:lambda:us-east-1:000000000000:function:${name}${q ? `:${q}` : ''}`;
const QUEUE = (name: string) => `arn:aws:sqs:us-east-1:000000000000:${name}`;

/** A handler that says which code it is, which version ran it, and the ARN it was invoked with. */
const code = (tag: string) => ({
  'index.mjs': `export const handler = async (event, context) => ({
    code: ${JSON.stringify(tag)},
    version: process.env.AWS_LAMBDA_FUNCTION_VERSION,
    contextVersion: context.functionVersion,
    invoked: context.invokedFunctionArn,
  });`,
});

interface Answer {
  code: string;
  version: string;
  contextVersion: string;
  invoked: string;
}

async function rejects(p: Promise<unknown>, name: string, status: number, message: string | RegExp): Promise<void> {
  await assert.rejects(p, (err: LambdaServiceException) => {
    assert.equal(err.name, name, err.message);
    assert.equal(err.$metadata.httpStatusCode, status);
    if (typeof message === 'string') assert.equal(err.message, message);
    else assert.match(err.message, message);
    return true;
  });
}

async function invoke(lambda: LambdaClient, name: string, qualifier?: string): Promise<{ executed: string | undefined; answer: Answer }> {
  const out = await lambda.send(new InvokeCommand({ FunctionName: name, ...(qualifier ? { Qualifier: qualifier } : {}), Payload: '{}' }));
  assert.equal(out.StatusCode, 200);
  assert.equal(out.FunctionError, undefined, Buffer.from(out.Payload ?? []).toString());
  return { executed: out.ExecutedVersion, answer: json(out.Payload) as Answer };
}

async function queueMessages(url: string, queue: string): Promise<{ Body: string }[]> {
  const res = await fetch(`${url}/kindling/v1/queues/${queue}/receive`, { method: 'POST', body: JSON.stringify({ MaxNumberOfMessages: 100, VisibilityTimeout: 0 }) });
  assert.equal(res.status, 200);
  return ((await res.json()) as { Messages: { Body: string }[] }).Messages;
}

test('versions and aliases through the AWS SDK: publish, route by weight, invoke async through an alias, refusals, a restart', async (t) => {
  const dataDir = mkdtempSync(join(tmpdir(), 'kindling-versions-e2e-'));
  t.after(() => rmSync(dataDir, { recursive: true, force: true }));
  const first = await startKindling(t, { dataDir });
  const lambda = first.client;

  // ---- versions
  await deploy(lambda, 'app', code('one'));
  const v1 = await lambda.send(new PublishVersionCommand({ FunctionName: 'app', Description: 'first' }));
  assert.equal(v1.Version, '1');
  assert.equal(v1.FunctionArn, ARN('app', '1'));
  assert.equal(v1.State, 'Active');
  assert.equal(v1.Description, 'first');
  assert.equal(v1.$metadata.httpStatusCode, 201);
  // Unchanged $LATEST: the same version again.
  const again = await lambda.send(new PublishVersionCommand({ FunctionName: 'app' }));
  assert.equal(again.Version, '1');
  assert.equal(again.RevisionId, v1.RevisionId);
  await rejects(
    lambda.send(new PublishVersionCommand({ FunctionName: 'app', RevisionId: 'not-the-revision' })),
    'PreconditionFailedException',
    412,
    'The Revision Id provided does not match the latest Revision Id. Call the GetFunction/GetAlias API to retrieve the latest Revision Id',
  );

  await lambda.send(new UpdateFunctionCodeCommand({ FunctionName: 'app', ZipFile: await zip(code('two')) }));
  await waitUntilFunctionUpdatedV2({ client: lambda, maxWaitTime: 60 }, { FunctionName: 'app' });
  const v2 = await lambda.send(new PublishVersionCommand({ FunctionName: 'app' }));
  assert.equal(v2.Version, '2');
  assert.notEqual(v2.CodeSha256, v1.CodeSha256);

  const versions = await lambda.send(new ListVersionsByFunctionCommand({ FunctionName: 'app' }));
  assert.deepEqual(versions.Versions?.map((v) => [v.Version, v.FunctionArn]), [
    ['$LATEST', ARN('app', '$LATEST')],
    ['1', ARN('app', '1')],
    ['2', ARN('app', '2')],
  ]);
  const paged = await lambda.send(new ListVersionsByFunctionCommand({ FunctionName: 'app', MaxItems: 2 }));
  assert.equal(paged.Versions?.length, 2);
  const rest = await lambda.send(new ListVersionsByFunctionCommand({ FunctionName: 'app', Marker: paged.NextMarker }));
  assert.deepEqual(rest.Versions?.map((v) => v.Version), ['2']);

  // ---- aliases: create, get, list, update
  const live = await lambda.send(new CreateAliasCommand({ FunctionName: 'app', Name: 'live', FunctionVersion: '1', Description: 'production' }));
  assert.equal(live.$metadata.httpStatusCode, 201);
  assert.equal(live.AliasArn, ARN('app', 'live'));
  assert.equal(live.RoutingConfig, undefined);
  const got = await lambda.send(new GetAliasCommand({ FunctionName: 'app', Name: 'live' }));
  assert.deepEqual(
    { AliasArn: got.AliasArn, Name: got.Name, FunctionVersion: got.FunctionVersion, Description: got.Description, RevisionId: got.RevisionId },
    { AliasArn: ARN('app', 'live'), Name: 'live', FunctionVersion: '1', Description: 'production', RevisionId: live.RevisionId },
  );
  await lambda.send(new CreateAliasCommand({ FunctionName: ARN('app'), Name: 'next', FunctionVersion: '2' }));
  assert.deepEqual((await lambda.send(new ListAliasesCommand({ FunctionName: 'app' }))).Aliases?.map((a) => a.Name), ['live', 'next']);
  assert.deepEqual((await lambda.send(new ListAliasesCommand({ FunctionName: 'app', FunctionVersion: '2' }))).Aliases?.map((a) => a.Name), ['next']);

  // GetFunction through the alias: version 1's configuration, the alias's ARN.
  const fnViaAlias = await lambda.send(new GetFunctionCommand({ FunctionName: 'app', Qualifier: 'live' }));
  assert.equal(fnViaAlias.Configuration?.Version, '1');
  assert.equal(fnViaAlias.Configuration?.FunctionArn, ARN('app', 'live'));
  assert.equal(fnViaAlias.Configuration?.CodeSha256, v1.CodeSha256);

  // ---- invoke through the alias, in every spelling
  for (const [name, qualifier] of [['app', 'live'], ['app:live', undefined], [ARN('app', 'live'), undefined]] as const) {
    const { executed, answer } = await invoke(lambda, name, qualifier);
    assert.equal(executed, '1');
    assert.deepEqual(answer, { code: 'one', version: '1', contextVersion: '1', invoked: ARN('app', 'live') });
  }
  assert.equal((await invoke(lambda, 'app', '2')).answer.code, 'two');
  assert.equal((await invoke(lambda, 'app')).executed, '$LATEST');
  await rejects(lambda.send(new InvokeCommand({ FunctionName: 'app:live', Qualifier: 'next' })), 'InvalidParameterValueException', 400,
    'The derived qualifier from the function name does not match the specified qualifier.');
  await rejects(lambda.send(new InvokeCommand({ FunctionName: 'app', Qualifier: 'nope' })), 'ResourceNotFoundException', 404, `Function not found: ${ARN('app', 'nope')}`);

  // ---- weighted routing: about half of 200 invokes run version 2, and every answer matches its header
  const weighted = await lambda.send(new UpdateAliasCommand({ FunctionName: 'app', Name: 'live', RoutingConfig: { AdditionalVersionWeights: { '2': 0.5 } }, RevisionId: live.RevisionId }));
  assert.deepEqual(weighted.RoutingConfig, { AdditionalVersionWeights: { '2': 0.5 } });
  await rejects(
    lambda.send(new UpdateAliasCommand({ FunctionName: 'app', Name: 'live', Description: 'stale', RevisionId: live.RevisionId })),
    'PreconditionFailedException',
    412,
    'The Revision Id provided does not match the latest Revision Id. Call the GetFunction/GetAlias API to retrieve the latest Revision Id',
  );
  const counts: Record<string, number> = {};
  for (let batch = 0; batch < 20; batch++) {
    const results = await Promise.all(Array.from({ length: 10 }, () => invoke(lambda, 'app', 'live')));
    for (const { executed, answer } of results) {
      assert.equal(answer.version, executed);
      assert.equal(answer.code, executed === '1' ? 'one' : 'two');
      assert.equal(answer.invoked, ARN('app', 'live'));
      counts[executed!] = (counts[executed!] ?? 0) + 1;
    }
  }
  assert.deepEqual(Object.keys(counts).sort(), ['1', '2'], JSON.stringify(counts));
  // Binomial(200, 0.5): outside 60..140 with probability below 1e-8.
  assert.ok(counts['2']! >= 60 && counts['2']! <= 140, JSON.stringify(counts));

  // ---- an Event invoke through the alias: its EventInvokeConfig, re-resolved at delivery
  await lambda.send(new UpdateAliasCommand({ FunctionName: 'app', Name: 'live', FunctionVersion: '2', RoutingConfig: { AdditionalVersionWeights: {} } }));
  const eic = await lambda.send(new PutFunctionEventInvokeConfigCommand({ FunctionName: 'app', Qualifier: 'live', DestinationConfig: { OnSuccess: { Destination: QUEUE('alias-success') } } }));
  assert.equal(eic.FunctionArn, ARN('app', 'live'));
  const accepted = await lambda.send(new InvokeCommand({ FunctionName: 'app:live', InvocationType: 'Event', Payload: '{}' }));
  assert.equal(accepted.StatusCode, 202);
  const end = Date.now() + 30_000;
  let messages = await queueMessages(first.url, 'alias-success');
  while (messages.length === 0 && Date.now() < end) {
    await new Promise((r) => setTimeout(r, 50));
    messages = await queueMessages(first.url, 'alias-success');
  }
  assert.equal(messages.length, 1, 'the async invoke through the alias reached the alias\'s OnSuccess destination');
  const record = JSON.parse(messages[0]!.Body) as { requestContext: { requestId: string }; responseContext: { executedVersion: string }; responsePayload: Answer };
  assert.equal(record.requestContext.requestId, accepted.$metadata.requestId);
  assert.equal(record.responseContext.executedVersion, '2');
  assert.deepEqual(record.responsePayload, { code: 'two', version: '2', contextVersion: '2', invoked: ARN('app', 'live') });

  // ---- refusals
  await rejects(lambda.send(new CreateAliasCommand({ FunctionName: 'app', Name: 'live', FunctionVersion: '1' })), 'ResourceConflictException', 409, `Alias already exists: ${ARN('app', 'live')}`);
  await rejects(lambda.send(new CreateAliasCommand({ FunctionName: 'app', Name: 'old', FunctionVersion: '99' })), 'ResourceNotFoundException', 404, `Function not found: ${ARN('app', '99')}`);
  await rejects(
    lambda.send(new CreateAliasCommand({ FunctionName: 'app', Name: 'edge', FunctionVersion: '$LATEST', RoutingConfig: { AdditionalVersionWeights: { '1': 0.1 } } })),
    'InvalidParameterValueException',
    400,
    '$LATEST is not supported for an alias pointing to more than 1 version',
  );
  await rejects(lambda.send(new DeleteFunctionCommand({ FunctionName: 'app', Qualifier: '$LATEST' })), 'InvalidParameterValueException', 400, '$LATEST version cannot be deleted without deleting the function.');
  await rejects(lambda.send(new DeleteFunctionCommand({ FunctionName: 'app', Qualifier: '2' })), 'ResourceConflictException', 409, 'Unable to delete version because the following aliases reference it: [live, next]');
  await rejects(lambda.send(new GetAliasCommand({ FunctionName: 'app', Name: 'nope' })), 'ResourceNotFoundException', 404, `Cannot find alias arn: ${ARN('app', 'nope')}`);

  // ---- a restart keeps the aliases, their routing and their configs
  await first.stop();
  const second = await startKindling(t, { dataDir });
  const after = await second.client.send(new GetAliasCommand({ FunctionName: 'app', Name: 'live' }));
  assert.equal(after.FunctionVersion, '2');
  assert.deepEqual((await second.client.send(new ListAliasesCommand({ FunctionName: 'app' }))).Aliases?.map((a) => [a.Name, a.FunctionVersion]), [['live', '2'], ['next', '2']]);
  const { executed, answer } = await invoke(second.client, 'app:live');
  assert.equal(executed, '2');
  assert.equal(answer.code, 'two');
  // Numbers are never reused, across the restart too.
  await second.client.send(new UpdateFunctionCodeCommand({ FunctionName: 'app', ZipFile: await zip(code('three')) }));
  await waitUntilFunctionUpdatedV2({ client: second.client, maxWaitTime: 60 }, { FunctionName: 'app' });
  assert.equal((await second.client.send(new PublishVersionCommand({ FunctionName: 'app' }))).Version, '3');

  // ---- delete: the alias goes (204, and 204 again), then the version it held can go
  const deleted = await second.client.send(new DeleteAliasCommand({ FunctionName: 'app', Name: 'next' }));
  assert.equal(deleted.$metadata.httpStatusCode, 204);
  await second.client.send(new DeleteAliasCommand({ FunctionName: 'app', Name: 'next' }));
  await rejects(second.client.send(new GetAliasCommand({ FunctionName: 'app', Name: 'next' })), 'ResourceNotFoundException', 404, `Cannot find alias arn: ${ARN('app', 'next')}`);
  await second.client.send(new UpdateAliasCommand({ FunctionName: 'app', Name: 'live', FunctionVersion: '3' }));
  await second.client.send(new DeleteFunctionCommand({ FunctionName: 'app', Qualifier: '2' }));
  assert.deepEqual((await second.client.send(new ListVersionsByFunctionCommand({ FunctionName: 'app' }))).Versions?.map((v) => v.Version), ['$LATEST', '1', '3']);
  assert.equal((await invoke(second.client, 'app', 'live')).answer.code, 'three');
  // Deleting the function deletes its aliases.
  await second.client.send(new DeleteFunctionCommand({ FunctionName: 'app' }));
  await deploy(second.client, 'app', code('again'));
  assert.deepEqual((await second.client.send(new ListAliasesCommand({ FunctionName: 'app' }))).Aliases, []);
});
