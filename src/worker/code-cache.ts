/**
 * Code for a worker on another host. The spec's codeDir is the platform's
 * unpacked task root; a worker on the platform's host (the children of
 * `kindling up --workers`) reads it where it is. A worker elsewhere fetches
 * the deployment package by its SHA-256 from the platform once, checks the
 * hash, and unpacks it into its own data directory with the control plane's
 * unpacker (the same safety rules as at deploy time).
 */
import { existsSync } from 'node:fs';
import { ZipCodePreparer } from '../control/code.js';
import type { FunctionVersionSpec } from '../shared/spec.js';
import { FileBlobStore } from '../store/file-blobs.js';

export class CodeCache {
  readonly #blobs: FileBlobStore;
  readonly #preparer: ZipCodePreparer;
  readonly #fetchZip: (sha256hex: string) => Promise<Buffer>;
  readonly #fetching = new Map<string, Promise<void>>();

  /** `fetchZip` gets a package from the platform by its hex SHA-256. */
  constructor(dataDir: string, fetchZip: (sha256hex: string) => Promise<Buffer>) {
    this.#blobs = new FileBlobStore(dataDir);
    this.#preparer = new ZipCodePreparer(this.#blobs);
    this.#fetchZip = fetchZip;
  }

  /** The spec with a codeDir that exists on this host. */
  async localize(spec: FunctionVersionSpec): Promise<FunctionVersionSpec> {
    if (existsSync(spec.codeDir)) return spec;
    const hex = Buffer.from(spec.codeSha256, 'base64').toString('hex');
    if (!(await this.#blobs.has(hex))) await this.#fetch(hex);
    return { ...spec, codeDir: await this.#preparer.prepare(hex) };
  }

  #fetch(hex: string): Promise<void> {
    // Concurrent cold starts of one function share one download.
    let p = this.#fetching.get(hex);
    if (!p) {
      p = (async () => {
        const zip = await this.#fetchZip(hex);
        const got = await this.#blobs.put(zip);
        if (got !== hex) {
          await this.#blobs.delete(got);
          throw new Error(`the platform sent code whose SHA-256 is ${got}, not ${hex}`);
        }
      })().finally(() => this.#fetching.delete(hex));
      this.#fetching.set(hex, p);
    }
    return p;
  }
}
