/**
 * The part of a stem cell's start that the rest of the runtime does not see:
 * taking on the assigned function's environment so that nothing tells the
 * process from one started for the function (see index.ts).
 */
import { closeSync, openSync, readFileSync, writeSync } from 'node:fs';
import Module from 'node:module';

/**
 * Puts the assigned environment into process.env and makes the process's
 * own record of its environment (/proc/<pid>/environ, what `ps e`, tools
 * and other processes read) show it too.
 *
 * Every variable the cell started with is also in the assignment (the
 * worker builds both from the same launch), so taking it is replacing;
 * what the backend itself added (PWD, TMPDIR) stays, as it would.
 *
 * /proc/<pid>/environ is the block of memory the kernel filled at exec; the
 * C library's setenv() leaves it as it was. The cell was started with that
 * block made large (the marker variable's padding), so it is rewritten in
 * place through /proc/self/mem, which a process may always write for
 * itself. Before that every variable goes through setenv(), so that no
 * pointer of the C library's environ still points into the block (the
 * dynamic loader, the locale and the time zone code keep copies, not
 * pointers). If the block cannot be rewritten (too small, no /proc; gVisor
 * has no /proc/self/mem and shows no env_start), it keeps the start
 * environment: process.env, what the function and its children get, is
 * right either way. `block` is where the block lies (findEnvironBlock; a
 * cell finds it before its assignment).
 */
export function becomeFunction(env: NodeJS.ProcessEnv, assigned: Readonly<Record<string, string>>, block: EnvironBlock | undefined = findEnvironBlock()): void {
  // Cleared and set again in the order a sandbox started for the function
  // has: the launch's variables, then the backend's own. This also sends
  // every variable through setenv() (see above).
  const backends = Object.entries(env).filter(([k]) => !Object.hasOwn(assigned, k));
  for (const k of Object.keys(env)) delete env[k];
  for (const [k, v] of Object.entries(assigned)) env[k] = v;
  for (const [k, v] of backends) if (v !== undefined) env[k] = v;
  // NODE_PATH is read once, when node starts; read it again, so a bare
  // require() searches the function's module paths (Lambda's NODE_PATH
  // names the runtime's major version).
  (Module as unknown as { _initPaths(): void })._initPaths();
  rewriteEnvironBlock(env, block);
}

/**
 * Makes /proc/<pid>/environ show process.env as it is now (see
 * becomeFunction): used too by a runtime started for its function, after
 * it removed Kindling's own variable, which then no longer shows there
 * either. A smaller environment always fits.
 */
export function showEnvironment(env: NodeJS.ProcessEnv): void {
  for (const [k, v] of Object.entries(env)) if (v !== undefined) env[k] = v;
  rewriteEnvironBlock(env, findEnvironBlock());
}

/** Where the kernel's copy of the start environment lies in this process's memory: [start, end). */
export interface EnvironBlock {
  readonly start: number;
  readonly end: number;
}

/**
 * Finds the environment block (fields env_start and env_end of
 * /proc/self/stat, Linux 3.5+), or undefined (no /proc; gVisor shows no
 * env_start). It never moves: a stem cell finds it while it waits for its
 * function, which keeps ~1 ms (node's first read of a /proc file) out of
 * its cold start.
 */
export function findEnvironBlock(): EnvironBlock | undefined {
  try {
    const stat = readFileSync('/proc/self/stat', 'latin1');
    // Fields after "(comm) ": the first is field 3; env_start and env_end are fields 50 and 51.
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    const start = Number(fields[47]);
    const end = Number(fields[48]);
    return Number.isSafeInteger(start) && Number.isSafeInteger(end) && start > 0 && end > start ? { start, end } : undefined;
  } catch {
    return undefined;
  }
}

function rewriteEnvironBlock(env: NodeJS.ProcessEnv, at: EnvironBlock | undefined): void {
  if (at === undefined) return;
  let fd: number | undefined;
  try {
    let text = '';
    for (const [k, v] of Object.entries(env)) if (v !== undefined) text += `${k}=${v}\0`;
    const block = Buffer.alloc(at.end - at.start);
    if (Buffer.byteLength(text, 'utf8') > block.length) return;
    block.write(text, 'utf8');
    fd = openSync('/proc/self/mem', 'r+');
    writeSync(fd, block, 0, block.length, at.start);
  } catch {
    // No /proc/self/mem: the block keeps the start environment.
  } finally {
    if (fd !== undefined) closeSync(fd);
  }
}
