// The verifier's headroom for the datapath on this kernel (verifier-headroom.ts).
import { afterAll, beforeAll, describe, expect, it as plainIt } from 'vitest';
import { resolveConfig } from '../../src/config/index.js';
import { CFG_F } from '../../src/dataplane/ebpf/abi.js';
import { programConfigOf } from '../../src/dataplane/ebpf/load-config.js';
import { kernelIt } from '../support/capability.js';
import { mountPrivateBpffs, type PrivateBpffs } from '../support/bpffs.js';
import { V4, V6 } from './fixtures.js';
import { checkVerifierHeadroom, HEADROOM_INSNS, stackAsOn61 } from './verifier-headroom.js';

const it = kernelIt();

describe('verifier headroom', () => {
  let fs: PrivateBpffs | undefined;
  beforeAll(() => { if (process.getuid?.() === 0) fs = mountPrivateBpffs(); });
  afterAll(() => fs?.dispose());

  it(`tc_lb (every role, and its bench-only build without inserts) and xdp_lb verify in under ${HEADROOM_INSNS} instructions, within 6.1's stack`, () => {
    const daemon = programConfigOf(resolveConfig([]), [V4.node, V6.node]);
    const role = (f: number) => ({ ...daemon, flags: (daemon.flags ?? 0) | f });
    checkVerifierHeadroom(fs!.path, { wire: role(0), host: role(CFG_F.FROM_HOST), pods: role(CFG_F.FROM_PODS) });
  });

  plainIt('counts the stack as 6.1 does: frames rounded up to 32 bytes, the program and its largest function', () => {
    expect(stackAsOn61([368, 0, 120, 72])).toBe(384 + 128);
    expect(stackAsOn61([352, 96])).toBe(448);
    expect(stackAsOn61([360])).toBe(384);
    expect(stackAsOn61([369, 0]), "a function without stack still takes 32").toBe(384 + 32);
  });
});
