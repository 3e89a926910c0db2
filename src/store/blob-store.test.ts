import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { mkdtempSync, readdirSync, rmSync } from 'node:fs';
import { readFile, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { FileBlobStore } from './file-blobs.js';
import type { BlobStore } from './types.js';

/** Contract suite for BlobStore; add implementations to the list. */
interface Implementation {
  readonly name: string;
  open(): { store: BlobStore; reopen(): BlobStore; cleanup(): void };
}

const implementations: Implementation[] = [
  {
    name: 'FileBlobStore',
    open() {
      const dir = mkdtempSync(join(tmpdir(), 'kindling-blobs-'));
      return {
        store: new FileBlobStore(dir),
        reopen: () => new FileBlobStore(dir),
        cleanup: () => rmSync(dir, { recursive: true, force: true }),
      };
    },
  },
];

for (const impl of implementations) {
  describe(`BlobStore contract: ${impl.name}`, () => {
    it('stores bytes under their SHA-256 and reads them back', async (t) => {
      const { store, cleanup } = impl.open();
      t.after(cleanup);
      const bytes = Buffer.from('zip bytes');
      const hex = await store.put(bytes);
      assert.equal(hex, createHash('sha256').update(bytes).digest('hex'));
      assert.equal(await store.has(hex), true);
      assert.deepEqual(await store.read(hex), bytes);
      assert.deepEqual(await readFile(store.path(hex)), bytes);
      assert.equal(await store.put(bytes), hex, 'same bytes, same key');
      assert.equal(await store.has('b'.repeat(64)), false);
    });

    it('refuses keys that are not SHA-256 hex (they become file names)', (t) => {
      const { store, cleanup } = impl.open();
      t.after(cleanup);
      assert.throws(() => store.path('../../etc/passwd'));
      assert.throws(() => store.taskRootPath('x'));
    });

    it('installs a task root atomically and only once', async (t) => {
      const { store, cleanup } = impl.open();
      t.after(cleanup);
      const hex = await store.put(Buffer.from('code'));
      assert.equal(await store.hasTaskRoot(hex), false);
      let calls = 0;
      const root = await store.installTaskRoot(hex, async (tmp) => {
        calls++;
        // The final path is not visible while the root is being filled.
        assert.equal(await store.hasTaskRoot(hex), false);
        await writeFile(join(tmp, 'index.js'), 'x');
      });
      assert.equal(root, store.taskRootPath(hex));
      assert.deepEqual(readdirSync(root), ['index.js']);
      await store.installTaskRoot(hex, async () => {
        calls++;
      });
      assert.equal(calls, 1);
    });

    it('leaves no task root behind when filling fails', async (t) => {
      const { store, cleanup } = impl.open();
      t.after(cleanup);
      const hex = await store.put(Buffer.from('bad code'));
      await assert.rejects(
        store.installTaskRoot(hex, async (tmp) => {
          await writeFile(join(tmp, 'half'), 'x');
          throw new Error('unzip failed');
        }),
        /unzip failed/,
      );
      assert.equal(await store.hasTaskRoot(hex), false);
    });

    it('deletes the zip and its task root', async (t) => {
      const { store, cleanup } = impl.open();
      t.after(cleanup);
      const hex = await store.put(Buffer.from('gone'));
      await store.installTaskRoot(hex, async (tmp) => writeFile(join(tmp, 'f'), 'x'));
      await store.delete(hex);
      assert.equal(await store.has(hex), false);
      assert.equal(await store.hasTaskRoot(hex), false);
    });

    it('keeps blobs and task roots across a restart', async (t) => {
      const { store, reopen, cleanup } = impl.open();
      t.after(cleanup);
      const hex = await store.put(Buffer.from('durable'));
      await store.installTaskRoot(hex, async (tmp) => writeFile(join(tmp, 'f'), 'x'));
      const again = reopen();
      assert.deepEqual(await again.read(hex), Buffer.from('durable'));
      assert.equal(await again.hasTaskRoot(hex), true);
    });
  });
}
