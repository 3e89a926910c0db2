import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { ManualClock } from '../shared/clock.js';
import { LambdaError } from '../shared/errors.js';
import { FileBlobStore } from '../store/file-blobs.js';
import { SqliteMetadataStore } from '../store/sqlite-metadata.js';
import { ZipCodePreparer } from './code.js';
import { FunctionUrls, randomUrlId } from './function-urls.js';
import type { UrlFunctionCatalog } from './function-urls.js';
import { FunctionRegistry } from './registry.js';
import { handlerZip } from './testing.js';

const partition = { region: 'us-east-1', accountId: '000000000000' };
const ROLE = 'arn:aws:iam::000000000000:role/lambda-role';
const ARN = (name: string, q?: string) => `arn:aws:lambda:us-east-1:000000000000:function:${name}${q ? `:${q}` : ''}`;
const T0 = Date.UTC(2026, 10, 23, 7, 30, 0, 123);
// LS-A recorded pattern of the URL qualifier.
const QUALIFIER_ERROR = (q: string) =>
  `1 validation error detected: Value '${q}' at 'qualifier' failed to satisfy constraint: Member must satisfy regular expression pattern: ((?!^\\d+$)^[0-9a-zA-Z-_]+$)`;

interface Opened {
  registry: FunctionRegistry;
  urls: FunctionUrls;
  metadata: SqliteMetadataStore;
}

async function openAt(dir: string, clock: ManualClock, aliases?: Set<string>): Promise<Opened> {
  const metadata = new SqliteMetadataStore(dir);
  const blobs = new FileBlobStore(dir);
  const logger = { error: () => undefined };
  const registry = await FunctionRegistry.open({ metadata, blobs, preparer: new ZipCodePreparer(blobs), clock, partition, hostArchitecture: 'x86_64', logger });
  let n = 0;
  const functions: UrlFunctionCatalog = aliases
    ? { lookupVersion: (a, b) => registry.lookupVersion(a, b), exclusive: (a, f) => registry.exclusive(a, f), onDeleted: (l) => registry.onDeleted(l), hasAlias: (fn, a) => aliases.has(`${fn}:${a}`) }
    : registry;
  const urls = await FunctionUrls.open({
    store: metadata,
    functions,
    partition,
    clock,
    urlOf: (id) => `http://${id}.lambda-url.us-east-1.localhost:9001/`,
    newUrlId: () => `${String(++n).padStart(2, '0')}${'a'.repeat(30)}`,
  });
  return { registry, urls, metadata };
}

async function setup(t: { after(fn: () => unknown): void }, aliases?: Set<string>): Promise<Opened & { clock: ManualClock; dir: string }> {
  const dir = mkdtempSync(join(tmpdir(), 'kindling-urls-'));
  const clock = new ManualClock(T0);
  const opened = await openAt(dir, clock, aliases);
  t.after(async () => {
    opened.registry.close();
    await opened.metadata.close();
    rmSync(dir, { recursive: true, force: true });
  });
  return { ...opened, clock, dir };
}

async function create(s: Pick<Opened, 'registry'>, name: string): Promise<void> {
  await s.registry.create({ FunctionName: name, Role: ROLE, Runtime: 'nodejs20.x', Handler: 'index.handler', Code: { ZipFile: (await handlerZip()).toString('base64') } });
  await s.registry.whenIdle();
}

async function rejects(p: Promise<unknown> | (() => unknown), code: string, message: string): Promise<void> {
  await assert.rejects(
    async () => (typeof p === 'function' ? p() : p),
    (err: unknown) => {
      assert.ok(err instanceof LambdaError, String(err));
      assert.equal(err.code, code);
      assert.equal(err.message, message);
      return true;
    },
  );
}

describe('function URL configs', () => {
  it('create answers as Lambda does (no LastModifiedTime, InvokeMode only when given); get and list add them', async (t) => {
    const s = await setup(t);
    await create(s, 'f');
    const created = await s.urls.create('f', undefined, { AuthType: 'NONE' });
    assert.deepEqual(created, {
      FunctionUrl: `http://01${'a'.repeat(30)}.lambda-url.us-east-1.localhost:9001/`,
      FunctionArn: ARN('f'),
      AuthType: 'NONE',
      CreationTime: '2026-11-23T07:30:00.123000Z',
    });
    s.clock.advance(1000);
    const got = await s.urls.get('f', undefined);
    assert.deepEqual(got, { ...created, LastModifiedTime: '2026-11-23T07:30:00.123000Z', InvokeMode: 'BUFFERED' });
    assert.deepEqual(await s.urls.list('f', undefined, undefined), { FunctionUrlConfigs: [got] });
    // The front door finds it by its id, case-insensitively (host names are).
    assert.equal(s.urls.urlById(`01${'A'.repeat(30)}`)?.functionName, 'f');

    const withMode = await s.urls.create('f', 'live', { AuthType: 'NONE', InvokeMode: 'BUFFERED' });
    assert.equal(withMode.InvokeMode, 'BUFFERED');
    assert.equal(withMode.FunctionArn, ARN('f', 'live'));
  });

  it('refuses a second URL for the same qualifier with the recorded 409', async (t) => {
    const s = await setup(t);
    await create(s, 'f');
    await s.urls.create('f', undefined, { AuthType: 'NONE' });
    await rejects(
      s.urls.create('f', undefined, { AuthType: 'NONE' }),
      'ResourceConflictException',
      `Failed to create function url config for [functionArn = ${ARN('f')}]. Error message:  FunctionUrlConfig exists for this Lambda function`,
    );
  });

  it('answers missing functions, versions, $LATEST and mismatched qualifiers in the recorded words', async (t) => {
    const s = await setup(t);
    await create(s, 'f');
    await rejects(s.urls.create('nope', undefined, { AuthType: 'NONE' }), 'ResourceNotFoundException', 'Function does not exist');
    await rejects(s.urls.create(ARN('nope'), undefined, { AuthType: 'NONE' }), 'ResourceNotFoundException', 'Function does not exist');
    await rejects(s.urls.create('nope', '1', { AuthType: 'NONE' }), 'ValidationException', QUALIFIER_ERROR('1'));
    await rejects(s.urls.create('f', '$LATEST', { AuthType: 'NONE' }), 'ValidationException', QUALIFIER_ERROR('$LATEST'));
    await rejects(s.urls.create('f:live-x', 'live', { AuthType: 'NONE' }), 'InvalidParameterValueException', 'The derived qualifier from the function name does not match the specified qualifier.');
    await rejects(s.urls.get('nope', undefined), 'ResourceNotFoundException', 'The resource you requested does not exist.');
    await rejects(s.urls.get('f', '2'), 'ValidationException', QUALIFIER_ERROR('2'));
    await rejects(s.urls.get('f', undefined), 'ResourceNotFoundException', 'The resource you requested does not exist.');
    await rejects(s.urls.delete('f', undefined), 'ResourceNotFoundException', 'The resource you requested does not exist.');
    await rejects(s.urls.update('nope', undefined, { AuthType: 'NONE' }), 'ResourceNotFoundException', 'Function does not exist');
    await rejects(s.urls.update('f', undefined, { AuthType: 'NONE' }), 'ResourceNotFoundException', 'The resource you requested does not exist.');
    await rejects(s.urls.list('nope', undefined, undefined), 'ResourceNotFoundException', 'Function does not exist');
    assert.deepEqual(await s.urls.list('f', undefined, undefined), { FunctionUrlConfigs: [] });
  });

  it('checks an alias exists when the registry can say so', async (t) => {
    const s = await setup(t, new Set(['f:live']));
    await create(s, 'f');
    await rejects(s.urls.create('f', 'v1', { AuthType: 'NONE' }), 'ResourceNotFoundException', 'Function does not exist');
    assert.equal((await s.urls.create('f', 'live', { AuthType: 'NONE' })).FunctionArn, ARN('f', 'live'));
  });

  it('validates the body: AuthType required and an enum, InvokeMode in the recorded order, Cors limits; AWS_IAM refused clearly', async (t) => {
    const s = await setup(t);
    await create(s, 'f');
    await rejects(s.urls.create('f', undefined, {}), 'ValidationException', "1 validation error detected: Value null at 'authType' failed to satisfy constraint: Member must not be null");
    await rejects(
      s.urls.create('f', undefined, { AuthType: 'NONE', InvokeMode: 'UNKNOWN' }),
      'ValidationException',
      "1 validation error detected: Value 'UNKNOWN' at 'invokeMode' failed to satisfy constraint: Member must satisfy enum value set: [RESPONSE_STREAM, BUFFERED]",
    );
    await rejects(
      s.urls.create('f', undefined, { AuthType: 'NONE', Cors: { MaxAge: 86401 } }),
      'ValidationException',
      "1 validation error detected: Value '86401' at 'cors.maxAge' failed to satisfy constraint: Member must have value less than or equal to 86400",
    );
    await assert.rejects(s.urls.create('f', undefined, { AuthType: 'NONE', Cors: { AllowOrigins: 'x' } }), { code: 'SerializationException' });
    await assert.rejects(s.urls.create('f', undefined, { AuthType: 'AWS_IAM' }), (err: LambdaError) => {
      assert.equal(err.code, 'InvalidParameterValueException');
      assert.match(err.message, /Kindling does not authenticate function URL requests yet/);
      return true;
    });
  });

  it('update changes the members given, Cors as a whole, and the LastModifiedTime', async (t) => {
    const s = await setup(t);
    await create(s, 'f');
    await s.urls.create('f', undefined, { AuthType: 'NONE', Cors: { AllowOrigins: ['*'], MaxAge: 10 } });
    s.clock.advance(2000);
    const updated = await s.urls.update('f', undefined, { Cors: { AllowOrigins: ['https://a.example'] } });
    assert.deepEqual(updated.Cors, { AllowOrigins: ['https://a.example'] });
    assert.equal(updated.AuthType, 'NONE');
    assert.equal(updated.LastModifiedTime, '2026-11-23T07:30:02.123000Z');
    assert.equal(updated.CreationTime, '2026-11-23T07:30:00.123000Z');
    assert.equal(updated.InvokeMode, undefined);
    const same = await s.urls.update('f', undefined, {});
    assert.deepEqual(same.Cors, { AllowOrigins: ['https://a.example'] });
    // Once set, Update answers InvokeMode even when not given (LS-A modify_lambda_url_config_none).
    assert.equal((await s.urls.update('f', undefined, { InvokeMode: 'BUFFERED' })).InvokeMode, 'BUFFERED');
    assert.equal((await s.urls.update('f', undefined, {})).InvokeMode, 'BUFFERED');
  });

  it('pages the list with MaxItems and NextMarker', async (t) => {
    const s = await setup(t);
    await create(s, 'f');
    await s.urls.create('f', undefined, { AuthType: 'NONE' });
    await s.urls.create('f', 'a', { AuthType: 'NONE' });
    await s.urls.create('f', 'b', { AuthType: 'NONE' });
    const first = await s.urls.list('f', undefined, '2');
    assert.deepEqual(first.FunctionUrlConfigs.map((c) => c.FunctionArn), [ARN('f'), ARN('f', 'a')]);
    assert.ok(first.NextMarker);
    const second = await s.urls.list('f', first.NextMarker, '2');
    assert.deepEqual(second.FunctionUrlConfigs.map((c) => c.FunctionArn), [ARN('f', 'b')]);
    assert.equal(second.NextMarker, undefined);
    await rejects(s.urls.list('f', undefined, '51'), 'ValidationException', "1 validation error detected: Value '51' at 'maxItems' failed to satisfy constraint: Member must have value less than or equal to 50");
  });

  it('delete removes the URL from the front door; DeleteFunction drops URLs and routes; both survive a restart', async (t) => {
    const s = await setup(t);
    await create(s, 'f');
    await create(s, 'g');
    const a = await s.urls.create('f', undefined, { AuthType: 'NONE', Cors: { AllowMethods: ['GET'] } });
    await s.urls.create('g', undefined, { AuthType: 'NONE' });
    await s.urls.putRoutes('g', { Routes: [{ Method: 'GET', Path: '/g' }] });
    await s.urls.putRoutes('f', { Routes: [{ Method: 'GET', Path: '/f' }] });

    // Restart: the same URLs (same ids) and routes.
    s.registry.close();
    await s.metadata.close();
    const again = await openAt(s.dir, s.clock);
    t.after(async () => {
      again.registry.close();
      await again.metadata.close();
    });
    assert.deepEqual(await again.urls.get('f', undefined), { ...a, LastModifiedTime: a.CreationTime, InvokeMode: 'BUFFERED' });
    assert.equal(again.urls.routes().length, 2);

    const fId = again.urls.urlById(`01${'a'.repeat(30)}`);
    assert.equal(fId?.functionName, 'f');
    await again.urls.delete('f', undefined);
    assert.equal(again.urls.urlById(fId.urlId), undefined);

    const gId = (await again.urls.list('g', undefined, undefined)).FunctionUrlConfigs[0]!.FunctionUrl.slice(7, 39);
    await again.registry.delete('g', undefined);
    assert.equal(again.urls.urlById(gId), undefined);
    assert.deepEqual(again.urls.listRoutes(), { Routes: [{ FunctionName: 'f', Method: 'GET', Path: '/f', PayloadFormatVersion: '2.0' }] });
    // A function made again under the name starts without them (the store dropped them too).
    await create(again, 'g');
    await rejects(again.urls.get('g', undefined), 'ResourceNotFoundException', 'The resource you requested does not exist.');
    assert.deepEqual(await again.metadata.listHttpRoutes(), [{ functionName: 'f', method: 'GET', path: '/f', payloadFormatVersion: '2.0' }]);
  });

  it('drops an alias’s URL when the registry reports the alias deleted', async (t) => {
    const s = await setup(t);
    await create(s, 'f');
    let listener: ((name: string, q: string | undefined) => void) | undefined;
    const urls = await FunctionUrls.open({
      store: s.metadata,
      functions: { lookupVersion: (a, b) => s.registry.lookupVersion(a, b), exclusive: (a, f) => s.registry.exclusive(a, f), onDeleted: (l) => (listener = l) },
      partition,
      clock: s.clock,
      urlOf: (id) => id,
    });
    await urls.create('f', 'live', { AuthType: 'NONE' });
    await urls.create('f', undefined, { AuthType: 'NONE' });
    listener!('f', 'live');
    await rejects(urls.get('f', 'live'), 'ResourceNotFoundException', 'The resource you requested does not exist.');
    assert.deepEqual((await s.metadata.listFunctionUrls()).map((r) => r.qualifier), [undefined]);
  });

  it('makes 32-character lower-case url-ids', () => {
    const ids = new Set(Array.from({ length: 50 }, () => randomUrlId()));
    assert.equal(ids.size, 50);
    for (const id of ids) assert.match(id, /^[a-z2-7]{32}$/);
  });
});

describe('HTTP routes', () => {
  it('replaces a function’s routes, lists them all and deletes them', async (t) => {
    const s = await setup(t);
    await create(s, 'f');
    const put = await s.urls.putRoutes('f', { Routes: [{ Method: 'get', Path: '/items/{id}', PayloadFormatVersion: '1.0' }, { Method: 'ANY', Path: '/' }] });
    assert.deepEqual(put, {
      Routes: [
        { FunctionName: 'f', Method: 'GET', Path: '/items/{id}', PayloadFormatVersion: '1.0' },
        { FunctionName: 'f', Method: 'ANY', Path: '/', PayloadFormatVersion: '2.0' },
      ],
    });
    await s.urls.putRoutes('f', { Routes: [{ Method: 'POST', Path: '/files/{proxy+}', PayloadFormatVersion: '2.0' }] });
    assert.deepEqual(s.urls.listRoutes(), { Routes: [{ FunctionName: 'f', Method: 'POST', Path: '/files/{proxy+}', PayloadFormatVersion: '2.0' }] });
    await s.urls.deleteRoutes('f');
    assert.deepEqual(s.urls.listRoutes(), { Routes: [] });
    await rejects(s.urls.putRoutes('nope', { Routes: [] }), 'ResourceNotFoundException', 'Function does not exist');
  });

  it('refuses a route that matches the same requests as another function’s (409), not one of its own', async (t) => {
    const s = await setup(t);
    await create(s, 'f');
    await create(s, 'g');
    await s.urls.putRoutes('f', { Routes: [{ Method: 'GET', Path: '/items/{id}' }] });
    await rejects(
      s.urls.putRoutes('g', { Routes: [{ Method: 'ANY', Path: '/items/{key}' }] }),
      'ResourceConflictException',
      'The route ANY /items/{key} conflicts with the route GET /items/{id} of function f.',
    );
    // Another method on the same path, or another path, is no conflict; f may replace its own.
    await s.urls.putRoutes('g', { Routes: [{ Method: 'POST', Path: '/items/{id}' }, { Method: 'GET', Path: '/items/{id}/parts' }] });
    await s.urls.putRoutes('f', { Routes: [{ Method: 'GET', Path: '/items/{id}' }] });
    assert.equal(s.urls.routes().length, 3);
  });

  it('stores a route’s Qualifier (an alias or a version that exists), lists it only when set, keeps it across a restart and after the alias is deleted', async (t) => {
    const s = await setup(t);
    await create(s, 'f');
    assert.equal((await s.registry.publishVersion('f', {}))['Version'], '1');
    await s.registry.createAlias('f', { Name: 'live', FunctionVersion: '1' });
    const put = await s.urls.putRoutes('f', {
      Routes: [
        { Method: 'GET', Path: '/live', Qualifier: 'live' },
        { Method: 'GET', Path: '/v1', PayloadFormatVersion: '1.0', Qualifier: '1' },
        { Method: 'GET', Path: '/latest' },
      ],
    });
    assert.deepEqual(put.Routes, [
      { FunctionName: 'f', Method: 'GET', Path: '/live', PayloadFormatVersion: '2.0', Qualifier: 'live' },
      { FunctionName: 'f', Method: 'GET', Path: '/v1', PayloadFormatVersion: '1.0', Qualifier: '1' },
      { FunctionName: 'f', Method: 'GET', Path: '/latest', PayloadFormatVersion: '2.0' },
    ]);
    assert.deepEqual(
      s.urls.routes().map((r) => [r.path, r.qualifier]),
      [['/latest', undefined], ['/live', 'live'], ['/v1', '1']],
    );
    // Invoke's words for a qualifier that names nothing; nothing is stored.
    await rejects(s.urls.putRoutes('f', { Routes: [{ Method: 'GET', Path: '/x', Qualifier: 'beta' }] }), 'ResourceNotFoundException', `Function not found: ${ARN('f', 'beta')}`);
    await rejects(s.urls.putRoutes('f', { Routes: [{ Method: 'GET', Path: '/x', Qualifier: '7' }] }), 'ResourceNotFoundException', `Function not found: ${ARN('f', '7')}`);
    assert.equal(s.urls.routes().length, 3);
    // Invoke's ?Qualifier= constraints (botocore Qualifier), the member named as AWS names list members.
    await rejects(
      s.urls.putRoutes('f', { Routes: [{ Method: 'GET', Path: '/a' }, { Method: 'GET', Path: '/b', Qualifier: 'no:pe' }] }),
      'ValidationException',
      "1 validation error detected: Value 'no:pe' at 'routes.2.member.qualifier' failed to satisfy constraint: Member must satisfy regular expression pattern: (|[a-zA-Z0-9$_-]+)",
    );
    await rejects(
      s.urls.putRoutes('f', { Routes: [{ Method: 'GET', Path: '/a', Qualifier: '' }] }),
      'ValidationException',
      "1 validation error detected: Value '' at 'routes.1.member.qualifier' failed to satisfy constraint: Member must have length greater than or equal to 1",
    );
    await rejects(
      s.urls.putRoutes('f', { Routes: [{ Method: 'GET', Path: '/a', Qualifier: 'q'.repeat(129) }] }),
      'ValidationException',
      `1 validation error detected: Value '${'q'.repeat(129)}' at 'routes.1.member.qualifier' failed to satisfy constraint: Member must have length less than or equal to 128`,
    );
    await assert.rejects(s.urls.putRoutes('f:live', { Routes: [] }), { code: 'InvalidParameterValueException' });

    // Deleting the alias leaves the route (the front door answers for the missing target).
    await s.registry.deleteAlias('f', 'live');
    assert.equal(s.urls.routes().find((r) => r.path === '/live')?.qualifier, 'live');

    s.registry.close();
    await s.metadata.close();
    const again = await openAt(s.dir, s.clock);
    t.after(async () => {
      again.registry.close();
      await again.metadata.close();
    });
    assert.deepEqual(again.urls.listRoutes().Routes, [
      { FunctionName: 'f', Method: 'GET', Path: '/latest', PayloadFormatVersion: '2.0' },
      { FunctionName: 'f', Method: 'GET', Path: '/live', PayloadFormatVersion: '2.0', Qualifier: 'live' },
      { FunctionName: 'f', Method: 'GET', Path: '/v1', PayloadFormatVersion: '1.0', Qualifier: '1' },
    ]);
  });

  it('validates methods, paths and payload versions', async (t) => {
    const s = await setup(t);
    await create(s, 'f');
    const bad = async (route: Record<string, unknown>, pattern: RegExp) =>
      assert.rejects(s.urls.putRoutes('f', { Routes: [route] }), (err: LambdaError) => {
        assert.equal(err.code, 'InvalidParameterValueException');
        assert.match(err.message, pattern);
        return true;
      });
    await bad({ Method: 'FETCH', Path: '/' }, /Routes\[0\]\.Method must be one of/);
    await bad({ Method: 'GET', Path: 'items' }, /must start with \//);
    await bad({ Method: 'GET', Path: '/{proxy+}/x' }, /greedy/);
    await bad({ Method: 'GET', Path: '/a//b' }, /empty segment/);
    await bad({ Method: 'GET', Path: '/{a}/{a}' }, /appears twice/);
    await bad({ Method: 'GET', Path: '/', PayloadFormatVersion: '3.0' }, /PayloadFormatVersion/);
    await assert.rejects(s.urls.putRoutes('f', {}), { code: 'InvalidParameterValueException' });
    await assert.rejects(s.urls.putRoutes('f', { Routes: 'x' }), { code: 'SerializationException' });
  });
});
