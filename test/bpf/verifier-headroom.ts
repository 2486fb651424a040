// How close the verifier is to refusing the datapath: it walks every path of tc_ingress, and
// a change that multiplies them can take it over its limit on one kernel and not another
// (tc_lb_noinsert went over on 6.1 only, with a backend's next hop inlined into it). Run on
// this kernel (verifier-headroom.test.ts) and on the VM's 6.1 (test/e2e/bpf-kernel.test.ts).
import { release } from 'node:os';
import { expect } from 'vitest';
import { CONFIG_GLOBAL, encodeConfig, type Config } from '../../src/dataplane/ebpf/abi.js';
import { BpfObject, bpfObjectPath } from '../../src/native/index.js';

/** Below this many processed instructions of the verifier's 1,000,000: 30 % to spare. */
export const HEADROOM_INSNS = 700_000;

/**
 * The stack a call from the program to its deepest function takes as 6.1's verifier counts
 * it: every frame rounded up to 32 bytes (6.9 and later round to 16 with the JIT on), at
 * most 512 in all. Our functions call no others, so the deepest chain is the program's
 * frame and the largest function's.
 */
export function stackAsOn61(depths: readonly number[]): number {
  const r = (n: number) => Math.ceil(Math.max(n, 1) / 32) * 32;
  const [main = 0, ...fns] = depths;
  return r(main) + (fns.length ? Math.max(...fns.map(r)) : 0);
}

/**
 * Loads tc_lb with each role's config, tc_lb_noinsert (bench only) and xdp_lb into pinDir,
 * and checks every program's processed instructions and, as 6.1 counts it, its stack.
 * Returns a line per program, for the test's output.
 */
export function checkVerifierHeadroom(pinDir: string, roles: { wire: Config; host: Config; pods: Config }): string[] {
  const seen: string[] = [];
  for (const [object, role] of [['tc_lb', 'wire'], ['tc_lb', 'host'], ['tc_lb', 'pods'], ['tc_lb_noinsert', 'wire'], ['xdp_lb', 'wire']] as const) {
    const obj = BpfObject.open(bpfObjectPath(object), { pinRoot: pinDir }).collectVerifierStats();
    try {
      obj.setRodata(CONFIG_GLOBAL, encodeConfig(roles[role])).load();
      for (const [prog, st] of Object.entries(obj.verifierStats())) {
        const line = `${object} ${role} ${prog}: ${st.insns} instructions; stack ${st.stackDepth.join(' ')} bytes ` +
          `(the program's, then each function's), ${stackAsOn61(st.stackDepth)} of 512 as 6.1 counts it`;
        seen.push(line);
        expect(st.insns, line).toBeLessThan(HEADROOM_INSNS);
        expect(stackAsOn61(st.stackDepth), line).toBeLessThanOrEqual(512);
      }
    } finally {
      obj.close();
    }
  }
  // Three tc programs in each of four loads of tc_lb's code, and XDP's.
  expect(seen.length, seen.join('\n')).toBe(13);
  console.log(`verifier on ${release()}:\n${seen.join('\n')}`);
  return seen;
}
