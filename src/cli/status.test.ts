import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { formatStatus } from './status.js';

describe('formatStatus', () => {
  it('prints each worker with its memory, sandboxes and stem cells, and the fleet total', () => {
    const text = formatStatus({
      workers: [
        { id: 'w1', pid: 1, zone: 'a', capacityMB: 1024, usedMB: 256, idle: 1, busy: 1, functions: { b: 1, a: 1 }, heartbeatAgeMs: 0, stemCells: { pooled: 3, bound: 4, hits: 12, misses: 2 } },
        { id: 'w2', pid: 2, zone: 'b', capacityMB: 1024, usedMB: 0, idle: 0, busy: 0, functions: {}, heartbeatAgeMs: 100 },
      ],
    });
    assert.equal(
      text,
      [
        'WORKER  ZONE  MEMORY (MB)  UTIL   IDLE  BUSY  STEM CELLS               FUNCTIONS',
        'w1      a     256/1024     25.0%  1     1     3/4 (12 hits, 2 misses)  a×1 b×1',
        'w2      b     0/1024       0.0%   0     0     -                        -',
        '',
        '2 workers (1 in use), 256/2048 MB = 12.5% of the fleet\'s memory',
      ].join('\n'),
    );
  });
});
