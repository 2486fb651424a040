// Seeded mutations of real service packets through every datapath program. The table tests
// (malformed.test.ts) pin the damage we thought of; this walks the neighbourhood of each
// packet the datapath translates (bytes set, bits flipped, lengths and versions changed,
// frames cut or padded) and holds every outcome to what no input may break:
// - a packet is changed only if it parses strictly (no truncated or impossible header)
//   and carries nothing we pass untouched (IPv4 options, IPv6 extension headers but a lone
//   fragment header, fragments but a UDP datagram's at tc, whose later ones are never
//   answered);
// - a translated packet differs only in the fields NAT owns (MACs, addresses, ports,
//   checksums, and the same inside an ICMP error's quote), and each checksum is as valid
//   as it came in: an incremental update neither breaks a good sum nor mends a bad one;
// - a reject (a RST, a port unreachable), or an answer to a request tc cannot send on (time
//   exceeded, frag-needed, packet too big), goes back where the input came from, with every
//   checksum right, an ICMP error quoting the input byte for byte, and never about ICMP; a
//   ping's answer too, its checksums as valid as the ping's;
// - under CHECKSUM_COMPLETE (a NIC that sums every packet) skb->csum stays the packet's
//   sum, whatever the program did: the test run fails with EBADMSG when it does not;
// - a translation tc sends on itself (a redirect) takes one hop off its TTL or hop limit,
//   as the stack's forwarding would, and one with no hop to spare is not sent on.
// Each family walks twice: in a namespace with no routes, where tc hands every translation
// to the stack, and in one routed as a node's, where tc's FIB lookup answers and the
// rerouted translations (SNAT, hairpin, replies to external clients) are sent on.
// The walk is in mutations.ts. EKP_MUTATIONS (per seed and family) and EKP_MUTATION_SEED
// widen or move it.
import { afterAll, beforeAll, describe, expect } from 'vitest';
import { kernelIt } from '../support/capability.js';
import { datapathFixture } from './datapath.js';
import { NETS } from './fixtures.js';
import { TestNetns } from '../support/netns.js';
import { bareNetns, checksumCompleteRuns, hookName, HOOKS, mutationWalk, routedNetns, seeds } from './mutations.js';

const it = kernelIt();
const PER_SEED = Number(process.env.EKP_MUTATIONS ?? 300);
const SEED = Number(process.env.EKP_MUTATION_SEED ?? 0x5eed);

describe('mutated packets: nothing malformed is changed, translations touch only NAT fields with checksums as valid as they came', () => {
  const fx = datapathFixture();
  let bare: TestNetns | undefined;
  let routed: ReturnType<typeof routedNetns> | undefined;
  beforeAll(() => {
    if (process.getuid?.() !== 0) return;
    bare = bareNetns();
    routed = routedNetns();
  });
  afterAll(() => {
    bare?.destroy();
    routed?.ns.destroy();
  });

  for (const n of NETS) {
    for (const where of ['unrouted', 'routed'] as const) {
      it(`${n.tag}, ${where}: ${PER_SEED} mutations of each of ${seeds(n).length} packets, through ${HOOKS.length} hooks`, () => {
        const exceededBefore = fx.dp.counters().events.ttl_exceeded;
        const w = where === 'routed'
          ? mutationWalk(fx.dp, n, routed!.hooks(HOOKS), PER_SEED, SEED, routed!.ns.path)
          : mutationWalk(fx.dp, n, HOOKS, PER_SEED, SEED, bare!.path);
        expect(w.failures.join('\n\n'), 'outcomes that break a rule (the first 12)').toBe('');
        // The walk must reach both sides: packets refused, and packets still translated.
        expect(w.untouched, 'seeds no hook translated or answered').toEqual([]);
        expect(HOOKS.filter((h) => !w.tally.changedBy[hookName(h)]).map(hookName), 'hooks that changed no packet').toEqual([]);
        expect(w.mutatedChanged, 'mutated packets translated').toBeGreaterThan(PER_SEED / 4);
        expect(w.tally.runs, 'runs').toBeGreaterThan(seeds(n).length * PER_SEED * 0.8);
        if (checksumCompleteRuns) expect(w.tally.csumComplete).toBeGreaterThan(w.tally.runs / 2);
        const exceeded = fx.dp.counters().events.ttl_exceeded - exceededBefore;
        if (where === 'routed') {
          // And reach the redirects: translations sent on, some with no hop to spare kept back
          // (a request's sender answered, next-hop.test.ts), and some into the host through lo.
          // (300 per seed: ~55-75 of each here.)
          expect(w.tally.sentOn, 'translations sent on').toBeGreaterThan(PER_SEED / 8);
          expect(w.tally.throughLo, 'translations sent in through lo').toBeGreaterThan(PER_SEED / 8);
          expect(exceeded, 'translations with no hop to spare').toBeGreaterThan(0n);
        } else {
          expect(w.tally.sentOn + w.tally.throughLo, 'nothing is redirected where nothing is routed').toBe(0);
        }
      });
    }
  }
});
