// Flows of an earlier datapath survive the upgrade: those of the layout-v1 maps (no next
// hop in the value; IPv4 under the long key in a release before ekp_ct4_v1) move into the
// v2 maps and keep their translation, and resized maps carry theirs.
import { execFileSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect } from 'vitest';
import { CT_STATE, CT_TYPE, LAYOUT, MAP, SIZE, encodeAddr, encodeCtKey, encodeCtVal } from '../../src/dataplane/ebpf/abi.js';
import { V1_VALUE_SIZE, adoptPreviousFlows, carryFlows, moveV1Flows } from '../../src/dataplane/ebpf/ct-upgrade.js';
import { loadDatapath, type MapSizes } from '../../src/dataplane/ebpf/loader.js';
import { BpfMap } from '../../src/native/index.js';
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

/** A pinned conntrack map of layout v1, as the previous datapath left it. */
function v1Map(pinDir: string, name: string, keySize: number): BpfMap {
  const path = join(pinDir, name);
  execFileSync('bpftool', ['map', 'create', path, 'type', 'lru_hash', 'key', String(keySize), 'value', String(V1_VALUE_SIZE), 'entries', '64', 'name', name]);
  return BpfMap.openPinned(path);
}

/** A v1 value: the v2 encoding without the next hop. */
const v1 = (v: Buffer): Buffer => v.subarray(0, V1_VALUE_SIZE);

describe('conntrack upgrade: earlier layouts and sizes', () => {
  let fs: PrivateBpffs;
  beforeAll(() => { fs = mountPrivateBpffs(); });
  afterAll(() => fs?.dispose());

  it('moves the flows of the v1 maps (IPv4 under both keys, IPv6) into v2, unpins them, and a moved flow is still translated', () => {
    const dp = new Datapath(fs.path);
    try {
      const ct = dp.map(MAP.ct);
      const ct4 = dp.map(MAP.ct4);
      const live = 1n << 62n;
      const val = (addr: string, svcId: number) => encodeCtVal({
        expiresNs: live, addr, addr2: null, port: 8080, port2: 0, svcId, backendId: 1,
        type: CT_TYPE.FWD, state: CT_STATE.ESTABLISHED, flags: 0, tcpFlagsSeen: 0x12,
      });
      const old4 = v1Map(fs.path, 'ekp_ct4_v1', SIZE.ekp_ct4_key);
      const old6 = v1Map(fs.path, 'ekp_ct_v1', SIZE.ekp_ct_key);
      const short = encodeCtKey({ saddr: '10.244.0.3', daddr: '10.96.0.11', sport: 40002, dport: 80, proto: 'tcp' });
      const v6Key = encodeCtKey({ saddr: 'fd00::2', daddr: 'fd00:96::a', sport: 40000, dport: 80, proto: 'tcp' });
      const taken = encodeCtKey({ saddr: '10.244.0.4', daddr: '10.96.0.12', sport: 40003, dport: 80, proto: 'tcp' });
      old4.update(short, v1(val('10.244.1.6', 7)));
      old4.update(taken, v1(val('10.244.1.7', 8)));
      old6.update(legacyKey('10.244.0.2', '10.96.0.10', 40000, 80), v1(val('10.244.1.5', 5)));
      old6.update(v6Key, v1(val('fd00::5', 6)));
      old4.close();
      old6.close();
      ct4.update(taken, val('10.244.1.9', 9)); // written by the new programs meanwhile: it wins

      expect(moveV1Flows(fs.path, { ct, ct4 }, false)).toBe(3);
      expect(existsSync(join(fs.path, 'ekp_ct4_v1')) && existsSync(join(fs.path, 'ekp_ct_v1')), 'first pass: v1 kept').toBe(true);
      // The old programs, still attached, open another flow; the second pass takes it and unpins v1.
      const late = encodeCtKey({ saddr: '10.244.0.5', daddr: '10.96.0.13', sport: 40005, dport: 80, proto: 'tcp' });
      const old4again = BpfMap.openPinned(join(fs.path, 'ekp_ct4_v1'));
      old4again.update(late, v1(val('10.244.1.10', 10)));
      old4again.close();
      expect(moveV1Flows(fs.path, { ct, ct4 }, true)).toBe(1);
      expect(ct4.lookup(late)).toEqual(val('10.244.1.10', 10));
      expect(existsSync(join(fs.path, 'ekp_ct4_v1')) || existsSync(join(fs.path, 'ekp_ct_v1')), 'second pass: v1 unpinned').toBe(false);
      const long4 = encodeCtKey({ saddr: '10.244.0.2', daddr: '10.96.0.10', sport: 40000, dport: 80, proto: 'tcp' });
      expect(ct4.lookup(long4)).toEqual(val('10.244.1.5', 5));
      expect(ct4.lookup(short)).toEqual(val('10.244.1.6', 7));
      expect(ct4.lookup(taken)).toEqual(val('10.244.1.9', 9));
      expect([...ct.keys()]).toEqual([v6Key]);
      expect(ct.lookup(v6Key)).toEqual(val('fd00::5', 6));
      expect(moveV1Flows(fs.path, { ct, ct4 }, true)).toBe(0);

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

  it('a conntrack map of another size is recreated and its flows carried over, both families', async () => {
    const pinDir = `${fs.path}/resize`;
    const sizes = (ct: number): MapSizes => ({ svc: 1024, svcStat: 256, backend: 1024, slots: 4096, ct, affinity: 1024, srcRange: 64, sock: 1024, vip: 256 });
    const warnings: string[] = [];
    const log = createLogger({ format: 'json', verbosity: 0, write: (line: string) => warnings.push(line) });
    const fwd = (addr: string) => encodeCtVal({
      expiresNs: 1n << 62n, addr, addr2: null, port: 8080, port2: 0, svcId: 5, backendId: 1,
      type: CT_TYPE.FWD, state: CT_STATE.ESTABLISHED, flags: 0, tcpFlagsSeen: 0x12,
    });
    const k4 = encodeCtKey({ saddr: '10.244.0.2', daddr: '10.96.0.10', sport: 40000, dport: 80, proto: 'tcp' });
    const k6 = encodeCtKey({ saddr: 'fd00::2', daddr: 'fd00:96::a', sport: 40000, dport: 80, proto: 'tcp' });

    const old = await loadDatapath({ pinDir, config: {}, sizes: sizes(1024), log });
    old.maps.ct4.update(k4, fwd('10.244.1.5'));
    old.maps.ct.update(k6, fwd('fd00::5'));
    expect(old.resizedCt).toEqual([]);
    old.close();

    const next = await loadDatapath({ pinDir, config: {}, sizes: sizes(4096), log });
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

  it('v1 maps and resized v2 maps at one start: both carried (adoptPreviousFlows)', async () => {
    const pinDir = `${fs.path}/resize-v1`;
    const sizes = (ct: number): MapSizes => ({ svc: 1024, svcStat: 256, backend: 1024, slots: 4096, ct, affinity: 1024, srcRange: 64, sock: 1024, vip: 256 });
    const log = createLogger({ format: 'json', verbosity: 0, write: () => {} });
    const val = (addr: string) => encodeCtVal({
      expiresNs: 1n << 62n, addr, addr2: null, port: 8080, port2: 0, svcId: 5, backendId: 1,
      type: CT_TYPE.FWD, state: CT_STATE.ESTABLISHED, flags: 0, tcpFlagsSeen: 0x12,
    });
    const k2 = encodeCtKey({ saddr: '10.244.0.8', daddr: '10.96.0.10', sport: 40008, dport: 80, proto: 'tcp' });
    const old = await loadDatapath({ pinDir, config: {}, sizes: sizes(1024), log });
    old.maps.ct4.update(k2, val('10.244.1.8'));
    old.close();
    const legacy = v1Map(pinDir, 'ekp_ct_v1', SIZE.ekp_ct_key);
    legacy.update(legacyKey('10.244.0.2', '10.96.0.10', 40001, 80), v1(val('10.244.1.5')));
    legacy.close();

    const next = await loadDatapath({ pinDir, config: {}, sizes: sizes(4096), log });
    try {
      expect(adoptPreviousFlows(pinDir, next.resizedCt, next.maps)).toEqual({ carried: 1, moved: 1 });
      expect(next.maps.ct4.lookup(encodeCtKey({ saddr: '10.244.0.2', daddr: '10.96.0.10', sport: 40001, dport: 80, proto: 'tcp' }))).toEqual(val('10.244.1.5'));
      expect(next.maps.ct4.lookup(k2)).toEqual(val('10.244.1.8'));
      expect([...next.maps.ct.keys()]).toEqual([]);
    } finally {
      next.close();
    }
  });
});
