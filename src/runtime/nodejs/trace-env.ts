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
 * without an `env` option (Node copies the C environment for it).
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
  let value: string | undefined = real[NAME];
  delete real[NAME];
  const descriptor = (): PropertyDescriptor | undefined =>
    value === undefined ? undefined : { value, writable: true, enumerable: true, configurable: true };
  process.env = new Proxy(real, {
    // The real process.env is the receiver of its own reads and writes: it
    // turns values into strings itself, and takes no partial descriptor.
    get: (target, key): unknown => (key === NAME ? value : Reflect.get(target, key)),
    set: (target, key, v: unknown) => {
      if (key !== NAME) return Reflect.set(target, key, v);
      value = String(v); // process.env turns every value into a string
      return true;
    },
    deleteProperty: (target, key) => {
      if (key !== NAME) return Reflect.deleteProperty(target, key);
      value = undefined;
      return true;
    },
    has: (target, key) => (key === NAME ? value !== undefined : Reflect.has(target, key)),
    ownKeys: (target) => {
      const keys = Reflect.ownKeys(target);
      if (value !== undefined) keys.push(NAME);
      return keys;
    },
    getOwnPropertyDescriptor: (target, key) => (key === NAME ? descriptor() : Reflect.getOwnPropertyDescriptor(target, key)),
    defineProperty: (target, key, d) => {
      if (key !== NAME) return Reflect.defineProperty(target, key, d);
      if (d.get !== undefined || d.set !== undefined) return false; // as process.env: data properties only
      value = String(d.value);
      return true;
    },
  });
  return (next) => {
    value = next;
  };
}
