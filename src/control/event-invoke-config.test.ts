import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { ManualClock } from '../shared/clock.js';
import { FileBlobStore } from '../store/file-blobs.js';
import { SqliteMetadataStore } from '../store/sqlite-metadata.js';
import {
  DEFAULT_MAXIMUM_EVENT_AGE_SECONDS,
  DEFAULT_MAXIMUM_RETRY_ATTEMPTS,
  EventInvokeConfigs,
  parseDestinationArn,
} from './event-invoke-config.js';
import { FunctionRegistry } from './registry.js';
import { ZipCodePreparer } from './code.js';
import { handlerZip, rejectsWith } from './testing.js';

const partition = { region: 'us-east-1', accountId: '000000000000' };
const ROLE = 'arn:aws:iam::000000000000:role/lambda-role';
const ARN = (name: string, q?: string) => `arn:aws:lambda:us-east-1:000000000000:function:${name}${q ? `:${q}` : ''}`;
const QUEUE = (name: string) => `arn:aws:sqs:us-east-1:000000000000:${name}`;
const T0 = Date.UTC(2026, 10, 23, 7, 30, 0, 123);
const EMPTY_DESTINATIONS = { OnSuccess: {}, OnFailure: {} };
// The pattern AWS quotes for a malformed destination (LS-A put_destination_invalid_arn_pattern).
const DESTINATION_PATTERN =
  '$|kafka://([^.]([a-zA-Z0-9\\-_.]{0,248}))|arn:(aws[a-zA-Z0-9-]*):([a-zA-Z0-9\\-])+:((eusc-)?[a-z]{2}((-gov)|(-iso([a-z]?)))?-[a-z]+-\\d{1})?:(\\d{12})?:(.*)';

interface Setup {
  registry: FunctionRegistry;
  configs: EventInvokeConfigs;
  metadata: SqliteMetadataStore;
  clock: ManualClock;
  dir: string;
  errors: string[];
}

interface Opened {
  registry: FunctionRegistry;
  configs: EventInvokeConfigs;
  metadata: SqliteMetadataStore;
  errors: string[];
}

async function openAt(dir: string, clock: ManualClock): Promise<Opened> {
  const metadata = new SqliteMetadataStore(dir);
  const blobs = new FileBlobStore(dir);
  const errors: string[] = [];
  const logger = { error: (m: string) => errors.push(m) };
  // Real unpacking: a restart finds the task roots the first run made.
  const registry = await FunctionRegistry.open({
    metadata, blobs, preparer: new ZipCodePreparer(blobs), clock, partition, hostArchitecture: 'x86_64', logger,
  });
  const configs = await EventInvokeConfigs.open({ metadata, functions: registry, partition, clock, logger });
  return { registry, configs, metadata, errors };
}

async function setup(t: { after(fn: () => unknown): void }): Promise<Setup> {
  const dir = mkdtempSync(join(tmpdir(), 'kindling-eic-'));
  const clock = new ManualClock(T0);
  const opened = await openAt(dir, clock);
  t.after(async () => {
    opened.registry.close();
    await opened.metadata.close();
    rmSync(dir, { recursive: true, force: true });
  });
  return { ...opened, clock, dir };
}

/** Creates a function (with `versions` published versions) and waits until every preparation finished. */
async function create(s: Pick<Setup, 'registry'>, name: string, versions = 0, extra: Record<string, unknown> = {}): Promise<void> {
  await s.registry.create({
    FunctionName: name, Role: ROLE, Runtime: 'nodejs20.x', Handler: 'index.handler',
    Code: { ZipFile: (await handlerZip()).toString('base64') }, Publish: versions > 0, ...extra,
  });
  await s.registry.whenIdle();
  for (let i = 1; i < versions; i++) {
    await s.registry.updateCode(name, { ZipFile: (await handlerZip(`// v${i + 1}`)).toString('base64'), Publish: true });
    await s.registry.whenIdle();
  }
}


const noConfig = (name: string, q = '$LATEST') => `The function ${ARN(name, q)} doesn't have an EventInvokeConfig`;

describe('EventInvokeConfigs: Put, Update, Get', () => {
  it('answers in Lambda\'s shape: qualified FunctionArn, LastModified in epoch seconds, both destinations always present', async (t) => {
    const s = await setup(t);
    await create(s, 'fn');
    const put = await s.configs.put('fn', undefined, { MaximumRetryAttempts: 0 });
    assert.deepEqual(put, { FunctionArn: ARN('fn', '$LATEST'), LastModified: T0 / 1000, DestinationConfig: EMPTY_DESTINATIONS, MaximumRetryAttempts: 0 });
    assert.equal(put.LastModified, 1795419000.123);
    assert.deepEqual(await s.configs.get('fn', undefined), put);
    assert.deepEqual(await s.configs.get('fn', '$LATEST'), put);
    assert.deepEqual(await s.configs.get('fn:$LATEST', undefined), put);
    assert.deepEqual(await s.configs.get(ARN('fn'), '$LATEST'), put);
    assert.deepEqual(JSON.parse(JSON.stringify(await s.configs.get('fn', undefined))), put, 'nothing undefined in the wire form');
  });

  it('Put replaces the whole config: members not given become unset', async (t) => {
    const s = await setup(t);
    await create(s, 'fn');
    await create(s, 'other');
    await s.configs.put('fn', undefined, { MaximumRetryAttempts: 2, MaximumEventAgeInSeconds: 60, DestinationConfig: { OnFailure: { Destination: ARN('other') } } });
    s.clock.advance(5000);
    const replaced = await s.configs.put('fn', undefined, { MaximumRetryAttempts: 0 });
    assert.deepEqual(replaced, { FunctionArn: ARN('fn', '$LATEST'), LastModified: (T0 + 5000) / 1000, DestinationConfig: EMPTY_DESTINATIONS, MaximumRetryAttempts: 0 });
    assert.equal((await s.configs.get('fn', undefined)).MaximumEventAgeInSeconds, undefined);
  });

  it('Update changes only the members given; a DestinationConfig given replaces both destinations', async (t) => {
    const s = await setup(t);
    await create(s, 'fn');
    await create(s, 'other');
    await s.configs.put('fn', undefined, { MaximumRetryAttempts: 2, MaximumEventAgeInSeconds: 60, DestinationConfig: { OnSuccess: { Destination: QUEUE('ok') } } });
    s.clock.advance(1000);
    const retries = await s.configs.update('fn', undefined, { MaximumRetryAttempts: 0 });
    assert.deepEqual(retries, {
      FunctionArn: ARN('fn', '$LATEST'), LastModified: (T0 + 1000) / 1000, MaximumRetryAttempts: 0, MaximumEventAgeInSeconds: 60,
      DestinationConfig: { OnSuccess: { Destination: QUEUE('ok') }, OnFailure: {} },
    });
    // botocore examples-1.json: an update adding OnFailure keeps the retry and age settings.
    const failure = await s.configs.update('fn', undefined, { DestinationConfig: { OnFailure: { Destination: ARN('other', '$LATEST') } } });
    assert.deepEqual(failure.DestinationConfig, { OnSuccess: {}, OnFailure: { Destination: ARN('other', '$LATEST') } });
    assert.equal(failure.MaximumRetryAttempts, 0);
    assert.equal(failure.MaximumEventAgeInSeconds, 60);
    assert.deepEqual(await s.configs.get('fn', undefined), failure);
  });

  it('Update of a config that does not exist, or of a function that does not exist, is 404 in Lambda\'s words', async (t) => {
    const s = await setup(t);
    await create(s, 'fn', 1);
    // LS-A update_eventinvokeconfig_config_doesnotexist_without_qualifier / _function_doesnotexist.
    await rejectsWith(s.configs.update('fn', undefined, { MaximumRetryAttempts: 0 }), 'ResourceNotFoundException', noConfig('fn'));
    await rejectsWith(s.configs.update(ARN('fn', '1'), undefined, { MaximumRetryAttempts: 0 }), 'ResourceNotFoundException', noConfig('fn', '1'));
    await rejectsWith(s.configs.update('doesnotexist', undefined, { MaximumRetryAttempts: 0 }), 'ResourceNotFoundException', "The function doesn't exist.");
    await rejectsWith(s.configs.update('fn', '9', { MaximumRetryAttempts: 0 }), 'ResourceNotFoundException', "The function doesn't exist.");
  });

  it('keeps one config per qualifier: a version\'s is its own, named by ?Qualifier=, name:qualifier or a qualified ARN', async (t) => {
    const s = await setup(t);
    await create(s, 'fn', 2);
    await s.configs.put('fn', undefined, { MaximumRetryAttempts: 1 });
    await rejectsWith(s.configs.get('fn', '1'), 'ResourceNotFoundException', noConfig('fn', '1'));
    const v1 = await s.configs.put('fn', '1', { MaximumEventAgeInSeconds: 120 });
    assert.equal(v1.FunctionArn, ARN('fn', '1'));
    assert.deepEqual(await s.configs.get('fn:1', undefined), v1);
    assert.deepEqual(await s.configs.get(ARN('fn', '1'), '1'), v1);
    const v2 = await s.configs.put(ARN('fn', '2'), undefined, { MaximumRetryAttempts: 0 });
    assert.equal(v2.FunctionArn, ARN('fn', '2'));
    assert.equal((await s.configs.get('fn', undefined)).MaximumRetryAttempts, 1, '$LATEST keeps its own');
  });

  it('answers a qualifier that names no version (aliases do not exist yet) as Lambda does', async (t) => {
    const s = await setup(t);
    await create(s, 'fn', 1);
    // LS-A put_alias_doesnotexist; get_qualifier_doesnotexist; test_ops_on_nonexisting_version.
    await rejectsWith(s.configs.put('fn', '7', { MaximumRetryAttempts: 1 }), 'ResourceNotFoundException', "The function doesn't exist.");
    await rejectsWith(s.configs.put('fn:live', undefined, { MaximumRetryAttempts: 1 }), 'ResourceNotFoundException', "The function doesn't exist.");
    await rejectsWith(s.configs.get('fn', 'doesnotexist'), 'ResourceNotFoundException', noConfig('fn', 'doesnotexist'));
    await rejectsWith(s.configs.get('fn', '1221'), 'ResourceNotFoundException', noConfig('fn', '1221'));
    await rejectsWith(s.configs.get('doesnotexist', undefined), 'ResourceNotFoundException', noConfig('doesnotexist'));
  });

  it('refuses a qualifier that contradicts the one in the name', async (t) => {
    const s = await setup(t);
    await create(s, 'fn', 1);
    const mismatch = 'The derived qualifier from the function name does not match the specified qualifier.';
    await rejectsWith(s.configs.put('fn:1', '$LATEST', { MaximumRetryAttempts: 1 }), 'InvalidParameterValueException', mismatch);
    await rejectsWith(s.configs.put('fn:$LATEST', '1', { MaximumRetryAttempts: 1 }), 'InvalidParameterValueException', mismatch);
    await rejectsWith(s.configs.get(ARN('fn', '1'), '$LATEST'), 'InvalidParameterValueException', mismatch);
    assert.equal((await s.configs.put('fn:$LATEST', '$LATEST', { MaximumRetryAttempts: 1 })).FunctionArn, ARN('fn', '$LATEST'));
  });

  it('asks for at least one setting, before looking the function up', async (t) => {
    const s = await setup(t);
    await create(s, 'fn');
    const message = 'You must specify at least one of error handling or destination setting.';
    await rejectsWith(s.configs.put('doesnotexist', undefined, {}), 'InvalidParameterValueException', message);
    await rejectsWith(s.configs.put('fn', undefined, { MaximumRetryAttempts: null }), 'InvalidParameterValueException', message);
    await rejectsWith(s.configs.update('fn', undefined, {}), 'InvalidParameterValueException', message);
    await rejectsWith(s.configs.put('doesnotexist', undefined, { MaximumRetryAttempts: 1 }), 'ResourceNotFoundException', "The function doesn't exist.");
    await rejectsWith(s.configs.put(ARN('doesnotexist'), undefined, { MaximumRetryAttempts: 1 }), 'ResourceNotFoundException', "The function doesn't exist.");
  });

  it('checks the ranges of the API model, naming every violation', async (t) => {
    const s = await setup(t);
    await create(s, 'fn');
    const one = (value: string, field: string, constraint: string) =>
      `1 validation error detected: Value '${value}' at '${field}' failed to satisfy constraint: ${constraint}`;
    await rejectsWith(s.configs.put('fn', undefined, { MaximumRetryAttempts: 3 }), 'ValidationException',
      one('3', 'maximumRetryAttempts', 'Member must have value less than or equal to 2'));
    await rejectsWith(s.configs.put('fn', undefined, { MaximumRetryAttempts: -1 }), 'ValidationException',
      one('-1', 'maximumRetryAttempts', 'Member must have value greater than or equal to 0'));
    await rejectsWith(s.configs.put('fn', undefined, { MaximumEventAgeInSeconds: 59 }), 'ValidationException',
      one('59', 'maximumEventAgeInSeconds', 'Member must have value greater than or equal to 60'));
    await rejectsWith(s.configs.update('fn', undefined, { MaximumEventAgeInSeconds: 21601 }), 'ValidationException',
      one('21601', 'maximumEventAgeInSeconds', 'Member must have value less than or equal to 21600'));
    await rejectsWith(s.configs.put('fn', undefined, { MaximumRetryAttempts: 5, MaximumEventAgeInSeconds: 1 }), 'ValidationException',
      "2 validation errors detected: Value '5' at 'maximumRetryAttempts' failed to satisfy constraint: Member must have value less than or equal to 2; " +
        "Value '1' at 'maximumEventAgeInSeconds' failed to satisfy constraint: Member must have value greater than or equal to 60");
    await rejectsWith(s.configs.put('fn', 'no/good', { MaximumRetryAttempts: 1 }), 'ValidationException',
      one('no/good', 'qualifier', 'Member must satisfy regular expression pattern: \\$(LATEST(\\.PUBLISHED)?)|[a-zA-Z0-9-_$]+'));
    await rejectsWith(s.configs.put('fn', undefined, { MaximumRetryAttempts: '1' }), 'SerializationException', 'STRING_VALUE can not be converted to an Integer');
    await rejectsWith(s.configs.put('fn', undefined, { MaximumRetryAttempts: 1.5 }), 'SerializationException', /Integer/);
    await rejectsWith(s.configs.put('fn', undefined, { DestinationConfig: 'x' }), 'SerializationException', 'Unexpected value type in payload');
    await rejectsWith(s.configs.put('fn', undefined, []), 'SerializationException', /list/);
    // The limits themselves are valid (LS-A put_maxevent_maxvalue_result).
    const max = await s.configs.put('fn', undefined, { MaximumRetryAttempts: 2, MaximumEventAgeInSeconds: 21600 });
    assert.equal(max.MaximumEventAgeInSeconds, 21600);
  });
});

describe('EventInvokeConfigs: destinations', () => {
  it('accepts another Kindling function (any qualifier) and a Kindling queue, and answers them back', async (t) => {
    const s = await setup(t);
    await create(s, 'fn');
    await create(s, 'other', 1);
    const put = await s.configs.put('fn', undefined, {
      DestinationConfig: { OnSuccess: { Destination: ARN('other', '1') }, OnFailure: { Destination: QUEUE('failed_events-1') } },
    });
    assert.deepEqual(put.DestinationConfig, { OnSuccess: { Destination: ARN('other', '1') }, OnFailure: { Destination: QUEUE('failed_events-1') } });
    assert.deepEqual((await s.configs.put('fn', undefined, { DestinationConfig: { OnSuccess: { Destination: ARN('other') } } })).DestinationConfig,
      { OnSuccess: { Destination: ARN('other') }, OnFailure: {} });
  });

  it('answers an empty destination as none (LS-A put_destination_success_no_destination_arn)', async (t) => {
    const s = await setup(t);
    await create(s, 'fn');
    assert.deepEqual((await s.configs.put('fn', undefined, { DestinationConfig: { OnSuccess: {} } })).DestinationConfig, EMPTY_DESTINATIONS);
    assert.deepEqual((await s.configs.put('fn', undefined, { DestinationConfig: { OnFailure: {} } })).DestinationConfig, EMPTY_DESTINATIONS);
    assert.deepEqual((await s.configs.put('fn', undefined, { DestinationConfig: { OnFailure: { Destination: '' } } })).DestinationConfig, EMPTY_DESTINATIONS);
    assert.deepEqual((await s.configs.put('fn', undefined, { DestinationConfig: {} })).DestinationConfig, EMPTY_DESTINATIONS);
  });

  it('refuses a function that does not exist, and the function itself, in Lambda\'s words', async (t) => {
    const s = await setup(t);
    await create(s, 'fn', 1);
    await rejectsWith(s.configs.put('fn', undefined, { DestinationConfig: { OnSuccess: { Destination: ARN('doesnotexist') } } }),
      'InvalidParameterValueException', `The destination ARN ${ARN('doesnotexist')} is invalid.`);
    const self = "You can't specify the function as a destination for itself.";
    await rejectsWith(s.configs.put('fn', undefined, { DestinationConfig: { OnSuccess: { Destination: ARN('fn') } } }), 'InvalidParameterValueException', self);
    await rejectsWith(s.configs.put('fn', '1', { DestinationConfig: { OnFailure: { Destination: ARN('fn', '$LATEST') } } }), 'InvalidParameterValueException', self);
    // Nothing of Kindling lives in another region or account; a name that is no function's is no destination.
    for (const arn of [
      'arn:aws:lambda:eu-west-1:000000000000:function:fn2',
      'arn:aws:lambda:us-east-1:111111111111:function:fn2',
      'arn:aws:lambda:us-east-1:000000000000:layer:fn2',
      'arn:aws:lambda:us-east-1:000000000000:function:fn2:1:2',
    ]) {
      await rejectsWith(s.configs.put('fn', undefined, { DestinationConfig: { OnFailure: { Destination: arn } } }), 'InvalidParameterValueException', `The destination ARN ${arn} is invalid.`);
    }
    await rejectsWith(s.configs.get('fn', undefined), 'ResourceNotFoundException', noConfig('fn'));
  });

  it('refuses a queue ARN that names no Kindling queue, saying how queues are named', async (t) => {
    const s = await setup(t);
    await create(s, 'fn');
    for (const arn of [QUEUE('has.dot'), QUEUE('x'.repeat(81)), 'arn:aws:sqs:eu-west-1:000000000000:q', 'arn:aws:sqs:us-east-1:000000000000:q:extra']) {
      await rejectsWith(s.configs.put('fn', undefined, { DestinationConfig: { OnFailure: { Destination: arn } } }), 'InvalidParameterValueException',
        `The destination ARN ${arn} is invalid. Kindling queues are named arn:aws:sqs:us-east-1:000000000000:NAME (NAME: 1 to 80 letters, digits, hyphens or underscores).`);
    }
  });

  it('refuses SNS, EventBridge and S3 destinations with a message saying Kindling does not support them yet', async (t) => {
    const s = await setup(t);
    await create(s, 'fn');
    const cases = [
      ['arn:aws:sns:us-east-1:000000000000:topic', 'Amazon SNS topic'],
      ['arn:aws:events:us-east-1:000000000000:event-bus/default', 'Amazon EventBridge event bus'],
      ['arn:aws:s3:::bucket', 'Amazon S3 bucket'],
    ] as const;
    for (const [arn, what] of cases) {
      await rejectsWith(s.configs.put('fn', undefined, { DestinationConfig: { OnFailure: { Destination: arn } } }), 'InvalidParameterValueException',
        `Kindling does not support ${what} destinations yet (${arn}). Use a Kindling function (arn:aws:lambda:us-east-1:000000000000:function:NAME) ` +
          'or a Kindling queue (arn:aws:sqs:us-east-1:000000000000:NAME (NAME: 1 to 80 letters, digits, hyphens or underscores)).');
    }
  });

  it('answers an ARN of a service that is no destination type, and a malformed ARN, as AWS does', async (t) => {
    const s = await setup(t);
    await create(s, 'fn');
    const iam = ARN('fn').replace(':lambda:', ':iam:');
    // LS-A put_destination_invalid_service_arn.
    await rejectsWith(s.configs.put('fn', undefined, { DestinationConfig: { OnSuccess: { Destination: iam } } }), 'InvalidParameterValueException',
      `The provided destination config DestinationConfig(onSuccess=OnSuccess(destination=${iam}), onFailure=null) is invalid.`);
    await rejectsWith(s.configs.put('fn', undefined, { DestinationConfig: { OnSuccess: { Destination: QUEUE('q') }, OnFailure: { Destination: iam } } }),
      'InvalidParameterValueException',
      `The provided destination config DestinationConfig(onSuccess=OnSuccess(destination=${QUEUE('q')}), onFailure=OnFailure(destination=${iam})) is invalid.`);
    // LS-A put_destination_invalid_arn_pattern.
    const malformed = ARN('fn').replace(':lambda:', ':_-/!lambda:');
    await rejectsWith(s.configs.put('fn', undefined, { DestinationConfig: { OnFailure: { Destination: malformed } } }), 'ValidationException',
      `1 validation error detected: Value '${malformed}' at 'destinationConfig.onFailure.destination' failed to satisfy constraint: Member must satisfy regular expression pattern: ${DESTINATION_PATTERN}`);
    await rejectsWith(s.configs.put('fn', undefined, { DestinationConfig: { OnSuccess: { Destination: 'not-an-arn' } } }), 'ValidationException',
      /at 'destinationConfig\.onSuccess\.destination' failed to satisfy constraint: Member must satisfy regular expression pattern/);
    const long = QUEUE('q'.repeat(330));
    await rejectsWith(s.configs.put('fn', undefined, { DestinationConfig: { OnSuccess: { Destination: long } } }), 'ValidationException',
      `1 validation error detected: Value '${long}' at 'destinationConfig.onSuccess.destination' failed to satisfy constraint: Member must have length less than or equal to 350`);
  });
});

describe('EventInvokeConfigs: Delete and List', () => {
  it('deletes a qualifier\'s config; a second delete, or one of a function that does not exist, is 404', async (t) => {
    const s = await setup(t);
    await create(s, 'fn', 1);
    await s.configs.put('fn', undefined, { MaximumRetryAttempts: 0 });
    await s.configs.put('fn', '1', { MaximumRetryAttempts: 1 });
    await s.configs.delete('fn', '$LATEST');
    await rejectsWith(s.configs.get('fn', undefined), 'ResourceNotFoundException', noConfig('fn'));
    assert.equal((await s.configs.get('fn', '1')).MaximumRetryAttempts, 1);
    // LS-A delete_function_not_found, delete_function_doesnotexist.
    await rejectsWith(s.configs.delete('fn', undefined), 'ResourceNotFoundException', noConfig('fn'));
    await rejectsWith(s.configs.delete('doesnotexist', undefined), 'ResourceNotFoundException', noConfig('doesnotexist'));
    await rejectsWith(s.configs.delete('fn', '4'), 'ResourceNotFoundException', noConfig('fn', '4'));
    await s.configs.delete('fn:1', undefined);
    assert.deepEqual(await s.metadata.listEventInvokeConfigs(), []);
  });

  it('lists the function\'s configs, $LATEST first then versions in numeric order, in pages', async (t) => {
    const s = await setup(t);
    await create(s, 'fn', 10);
    await create(s, 'other');
    for (const q of ['10', '$LATEST', '2']) await s.configs.put('fn', q, { MaximumRetryAttempts: 1 });
    await s.configs.put('other', undefined, { MaximumRetryAttempts: 0 });
    const all = await s.configs.list('fn', undefined, undefined);
    assert.deepEqual(all.FunctionEventInvokeConfigs.map((c) => c.FunctionArn), [ARN('fn', '$LATEST'), ARN('fn', '2'), ARN('fn', '10')]);
    assert.equal(all.NextMarker, undefined);
    assert.deepEqual(all.FunctionEventInvokeConfigs[0], await s.configs.get('fn', undefined));

    const first = await s.configs.list(ARN('fn'), undefined, '2');
    assert.equal(first.FunctionEventInvokeConfigs.length, 2);
    assert.ok(first.NextMarker);
    const rest = await s.configs.list('fn', first.NextMarker, '2');
    assert.deepEqual(rest.FunctionEventInvokeConfigs.map((c) => c.FunctionArn), [ARN('fn', '10')]);
    assert.equal(rest.NextMarker, undefined);

    await create(s, 'bare');
    assert.deepEqual(await s.configs.list('bare', undefined, undefined), { FunctionEventInvokeConfigs: [] });
  });

  it('answers List\'s errors: a missing function, MaxItems outside 1..50, a bad marker', async (t) => {
    const s = await setup(t);
    await create(s, 'fn');
    await rejectsWith(s.configs.list('doesnotexist', undefined, undefined), 'ResourceNotFoundException', "The function doesn't exist.");
    await rejectsWith(s.configs.list('fn', undefined, '0'), 'ValidationException',
      "1 validation error detected: Value '0' at 'maxItems' failed to satisfy constraint: Member must have value greater than or equal to 1");
    await rejectsWith(s.configs.list('fn', undefined, '51'), 'ValidationException',
      "1 validation error detected: Value '51' at 'maxItems' failed to satisfy constraint: Member must have value less than or equal to 50");
    await rejectsWith(s.configs.list('fn', undefined, 'ten'), 'SerializationException', 'STRING_VALUE can not be converted to an Integer');
    await rejectsWith(s.configs.list('fn', 'garbage', undefined), 'InvalidParameterValueException', 'Invalid marker: garbage');
  });
});

describe('EventInvokeConfigs: the data plane\'s asyncSettings', () => {
  it('gives Lambda\'s defaults when the version has no config, and the config\'s values when it has one', async (t) => {
    const s = await setup(t);
    await create(s, 'fn', 1);
    await create(s, 'other');
    assert.equal(DEFAULT_MAXIMUM_RETRY_ATTEMPTS, 2);
    assert.equal(DEFAULT_MAXIMUM_EVENT_AGE_SECONDS, 21600);
    const defaults = { maximumRetryAttempts: 2, maximumEventAgeInSeconds: 21600, onSuccess: undefined, onFailure: undefined, deadLetterTarget: undefined };
    assert.deepEqual(s.configs.asyncSettings('fn', undefined), defaults);

    await s.configs.put('fn', undefined, { MaximumRetryAttempts: 0, DestinationConfig: { OnFailure: { Destination: QUEUE('dlq') } } });
    assert.deepEqual(s.configs.asyncSettings('fn', undefined), { ...defaults, maximumRetryAttempts: 0, onFailure: QUEUE('dlq') });
    assert.deepEqual(s.configs.asyncSettings('fn', '$LATEST'), s.configs.asyncSettings('fn', undefined));
    assert.deepEqual(s.configs.asyncSettings(ARN('fn', '$LATEST'), undefined), s.configs.asyncSettings('fn', undefined));
    // A version has its own config, or none: it never inherits $LATEST's.
    assert.deepEqual(s.configs.asyncSettings('fn', '1'), defaults);
    await s.configs.put('fn', '1', { MaximumEventAgeInSeconds: 60, DestinationConfig: { OnSuccess: { Destination: ARN('other') } } });
    assert.deepEqual(s.configs.asyncSettings('fn', '1'), { ...defaults, maximumEventAgeInSeconds: 60, onSuccess: ARN('other') });

    await s.configs.update('fn', undefined, { MaximumEventAgeInSeconds: 120 });
    assert.equal(s.configs.asyncSettings('fn', undefined)?.maximumEventAgeInSeconds, 120);
    await s.configs.delete('fn', undefined);
    assert.deepEqual(s.configs.asyncSettings('fn', undefined), defaults);
  });

  it('gives the dead-letter target of the version invoked: versions snapshot it, $LATEST follows updates', async (t) => {
    const s = await setup(t);
    await create(s, 'fn', 1, { DeadLetterConfig: { TargetArn: QUEUE('v1-dlq') } });
    await s.registry.updateConfiguration('fn', { DeadLetterConfig: { TargetArn: QUEUE('latest-dlq') } });
    await s.registry.whenIdle();
    await s.configs.put('fn', '1', { MaximumRetryAttempts: 0 });
    assert.equal(s.configs.asyncSettings('fn', undefined)?.deadLetterTarget, QUEUE('latest-dlq'));
    assert.deepEqual(s.configs.asyncSettings('fn', '1'), {
      maximumRetryAttempts: 0, maximumEventAgeInSeconds: 21600, onSuccess: undefined, onFailure: undefined, deadLetterTarget: QUEUE('v1-dlq'),
    });
    await s.registry.updateConfiguration('fn', { DeadLetterConfig: { TargetArn: '' } });
    await s.registry.whenIdle();
    assert.equal(s.configs.asyncSettings('fn', undefined)?.deadLetterTarget, undefined);
    assert.equal(s.configs.asyncSettings('fn', '1')?.deadLetterTarget, QUEUE('v1-dlq'));
  });

  it('is undefined for a function or qualifier that does not exist, and never throws', async (t) => {
    const s = await setup(t);
    await create(s, 'fn');
    assert.equal(s.configs.asyncSettings('gone', undefined), undefined);
    assert.equal(s.configs.asyncSettings('fn', '3'), undefined);
    assert.equal(s.configs.asyncSettings('fn', 'live'), undefined);
    assert.equal(s.configs.asyncSettings('fn:1', '$LATEST'), undefined);
    assert.equal(s.configs.asyncSettings('arn:aws:lambda:eu-west-1:000000000000:function:fn', undefined), undefined);
    assert.equal(s.configs.asyncSettings('bad name:::', undefined), undefined);
  });
});

describe('EventInvokeConfigs: lifecycle with the function', () => {
  it('DeleteFunction removes every config of the function: one created again starts clean', async (t) => {
    const s = await setup(t);
    await create(s, 'fn', 1);
    await s.configs.put('fn', undefined, { MaximumRetryAttempts: 0 });
    await s.configs.put('fn', '1', { MaximumRetryAttempts: 1 });
    await s.registry.delete('fn', undefined);
    assert.equal(s.configs.asyncSettings('fn', undefined), undefined);
    assert.deepEqual(await s.metadata.listEventInvokeConfigs(), []);
    await create(s, 'fn', 1);
    await rejectsWith(s.configs.get('fn', undefined), 'ResourceNotFoundException', noConfig('fn'));
    await rejectsWith(s.configs.get('fn', '1'), 'ResourceNotFoundException', noConfig('fn', '1'));
    assert.equal(s.configs.asyncSettings('fn', '1')?.maximumRetryAttempts, DEFAULT_MAXIMUM_RETRY_ATTEMPTS);
    assert.deepEqual((await s.configs.list('fn', undefined, undefined)).FunctionEventInvokeConfigs, []);
  });

  it('deleting one published version removes that version\'s config only', async (t) => {
    const s = await setup(t);
    await create(s, 'fn', 2);
    for (const q of ['$LATEST', '1', '2']) await s.configs.put('fn', q, { MaximumRetryAttempts: 1 });
    await s.registry.delete('fn', '1');
    assert.equal(s.configs.asyncSettings('fn', '1'), undefined);
    assert.deepEqual((await s.configs.list('fn', undefined, undefined)).FunctionEventInvokeConfigs.map((c) => c.FunctionArn), [ARN('fn', '$LATEST'), ARN('fn', '2')]);
    assert.deepEqual((await s.metadata.listEventInvokeConfigs()).map((c) => c.qualifier), ['$LATEST', '2']);
  });

  it('a Put racing DeleteFunction never leaves a config behind for the deleted function', async (t) => {
    const s = await setup(t);
    await create(s, 'fn');
    const [deleted, put] = await Promise.allSettled([s.registry.delete('fn', undefined), s.configs.put('fn', undefined, { MaximumRetryAttempts: 0 })]);
    assert.equal(deleted.status, 'fulfilled');
    assert.equal(put.status, 'rejected');
    assert.deepEqual(await s.metadata.listEventInvokeConfigs(), []);
    await create(s, 'fn');
    assert.equal(s.configs.asyncSettings('fn', undefined)?.maximumRetryAttempts, DEFAULT_MAXIMUM_RETRY_ATTEMPTS);
  });

  it('keeps configs across a restart, and drops at open a stored config that names no function version', async (t) => {
    const dir = mkdtempSync(join(tmpdir(), 'kindling-eic-restart-'));
    t.after(() => rmSync(dir, { recursive: true, force: true }));
    const clock = new ManualClock(T0);
    const first = await openAt(dir, clock);
    await create(first, 'fn', 1);
    await create(first, 'other');
    const latest = await first.configs.put('fn', undefined, { MaximumRetryAttempts: 0, DestinationConfig: { OnSuccess: { Destination: ARN('other') } } });
    const v1 = await first.configs.put('fn', '1', { MaximumEventAgeInSeconds: 3600 });
    // Hand-edited store: configs of a version and a function that do not exist.
    await first.metadata.putEventInvokeConfig({ functionName: 'fn', qualifier: '7', maximumRetryAttempts: 1, maximumEventAgeInSeconds: undefined, onSuccess: undefined, onFailure: undefined, lastModified: T0 });
    await first.metadata.putEventInvokeConfig({ functionName: 'ghost', qualifier: '$LATEST', maximumRetryAttempts: 1, maximumEventAgeInSeconds: undefined, onSuccess: undefined, onFailure: undefined, lastModified: T0 });
    first.registry.close();
    await first.metadata.close();

    const second = await openAt(dir, clock);
    t.after(async () => {
      second.registry.close();
      await second.metadata.close();
    });
    assert.deepEqual(await second.configs.get('fn', undefined), latest);
    assert.deepEqual(await second.configs.get('fn', '1'), v1);
    assert.deepEqual(second.configs.asyncSettings('fn', undefined)?.onSuccess, ARN('other'));
    assert.deepEqual((await second.metadata.listEventInvokeConfigs()).map((c) => `${c.functionName}:${c.qualifier}`), ['fn:$LATEST', 'fn:1']);
    assert.equal(second.errors.length, 2, second.errors.join('\n'));
    await create(second, 'ghost');
    await rejectsWith(second.configs.get('ghost', undefined), 'ResourceNotFoundException', noConfig('ghost'));
  });
});

describe('parseDestinationArn', () => {
  it('parses Kindling function and queue ARNs, and nothing else', () => {
    assert.deepEqual(parseDestinationArn(ARN('f')), { kind: 'function', name: 'f', qualifier: undefined });
    assert.deepEqual(parseDestinationArn(ARN('f', '$LATEST')), { kind: 'function', name: 'f', qualifier: '$LATEST' });
    assert.deepEqual(parseDestinationArn(ARN('my-fn_2', '3')), { kind: 'function', name: 'my-fn_2', qualifier: '3' });
    assert.deepEqual(parseDestinationArn(QUEUE('Orders_dlq-1')), { kind: 'queue', name: 'Orders_dlq-1' });
    for (const arn of [
      'arn:aws:sns:us-east-1:000000000000:topic', 'arn:aws:s3:::bucket', 'arn:aws:sqs:us-east-1:000000000000:a.b',
      QUEUE(''), QUEUE('q'.repeat(81)), 'arn:aws:lambda:us-east-1:000000000000:function:', `${ARN('f')}:1:2`,
      'arn:aws-cn:sqs:us-east-1:000000000000:q', 'arn:aws:sqs:us-east-1:12:q', 'sqs:q', '',
    ]) {
      assert.equal(parseDestinationArn(arn), undefined, arn);
    }
  });

  it('with a partition, parses only ARNs of its region and account', () => {
    assert.deepEqual(parseDestinationArn(QUEUE('q'), partition), { kind: 'queue', name: 'q' });
    assert.equal(parseDestinationArn('arn:aws:sqs:eu-west-1:000000000000:q', partition), undefined);
    assert.equal(parseDestinationArn('arn:aws:lambda:us-east-1:123456789012:function:f', partition), undefined);
    assert.deepEqual(parseDestinationArn('arn:aws:lambda:us-east-1:123456789012:function:f'), { kind: 'function', name: 'f', qualifier: undefined });
  });
});
