/**
 * The seccomp filter of the namespace backend, compiled in TypeScript to a
 * classic-BPF program — no native addon, no libseccomp.
 *
 * bubblewrap installs it (`bwrap --seccomp FD`): bwrap reads the program from
 * the fd to EOF as an array of `struct sock_filter { u16 code; u8 jt; u8 jf;
 * u32 k; }` and, as the last step before exec'ing the sandbox's command, sets
 * PR_SET_NO_NEW_PRIVS and SECCOMP_SET_MODE_FILTER with it.
 *
 * Kindling's filter is a deny list: function code is hostile, but it must run
 * unchanged, so everything ordinary programs do is allowed and only the calls
 * that reach kernel attack surface a function never needs are refused. A
 * refused call fails with EPERM ("Operation not permitted"), which every
 * language reports cleanly, rather than killing the process; only a foreign
 * syscall ABI kills, because no correct program in the sandbox uses one.
 *
 * The namespaces, dropped capabilities and no_new_privs already make most of
 * these calls fail; the filter is the second wall, for the day the kernel has
 * a bug behind a capability check (the reason Docker, gVisor and Chrome all
 * filter the same calls). Reasoning cross-checked against Docker's default
 * profile (moby/moby profiles/seccomp/default.json), which allows these only
 * to containers granted the matching capability.
 *
 * Syscall numbers: x86_64 from the kernel's arch/x86/entry/syscalls/syscall_64.tbl,
 * aarch64 from include/uapi/asm-generic/unistd.h (numbers >= 403 come from
 * scripts/syscall.tbl and are the same on every architecture). The test checks
 * them against the system's <asm/unistd_64.h> and <asm-generic/unistd.h>.
 */

/** Architectures the filter can be built for (Node's `process.arch` names). */
export type SeccompArch = 'x64' | 'arm64';

/**
 * What the filter does with a listed syscall.
 * - `deny`: always EPERM.
 * - `enosys`: always ENOSYS, so libc falls back to an older call.
 * - `clone-flags`: EPERM when args[0] asks for a new namespace, else allow.
 * - `personality`: allow only querying (0xffffffff) and PER_LINUX (0), else EPERM.
 * - `socket-family`: EPERM for the address families in SOCKET_DENIED_FAMILIES, else allow.
 * - `ioctl-tty`: EPERM for the terminal-injection requests in IOCTL_DENIED_REQUESTS, else allow.
 */
export type SeccompRuleKind = 'deny' | 'enosys' | 'clone-flags' | 'personality' | 'socket-family' | 'ioctl-tty';

/** One entry of Kindling's syscall policy, with the reason it exists. */
export interface SeccompRule {
  readonly name: string;
  /** Syscall number per architecture; undefined where the call does not exist. */
  readonly nr: { readonly x64: number | undefined; readonly arm64: number | undefined };
  readonly kind: SeccompRuleKind;
  readonly reason: string;
}

// --- Constants from the kernel's UAPI headers --------------------------------

/** include/uapi/linux/audit.h: EM_X86_64 | __AUDIT_ARCH_64BIT | __AUDIT_ARCH_LE. */
export const AUDIT_ARCH_X86_64 = 0xc000003e;
/** include/uapi/linux/audit.h: EM_AARCH64 | __AUDIT_ARCH_64BIT | __AUDIT_ARCH_LE. */
export const AUDIT_ARCH_AARCH64 = 0xc00000b7;

/** include/uapi/linux/seccomp.h return actions. */
export const SECCOMP_RET_KILL_PROCESS = 0x80000000;
export const SECCOMP_RET_ERRNO = 0x00050000;
export const SECCOMP_RET_ALLOW = 0x7fff0000;

const EPERM = 1;
const ENOSYS = 38;

/** arch/x86/include/uapi/asm/unistd.h: syscall numbers of the x32 ABI carry this bit. */
export const X32_SYSCALL_BIT = 0x40000000;

/**
 * include/uapi/linux/sched.h: every flag that creates a namespace.
 * CLONE_NEWTIME (0x80) lies inside CSIGNAL for clone() — there it can only be
 * an exit signal >= 128, which the kernel rejects anyway — so including it
 * refuses nothing valid and keeps one mask for "any new namespace".
 */
export const CLONE_NEW_NAMESPACE_FLAGS =
  0x00000080 | // CLONE_NEWTIME
  0x00020000 | // CLONE_NEWNS
  0x02000000 | // CLONE_NEWCGROUP
  0x04000000 | // CLONE_NEWUTS
  0x08000000 | // CLONE_NEWIPC
  0x10000000 | // CLONE_NEWUSER
  0x20000000 | // CLONE_NEWPID
  0x40000000; // CLONE_NEWNET

/** include/uapi/linux/personality.h: PER_LINUX, and the value that only queries. */
const PERSONALITY_ALLOWED = [0x00000000, 0xffffffff] as const;

/** include/linux/socket.h: AF_ALG = 38, AF_VSOCK = 40. */
const SOCKET_DENIED_FAMILIES = [38, 40] as const;

/** include/uapi/asm-generic/ioctls.h (x86 and arm64 share it): TIOCSTI, TIOCLINUX. */
const IOCTL_DENIED_REQUESTS = [0x5412, 0x541c] as const;

// --- The policy ---------------------------------------------------------------

const rule = (name: string, x64: number | undefined, arm64: number | undefined, kind: SeccompRuleKind, reason: string): SeccompRule => ({
  name,
  nr: { x64, arm64 },
  kind,
  reason,
});

const MOUNT_NS = 'The sandbox already has its own mount namespace with a read-only root set up by the worker; changing mounts gains nothing and is a frequent route to kernel bugs.';
const NEW_NS = 'New namespaces (above all user namespaces) hand the caller capabilities over fresh kernel objects, the most common way unprivileged code reaches kernel bugs.';
const PTRACE = 'Reads or writes another process\'s memory or file descriptors; a function has no business with the worker\'s or a sibling\'s.';
const MODULES = 'Loads or unloads kernel code.';
const KEYS = 'The kernel keyring is not namespaced: keys would be shared with the host and other sandboxes.';
const CLOCK = 'The system clock is not namespaced: setting it changes the time for the whole host.';
const NEW_MOUNT_API = 'New mount API (Linux 5.2+): the same power as mount(2) through another door.';

/**
 * Kindling's syscall policy, in the order the filter tests it. Everything not
 * listed is allowed. Intentionally allowed although Docker gates them:
 * sethostname/setdomainname (the sandbox has its own UTS namespace),
 * mbind/set_mempolicy (NUMA hints, no privilege), landlock_* and seccomp
 * (they only restrict further). Not listed because the kernel no longer has
 * them (x86_64 create_module, get_kernel_syms, query_module, _sysctl).
 */
export const SECCOMP_RULES: readonly SeccompRule[] = [
  // Mounts and filesystem roots.
  rule('mount', 165, 40, 'deny', MOUNT_NS),
  rule('umount2', 166, 39, 'deny', MOUNT_NS),
  rule('pivot_root', 155, 41, 'deny', MOUNT_NS),
  rule('chroot', 161, 51, 'deny', 'Needs CAP_SYS_CHROOT, which the sandbox never has; with it, a chroot is a classic step in escaping a mount namespace.'),
  rule('open_tree', 428, 428, 'deny', NEW_MOUNT_API),
  rule('move_mount', 429, 429, 'deny', NEW_MOUNT_API),
  rule('fsopen', 430, 430, 'deny', NEW_MOUNT_API),
  rule('fsconfig', 431, 431, 'deny', NEW_MOUNT_API),
  rule('fsmount', 432, 432, 'deny', NEW_MOUNT_API),
  rule('fspick', 433, 433, 'deny', NEW_MOUNT_API),
  rule('mount_setattr', 442, 442, 'deny', NEW_MOUNT_API),
  rule('open_tree_attr', 467, 467, 'deny', NEW_MOUNT_API + ' (Linux 6.15+).'),
  // Namespaces.
  rule('unshare', 272, 97, 'deny', NEW_NS),
  rule('setns', 308, 268, 'deny', 'Joining another namespace is never needed inside a sandbox and is how a leaked namespace fd would be used to leave it.'),
  rule('clone', 56, 220, 'clone-flags', `${NEW_NS} Plain clone (threads, fork) stays allowed; the flags are args[0] on both x86_64 and aarch64.`),
  rule('clone3', 435, 435, 'enosys', 'Its flags live in a struct in memory, which seccomp cannot read; ENOSYS makes glibc (2.34+ uses clone3 for threads) and musl fall back to clone, whose flags the filter checks — what Docker and systemd do.'),
  // Other processes.
  rule('ptrace', 101, 117, 'deny', PTRACE),
  rule('process_vm_readv', 310, 270, 'deny', PTRACE),
  rule('process_vm_writev', 311, 271, 'deny', PTRACE),
  rule('process_madvise', 440, 440, 'deny', PTRACE),
  rule('pidfd_getfd', 438, 438, 'deny', PTRACE),
  rule('kcmp', 312, 272, 'deny', 'Tells whether two processes share kernel objects (needs ptrace access to both); reveals kernel object ordering and is useless to a function.'),
  // Kernel code and kernel state.
  rule('kexec_load', 246, 104, 'deny', 'Replaces the running kernel.'),
  rule('kexec_file_load', 320, 294, 'deny', 'Replaces the running kernel.'),
  rule('init_module', 175, 105, 'deny', MODULES),
  rule('finit_module', 313, 273, 'deny', MODULES),
  rule('delete_module', 176, 106, 'deny', MODULES),
  rule('bpf', 321, 280, 'deny', 'eBPF programs run inside the kernel; the verifier has been a steady source of privilege escalations.'),
  rule('perf_event_open', 298, 241, 'deny', 'Exposes kernel and other processes\' performance data, with a long history of exploitable bugs.'),
  rule('io_uring_setup', 425, 425, 'deny', 'io_uring is a large, fast-moving kernel surface behind many escapes (Google disables it in ChromeOS, Android and production; Docker and containerd deny it). libuv (Node) falls back to its thread pool when setup fails.'),
  rule('io_uring_enter', 426, 426, 'deny', 'See io_uring_setup.'),
  rule('io_uring_register', 427, 427, 'deny', 'See io_uring_setup.'),
  rule('userfaultfd', 323, 282, 'deny', 'Lets user space stall kernel page faults at will, the standard tool for winning kernel race conditions.'),
  rule('keyctl', 250, 219, 'deny', KEYS),
  rule('add_key', 248, 217, 'deny', KEYS),
  rule('request_key', 249, 218, 'deny', KEYS),
  rule('reboot', 169, 142, 'deny', 'Reboots the host or loads a new kernel (LINUX_REBOOT_CMD_KEXEC).'),
  rule('swapon', 167, 224, 'deny', 'Host-wide memory configuration.'),
  rule('swapoff', 168, 225, 'deny', 'Host-wide memory configuration.'),
  rule('settimeofday', 164, 170, 'deny', CLOCK),
  rule('clock_settime', 227, 112, 'deny', CLOCK),
  rule('clock_adjtime', 305, 266, 'deny', CLOCK),
  rule('adjtimex', 159, 171, 'deny', CLOCK),
  rule('acct', 163, 89, 'deny', 'Turns host-wide process accounting on or off.'),
  rule('quotactl', 179, 60, 'deny', 'Host filesystem quota administration.'),
  rule('quotactl_fd', 443, 443, 'deny', 'Host filesystem quota administration.'),
  rule('lookup_dcookie', 212, 18, 'deny', 'Profiling interface that resolves kernel directory-entry cookies to paths (since removed from the kernel).'),
  rule('open_by_handle_at', 304, 265, 'deny', 'Opens files by handle, bypassing path lookup and hence the mount namespace ("shocker", the Docker escape of 2014).'),
  rule('name_to_handle_at', 303, 264, 'deny', 'The other half of open_by_handle_at; leaks inode identities of the host\'s filesystems.'),
  rule('syslog', 103, 116, 'deny', 'Reads or clears the kernel log, which holds kernel addresses and other tenants\' messages.'),
  rule('vhangup', 153, 58, 'deny', 'Hangs up the controlling terminal; no use without a terminal.'),
  rule('fanotify_init', 300, 262, 'deny', 'Filesystem-wide event monitoring, able to watch and block other processes\' file accesses.'),
  rule('nfsservctl', 180, 42, 'deny', 'Removed kernel NFS server interface; refused explicitly in case an old kernel still has it.'),
  // x86 only.
  rule('iopl', 172, undefined, 'deny', 'Raises I/O privilege: direct access to hardware ports.'),
  rule('ioperm', 173, undefined, 'deny', 'Direct access to hardware I/O ports.'),
  rule('uselib', 134, undefined, 'deny', 'Obsolete a.out library loader with its own, rarely audited, code path.'),
  // Argument-dependent.
  rule('personality', 135, 92, 'personality', 'Other personalities switch off ASLR (ADDR_NO_RANDOMIZE) or change the syscall ABI\'s behaviour; querying and PER_LINUX stay allowed (as Docker does).'),
  rule('socket', 41, 198, 'socket-family', 'AF_ALG exposes the kernel crypto API to user space (Docker denied it after CVE-2026-31431, a page-cache write through algif_aead, moby/moby#52494); AF_VSOCK is not network-namespaced and would reach the host of a VM (moby/moby#44562). Functions use user-space crypto and IP; other families stay allowed.'),
  rule('ioctl', 16, 29, 'ioctl-tty', 'TIOCSTI pushes keystrokes into a terminal shared with the host and TIOCLINUX can do the same on a virtual console; only the low 32 bits of the request are compared, because the kernel truncates it (CVE-2019-10063 bypassed filters that compared 64 bits).'),
];

// --- The policy as an OCI seccomp section (gVisor) ------------------------------

/** One entry of an OCI runtime spec's linux.seccomp.syscalls. */
export interface OciSeccompSyscall {
  readonly names: readonly string[];
  readonly action: 'SCMP_ACT_ERRNO';
  readonly errnoRet: number;
  readonly args?: readonly { readonly index: number; readonly value: number; readonly valueTwo?: number; readonly op: 'SCMP_CMP_EQ' | 'SCMP_CMP_MASKED_EQ' }[];
}

/** An OCI runtime spec's linux.seccomp. */
export interface OciSeccomp {
  readonly defaultAction: 'SCMP_ACT_ALLOW';
  readonly architectures: readonly string[];
  readonly syscalls: readonly OciSeccompSyscall[];
}

/**
 * SECCOMP_RULES as an OCI linux.seccomp section, for runsc --oci-seccomp
 * (gVisor's Sentry enforces it on the function's system calls; they never
 * reach the host kernel). Rules by name, so one section serves both
 * architectures the policy knows.
 *
 * - clone: one rule per namespace flag (the flag set in args[0]), since OCI
 *   conditions on one argument are ANDed and "any of these bits" is an OR.
 * - clone3 (ENOSYS in the BPF filter) is left out: runsc (2022-12 at
 *   least) answers an OCI errno rule with EPERM whatever its errnoRet, and
 *   glibc falls back to clone() on ENOSYS only, so node could not start a
 *   thread; that runsc answers clone3 with ENOSYS itself.
 * - personality is left to gVisor, which implements PER_LINUX alone and
 *   refuses the flags the rule is there for; OCI cannot say "neither of two
 *   values" on one argument.
 */
export function ociSeccomp(arch: SeccompArch = hostArch()): OciSeccomp {
  const names = (kind: SeccompRuleKind) => SECCOMP_RULES.filter((r) => r.kind === kind && r.nr[arch] !== undefined).map((r) => r.name);
  const bits: number[] = [];
  for (let bit = 1; bit !== 0 && bit <= CLONE_NEW_NAMESPACE_FLAGS; bit = (bit << 1) >>> 0) if ((CLONE_NEW_NAMESPACE_FLAGS & bit) !== 0) bits.push(bit);
  return {
    defaultAction: 'SCMP_ACT_ALLOW',
    architectures: [arch === 'x64' ? 'SCMP_ARCH_X86_64' : 'SCMP_ARCH_AARCH64'],
    syscalls: [
      { names: names('deny'), action: 'SCMP_ACT_ERRNO', errnoRet: EPERM },
      ...bits.map((bit): OciSeccompSyscall => ({ names: names('clone-flags'), action: 'SCMP_ACT_ERRNO', errnoRet: EPERM, args: [{ index: 0, value: bit, valueTwo: bit, op: 'SCMP_CMP_MASKED_EQ' }] })),
      ...SOCKET_DENIED_FAMILIES.map((family): OciSeccompSyscall => ({ names: names('socket-family'), action: 'SCMP_ACT_ERRNO', errnoRet: EPERM, args: [{ index: 0, value: family, op: 'SCMP_CMP_EQ' }] })),
      ...IOCTL_DENIED_REQUESTS.map((request): OciSeccompSyscall => ({ names: names('ioctl-tty'), action: 'SCMP_ACT_ERRNO', errnoRet: EPERM, args: [{ index: 1, value: request, op: 'SCMP_CMP_EQ' }] })),
    ],
  };
}

// --- A small classic-BPF assembler -------------------------------------------

/** include/uapi/linux/filter.h: BPF_MAXINSNS, also seccomp's limit per filter. */
export const BPF_MAXINSNS = 4096;

// include/uapi/linux/bpf_common.h opcodes, combined.
const BPF_LD_W_ABS = 0x00 | 0x00 | 0x20; // BPF_LD | BPF_W | BPF_ABS
const BPF_JMP_JEQ_K = 0x05 | 0x10 | 0x00; // BPF_JMP | BPF_JEQ | BPF_K
const BPF_JMP_JSET_K = 0x05 | 0x40 | 0x00; // BPF_JMP | BPF_JSET | BPF_K
const BPF_RET_K = 0x06 | 0x00; // BPF_RET | BPF_K

/** A jump target: a label, or `next` for the following instruction. */
type Target = string;
const NEXT: Target = '<next>';

interface PendingInsn {
  readonly code: number;
  readonly jt: Target;
  readonly jf: Target;
  readonly k: number;
}

/**
 * Builds a classic-BPF program with symbolic jump targets. Classic BPF only
 * jumps forward (which is what guarantees termination), with 8-bit offsets;
 * assemble() resolves the labels and refuses a program the kernel would refuse.
 */
export class BpfAssembler {
  readonly #insns: PendingInsn[] = [];
  readonly #labels = new Map<string, number>();

  /** Places a label at the next instruction. */
  label(name: string): this {
    if (name === NEXT || this.#labels.has(name)) throw new Error(`BPF label ${name} defined twice`);
    this.#labels.set(name, this.#insns.length);
    return this;
  }

  /** A = the 32-bit word at `offset` in struct seccomp_data. */
  loadWord(offset: number): this {
    return this.#push(BPF_LD_W_ABS, NEXT, NEXT, offset);
  }

  /** if (A == k) goto jt else goto jf. */
  jumpIfEqual(k: number, jt: Target, jf: Target = NEXT): this {
    return this.#push(BPF_JMP_JEQ_K, jt, jf, k);
  }

  /** if (A & k) goto jt else goto jf. */
  jumpIfAnySet(k: number, jt: Target, jf: Target = NEXT): this {
    return this.#push(BPF_JMP_JSET_K, jt, jf, k);
  }

  /** return k (a SECCOMP_RET_* action). */
  ret(k: number): this {
    return this.#push(BPF_RET_K, NEXT, NEXT, k);
  }

  /** The program as `struct sock_filter[]`, little-endian (both supported architectures are). */
  assemble(): Buffer {
    const count = this.#insns.length;
    if (count === 0 || count > BPF_MAXINSNS) throw new Error(`BPF program has ${count} instructions; the kernel accepts 1..${BPF_MAXINSNS}`);
    const last = this.#insns[count - 1];
    // The kernel refuses a program that can run off its end (bpf_check_classic).
    if (last?.code !== BPF_RET_K) throw new Error('BPF program must end with a return');
    const out = Buffer.alloc(count * 8);
    this.#insns.forEach((insn, pc) => {
      out.writeUInt16LE(insn.code, pc * 8);
      out.writeUInt8(this.#offset(pc, insn.jt), pc * 8 + 2);
      out.writeUInt8(this.#offset(pc, insn.jf), pc * 8 + 3);
      out.writeUInt32LE(insn.k >>> 0, pc * 8 + 4);
    });
    return out;
  }

  #push(code: number, jt: Target, jf: Target, k: number): this {
    if (!Number.isInteger(k) || k < 0 || k > 0xffffffff) throw new Error(`BPF constant ${k} is not a u32`);
    this.#insns.push({ code, jt, jf, k });
    return this;
  }

  /** Offset from the instruction after `pc` to `target`, checked to land inside the program. */
  #offset(pc: number, target: Target): number {
    if (target === NEXT) return 0;
    const at = this.#labels.get(target);
    if (at === undefined) throw new Error(`BPF label ${target} is not defined`);
    if (at >= this.#insns.length) throw new Error(`BPF label ${target} points past the end of the program`);
    const offset = at - (pc + 1);
    if (offset < 0) throw new Error(`BPF jump from ${pc} to ${target} goes backwards`);
    if (offset > 0xff) throw new Error(`BPF jump from ${pc} to ${target} is ${offset} instructions, more than 255`);
    return offset;
  }
}

// --- The filter ---------------------------------------------------------------

/** Offsets in include/uapi/linux/seccomp.h `struct seccomp_data`. */
const SECCOMP_DATA_NR = 0;
const SECCOMP_DATA_ARCH = 4;
/**
 * Low 32 bits of args[i] (each arg is a u64 at 16 + 8i; little-endian puts
 * the low word first). Every argument the filter inspects is 32 bits wide in
 * the kernel (clone's flags go through lower_32_bits(), personality and ioctl
 * take unsigned int, socket int), so the high word is deliberately ignored.
 */
const argLow = (i: number): number => 16 + 8 * i;

const AUDIT_ARCH: Record<SeccompArch, number> = { x64: AUDIT_ARCH_X86_64, arm64: AUDIT_ARCH_AARCH64 };

const RET_EPERM = SECCOMP_RET_ERRNO | EPERM;
const RET_ENOSYS = SECCOMP_RET_ERRNO | ENOSYS;

function isSeccompArch(arch: string): arch is SeccompArch {
  return arch === 'x64' || arch === 'arm64';
}

/**
 * Compiles Kindling's seccomp policy (SECCOMP_RULES) for `arch` into the
 * bytes `bwrap --seccomp FD` expects. Any other syscall ABI than `arch`'s own
 * (i386 via int 0x80, AArch32) kills the process; on x86_64 the x32 ABI gets
 * EPERM; every listed syscall behaves as its rule says; everything else is
 * allowed.
 *
 * The syscall checks only look at the number, except for the four
 * argument-dependent rules, so Linux 5.11+'s seccomp action cache can skip
 * the program entirely for every other (allowed) syscall.
 */
export function buildSeccompFilter(arch: SeccompArch = hostArch()): Buffer {
  const p = new BpfAssembler();
  p.loadWord(SECCOMP_DATA_ARCH).jumpIfEqual(AUDIT_ARCH[arch], NEXT, 'kill');
  p.loadWord(SECCOMP_DATA_NR);
  // x32 syscalls run with AUDIT_ARCH_X86_64 and numbers offset by this bit;
  // without this check each denied call would have a second, allowed number.
  if (arch === 'x64') p.jumpIfAnySet(X32_SYSCALL_BIT, 'eperm');

  const argChecks: Array<{ label: string; kind: SeccompRuleKind }> = [];
  for (const r of SECCOMP_RULES) {
    const nr = r.nr[arch];
    if (nr === undefined) continue;
    switch (r.kind) {
      case 'deny':
        p.jumpIfEqual(nr, 'eperm');
        break;
      case 'enosys':
        p.jumpIfEqual(nr, 'enosys');
        break;
      default: {
        const label = `check-${r.name}`;
        argChecks.push({ label, kind: r.kind });
        p.jumpIfEqual(nr, label);
      }
    }
  }
  p.ret(SECCOMP_RET_ALLOW);

  for (const { label, kind } of argChecks) {
    p.label(label);
    switch (kind) {
      case 'clone-flags':
        p.loadWord(argLow(0)).jumpIfAnySet(CLONE_NEW_NAMESPACE_FLAGS, 'eperm').ret(SECCOMP_RET_ALLOW);
        break;
      case 'personality':
        p.loadWord(argLow(0));
        for (const v of PERSONALITY_ALLOWED) p.jumpIfEqual(v, 'allow');
        p.ret(RET_EPERM);
        break;
      case 'socket-family':
        p.loadWord(argLow(0));
        for (const v of SOCKET_DENIED_FAMILIES) p.jumpIfEqual(v, 'eperm');
        p.ret(SECCOMP_RET_ALLOW);
        break;
      case 'ioctl-tty':
        p.loadWord(argLow(1));
        for (const v of IOCTL_DENIED_REQUESTS) p.jumpIfEqual(v, 'eperm');
        p.ret(SECCOMP_RET_ALLOW);
        break;
      case 'deny':
      case 'enosys':
        throw new Error(`rule kind ${kind} has no argument check`);
    }
  }

  p.label('allow').ret(SECCOMP_RET_ALLOW);
  p.label('eperm').ret(RET_EPERM);
  p.label('enosys').ret(RET_ENOSYS);
  p.label('kill').ret(SECCOMP_RET_KILL_PROCESS);
  return p.assemble();
}

function hostArch(): SeccompArch {
  const arch = process.arch;
  if (!isSeccompArch(arch)) throw new Error(`no seccomp filter for architecture ${arch}; Kindling supports x64 and arm64`);
  return arch;
}
