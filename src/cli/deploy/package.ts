/**
 * Deployment packages for kindling deploy: a CodeUri/ContentUri directory
 * zipped the same way every time (entries sorted, one fixed mtime, only the
 * executable bit of the mode kept), so an unchanged directory has the same
 * CodeSha256 and is not uploaded again. node_modules is included; hidden
 * files and directories (.aws-sam, .git, .env, …) are left out, except
 * inside node_modules where packages may need them.
 */
import { createHash } from 'node:crypto';
import { lstat, readdir, readFile, readlink, realpath } from 'node:fs/promises';
import { join, relative, sep } from 'node:path';
import yazl from 'yazl';
import type { CodeSource } from './model.js';

/** The one modification time of every entry (a zip stores mtimes to 2 s; any fixed value will do). */
const ZIP_MTIME = new Date(Date.UTC(2020, 0, 1));

/**
 * The file CloudFormation writes inline code to for Node.js: "the index file
 * that CloudFormation creates uses the extension .js" (AWS::Lambda::Function
 * Code, ZipFile), so Handler index.handler finds it.
 */
export const INLINE_FILE = 'index.js';

interface FileEntry {
  readonly name: string;
  readonly data: Buffer;
  readonly mode: number;
}

function hidden(rel: string): boolean {
  const parts = rel.split(sep);
  const inModules = parts.indexOf('node_modules');
  const own = inModules < 0 ? parts : parts.slice(0, inModules);
  return own.some((p) => p.startsWith('.'));
}

async function collect(root: string): Promise<FileEntry[]> {
  const out: FileEntry[] = [];
  const realRoot = await realpath(root);
  const walk = async (dir: string): Promise<void> => {
    const names = (await readdir(dir)).sort();
    for (const name of names) {
      const path = join(dir, name);
      const rel = relative(root, path);
      if (hidden(rel)) continue;
      const st = await lstat(path);
      const zipName = rel.split(sep).join('/');
      if (st.isSymbolicLink()) {
        // Kept as a link when it points inside the package (node_modules/.bin
        // style); a link out of it is packaged as what it points to.
        const target = await readlink(path);
        let resolved: string;
        try {
          resolved = await realpath(path);
        } catch {
          throw new Error(`${path}: a symbolic link to ${target}, which does not exist`);
        }
        if (resolved === realRoot || resolved.startsWith(realRoot + sep)) {
          out.push({ name: zipName, data: Buffer.from(target), mode: 0o120777 });
          continue;
        }
        const real = await lstat(resolved);
        if (real.isDirectory()) throw new Error(`${path}: a symbolic link to a directory outside the package (${resolved}); copy it in instead`);
        out.push({ name: zipName, data: await readFile(resolved), mode: real.mode & 0o111 ? 0o100755 : 0o100644 });
      } else if (st.isDirectory()) await walk(path);
      else if (st.isFile()) out.push({ name: zipName, data: await readFile(path), mode: st.mode & 0o111 ? 0o100755 : 0o100644 });
      // sockets, fifos: not package content
    }
  };
  await walk(root);
  return out;
}

async function zipEntries(entries: readonly FileEntry[]): Promise<Buffer> {
  const zip = new yazl.ZipFile();
  for (const e of entries) zip.addBuffer(e.data, e.name, { mtime: ZIP_MTIME, mode: e.mode, compress: e.mode !== 0o120777 });
  zip.end();
  const chunks: Buffer[] = [];
  for await (const chunk of zip.outputStream) chunks.push(chunk as Buffer);
  return Buffer.concat(chunks);
}

/** The directory as a zip, byte for byte the same for the same content. */
export async function zipDirectory(dir: string): Promise<Buffer> {
  const entries = await collect(dir);
  if (entries.length === 0) throw new Error(`${dir} holds no files to deploy`);
  return zipEntries(entries);
}

/** The deployment package of a CodeSource: the zip as it is, a directory zipped, inline code as index.js. */
export async function packageCode(code: CodeSource): Promise<Buffer> {
  if (code.kind === 'inline') return zipEntries([{ name: INLINE_FILE, data: Buffer.from(code.source), mode: 0o100644 }]);
  return code.kind === 'zip' ? readFile(code.path) : zipDirectory(code.path);
}

/** Lambda's CodeSha256: the SHA-256 of the package, base64. */
export function codeSha256(zip: Buffer): string {
  return createHash('sha256').update(zip).digest('base64');
}
