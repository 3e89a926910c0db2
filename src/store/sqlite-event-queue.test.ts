import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { eventQueueContract, type QueueUnderTest } from './event-queue.contract.js';
import { SqliteEventQueue } from './sqlite-event-queue.js';

eventQueueContract('SQLite (embedded)', () => {
  const dir = mkdtempSync(join(tmpdir(), 'kindling-queue-'));
  const handle = (queue: SqliteEventQueue): QueueUnderTest => ({
    queue,
    async reopen(now) {
      await queue.close();
      return handle(new SqliteEventQueue(dir, { now }));
    },
    async close() {
      await queue.close().catch(() => undefined);
      rmSync(dir, { recursive: true, force: true });
    },
  });
  return Promise.resolve(handle(new SqliteEventQueue(dir)));
});
