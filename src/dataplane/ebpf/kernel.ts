// Program flags for kernel features newer than what the datapath needs to run at all.
// The version is enough here: a kernel at least this new has the feature, and an older
// one (or a backport we cannot see) just goes without it.
import { release } from 'node:os';
import { CFG_F } from './abi.js';

/** Whether a `uname -r` release is at least major.minor; false when it cannot be read. */
export function kernelAtLeast(major: number, minor: number, rel: string = release()): boolean {
  const m = /^(\d+)\.(\d+)/.exec(rel);
  if (!m) return false;
  const [maj, min] = [Number(m[1]), Number(m[2])];
  return maj > major || (maj === major && min >= minor);
}

/** EKP_CFG_F_* flags the running kernel allows. */
export function kernelConfigFlags(rel: string = release()): number {
  // bpf_cast_to_kern_ctx (6.2): bpf/lib/skb_csum.h. The kfunc is declared weak, so an older
  // kernel loads the program, where this flag keeps the call in a branch the verifier drops.
  return kernelAtLeast(6, 2, rel) ? CFG_F.KERN_CTX : 0;
}
