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

  /**
   * The spec with a codeDir (and, for a function with layers, an optDir)
   * that exists on this host. Layer zips come the same way as the code: by
   * SHA-256 from the platform's BlobStore, checked, then merged in order.
   */
  async localize(spec: FunctionVersionSpec): Promise<FunctionVersionSpec> {
    const codeHere = existsSync(spec.codeDir);
    const optHere = spec.optDir === undefined || existsSync(spec.optDir);
    if (codeHere && optHere) return spec;
    let out = spec;
    if (!codeHere) {
      const hex = Buffer.from(spec.codeSha256, 'base64').toString('hex');
      if (!(await this.#blobs.has(hex))) await this.#fetch(hex);
      out = { ...out, codeDir: await this.#preparer.prepare(hex) };
    }
    if (!optHere) {
      const layers = spec.layers ?? [];
      if (layers.length === 0) throw new Error(`the spec of ${spec.functionArn} names an /opt directory but no layers`);
      for (const hex of layers) if (!(await this.#blobs.has(hex))) await this.#fetch(hex);
      out = { ...out, optDir: await this.#preparer.prepareLayers(layers) };
    }
    return out;
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
