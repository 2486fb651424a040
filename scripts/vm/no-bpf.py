#!/usr/bin/env python3
"""no-bpf.py [--all] COMMAND [ARG...]: runs COMMAND with bpf(2) refused (EPERM) by seccomp.

By default the calls that load anything into the kernel are refused: BPF_MAP_CREATE,
BPF_PROG_LOAD and BPF_BTF_LOAD. Queries (BPF_PROG_QUERY, BPF_OBJ_GET…) still work, so
a process can see that nothing of its own is attached but cannot create a map or load a
program: `ebpf-kube-proxy probe` then finds no usable BPF, and `run --proxy-mode auto`
falls back to the next mode. With --all every bpf() call is refused, as container
runtimes' default seccomp profiles do for unprivileged containers.

The kernel really refuses the calls (nothing in the program under test is told to
pretend). Used by test/e2e/ipvs.test.ts inside the qemu VM (test/vm/ipvs.test.ts) to show
the fallback to ipvs on a kernel that has BPF as well as IP_VS. x86-64 only.
"""
import ctypes
import os
import struct
import sys

PR_SET_NO_NEW_PRIVS = 38
PR_SET_SECCOMP = 22
SECCOMP_MODE_FILTER = 2
AUDIT_ARCH_X86_64 = 0xC000003E
NR_BPF = 321  # x86-64
SECCOMP_RET_ALLOW = 0x7FFF0000
SECCOMP_RET_ERRNO = 0x00050000
EPERM = 1
# enum bpf_cmd
BPF_MAP_CREATE, BPF_PROG_LOAD, BPF_BTF_LOAD = 0, 5, 18

# Classic BPF over struct seccomp_data { int nr; u32 arch; u64 ip; u64 args[6]; }
LD_W_ABS, JEQ_K, RET_K = 0x20, 0x15, 0x06
OFF_NR, OFF_ARCH, OFF_ARG0 = 0, 4, 16


def program(deny_all: bool) -> list:
    allow = (RET_K, 0, 0, SECCOMP_RET_ALLOW)
    deny = (RET_K, 0, 0, SECCOMP_RET_ERRNO | EPERM)
    cmds = [BPF_MAP_CREATE, BPF_PROG_LOAD, BPF_BTF_LOAD]
    body = [deny] if deny_all else (
        [(LD_W_ABS, 0, 0, OFF_ARG0)]  # A = cmd (low 32 bits)
        # each test jumps to the final deny when it matches
        + [(JEQ_K, len(cmds) - i, 0, c) for i, c in enumerate(cmds)]
        + [allow, deny]
    )
    return [
        (LD_W_ABS, 0, 0, OFF_ARCH),
        (JEQ_K, 1, 0, AUDIT_ARCH_X86_64),  # another ABI: not our business
        allow,
        (LD_W_ABS, 0, 0, OFF_NR),
        (JEQ_K, 1, 0, NR_BPF),
        allow,
    ] + body


class SockFprog(ctypes.Structure):
    _fields_ = [("len", ctypes.c_ushort), ("filter", ctypes.c_void_p)]


def main() -> int:
    args = sys.argv[1:]
    deny_all = bool(args) and args[0] == "--all"
    if deny_all:
        args = args[1:]
    if not args:
        print(__doc__.strip().splitlines()[0], file=sys.stderr)
        return 2
    insns = program(deny_all)
    prog = b"".join(struct.pack("HBBI", *f) for f in insns)
    buf = ctypes.create_string_buffer(prog, len(prog))
    fprog = SockFprog(len(insns), ctypes.addressof(buf))
    libc = ctypes.CDLL(None, use_errno=True)
    libc.prctl.argtypes = [ctypes.c_int, ctypes.c_ulong, ctypes.c_void_p, ctypes.c_ulong, ctypes.c_ulong]
    if libc.prctl(PR_SET_NO_NEW_PRIVS, 1, None, 0, 0) != 0:
        print(f"no-bpf: PR_SET_NO_NEW_PRIVS: {os.strerror(ctypes.get_errno())}", file=sys.stderr)
        return 1
    if libc.prctl(PR_SET_SECCOMP, SECCOMP_MODE_FILTER, ctypes.addressof(fprog), 0, 0) != 0:
        print(f"no-bpf: seccomp: {os.strerror(ctypes.get_errno())}", file=sys.stderr)
        return 1
    os.execvp(args[0], args)
    return 127


if __name__ == "__main__":
    sys.exit(main())
