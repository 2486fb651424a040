// Seeded mutations of real service packets through every datapath program. The table tests
// (malformed.test.ts) pin the damage we thought of; this walks the neighbourhood of each
// packet the datapath translates (bytes set, bits flipped, lengths and versions changed,
// frames cut or padded) and holds every outcome to what no input may break:
// - a packet is changed only if it parses strictly (no truncated or impossible header)
//   and carries nothing we pass untouched (IPv4 options, fragments, IPv6 extension headers);
// - a translated packet differs only in the fields NAT owns (MACs, addresses, ports,
//   checksums, and the same inside an ICMP error's quote), and each checksum is as valid
//   as it came in: an incremental update neither breaks a good sum nor mends a bad one;
// - a reject (a RST, a port unreachable) goes back where the input came from, with every
//   checksum right; a ping's answer too, its checksums as valid as the ping's;
// - under CHECKSUM_COMPLETE (a NIC that sums every packet) skb->csum stays the packet's
//   sum, whatever the program did: the test run fails with EBADMSG when it does not.
// The walk is in mutations.ts. EKP_MUTATIONS (per seed and family) and EKP_MUTATION_SEED
// widen or move it.
import { describe, expect } from 'vitest';
import { kernelIt } from '../support/capability.js';
import { datapathFixture } from './datapath.js';
import { NETS } from './fixtures.js';
import { checksumCompleteRuns, hookName, HOOKS, mutationWalk, seeds } from './mutations.js';

const it = kernelIt();
const PER_SEED = Number(process.env.EKP_MUTATIONS ?? 300);
const SEED = Number(process.env.EKP_MUTATION_SEED ?? 0x5eed);

describe('mutated packets: nothing malformed is changed, translations touch only NAT fields with checksums as valid as they came', () => {
  const fx = datapathFixture();

  for (const n of NETS) {
    it(`${n.tag}: ${PER_SEED} mutations of each of ${seeds(n).length} packets, through ${HOOKS.length} hooks`, () => {
      const w = mutationWalk(fx.dp, n, HOOKS, PER_SEED, SEED);
      expect(w.failures.join('\n\n'), 'outcomes that break a rule (the first 12)').toBe('');
      // The walk must reach both sides: packets refused, and packets still translated.
      expect(w.untouched, 'seeds no hook translated or answered').toEqual([]);
      expect(HOOKS.filter((h) => !w.tally.changedBy[hookName(h)]).map(hookName), 'hooks that changed no packet').toEqual([]);
      expect(w.mutatedChanged, 'mutated packets translated').toBeGreaterThan(PER_SEED / 4);
      expect(w.tally.runs, 'runs').toBeGreaterThan(seeds(n).length * PER_SEED * 0.8);
      if (checksumCompleteRuns) expect(w.tally.csumComplete).toBeGreaterThan(w.tally.runs / 2);
    });
  }
});
