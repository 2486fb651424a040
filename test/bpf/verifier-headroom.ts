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
 * Loads tc_lb with each role's config and xdp_lb into pinDir, and checks every program's
 * processed instructions. Returns a line per program, for the test's output.
 */
export function checkVerifierHeadroom(pinDir: string, roles: { wire: Config; host: Config; pods: Config }): string[] {
  const seen: string[] = [];
  for (const [object, role] of [['tc_lb', 'wire'], ['tc_lb', 'host'], ['tc_lb', 'pods'], ['xdp_lb', 'wire']] as const) {
    const obj = BpfObject.open(bpfObjectPath(object), { pinRoot: pinDir }).collectVerifierStats();
    try {
      obj.setRodata(CONFIG_GLOBAL, encodeConfig(roles[role])).load();
      for (const [prog, st] of Object.entries(obj.verifierStats())) {
        // The stack is the verifier's to refuse (a call chain over 512 bytes): only said here.
        const line = `${object} ${role} ${prog}: ${st.insns} instructions, stack ${st.stackDepth.join(' ')} bytes (the program's, then each function's)`;
        seen.push(line);
        expect(st.insns, line).toBeLessThan(HEADROOM_INSNS);
      }
    } finally {
      obj.close();
    }
  }
  // Three tc programs in each of three roles, and XDP's.
  expect(seen.length, seen.join('\n')).toBe(10);
  console.log(`verifier on ${release()}:\n${seen.join('\n')}`);
  return seen;
}
