import { closeSync, readdirSync, readFileSync } from 'node:fs';

/** O_CLOEXEC in /proc/<pid>/fdinfo's octal `flags:` (asm-generic/fcntl.h). */
const O_CLOEXEC = 0o2000000;

/**
 * Closes the file descriptors this process inherited without close-on-exec
 * (any but stdin, stdout, stderr and Node's IPC channel), and returns them.
 *
 * Node opens every descriptor of its own with O_CLOEXEC, but one that the
 * process was started with and that lacks the flag — a pipe a supervisor or
 * shell left open — would pass on to every child, and so into every
 * sandbox: a channel the function did not get from its worker. Linux only
 * (elsewhere there is no /proc/self/fdinfo and nothing is closed).
 */
export function closeInheritedFds(): number[] {
  const keep = new Set([0, 1, 2]);
  const ipc = Number(process.env['NODE_CHANNEL_FD']);
  if (Number.isInteger(ipc)) keep.add(ipc);
  let entries: string[];
  try {
    entries = readdirSync('/proc/self/fd');
  } catch {
    return [];
  }
  const closed: number[] = [];
  for (const entry of entries) {
    const fd = Number(entry);
    if (!Number.isInteger(fd) || keep.has(fd)) continue;
    let flags: number;
    try {
      const m = /^flags:\s*([0-7]+)$/m.exec(readFileSync(`/proc/self/fdinfo/${fd}`, 'utf8'));
      if (!m) continue;
      flags = parseInt(m[1]!, 8);
    } catch {
      continue; // the directory's own descriptor, gone by now
    }
    if ((flags & O_CLOEXEC) !== 0) continue;
    try {
      closeSync(fd);
      closed.push(fd);
    } catch {
      // already closed
    }
  }
  return closed;
}
