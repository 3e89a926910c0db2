import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { LambdaError } from './errors.js';
import { functionArn, parseFunctionRef } from './arn.js';

const partition = { region: 'us-east-1', accountId: '000000000000' };

describe('parseFunctionRef', () => {
  it('reads names, versions and aliases in every spelling Lambda accepts', () => {
    assert.deepEqual(parseFunctionRef('fn', partition), { name: 'fn', qualifier: undefined });
    assert.deepEqual(parseFunctionRef('fn:7', partition), { name: 'fn', qualifier: '7' });
    assert.deepEqual(parseFunctionRef('fn:$LATEST', partition), { name: 'fn', qualifier: '$LATEST' });
    assert.deepEqual(parseFunctionRef('fn:live', partition), { name: 'fn', qualifier: 'live' });
    assert.deepEqual(parseFunctionRef('fn:2024-01-02_x', partition), { name: 'fn', qualifier: '2024-01-02_x' });
    assert.deepEqual(parseFunctionRef('000000000000:function:fn:live', partition), { name: 'fn', qualifier: 'live' });
    assert.deepEqual(parseFunctionRef(functionArn(partition, 'fn', 'live'), partition), { name: 'fn', qualifier: 'live' });
  });

  it('refuses a qualifier outside Lambda\'s pattern, and ARNs of another region or account', () => {
    assert.throws(() => parseFunctionRef('fn:li.ve', partition), (e: unknown) => e instanceof LambdaError && e.code === 'ValidationException');
    assert.throws(() => parseFunctionRef('fn:live:more', partition), (e: unknown) => e instanceof LambdaError && e.code === 'ValidationException');
    assert.throws(
      () => parseFunctionRef('arn:aws:lambda:eu-west-1:000000000000:function:fn:live', partition),
      (e: unknown) => e instanceof LambdaError && e.message === 'Function not found: arn:aws:lambda:us-east-1:000000000000:function:fn:live',
    );
  });
});
