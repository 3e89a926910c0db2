import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { Writable } from 'node:stream';
import { describe, it } from 'node:test';
import {
  AUDIT_ARCH_AARCH64,
  AUDIT_ARCH_X86_64,
  BPF_MAXINSNS,
  BpfAssembler,
  SECCOMP_RET_ALLOW,
  SECCOMP_RET_ERRNO,
  SECCOMP_RET_KILL_PROCESS,
  SECCOMP_RULES,
  buildSeccompFilter,
  ociSeccomp,
  CLONE_NEW_NAMESPACE_FLAGS,
} from './seccomp.js';
import type { SeccompArch } from './seccomp.js';

const EPERM = SECCOMP_RET_ERRNO | 1;
const ENOSYS = SECCOMP_RET_ERRNO | 38;
const AUDIT_ARCH_I386 = 0x40000003;
const AUDIT_ARCH_ARM = 0x40000028;
const ARCHES: readonly SeccompArch[] = ['x64', 'arm64'];
const AUDIT: Record<SeccompArch, number> = { x64: AUDIT_ARCH_X86_64, arm64: AUDIT_ARCH_AARCH64 };

// --- A classic-BPF interpreter for seccomp_data, independent of the assembler ---

interface SeccompData {
  readonly nr: number;
  readonly arch: number;
  readonly args?: readonly bigint[];
}

/**
 * Runs the program the way the kernel's seccomp does: A is 32 bits, loads
 * read struct seccomp_data (little-endian), jumps are relative and forward.
 * Throws on anything the kernel would not accept or that leaves the program.
 */
function runFilter(program: Buffer, data: SeccompData): number {
  assert.equal(program.length % 8, 0, 'program is whole sock_filter entries');
  const count = program.length / 8;
  const mem = Buffer.alloc(64);
  mem.writeInt32LE(data.nr | 0, 0);
  mem.writeUInt32LE(data.arch >>> 0, 4);
  (data.args ?? []).forEach((a, i) => mem.writeBigUInt64LE(BigInt.asUintN(64, a), 16 + 8 * i));
  let a = 0;
  let pc = 0;
  for (let steps = 0; steps <= count; steps++) {
    if (pc < 0 || pc >= count) throw new Error(`pc ${pc} outside the program`);
    const code = program.readUInt16LE(pc * 8);
    const jt = program.readUInt8(pc * 8 + 2);
    const jf = program.readUInt8(pc * 8 + 3);
    const k = program.readUInt32LE(pc * 8 + 4);
    switch (code) {
      case 0x20: // LD W ABS
        if (k % 4 !== 0 || k + 4 > 64) throw new Error(`load at ${k} outside seccomp_data`);
        a = mem.readUInt32LE(k);
        pc += 1;
        break;
      case 0x15: // JEQ K
        pc += 1 + (a === k ? jt : jf);
        break;
      case 0x45: // JSET K
        pc += 1 + ((a & k) >>> 0 !== 0 ? jt : jf);
        break;
      case 0x06: // RET K
        return k;
      default:
        throw new Error(`unexpected opcode 0x${code.toString(16)} at ${pc}`);
    }
  }
  throw new Error('program did not return');
}

function nrOf(name: string, arch: SeccompArch): number {
  const r = SECCOMP_RULES.find((x) => x.name === name);
  const nr = r?.nr[arch];
  assert.ok(nr !== undefined, `${name} has a number on ${arch}`);
  return nr;
}

const CLONE_NEWUSER = 0x10000000;
const CLONE_NEWNET = 0x40000000;
const THREAD_FLAGS = 0x003d0f00; // glibc pthread_create: VM|FS|FILES|SIGHAND|THREAD|SYSVSEM|SETTLS|PARENT_SETTID|CHILD_CLEARTID
const FORK_FLAGS = 0x01200011; // glibc fork: CHILD_SETTID|CHILD_CLEARTID|SIGCHLD

/** Ordinary syscalls every runtime makes (x86_64 syscall_64.tbl / asm-generic unistd.h). */
const ORDINARY: Record<string, Record<SeccompArch, number>> = {
  read: { x64: 0, arm64: 63 },
  write: { x64: 1, arm64: 64 },
  openat: { x64: 257, arm64: 56 },
  mmap: { x64: 9, arm64: 222 },
  futex: { x64: 202, arm64: 98 },
  execve: { x64: 59, arm64: 221 },
  epoll_pwait: { x64: 281, arm64: 22 },
  exit_group: { x64: 231, arm64: 94 },
  getpid: { x64: 39, arm64: 172 },
};

describe('buildSeccompFilter (simulated)', () => {
  for (const arch of ARCHES) {
    describe(arch, () => {
      const program = buildSeccompFilter(arch);
      const run = (nr: number, args: readonly bigint[] = []): number => runFilter(program, { nr, arch: AUDIT[arch], args });

      it('is a valid program the kernel accepts', () => {
        assert.ok(program.length / 8 <= BPF_MAXINSNS);
        // Every jump lands inside the program.
        const count = program.length / 8;
        for (let pc = 0; pc < count; pc++) {
          const code = program.readUInt16LE(pc * 8);
          if ((code & 0x07) !== 0x05) continue;
          assert.ok(pc + 1 + program.readUInt8(pc * 8 + 2) < count, `jt of ${pc}`);
          assert.ok(pc + 1 + program.readUInt8(pc * 8 + 3) < count, `jf of ${pc}`);
        }
        assert.equal(program.readUInt16LE((count - 1) * 8) & 0x07, 0x06, 'ends with a return');
      });

      it('kills any other syscall ABI', () => {
        const other = arch === 'x64' ? [AUDIT_ARCH_I386, AUDIT_ARCH_AARCH64, 0] : [AUDIT_ARCH_ARM, AUDIT_ARCH_X86_64, 0];
        for (const foreign of other) {
          assert.equal(runFilter(program, { nr: ORDINARY.getpid![arch], arch: foreign }), SECCOMP_RET_KILL_PROCESS);
          assert.equal(runFilter(program, { nr: nrOf('mount', arch), arch: foreign }), SECCOMP_RET_KILL_PROCESS);
        }
      });

      it('allows ordinary syscalls', () => {
        for (const [name, nrs] of Object.entries(ORDINARY)) assert.equal(run(nrs[arch]), SECCOMP_RET_ALLOW, name);
      });

      it('answers every listed syscall as its rule says', () => {
        for (const r of SECCOMP_RULES) {
          const nr = r.nr[arch];
          if (nr === undefined) continue;
          if (r.kind === 'deny') assert.equal(run(nr), EPERM, r.name);
          if (r.kind === 'enosys') assert.equal(run(nr), ENOSYS, r.name);
        }
        assert.equal(run(nrOf('clone3', arch)), ENOSYS);
      });

      it('allows clone for threads and fork, refuses it for any new namespace', () => {
        const clone = nrOf('clone', arch);
        assert.equal(run(clone, [BigInt(THREAD_FLAGS)]), SECCOMP_RET_ALLOW);
        assert.equal(run(clone, [BigInt(FORK_FLAGS)]), SECCOMP_RET_ALLOW);
        const namespaces = [0x80, 0x20000, 0x02000000, 0x04000000, 0x08000000, CLONE_NEWUSER, 0x20000000, CLONE_NEWNET];
        for (const flag of namespaces) {
          assert.equal(run(clone, [BigInt(FORK_FLAGS | flag)]), EPERM, `flag 0x${flag.toString(16)}`);
        }
        // The flags of the other arguments do not matter; only args[0] is flags on both arches.
        assert.equal(run(clone, [BigInt(FORK_FLAGS), BigInt(CLONE_NEWUSER)]), SECCOMP_RET_ALLOW);
      });

      it('lets personality query and reset, nothing else', () => {
        const personality = nrOf('personality', arch);
        assert.equal(run(personality, [0xffffffffn]), SECCOMP_RET_ALLOW);
        assert.equal(run(personality, [0n]), SECCOMP_RET_ALLOW);
        assert.equal(run(personality, [0x0040000n]), EPERM); // ADDR_NO_RANDOMIZE
        assert.equal(run(personality, [0x0008n]), EPERM); // UNAME26
      });

      it('refuses AF_ALG and AF_VSOCK sockets only', () => {
        const socket = nrOf('socket', arch);
        for (const family of [1n, 2n, 10n, 16n]) assert.equal(run(socket, [family, 1n]), SECCOMP_RET_ALLOW, `family ${family}`);
        assert.equal(run(socket, [38n, 5n]), EPERM);
        assert.equal(run(socket, [40n, 1n]), EPERM);
      });

      it('refuses TIOCSTI/TIOCLINUX, also with garbage in the high bits', () => {
        const ioctl = nrOf('ioctl', arch);
        assert.equal(run(ioctl, [1n, 0x5401n]), SECCOMP_RET_ALLOW); // TCGETS
        assert.equal(run(ioctl, [1n, 0x5421n]), SECCOMP_RET_ALLOW); // FIONBIO
        assert.equal(run(ioctl, [1n, 0x5412n]), EPERM);
        assert.equal(run(ioctl, [1n, 0x541cn]), EPERM);
        assert.equal(run(ioctl, [1n, 0x1_0000_5412n]), EPERM);
      });

      if (arch === 'x64') {
        it('refuses the x32 ABI', () => {
          assert.equal(run(0x40000000 | 39), EPERM); // x32 getpid
          assert.equal(run(0x40000000 | 165), EPERM); // x32 mount
        });
      }
    });
  }

  it('defaults to the host architecture', () => {
    if (process.arch !== 'x64' && process.arch !== 'arm64') {
      assert.throws(() => buildSeccompFilter(), /no seccomp filter for architecture/);
      return;
    }
    assert.deepEqual(buildSeccompFilter(), buildSeccompFilter(process.arch));
  });

  it('documents a reason for every rule and lists each syscall once', () => {
    const names = SECCOMP_RULES.map((r) => r.name);
    assert.equal(new Set(names).size, names.length);
    for (const r of SECCOMP_RULES) assert.ok(r.reason.length > 10, r.name);
    for (const required of [
      'mount', 'umount2', 'pivot_root', 'chroot', 'unshare', 'setns', 'clone', 'clone3', 'ptrace', 'process_vm_readv',
      'process_vm_writev', 'kexec_load', 'kexec_file_load', 'init_module', 'finit_module', 'delete_module', 'bpf',
      'perf_event_open', 'keyctl', 'add_key', 'request_key', 'reboot', 'swapon', 'swapoff', 'settimeofday',
      'clock_settime', 'clock_adjtime', 'adjtimex', 'acct', 'quotactl', 'lookup_dcookie', 'open_by_handle_at',
      'name_to_handle_at', 'userfaultfd', 'iopl', 'ioperm', 'syslog', 'vhangup', 'personality', 'fanotify_init',
      'move_mount', 'open_tree', 'fsopen', 'fsconfig', 'fsmount', 'fspick', 'mount_setattr', 'uselib', 'nfsservctl',
    ]) {
      assert.ok(names.includes(required), required);
    }
  });
});

describe('syscall numbers match the kernel headers', () => {
  const headers: Record<SeccompArch, string[]> = {
    x64: ['/usr/include/x86_64-linux-gnu/asm/unistd_64.h', '/usr/include/asm/unistd_64.h', '/usr/include/asm-x86/unistd_64.h'],
    arm64: ['/usr/include/asm-generic/unistd.h'],
  };
  for (const arch of ARCHES) {
    const file = headers[arch].find((f) => existsSync(f));
    it(`${arch}`, { skip: file === undefined ? `no kernel header for ${arch} (install linux-libc-dev)` : false }, () => {
      const defined = new Map<string, number>();
      for (const m of readFileSync(file!, 'utf8').matchAll(/^#define __NR_(\w+)\s+(\d+)\s*$/gm)) defined.set(m[1]!, Number(m[2]));
      const newest = Math.max(...defined.values());
      let checked = 0;
      for (const r of SECCOMP_RULES) {
        const ours = r.nr[arch];
        const theirs = defined.get(r.name);
        // Calls newer than the installed headers cannot be checked here.
        if (theirs === undefined && ours !== undefined && ours > newest) continue;
        assert.equal(ours, theirs, `${r.name} on ${arch}`);
        checked++;
      }
      assert.ok(checked >= SECCOMP_RULES.length - 2);
    });
  }
});

describe('BpfAssembler', () => {
  it('refuses undefined labels, jumps out of range and oversized programs', () => {
    assert.throws(() => new BpfAssembler().jumpIfEqual(1, 'nowhere').ret(0).assemble(), /not defined/);
    assert.throws(() => new BpfAssembler().loadWord(0).assemble(), /must end with a return/);
    const far = new BpfAssembler().jumpIfEqual(1, 'end');
    for (let i = 0; i < 300; i++) far.ret(0);
    assert.throws(() => far.label('end').ret(0).assemble(), /more than 255/);
    const big = new BpfAssembler();
    for (let i = 0; i <= BPF_MAXINSNS; i++) big.ret(0);
    assert.throws(() => big.assemble(), /kernel accepts 1\.\.4096/);
    assert.throws(() => new BpfAssembler().label('a').label('a'), /defined twice/);
  });
});

// --- Real sandboxes: the filter installed by bubblewrap --------------------------

const BWRAP = '/usr/bin/bwrap';
const PYTHON = '/usr/bin/python3';
const bwrapMissing = existsSync(BWRAP) ? false : `${BWRAP} is not installed`;
const hostArch = process.arch === 'x64' || process.arch === 'arm64' ? process.arch : undefined;
const realSkip = bwrapMissing || (hostArch === undefined ? `no filter for ${process.arch}` : false);

interface RunResult {
  readonly code: number | null;
  readonly signal: NodeJS.Signals | null;
  readonly stdout: string;
  readonly stderr: string;
}

/**
 * Runs `command` in a bubblewrap sandbox like the namespace backend's, handing
 * the filter to `bwrap --seccomp 3` over an extra stdio pipe: bwrap reads fd 3
 * to EOF, so the bytes are written and the pipe ended before bwrap goes on.
 */
function inSandbox(command: readonly string[], filter: Buffer | undefined, env: Record<string, string> = {}): Promise<RunResult> {
  const args = [
    '--unshare-all', '--die-with-parent', '--new-session',
    '--ro-bind', '/usr', '/usr',
    '--symlink', 'usr/lib', '/lib', '--symlink', 'usr/lib64', '/lib64', '--symlink', 'usr/bin', '/bin',
    '--proc', '/proc', '--dev', '/dev', '--tmpfs', '/tmp',
    ...(filter === undefined ? [] : ['--seccomp', '3']),
    '--', ...command,
  ];
  return new Promise((resolve, reject) => {
    const child = spawn(BWRAP, args, { stdio: ['ignore', 'pipe', 'pipe', 'pipe'], env: { PATH: '/usr/bin:/bin', ...env } });
    let stdout = '';
    let stderr = '';
    if (child.stdout === null || child.stderr === null) throw new Error('spawn gave no stdout/stderr pipes');
    child.stdout.setEncoding('utf8').on('data', (d: string) => (stdout += d));
    child.stderr.setEncoding('utf8').on('data', (d: string) => (stderr += d));
    const fd3 = child.stdio[3];
    if (!(fd3 instanceof Writable)) throw new Error('spawn gave no writable fd 3');
    // bwrap may exit (and close fd 3) on a setup error before reading it all;
    // the exit code then tells the story, not an EPIPE here.
    fd3.on('error', () => undefined);
    if (filter === undefined) fd3.end();
    else fd3.end(filter);
    child.on('error', reject);
    child.on('close', (code, signal) => resolve({ code, signal, stdout, stderr }));
  });
}

const NODE_SCRIPT = `
const fs = require('node:fs');
const cp = require('node:child_process');
const crypto = require('node:crypto');
const { Worker } = require('node:worker_threads');
(async () => {
  fs.writeFileSync('/tmp/a.txt', 'hello');
  const read = await fs.promises.readFile('/tmp/a.txt', 'utf8');
  const fromWorker = await new Promise((resolve, reject) => {
    const w = new Worker('require("node:worker_threads").parentPort.postMessage(6 * 7)', { eval: true });
    w.once('message', resolve);
    w.once('error', reject);
  });
  const timer = await new Promise((resolve) => setTimeout(() => resolve('fired'), 5));
  const trueStatus = await new Promise((resolve, reject) => {
    cp.spawn('/bin/true', { stdio: 'ignore' }).once('error', reject).once('exit', resolve);
  });
  const hash = (await new Promise((r, j) => crypto.pbkdf2(read, 's', 1, 8, 'sha256', (e, k) => (e ? j(e) : r(k))))).toString('hex');
  console.log(JSON.stringify({ read, fromWorker, timer, trueStatus, hash }));
})().catch((e) => { console.error(e); process.exit(1); });
`;

/** Syscall probes run by python3's ctypes inside the sandbox; numbers written out independently of seccomp.ts. */
interface Probe {
  readonly name: string;
  readonly nr: Record<SeccompArch, number | undefined>;
  readonly args: readonly number[];
  /** errno under the filter. */
  readonly filtered: number;
  /**
   * Without the filter the call succeeds, or its arguments are invalid in a
   * way the kernel reports before any permission check: either way not EPERM,
   * which proves the EPERM comes from the filter and not from the sandbox's
   * missing capabilities. Only these probes are run without the filter.
   */
  readonly distinctWithoutFilter?: true;
}

const BAD_PID = 0x7ffffff0;
const PROBES: readonly Probe[] = [
  { name: 'unshare(CLONE_NEWUSER)', nr: { x64: 272, arm64: 97 }, args: [CLONE_NEWUSER], filtered: 1 },
  { name: 'unshare(CLONE_NEWNET)', nr: { x64: 272, arm64: 97 }, args: [CLONE_NEWNET], filtered: 1 },
  { name: 'setns(-1)', nr: { x64: 308, arm64: 268 }, args: [-1, 0], filtered: 1, distinctWithoutFilter: true },
  { name: 'clone(CLONE_NEWUSER|CLONE_FS)', nr: { x64: 56, arm64: 220 }, args: [CLONE_NEWUSER | 0x200, 0, 0, 0, 0], filtered: 1, distinctWithoutFilter: true },
  { name: 'clone3(NULL, 0)', nr: { x64: 435, arm64: 435 }, args: [0, 0], filtered: 38, distinctWithoutFilter: true },
  { name: 'mount(NULL...)', nr: { x64: 165, arm64: 40 }, args: [0, 0, 0, 0, 0], filtered: 1, distinctWithoutFilter: true },
  { name: 'umount2(NULL)', nr: { x64: 166, arm64: 39 }, args: [0, 0], filtered: 1 },
  { name: 'pivot_root', nr: { x64: 155, arm64: 41 }, args: [0, 0], filtered: 1 },
  { name: 'chroot', nr: { x64: 161, arm64: 51 }, args: [0], filtered: 1 },
  { name: 'fsopen', nr: { x64: 430, arm64: 430 }, args: [0, 0], filtered: 1 },
  { name: 'open_tree', nr: { x64: 428, arm64: 428 }, args: [-1, 0, 0], filtered: 1 },
  { name: 'ptrace(PTRACE_CONT, no such pid)', nr: { x64: 101, arm64: 117 }, args: [7, BAD_PID, 0, 0], filtered: 1, distinctWithoutFilter: true },
  { name: 'ptrace(PTRACE_TRACEME)', nr: { x64: 101, arm64: 117 }, args: [0, 0, 0, 0], filtered: 1 },
  { name: 'process_vm_readv', nr: { x64: 310, arm64: 270 }, args: [BAD_PID, 0, 0, 0, 0, 0], filtered: 1 },
  { name: 'kcmp(no such pid)', nr: { x64: 312, arm64: 272 }, args: [BAD_PID, BAD_PID, 0, 0, 0], filtered: 1, distinctWithoutFilter: true },
  { name: 'pidfd_getfd(-1)', nr: { x64: 438, arm64: 438 }, args: [-1, 0, 0], filtered: 1, distinctWithoutFilter: true },
  { name: 'keyctl(GET_KEYRING_ID, session)', nr: { x64: 250, arm64: 219 }, args: [0, -3, 0], filtered: 1, distinctWithoutFilter: true },
  { name: 'add_key', nr: { x64: 248, arm64: 217 }, args: [0, 0, 0, 0, 0], filtered: 1 },
  { name: 'clock_settime(invalid clock)', nr: { x64: 227, arm64: 112 }, args: [100, 0], filtered: 1, distinctWithoutFilter: true },
  { name: 'settimeofday', nr: { x64: 164, arm64: 170 }, args: [0, 0], filtered: 1 },
  { name: 'adjtimex', nr: { x64: 159, arm64: 171 }, args: [0], filtered: 1 },
  { name: 'bpf', nr: { x64: 321, arm64: 280 }, args: [0x7fff, 0, 0], filtered: 1 },
  { name: 'perf_event_open', nr: { x64: 298, arm64: 241 }, args: [0, 0, -1, -1, 0], filtered: 1 },
  { name: 'io_uring_setup', nr: { x64: 425, arm64: 425 }, args: [0, 0], filtered: 1 },
  { name: 'userfaultfd', nr: { x64: 323, arm64: 282 }, args: [0], filtered: 1 },
  { name: 'init_module', nr: { x64: 175, arm64: 105 }, args: [0, 0, 0], filtered: 1 },
  { name: 'kexec_load', nr: { x64: 246, arm64: 104 }, args: [0, 0, 0, 0], filtered: 1 },
  { name: 'reboot', nr: { x64: 169, arm64: 142 }, args: [0, 0, 0, 0], filtered: 1 },
  { name: 'syslog(SIZE_BUFFER)', nr: { x64: 103, arm64: 116 }, args: [10, 0, 0], filtered: 1 },
  { name: 'open_by_handle_at', nr: { x64: 304, arm64: 265 }, args: [-1, 0, 0], filtered: 1 },
  { name: 'personality(ADDR_NO_RANDOMIZE)', nr: { x64: 135, arm64: 92 }, args: [0x0040000], filtered: 1, distinctWithoutFilter: true },
  { name: 'socket(AF_ALG)', nr: { x64: 41, arm64: 198 }, args: [38, 5, 0], filtered: 1 },
  { name: 'socket(AF_VSOCK)', nr: { x64: 41, arm64: 198 }, args: [40, 1, 0], filtered: 1 },
  { name: 'ioctl(0, TIOCSTI)', nr: { x64: 16, arm64: 29 }, args: [0, 0x5412, 0], filtered: 1, distinctWithoutFilter: true },
  { name: 'ioctl(0, TIOCSTI|1<<32)', nr: { x64: 16, arm64: 29 }, args: [0, 0x1_0000_5412, 0], filtered: 1 },
  { name: 'iopl(3)', nr: { x64: 172, arm64: undefined }, args: [3], filtered: 1 },
  { name: 'x32 getpid', nr: { x64: 0x40000000 | 39, arm64: undefined }, args: [], filtered: 1 },
];

/** Calls still allowed under the filter: [name, nr per arch, args]. */
const ALLOWED: ReadonlyArray<readonly [string, Record<SeccompArch, number>, readonly number[]]> = [
  ['personality(query)', { x64: 135, arm64: 92 }, [0xffffffff]],
  ['socket(AF_UNIX)', { x64: 41, arm64: 198 }, [1, 1, 0]],
  ['getpid', { x64: 39, arm64: 172 }, []],
];

const PYTHON_PROBE = `
import ctypes, json, os, sys, threading
libc = ctypes.CDLL(None, use_errno=True)
libc.syscall.restype = ctypes.c_long
out = {}
for name, nr, args in json.loads(sys.argv[1]):
    ctypes.set_errno(0)
    r = libc.syscall(ctypes.c_long(nr), *[ctypes.c_ulong(a & 0xffffffffffffffff) for a in args])
    out[name] = ctypes.get_errno() if r == -1 else 0
t = threading.Thread(target=lambda: None)
t.start(); t.join()
pid = os.fork()
if pid == 0:
    os._exit(7)
out['fork exit code'] = os.waitstatus_to_exitcode(os.waitpid(pid, 0)[1])
print(json.dumps(out))
`;

async function probe(probes: readonly Probe[], filter: Buffer | undefined): Promise<Record<string, number>> {
  const arch = hostArch!;
  const calls = [...probes.map((p) => [p.name, p.nr[arch], p.args] as const), ...ALLOWED.map(([n, nr, a]) => [n, nr[arch], a] as const)]
    .filter(([, nr]) => nr !== undefined);
  const r = await inSandbox([PYTHON, '-c', PYTHON_PROBE, JSON.stringify(calls)], filter);
  assert.equal(r.code, 0, r.stderr);
  return JSON.parse(r.stdout) as Record<string, number>;
}

describe('the filter under bubblewrap', { skip: realSkip }, () => {
  const filter = hostArch === undefined ? Buffer.alloc(0) : buildSeccompFilter(hostArch);

  it('lets Node.js run: fs in /tmp, thread pool, worker threads, timers, child processes', async () => {
    for (const env of [{}, { UV_USE_IO_URING: '1' }]) {
      const r = await inSandbox(['/usr/bin/node', '-e', NODE_SCRIPT], filter, env);
      assert.equal(r.code, 0, r.stderr);
      const { hash, ...rest } = JSON.parse(r.stdout) as { hash: string };
      assert.deepEqual(rest, { read: 'hello', fromWorker: 42, timer: 'fired', trueStatus: 0 });
      assert.match(hash, /^[0-9a-f]{16}$/);
    }
  });

  it('lets bash and curl run', async () => {
    const r = await inSandbox(['/bin/bash', '-c', 'echo from-file > /tmp/f && curl -sS file:///tmp/f && (echo sub | cat) && curl --version | head -n1'], filter);
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stdout, /^from-file\nsub\ncurl \d/);
  });

  it('refuses unshare -U and unshare -n with "Operation not permitted"', async () => {
    for (const flag of ['-U', '-n']) {
      const r = await inSandbox(['/usr/bin/unshare', flag, '/bin/true'], filter);
      assert.notEqual(r.code, 0, `unshare ${flag} failed`);
      assert.match(r.stderr, /unshare failed: Operation not permitted/);
    }
  });

  it('refuses mount(8)', async () => {
    const r = await inSandbox(['/usr/bin/mount', '-t', 'tmpfs', 'none', '/tmp'], filter);
    assert.equal(r.code, 32, r.stderr); // util-linux: mount failure
    assert.match(r.stderr, /permission denied/);
  });

  it('refuses ptrace-based tools (strace)', { skip: existsSync('/usr/bin/strace') ? false : '/usr/bin/strace is not installed' }, async () => {
    const r = await inSandbox(['/usr/bin/strace', '/bin/true'], filter);
    assert.notEqual(r.code, 0);
    assert.match(r.stderr, /PTRACE_TRACEME.*Operation not permitted/);
  });

  it('refuses every probed call with the errno of its rule and keeps the others working', { skip: existsSync(PYTHON) ? false : `${PYTHON} is not installed` }, async () => {
    const got = await probe(PROBES, filter);
    for (const p of PROBES) {
      if (p.nr[hostArch!] === undefined) continue;
      assert.equal(got[p.name], p.filtered, p.name);
    }
    for (const [name] of ALLOWED) assert.equal(got[name], 0, name);
    assert.equal(got['fork exit code'], 7, 'threads (clone3 → ENOSYS → clone) and fork work');
  });

  it('is what refuses them: without it the same calls fail differently', { skip: existsSync(PYTHON) ? false : `${PYTHON} is not installed` }, async () => {
    const distinct = PROBES.filter((x) => x.distinctWithoutFilter === true && x.nr[hostArch!] !== undefined);
    const got = await probe(distinct, undefined);
    for (const p of distinct) {
      assert.notEqual(got[p.name], p.filtered, `${p.name} without the filter (errno ${got[p.name]})`);
    }
  });
});

describe('ociSeccomp (the policy for gVisor)', () => {
  for (const arch of ['x64', 'arm64'] as const) {
    it(`refuses what the BPF filter refuses, by name, on ${arch}`, () => {
      const oci = ociSeccomp(arch);
      assert.equal(oci.defaultAction, 'SCMP_ACT_ALLOW');
      assert.deepEqual(oci.architectures, [arch === 'x64' ? 'SCMP_ARCH_X86_64' : 'SCMP_ARCH_AARCH64']);
      const unconditional = new Set(oci.syscalls.filter((s) => s.args === undefined).flatMap((s) => s.names));
      for (const r of SECCOMP_RULES.filter((x) => x.kind === 'deny' && x.nr[arch] !== undefined)) assert.ok(unconditional.has(r.name), `${r.name} refused`);
      for (const r of SECCOMP_RULES.filter((x) => x.nr[arch] === undefined)) assert.ok(!unconditional.has(r.name), `${r.name} does not exist on ${arch}`);
      assert.ok(oci.syscalls.every((s) => s.action === 'SCMP_ACT_ERRNO' && s.errnoRet === 1), 'EPERM throughout');
    });
  }

  it('refuses clone with any namespace flag, one rule per flag, and leaves plain clone alone', () => {
    const clone = ociSeccomp('x64').syscalls.filter((s) => s.names.includes('clone'));
    let covered = 0;
    for (const s of clone) {
      const [cond] = s.args ?? [];
      assert.ok(cond && cond.index === 0 && cond.op === 'SCMP_CMP_MASKED_EQ' && cond.value === cond.valueTwo, JSON.stringify(s));
      assert.equal(cond.value & (cond.value - 1), 0, 'a single bit');
      covered |= cond.value;
    }
    assert.equal(covered >>> 0, CLONE_NEW_NAMESPACE_FLAGS >>> 0);
    const thread = 0x3d0f00; // CLONE_VM | CLONE_FS | CLONE_FILES | CLONE_SIGHAND | CLONE_THREAD | CLONE_SYSVSEM | CLONE_SETTLS | CLONE_PARENT_SETTID | CLONE_CHILD_CLEARTID
    assert.ok(clone.every((s) => (thread & (s.args?.[0]?.value ?? 0)) === 0), 'a thread matches no rule');
  });
});
