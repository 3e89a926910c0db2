import assert from 'node:assert/strict';
import yazl from 'yazl';
import type { CodePreparer } from './code.js';
import { LambdaError } from '../shared/errors.js';

/** One entry of a zip built for tests. */
export interface ZipEntrySpec {
  readonly name: string;
  /** File content; for a symlink, its target. Omit for a directory. */
  readonly data?: string | Buffer;
  /** Full unix mode, e.g. 0o100755, 0o120777 (symlink), 0o040755 (dir). */
  readonly mode?: number;
  /** Store uncompressed (default: deflate). */
  readonly store?: boolean;
}

/** A fixed modification time: the same entries always make the same bytes (a zip stores mtimes to 2 s). */
const ZIP_MTIME = new Date(Date.UTC(2026, 0, 1));

/** Builds a real zip with yazl (what users upload), byte for byte the same each time. Test helper. */
export async function makeZip(entries: readonly ZipEntrySpec[]): Promise<Buffer> {
  const zip = new yazl.ZipFile();
  for (const e of entries) {
    if (e.data === undefined) {
      zip.addEmptyDirectory(e.name, { mtime: ZIP_MTIME, ...(e.mode !== undefined ? { mode: e.mode } : {}) });
    } else {
      const opts: Partial<yazl.Options> = { compress: !e.store, mtime: ZIP_MTIME };
      if (e.mode !== undefined) opts.mode = e.mode;
      zip.addBuffer(Buffer.isBuffer(e.data) ? e.data : Buffer.from(e.data), e.name, opts);
    }
  }
  zip.end();
  const chunks: Buffer[] = [];
  for await (const chunk of zip.outputStream) chunks.push(chunk as Buffer);
  return Buffer.concat(chunks);
}

/** A small Node.js handler package. */
export function handlerZip(body = 'export const handler = async (e) => e;'): Promise<Buffer> {
  return makeZip([{ name: 'index.mjs', data: body }]);
}

/** A CodePreparer completed by hand, so "in progress" states are deterministic. Test helper. */
export class ManualPreparer implements CodePreparer {
  readonly calls: { hex: string; resolve: (dir: string) => void; reject: (err: Error) => void }[] = [];

  prepare(hex: string): Promise<string> {
    return new Promise((resolve, reject) => this.calls.push({ hex, resolve, reject }));
  }

  /** Completes the oldest pending preparation with `<dir>/<hex>`. */
  complete(dir = '/tmp/kindling-test-task-root'): void {
    const call = this.calls.shift();
    if (!call) throw new Error('no preparation is pending');
    call.resolve(`${dir}/${call.hex}`);
  }

  /** Fails the oldest pending preparation. */
  fail(err: Error): void {
    const call = this.calls.shift();
    if (!call) throw new Error('no preparation is pending');
    call.reject(err);
  }
}

/**
 * Asserts that `p` (a promise, or a function that throws or rejects) fails
 * with a LambdaError of `code` and `message` (exact, or matching a RegExp).
 */
export async function rejectsWith(p: Promise<unknown> | (() => unknown), code: string, message: string | RegExp): Promise<void> {
  const run = typeof p === 'function' ? async () => p() : () => p;
  await assert.rejects(run, (err: unknown) => {
    assert.ok(err instanceof LambdaError, String(err));
    assert.equal(err.code, code, err.message);
    if (typeof message === 'string') assert.equal(err.message, message);
    else assert.match(err.message, message);
    return true;
  });
}
