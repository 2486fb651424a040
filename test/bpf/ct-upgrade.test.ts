// An IPv4 flow in the conntrack layout of the previous datapath (ekp_ct_v1, long key
// with family 4) is moved into ekp_ct4_v1 and keeps its translation.
import { afterAll, beforeAll, describe, expect } from 'vitest';
import { CT_STATE, CT_TYPE, LAYOUT, MAP, SIZE, encodeAddr, encodeCtKey, encodeCtVal } from '../../src/dataplane/ebpf/abi.js';
import { adoptPreviousFlows, carryFlows, moveIpv4Flows } from '../../src/dataplane/ebpf/ct-upgrade.js';
import { loadDatapath, type MapSizes } from '../../src/dataplane/ebpf/loader.js';
import { createLogger } from '../../src/observe/index.js';
import { mountPrivateBpffs, type PrivateBpffs } from '../support/bpffs.js';
import { kernelIt } from '../support/capability.js';
import { buildPacket, parsePacket } from '../support/packet.js';
import { Datapath, TC } from './datapath.js';
import { FROM_PODS } from './fixtures.js';

const it = kernelIt();

/** struct ekp_ct_key with family 4, as the datapath before ekp_ct4_v1 wrote IPv4 flows. */
function legacyKey(saddr: string, daddr: string, sport: number, dport: number): Buffer {
  const f = LAYOUT.ekp_ct_key.fields;
  const b = Buffer.alloc(SIZE.ekp_ct_key);
  encodeAddr(saddr).copy(b, f.saddr.offset);
  encodeAddr(daddr).copy(b, f.daddr.offset);
  b.writeUInt16BE(sport, f.sport.offset);
  b.writeUInt16BE(dport, f.dport.offset);
  b.writeUInt8(6, f.proto.offset);
  b.writeUInt8(4, f.family.offset);
  return b;
}

describe('conntrack upgrade: IPv4 flows move to their own map', () => {
  let fs: PrivateBpffs;
  beforeAll(() => { fs = mountPrivateBpffs(); });
  afterAll(() => fs?.dispose());

  it('moves IPv4 entries, leaves IPv6 ones, and the moved flow is still translated', () => {
    const dp = new Datapath(fs.path);
    try {
      const ct = dp.map(MAP.ct);
      const ct4 = dp.map(MAP.ct4);
      const live = 1n << 62n;
      ct.update(legacyKey('10.244.0.2', '10.96.0.10', 40000, 80), encodeCtVal({
        expiresNs: live, addr: '10.244.1.5', addr2: null, port: 8080, port2: 0, svcId: 5, backendId: 1,
        type: CT_TYPE.FWD, state: CT_STATE.ESTABLISHED, flags: 0, tcpFlagsSeen: 0x12,
      }));
      const v6Key = encodeCtKey({ saddr: 'fd00::2', daddr: 'fd00:96::a', sport: 40000, dport: 80, proto: 'tcp' });
      ct.update(v6Key, encodeCtVal({
        expiresNs: live, addr: 'fd00::5', addr2: null, port: 8080, port2: 0, svcId: 6, backendId: 2,
        type: CT_TYPE.FWD, state: CT_STATE.ESTABLISHED, flags: 0, tcpFlagsSeen: 0x12,
      }));
      expect(moveIpv4Flows(ct, ct4)).toBe(1);
      expect([...ct.keys()]).toEqual([v6Key]);
      expect([...ct4.keys()]).toEqual([encodeCtKey({ saddr: '10.244.0.2', daddr: '10.96.0.10', sport: 40000, dport: 80, proto: 'tcp' })]);
      expect(moveIpv4Flows(ct, ct4)).toBe(0);

      // No service is configured: only the moved conntrack entry can translate this packet.
      const ack = buildPacket({ src: '10.244.0.2', dst: '10.96.0.10', proto: 'tcp', sport: 40000, dport: 80, tcpFlags: { ack: true } });
      const before = dp.counters().events.ct_hit_fwd;
      const r = dp.program('tc_ingress', FROM_PODS).testRun({ data: ack });
      expect(r.retval).toBe(TC.pass);
      expect(parsePacket(r.data)).toMatchObject({ dst: '10.244.1.5', dport: 8080, ipChecksumOk: true, l4ChecksumOk: true });
      expect(dp.counters().events.ct_hit_fwd - before).toBe(1n);
    } finally {
      dp.close();
    }
  });

  it('a conntrack map of another size is recreated and its flows carried over, both families', () => {
    const pinDir = `${fs.path}/resize`;
    const sizes = (ct: number): MapSizes => ({ svc: 1024, svcStat: 256, backend: 1024, slots: 4096, ct, affinity: 1024, srcRange: 64, sock: 1024 });
    const warnings: string[] = [];
    const log = createLogger({ format: 'json', verbosity: 0, write: (line: string) => warnings.push(line) });
    const fwd = (addr: string) => encodeCtVal({
      expiresNs: 1n << 62n, addr, addr2: null, port: 8080, port2: 0, svcId: 5, backendId: 1,
      type: CT_TYPE.FWD, state: CT_STATE.ESTABLISHED, flags: 0, tcpFlagsSeen: 0x12,
    });
    const k4 = encodeCtKey({ saddr: '10.244.0.2', daddr: '10.96.0.10', sport: 40000, dport: 80, proto: 'tcp' });
    const k6 = encodeCtKey({ saddr: 'fd00::2', daddr: 'fd00:96::a', sport: 40000, dport: 80, proto: 'tcp' });

    const old = loadDatapath({ pinDir, config: {}, sizes: sizes(1024), log });
    old.maps.ct4.update(k4, fwd('10.244.1.5'));
    old.maps.ct.update(k6, fwd('fd00::5'));
    expect(old.resizedCt).toEqual([]);
    old.close();

    const next = loadDatapath({ pinDir, config: {}, sizes: sizes(4096), log });
    try {
      expect(next.resizedCt).toHaveLength(2);
      expect(next.maps.ct4.maxEntries).toBe(4096);
      expect(next.maps.ct4.lookup(k4), 'not carried yet').toBeNull();
      expect(carryFlows(next.resizedCt, next.maps)).toBe(2);
      expect(next.maps.ct4.lookup(k4)).toEqual(fwd('10.244.1.5'));
      expect(next.maps.ct.lookup(k6)).toEqual(fwd('fd00::5'));
      expect(warnings.some((w) => w.includes('pinned map has another size') && w.includes(MAP.ct4))).toBe(true);
    } finally {
      next.close();
    }
  });

  it('an IPv6 map of a release before ekp_ct4_v1, resized as well: its IPv4 flows still reach ekp_ct4_v1', () => {
    const pinDir = `${fs.path}/resize-legacy`;
    const sizes = (ct: number): MapSizes => ({ svc: 1024, svcStat: 256, backend: 1024, slots: 4096, ct, affinity: 1024, srcRange: 64, sock: 1024 });
    const log = createLogger({ format: 'json', verbosity: 0, write: () => {} });
    const val = encodeCtVal({
      expiresNs: 1n << 62n, addr: '10.244.1.5', addr2: null, port: 8080, port2: 0, svcId: 5, backendId: 1,
      type: CT_TYPE.FWD, state: CT_STATE.ESTABLISHED, flags: 0, tcpFlagsSeen: 0x12,
    });
    const old = loadDatapath({ pinDir, config: {}, sizes: sizes(1024), log });
    old.maps.ct.update(legacyKey('10.244.0.2', '10.96.0.10', 40001, 80), val);
    old.close();

    const next = loadDatapath({ pinDir, config: {}, sizes: sizes(4096), log });
    try {
      expect(adoptPreviousFlows(next.resizedCt, next.maps)).toEqual({ carried: 1, moved: 1 });
      expect(next.maps.ct4.lookup(encodeCtKey({ saddr: '10.244.0.2', daddr: '10.96.0.10', sport: 40001, dport: 80, proto: 'tcp' }))).toEqual(val);
      expect([...next.maps.ct.keys()]).toEqual([]);
    } finally {
      next.close();
    }
  });
});
