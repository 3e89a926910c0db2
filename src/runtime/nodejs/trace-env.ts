/**
 * `process.env._X_AMZN_TRACE_ID`, set anew for every invoke (as the RIC's
 * InvokeContext does), without the C library's environment.
 *
 * Node's process.env writes go to setenv(3), and glibc's setenv never frees
 * a "NAME=value" string it made: it keeps every distinct one in a tree so
 * that setting the same value again reuses it. A trace id is distinct for
 * every invoke, so each invoke leaked its ~160 bytes and a search of an
 * ever-growing tree: 300,000 invokes of one warm sandbox were 49 MB of a
 * 128 MB function's memory, until its cgroup killed it.
 *
 * Here process.env becomes a Proxy of itself that holds this one variable
 * in JavaScript: code that reads, lists, copies or spawns with process.env
 * (the AWS SDK's recursion detection, X-Ray, child_process) sees it as
 * before, and every other variable is the real environment (TZ and the
 * rest keep their effects). What does not see it is only what reads the C
 * environment itself: native addons' getenv(), and a worker thread started
 * without an `env` option (Node copies the C environment for it); nor does
 * code holding the process.env of before (a reference taken by a preloaded
 * module, `import { env } from 'node:process'`). Two differences show:
 * util.inspect(process.env) (console.log) prints the real environment,
 * without the variable, and structuredClone(process.env) throws (a Proxy
 * cannot be cloned).
 */

const NAME = '_X_AMZN_TRACE_ID';

/** Sets (a string) or removes (undefined) the trace variable. */
export type SetTraceId = (value: string | undefined) => void;

/**
 * Replaces `process.env` with the Proxy and returns the setter the runtime
 * calls per invoke. A value the variable already had moves into the Proxy.
 */
export function installTraceIdVariable(): SetTraceId {
  const real = process.env;
  let value: string | undefined;
  // The variable can reach the real environment again (a reference to it
  // taken before this ran, a native setenv): it is taken over from there,
  // so it is never listed twice.
  const adopt = (): void => {
    if (Object.hasOwn(real, NAME)) {
      value = real[NAME];
      delete real[NAME];
    }
  };
  adopt();
  const descriptor = (): PropertyDescriptor | undefined =>
    value === undefined ? undefined : { value, writable: true, enumerable: true, configurable: true };
  process.env = new Proxy(real, {
    // The real process.env is the receiver of its own reads and writes: it
    // turns values into strings itself, and takes no partial descriptor.
    get: (target, key): unknown => {
      if (key !== NAME) return Reflect.get(target, key);
      adopt();
      return value;
    },
    set: (target, key, v: unknown) => {
      if (key !== NAME) return Reflect.set(target, key, v);
      value = String(v); // process.env turns every value into a string
      return true;
    },
    deleteProperty: (target, key) => {
      if (key !== NAME) return Reflect.deleteProperty(target, key);
      adopt();
      value = undefined;
      return true;
    },
    has: (target, key) => {
      if (key !== NAME) return Reflect.has(target, key);
      adopt();
      return value !== undefined;
    },
    ownKeys: (target) => {
      adopt();
      const keys = Reflect.ownKeys(target);
      if (value !== undefined) keys.push(NAME);
      return keys;
    },
    getOwnPropertyDescriptor: (target, key) => {
      if (key !== NAME) return Reflect.getOwnPropertyDescriptor(target, key);
      adopt();
      return descriptor();
    },
    defineProperty: (target, key, d) => {
      if (key !== NAME) return Reflect.defineProperty(target, key, d);
      if (d.get !== undefined || d.set !== undefined) return false; // as process.env: data properties only
      value = String(d.value);
      return true;
    },
  });
  return (next) => {
    adopt(); // a value set behind the Proxy's back does not outlive the invoke
    value = next;
  };
}
