/**
 * Finds and loads the handler named by _HANDLER, as the RIC's
 * src/UserFunction.js does, with its error types and messages.
 *
 * `_HANDLER` is `[dir/]module.path.to.fn`: the module is the text before the
 * first dot of the last path segment, the rest is a property path. The module
 * `<taskRoot>/<dir>/<module>` is loaded by the first rule that applies:
 *  1. a file (or directory) with no extension: require();
 *  2. `.js` when the nearest package.json is not "type": "module": require();
 *  3. `.js` when it is: import(); else `.mjs`: import(); else `.cjs`: require();
 *  4. Node's resolution of `module` from the task root and the module's
 *     directory (node_modules, NODE_PATH): require().
 */
import { existsSync, readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { basename, dirname, join, resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
import { HandlerNotFound, ImportModuleError, MalformedHandlerName, UserCodeSyntaxError } from './errors.js';

/** A loaded handler. */
export type Handler = (event: unknown, context: object, callback: (err?: unknown, result?: unknown) => void) => unknown;

/**
 * Loads the module and returns the handler function, throwing the RIC's
 * Runtime.* errors; any other error of the user's init code is rethrown as is.
 *
 * `requireFrom` is the file Node names as the parent in "Require stack" of a
 * MODULE_NOT_FOUND message (on Lambda: /var/runtime/index.mjs).
 */
export async function loadHandler(taskRoot: string, fullHandler: string, requireFrom: string): Promise<Handler> {
  if (fullHandler.includes('..')) {
    throw new MalformedHandlerName(
      `'${fullHandler}' is not a valid handler name. Use absolute paths when specifying root directories in handler names.`,
    );
  }
  // Same string operations as the RIC, quirks included (indexOf finds the first occurrence).
  const moduleAndHandler = basename(fullHandler);
  const moduleRoot = fullHandler.substring(0, fullHandler.indexOf(moduleAndHandler));
  const match = /^([^.]*)\.(.*)$/.exec(moduleAndHandler);
  if (match === null) throw new MalformedHandlerName('Bad handler');
  const moduleName = match[1]!;
  const handlerPath = match[2]!;

  let userApp: unknown;
  try {
    userApp = await loadModule(taskRoot, moduleRoot, moduleName, createRequire(requireFrom));
  } catch (e) {
    if (e instanceof SyntaxError) throw new UserCodeSyntaxError(String(e));
    if ((e as { code?: unknown } | null)?.code === 'MODULE_NOT_FOUND') throw new ImportModuleError(String(e));
    throw e;
  }

  const handler = handlerPath
    .split('.')
    .reduce<unknown>((nested, key) => (nested ? (nested as Record<string, unknown>)[key] : nested), userApp);
  if (!handler) throw new HandlerNotFound(`${fullHandler} is undefined or not exported`);
  if (typeof handler !== 'function') throw new HandlerNotFound(`${fullHandler} is not a function`);
  return handler as Handler;
}

async function loadModule(appRoot: string, moduleRoot: string, moduleName: string, req: NodeJS.Require): Promise<unknown> {
  const lambdaStylePath = resolve(appRoot, moduleRoot, moduleName);

  const extensionless = tryRequire(req, lambdaStylePath);
  if (extensionless) return extensionless;

  const jsPath = lambdaStylePath + '.js';
  const jsExists = existsSync(jsPath);
  const typeModule = jsExists && hasTypeModule(dirname(jsPath));
  if (jsExists && !typeModule) {
    const loaded = req(jsPath) as unknown;
    if (loaded) return loaded;
  }

  const loaded =
    (typeModule && (await tryImport(jsPath))) ||
    (await tryImport(lambdaStylePath + '.mjs')) ||
    tryRequire(req, lambdaStylePath + '.cjs');
  if (loaded) return loaded;

  // require.resolve with explicit paths, because a bare require() here would
  // resolve from the runtime's own directory, not the function's.
  return req(req.resolve(moduleName, { paths: [appRoot, moduleRoot] })) as unknown;
}

function tryRequire(req: NodeJS.Require, file: string): unknown {
  return existsSync(file) ? (req(file) as unknown) : undefined;
}

async function tryImport(file: string): Promise<unknown> {
  return existsSync(file) ? ((await import(pathToFileURL(file).href)) as unknown) : undefined;
}

/**
 * Whether the nearest package.json above `folder` says "type": "module".
 * Stops (false) at a node_modules directory or at '/'; an unreadable
 * package.json is warned about and ignored, with the RIC's wording.
 */
function hasTypeModule(folder: string): boolean {
  for (;;) {
    if (folder.endsWith('/node_modules')) return false;
    const pj = join(folder, '/package.json');
    if (existsSync(pj)) {
      try {
        const pkg = JSON.parse(readFileSync(pj, 'utf8')) as { type?: unknown } | null;
        if (pkg) return pkg.type === 'module';
      } catch (e) {
        console.warn(`${pj} cannot be read, it will be ignored for ES module detection purposes.`, e);
        return false;
      }
    }
    if (folder === '/') return false;
    folder = resolve(folder, '..');
  }
}
