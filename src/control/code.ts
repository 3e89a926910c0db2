import { createWriteStream } from 'node:fs';
import { createHash } from 'node:crypto';
import { chmod, lstat, mkdir, readdir, readlink, realpath, rename, rm, symlink } from 'node:fs/promises';
import { dirname, isAbsolute, join, relative, resolve, sep } from 'node:path';
import type { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import yauzl from 'yauzl';
import type { Entry, ZipFile } from 'yauzl';
import { LambdaError } from '../shared/errors.js';
import type { BlobStore } from '../store/types.js';

/** Lambda's quota for a deployment package unzipped (GetAccountSettings CodeSizeUnzipped). */
export const MAX_UNZIPPED_BYTES = 262_144_000;

/** Lambda's wording when a package cannot be unzipped (CreateFunction/UpdateFunctionCode, 400). */
export const COULD_NOT_UNZIP = 'Could not unzip uploaded file. Please check your file, then try to upload again.';
export const UNZIPPED_TOO_LARGE = `Unzipped size must be smaller than ${MAX_UNZIPPED_BYTES} bytes`;
const EMPTY_ZIP = 'Uploaded file must be a non-empty zip';

/**
 * Prepares code for the data plane: makes sure the task root for a stored
 * zip exists and returns its directory. The registry declares it so tests can
 * complete preparation by hand.
 */
export interface CodePreparer {
  prepare(sha256hex: string): Promise<string>;
  /**
   * Makes sure the merged layers directory (the function's /opt) for these
   * layer zips, in this order, exists and returns it. Optional: a preparer
   * without it cannot deploy functions with layers.
   */
  prepareLayers?(layerHexes: readonly string[]): Promise<string>;
}

/**
 * The BlobStore key of the merged /opt of an ordered list of layer zips: a
 * SHA-256 of the list, so functions with the same layers in the same order
 * share one directory, and a different order is a different directory.
 */
export function layersKey(layerHexes: readonly string[]): string {
  return createHash('sha256').update(`kindling-opt:${layerHexes.join(',')}`).digest('hex');
}

/**
 * Moves everything in `src` into `dest`, replacing what is there: a later
 * layer's file, link or directory replaces an earlier one's entry of the same
 * name, and directories present in both are merged (Lambda extracts layers
 * into /opt in order, later ones overwriting the files of earlier ones).
 * Links are moved as links, never followed.
 */
async function mergeInto(src: string, dest: string): Promise<void> {
  for (const entry of await readdir(src, { withFileTypes: true })) {
    const from = join(src, entry.name);
    const to = join(dest, entry.name);
    const existing = await lstat(to).catch(() => undefined);
    if (entry.isDirectory() && existing?.isDirectory()) {
      await mergeInto(from, to);
      continue;
    }
    if (existing) await rm(to, { recursive: true, force: true });
    await rename(from, to);
  }
}

/** Why an unpack failed, in the words FunctionConfiguration's StateReason/StateReasonCode use. */
export class UnpackError extends Error {
  readonly reasonCode: string;
  constructor(message: string, reasonCode = 'InvalidZipFileException') {
    super(message);
    this.name = 'UnpackError';
    this.reasonCode = reasonCode;
  }
}

const S_IFMT = 0o170000;
const S_IFDIR = 0o040000;
const S_IFLNK = 0o120000;
const MAX_SYMLINK_TARGET = 4096;

interface EntryKind {
  readonly kind: 'file' | 'dir' | 'symlink';
  /** Permission bits to apply, or undefined for the default (0644 files, 0755 dirs). */
  readonly mode: number | undefined;
}

function classify(entry: Entry): EntryKind {
  // Unix attributes live in the high 16 bits when the entry was made on Unix
  // (version made by, high byte = 3). Other hosts (e.g. Windows zips) carry
  // no modes: files get 0644 and directories 0755, as Lambda's own unzip.
  const madeOnUnix = entry.versionMadeBy >>> 8 === 3;
  const unixMode = madeOnUnix ? (entry.externalFileAttributes >>> 16) & 0xffff : 0;
  const type = unixMode & S_IFMT;
  const perms = unixMode & 0o7777 & ~0o6000; // no setuid/setgid from a package
  if (entry.fileName.endsWith('/') || type === S_IFDIR) {
    return { kind: 'dir', mode: perms !== 0 ? perms | 0o700 : undefined };
  }
  if (type === S_IFLNK) return { kind: 'symlink', mode: undefined };
  return { kind: 'file', mode: perms !== 0 ? perms | 0o400 : undefined };
}

async function openZip(source: Buffer | string): Promise<ZipFile> {
  // lazyEntries: we pull entries one at a time; yauzl validates every file
  // name (no absolute paths, no '..' segments) and the entry sizes.
  const options = { lazyEntries: true, validateEntrySizes: true, strictFileNames: false, decodeStrings: true };
  return typeof source === 'string' ? yauzl.openPromise(source, options) : yauzl.fromBufferPromise(source, options);
}

/** Counts the bytes of a stream into a shared budget, failing when it runs out. */
async function drainCounting(stream: Readable, budget: { left: number }): Promise<void> {
  for await (const chunk of stream) {
    budget.left -= (chunk as Buffer).length;
    if (budget.left < 0) {
      stream.destroy();
      throw new UnpackError(UNZIPPED_TOO_LARGE);
    }
  }
}

/** What create/update learn from a package before they accept it. */
export interface ZipSummary {
  readonly entries: number;
  readonly unzippedBytes: number;
}

/**
 * Validates a deployment package synchronously with the request (Lambda
 * answers bad packages with a 400, not with a Failed function): every entry
 * is decompressed (and discarded) so a corrupt entry or a package over the
 * unzipped quota is refused here. Throws LambdaError in Lambda's words.
 */
export async function inspectZip(zip: Buffer, maxUnzipped = MAX_UNZIPPED_BYTES): Promise<ZipSummary> {
  if (zip.length === 0) throw new LambdaError('InvalidParameterValueException', EMPTY_ZIP);
  let zipfile: ZipFile;
  try {
    zipfile = await openZip(zip);
  } catch {
    throw new LambdaError('InvalidParameterValueException', COULD_NOT_UNZIP);
  }
  const budget = { left: maxUnzipped };
  let entries = 0;
  try {
    for await (const entry of zipfile.eachEntry()) {
      entries++;
      // Declared sizes first (cheap, and a zip bomb is refused before inflating).
      if (entry.uncompressedSize > budget.left) throw new UnpackError(UNZIPPED_TOO_LARGE);
      if (classify(entry).kind === 'dir') continue;
      await drainCounting(await zipfile.openReadStreamPromise(entry), budget);
    }
  } catch (err) {
    if (err instanceof UnpackError && err.message === UNZIPPED_TOO_LARGE) {
      throw new LambdaError('InvalidParameterValueException', UNZIPPED_TOO_LARGE);
    }
    throw new LambdaError('InvalidParameterValueException', COULD_NOT_UNZIP);
  } finally {
    zipfile.close();
  }
  if (entries === 0) throw new LambdaError('InvalidParameterValueException', EMPTY_ZIP);
  return { entries, unzippedBytes: maxUnzipped - budget.left };
}

function isInside(root: string, path: string): boolean {
  const rel = relative(root, path);
  return rel === '' || (!rel.startsWith(`..${sep}`) && rel !== '..' && !isAbsolute(rel));
}

/**
 * Unpacks a zip (file path or bytes) into `dest`, an empty directory.
 *
 * Safety: yauzl refuses absolute names and '..' segments. Regular files and
 * directories are written first; symbolic links are created only after every
 * regular file, so no entry can be written through a link, and each link must
 * stay inside the root (checked lexically, then against the real path once
 * all links exist, since one link can redirect another). Unix modes are kept
 * (a provided.* `bootstrap` stays executable), setuid/setgid bits dropped.
 * The unzipped-size quota is enforced while streaming, whatever the headers say.
 * Throws UnpackError.
 */
export async function unpackZip(source: Buffer | string, dest: string, maxUnzipped = MAX_UNZIPPED_BYTES): Promise<void> {
  let zipfile: ZipFile;
  try {
    zipfile = await openZip(source);
  } catch {
    throw new UnpackError(COULD_NOT_UNZIP);
  }
  const root = await realpath(dest);
  const budget = { left: maxUnzipped };
  const links: { path: string; target: string }[] = [];
  const dirModes: { path: string; mode: number }[] = [];
  try {
    for await (const entry of zipfile.eachEntry()) {
      const { kind, mode } = classify(entry);
      const path = join(root, entry.fileName);
      if (!isInside(root, path)) throw new UnpackError(COULD_NOT_UNZIP);
      if (entry.uncompressedSize > budget.left) throw new UnpackError(UNZIPPED_TOO_LARGE);
      if (kind === 'dir') {
        await mkdir(path, { recursive: true, mode: 0o755 });
        if (mode !== undefined) dirModes.push({ path, mode });
        continue;
      }
      const stream = await zipfile.openReadStreamPromise(entry);
      if (kind === 'symlink') {
        const chunks: Buffer[] = [];
        let size = 0;
        for await (const chunk of stream) {
          size += (chunk as Buffer).length;
          if (size > MAX_SYMLINK_TARGET) throw new UnpackError(COULD_NOT_UNZIP);
          chunks.push(chunk as Buffer);
        }
        links.push({ path, target: Buffer.concat(chunks).toString('utf8') });
        continue;
      }
      await mkdir(dirname(path), { recursive: true, mode: 0o755 });
      const out = createWriteStream(path, { mode: 0o600 });
      let written = 0;
      stream.on('data', (chunk: Buffer) => {
        written += chunk.length;
        if (written > budget.left) stream.destroy(new UnpackError(UNZIPPED_TOO_LARGE));
      });
      await pipeline(stream, out);
      budget.left -= written;
      // chmod, not the open mode: the umask must not change the package's modes.
      await chmod(path, mode ?? 0o644);
    }

    for (const link of links) {
      if (link.target === '' || isAbsolute(link.target) || link.target.includes('\0')) {
        throw new UnpackError(COULD_NOT_UNZIP);
      }
      const parent = await realpath(dirname(link.path)).catch(async () => {
        await mkdir(dirname(link.path), { recursive: true, mode: 0o755 });
        return realpath(dirname(link.path));
      });
      if (!isInside(root, parent) || !isInside(root, resolve(parent, link.target))) {
        throw new UnpackError(COULD_NOT_UNZIP);
      }
      await symlink(link.target, join(parent, relative(dirname(link.path), link.path)));
    }
    // Links can chain (a -> '.', b -> 'a/..'): only the real path tells where
    // one ends up. A link that does not resolve (dangling) is kept only if
    // its target cannot climb ('..'), so it cannot escape once it resolves.
    for (const link of links) {
      try {
        if (!isInside(root, await realpath(link.path))) throw new UnpackError(COULD_NOT_UNZIP);
      } catch (err) {
        if (err instanceof UnpackError) throw err;
        if (link.target.split('/').includes('..')) throw new UnpackError(COULD_NOT_UNZIP);
        // Dangling but harmless: it must still be a link we created.
        if (!(await lstat(link.path)).isSymbolicLink() || (await readlink(link.path)) !== link.target) {
          throw new UnpackError(COULD_NOT_UNZIP);
        }
      }
    }
    // Directory modes last: a read-only directory must not stop its children.
    for (const d of dirModes.reverse()) await chmod(d.path, d.mode);
  } catch (err) {
    if (err instanceof UnpackError) throw err;
    throw new UnpackError(COULD_NOT_UNZIP);
  } finally {
    zipfile.close();
  }
}

/** The real CodePreparer: unpacks the stored zip into the BlobStore's task root (atomically). */
export class ZipCodePreparer implements CodePreparer {
  readonly #blobs: BlobStore;
  readonly #inFlight = new Map<string, Promise<string>>();

  constructor(blobs: BlobStore) {
    this.#blobs = blobs;
  }

  prepare(sha256hex: string): Promise<string> {
    // Two functions with the same code share one unpack.
    let p = this.#inFlight.get(sha256hex);
    if (!p) {
      p = this.#blobs
        .installTaskRoot(sha256hex, (tmp) => unpackZip(this.#blobs.path(sha256hex), tmp))
        .finally(() => this.#inFlight.delete(sha256hex));
      this.#inFlight.set(sha256hex, p);
    }
    return p;
  }

  /**
   * The merged /opt of these layers: each zip is unpacked (with the rules of
   * unpackZip) into a directory of its own inside the staging directory,
   * then merged over the layers before it; installed atomically under
   * layersKey(). The sandboxes show it read-only.
   */
  prepareLayers(layerHexes: readonly string[]): Promise<string> {
    const key = layersKey(layerHexes);
    let p = this.#inFlight.get(key);
    if (!p) {
      p = this.#blobs
        .installTaskRoot(key, async (tmp) => {
          // Beside the staging directory (the same file system, so merging
          // is renames), never inside it where a layer's own names live.
          const stage = `${tmp}.layer`;
          try {
            for (const hex of layerHexes) {
              await mkdir(stage, { mode: 0o700 });
              await unpackZip(this.#blobs.path(hex), stage);
              await mergeInto(stage, tmp);
              await rm(stage, { recursive: true, force: true });
            }
          } finally {
            await rm(stage, { recursive: true, force: true });
          }
        })
        .finally(() => this.#inFlight.delete(key));
      this.#inFlight.set(key, p);
    }
    return p;
  }
}
