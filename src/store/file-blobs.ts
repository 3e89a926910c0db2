import { createHash, randomUUID } from 'node:crypto';
import { mkdirSync, rmSync } from 'node:fs';
import { access, mkdir, readFile, rename, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { BlobStore } from './types.js';

const HEX64 = /^[0-9a-f]{64}$/;

function checkKey(sha256hex: string): string {
  // The key becomes a file name: refuse anything but a SHA-256 hex digest.
  if (!HEX64.test(sha256hex)) throw new Error(`invalid code hash: ${sha256hex}`);
  return sha256hex;
}

async function exists(path: string): Promise<boolean> {
  try {
    await access(path);
    return true;
  } catch {
    return false;
  }
}

/**
 * BlobStore on the local file system:
 *   <dataDir>/code/<sha256hex>.zip    deployment packages
 *   <dataDir>/tasks/<sha256hex>/      unpacked task roots
 *   <dataDir>/tmp/                    staging for atomic writes (same file system, so rename is atomic)
 */
export class FileBlobStore implements BlobStore {
  readonly #codeDir: string;
  readonly #tasksDir: string;
  readonly #tmpDir: string;

  /** Where the store of `dataDir` unpacks task roots (code and merged layers), one directory each. */
  static tasksDir(dataDir: string): string {
    return join(dataDir, 'tasks');
  }

  constructor(dataDir: string) {
    this.#codeDir = join(dataDir, 'code');
    this.#tasksDir = FileBlobStore.tasksDir(dataDir);
    this.#tmpDir = join(dataDir, 'tmp');
    // Whatever is left in tmp/ was staged by a process that crashed before its
    // rename: never visible under a final path, safe to discard.
    rmSync(this.#tmpDir, { recursive: true, force: true });
    for (const d of [this.#codeDir, this.#tasksDir, this.#tmpDir]) mkdirSync(d, { recursive: true });
  }

  async put(bytes: Buffer): Promise<string> {
    const hex = createHash('sha256').update(bytes).digest('hex');
    const final = this.path(hex);
    if (await exists(final)) return hex;
    const tmp = join(this.#tmpDir, `${hex}.${randomUUID()}.zip`);
    try {
      // flush: the data reaches the disk before the rename makes it visible.
      await writeFile(tmp, bytes, { flush: true });
      await rename(tmp, final);
    } catch (err) {
      await rm(tmp, { force: true });
      throw err;
    }
    return hex;
  }

  async has(sha256hex: string): Promise<boolean> {
    return exists(this.path(sha256hex));
  }

  path(sha256hex: string): string {
    return join(this.#codeDir, `${checkKey(sha256hex)}.zip`);
  }

  async read(sha256hex: string): Promise<Buffer> {
    return readFile(this.path(sha256hex));
  }

  async delete(sha256hex: string): Promise<void> {
    // Move the task root aside first so no reader sees a half-deleted tree.
    const root = this.taskRootPath(sha256hex);
    if (await exists(root)) {
      const trash = join(this.#tmpDir, `trash-${sha256hex}-${randomUUID()}`);
      await rename(root, trash);
      await rm(trash, { recursive: true, force: true });
    }
    await rm(this.path(sha256hex), { force: true });
  }

  taskRootPath(sha256hex: string): string {
    return join(this.#tasksDir, checkKey(sha256hex));
  }

  async hasTaskRoot(sha256hex: string): Promise<boolean> {
    return exists(this.taskRootPath(sha256hex));
  }

  async installTaskRoot(sha256hex: string, fill: (tempDir: string) => Promise<void>): Promise<string> {
    const final = this.taskRootPath(sha256hex);
    if (await exists(final)) return final;
    const tmp = join(this.#tmpDir, `task-${sha256hex}-${randomUUID()}`);
    await mkdir(tmp, { mode: 0o755 });
    try {
      await fill(tmp);
      await rename(tmp, final);
    } catch (err) {
      await rm(tmp, { recursive: true, force: true });
      // Another preparer may have installed the same code concurrently:
      // rename onto a non-empty directory fails, and the root is there.
      if (await exists(final)) return final;
      throw err;
    }
    return final;
  }
}
