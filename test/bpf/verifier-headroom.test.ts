// The verifier's headroom for the datapath on this kernel (verifier-headroom.ts).
import { afterAll, beforeAll, describe } from 'vitest';
import { resolveConfig } from '../../src/config/index.js';
import { CFG_F } from '../../src/dataplane/ebpf/abi.js';
import { programConfigOf } from '../../src/dataplane/ebpf/load-config.js';
import { kernelIt } from '../support/capability.js';
import { mountPrivateBpffs, type PrivateBpffs } from '../support/bpffs.js';
import { V4, V6 } from './fixtures.js';
import { checkVerifierHeadroom, HEADROOM_INSNS } from './verifier-headroom.js';

const it = kernelIt();

describe('verifier headroom', () => {
  let fs: PrivateBpffs | undefined;
  beforeAll(() => { if (process.getuid?.() === 0) fs = mountPrivateBpffs(); });
  afterAll(() => fs?.dispose());

  it(`tc_lb and xdp_lb, with the daemon's config in every role, each verify in under ${HEADROOM_INSNS} instructions`, () => {
    const daemon = programConfigOf(resolveConfig([]), [V4.node, V6.node]);
    const role = (f: number) => ({ ...daemon, flags: (daemon.flags ?? 0) | f });
    checkVerifierHeadroom(fs!.path, { wire: role(0), host: role(CFG_F.FROM_HOST), pods: role(CFG_F.FROM_PODS) });
  });
});
