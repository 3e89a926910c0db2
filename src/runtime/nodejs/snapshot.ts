/**
 * The builder of the runtime's startup snapshot: run by the worker (never
 * in a sandbox) as
 *
 *   node <the sandbox's V8 flags> --snapshot-blob <blob> --build-snapshot snapshot.js <runtime dir as the sandbox sees it>
 *
 * and a sandbox then starts as `node <the same flags> --snapshot-blob <blob>
 * <runtime dir>/nodejs/index.js` (src/worker/runtime-snapshots.ts).
 *
 * Why: any V8 flag on node's command line (Lambda's bootstrap passes
 * --expose-gc and heap limits from MemorySize, and so does Kindling) makes
 * V8 reject the code cache node ships for its own built-in modules, so a
 * sandbox's node compiled net, stream, fs, ... from source at every start.
 * A snapshot built with the same flags holds them compiled and loaded, and
 * with them the runtime's own modules that index.js imports: a sandbox's
 * node restores that heap instead (bench/RESULTS.md, "2026-12-04").
 *
 * What runs here, at build time: the runtime's modules that index.js needs
 * and that do nothing but define (no environment read, no I/O, no
 * import()): they are compiled under the names the sandbox sees them by
 * (argv[2]) and kept. What runs in the sandbox, from the snapshot: the
 * deserialize main function below, which puts those modules in
 * require.cache where index.js's require() finds them, then requires
 * index.js (process.argv[1]) through node's own loader, exactly as node
 * would have run it: index.js reads the environment and starts, and
 * user-function.js (which calls import()) loads from its file as before.
 * The runtime empties require.cache before the handler loads, so a
 * function sees no trace of either way of starting.
 *
 * The worker checks a blob once before it uses it, by starting node from
 * it with no environment: index.js then loads from the snapshot as in a
 * sandbox and stops at once with "AWS_LAMBDA_RUNTIME_API is not set" (node
 * itself refuses a snapshot built with other V8 flags or by another node,
 * with exit code 14).
 *
 * A script, not a module: the snapshot builder gives it a require() of
 * node's built-ins and no `exports`.
 */
/* eslint-disable @typescript-eslint/no-require-imports -- the snapshot builder has no module system: require() of built-ins is all there is */
{
  const { readFileSync } = require('node:fs') as typeof import('node:fs');
  const path = require('node:path') as typeof import('node:path');
  const { compileFunction } = require('node:vm') as typeof import('node:vm');
  const { startupSnapshot } = require('node:v8') as typeof import('node:v8');
  const Module = require('node:module') as typeof import('node:module');
  const dirname = (p: string): string => path.dirname(p);
  const join = (...parts: string[]): string => path.join(...parts);

  /** The modules kept in the snapshot, relative to the runtime directory, in an order in which each one's own imports come first. */
  const KEPT = ['nodejs/frames.js', 'nodejs/errors.js', 'nodejs/runtime-api.js', 'nodejs/stem-cell.js', 'nodejs/trace-env.js'];

  const hostDir = dirname(__dirname);
  const sandboxDir = process.argv[2] ?? hostDir;
  const kept = new Map<string, { exports: unknown }>();

  const keep = (name: string): unknown => {
    const known = kept.get(name);
    if (known !== undefined) return known.exports;
    const module = { exports: {} as unknown };
    kept.set(name, module);
    const filename = join(sandboxDir, name);
    const body = compileFunction(readFileSync(join(hostDir, name), 'utf8'), ['exports', 'require', 'module', '__filename', '__dirname'], { filename });
    const from = dirname(name);
    const requireKept = (id: string): unknown => (id.startsWith('.') ? keep(join(from, id)) : require(id));
    body.call(module.exports, module.exports, requireKept, module, filename, dirname(filename));
    return module.exports;
  };
  for (const name of KEPT) keep(name);

  startupSnapshot.setDeserializeMainFunction(() => {
    // A child the function forks with process.execArgv (child_process.fork's
    // default) starts without the snapshot, running its own script.
    const at = process.execArgv.indexOf('--snapshot-blob');
    if (at >= 0) process.execArgv.splice(at, 2);
    const entry = process.argv[1] ?? join(sandboxDir, 'nodejs', 'index.js');
    const runtimeRequire = Module.createRequire(entry);
    const runtimeDir = dirname(dirname(entry));
    for (const [name, { exports }] of kept) {
      // Resolved as index.js's require() will resolve it (symlinks followed).
      const filename = runtimeRequire.resolve(join(runtimeDir, name));
      const module = new Module(filename);
      module.filename = filename;
      module.loaded = true;
      module.exports = exports;
      runtimeRequire.cache[filename] = module;
    }
    runtimeRequire(entry);
  });
}
