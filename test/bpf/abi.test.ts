// The TypeScript codec and the C ABI cannot drift: every struct's size and every
// field's offset/size in src/dataplane/ebpf/abi.ts is checked against the BTF of each
// compiled object, every shared constant against bpf/include/ekp_abi.h, and every map's
// key/value size against the loaded object.
import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it as plainIt } from 'vitest';
import {
  ABI_VERSION, BE_F, CFG_F, CT_F, CT_STATE, CT_TYPE, DROP, DROP_MAX, EVENT, EVENT_MAX, LAYOUT, MAP, MAP_DEFAULT_SIZE,
  SCOPE_EXT, SCOPE_INT, SIZE, SRCRANGE_PREFIX_BASE, SVCCIDR_PREFIX_BASE, SVC_F, CT_TIMEOUT_DEFAULT_S, SNAT_PORT_DEFAULT,
  ctMapOf, decodeAddr, encodeAddr, encodeConfig, encodeCtKey, decodeCtKey, encodeSvcKey, decodeSvcKey, type StructName,
} from '../../src/dataplane/ebpf/abi.js';
import { BpfObject, bpfObjectPath, packageRoot } from '../../src/native/index.js';
import { mountPrivateBpffs, type PrivateBpffs } from '../support/bpffs.js';
import { kernelIt } from '../support/capability.js';

const it = kernelIt();
const OBJECTS = ['tc_lb', 'xdp_lb', 'sock_lb', 'xdp_floor', 'tc_floor', 'ct_floor', 'ct_gc', 'tc_lb_noinsert'] as const;

interface BtfType {
  id: number;
  kind: string;
  name: string;
  size?: number;
  type_id?: number;
  nr_elems?: number;
  members?: { name: string; type_id: number; bits_offset: number; bitfield_size?: number }[];
}

function loadBtf(obj: string): Map<number, BtfType> {
  const out = execFileSync('bpftool', ['btf', 'dump', 'file', bpfObjectPath(obj), '-j'], { encoding: 'utf8', maxBuffer: 64 << 20 });
  const types = (JSON.parse(out) as { types: BtfType[] }).types;
  return new Map(types.map((t) => [t.id, t]));
}

function sizeOf(btf: Map<number, BtfType>, id: number): number {
  const t = btf.get(id)!;
  switch (t.kind) {
    case 'TYPEDEF': case 'CONST': case 'VOLATILE': case 'RESTRICT': case 'TYPE_TAG':
      return sizeOf(btf, t.type_id!);
    case 'ARRAY':
      return t.nr_elems! * sizeOf(btf, t.type_id!);
    case 'PTR':
      return 8;
    default:
      if (t.size === undefined) throw new Error(`BTF type ${id} (${t.kind} ${t.name}) has no size`);
      return t.size;
  }
}

function abiHeader(): string {
  return readFileSync(join(packageRoot(), 'bpf', 'include', 'ekp_abi.h'), 'utf8');
}

/** Evaluates the #define NAME value lines of the header (numbers, shifts, strings). */
function headerDefines(): Map<string, number | string> {
  const defs = new Map<string, number | string>();
  for (const m of abiHeader().matchAll(/^#define\s+(EKP_\w+)\s+(.+?)\s*(?:\/\*.*)?$/gm)) {
    const text = m[2]!.trim();
    if (text.startsWith('"')) defs.set(m[1]!, JSON.parse(text) as string);
    else {
      const shift = /^\(1u << (\d+)\)$/.exec(text);
      if (shift) defs.set(m[1]!, 1 << Number(shift[1]));
      else if (/^\d+$/.test(text)) defs.set(m[1]!, Number(text));
    }
  }
  return defs;
}

function headerEnum(name: string): Map<string, number> {
  const body = new RegExp(`enum ${name} \\{([^}]*)\\}`).exec(abiHeader())![1]!;
  return new Map([...body.matchAll(/(EKP_\w+)\s*=\s*(\d+)/g)].map((m) => [m[1]!, Number(m[2])]));
}

describe('ABI: C structs vs the TypeScript codec', () => {
  for (const obj of OBJECTS) {
    it(`${obj}: every struct in BTF matches LAYOUT (size, field offsets and sizes)`, () => {
      const btf = loadBtf(obj);
      const seen: string[] = [];
      for (const t of btf.values()) {
        if ((t.kind !== 'STRUCT' && t.kind !== 'UNION') || !t.name.startsWith('ekp_')) continue;
        const layout = LAYOUT[t.name as StructName];
        expect(layout, `struct ${t.name} has no TypeScript layout`).toBeDefined();
        expect(t.size, `sizeof(${t.name})`).toBe(layout.size);
        const cFields = Object.fromEntries(t.members!.map((m) => [m.name, { offset: m.bits_offset / 8, size: sizeOf(btf, m.type_id) }]));
        expect(cFields, `fields of ${t.name}`).toEqual(layout.fields);
        seen.push(t.name);
      }
      // Every object defines all maps, so all map structs must be present.
      for (const s of ['ekp_svc_key', 'ekp_svc_val', 'ekp_backend_val', 'ekp_ct_key', 'ekp_ct4_key', 'ekp_ct_val', 'ekp_config', 'ekp_counter']) {
        expect(seen).toContain(s);
      }
    });
  }

  plainIt('#define constants and enums equal the TypeScript ones', () => {
    const d = headerDefines();
    expect(d.get('EKP_ABI_VERSION')).toBe(ABI_VERSION);
    const prefixed = (prefix: string, ts: Record<string, number>) => {
      const c = Object.fromEntries([...d].filter(([k]) => k.startsWith(prefix)).map(([k, v]) => [k.slice(prefix.length), v]));
      expect(c, prefix).toEqual(ts);
    };
    prefixed('EKP_SVC_F_', SVC_F);
    prefixed('EKP_BE_F_', BE_F);
    prefixed('EKP_CT_F_', CT_F);
    prefixed('EKP_CT_STATE_', CT_STATE);
    prefixed('EKP_CFG_F_', CFG_F);
    expect({ FWD: d.get('EKP_CT_FWD'), REV: d.get('EKP_CT_REV') }).toEqual(CT_TYPE);
    expect([d.get('EKP_SCOPE_EXT'), d.get('EKP_SCOPE_INT')]).toEqual([SCOPE_EXT, SCOPE_INT]);
    expect(d.get('EKP_SRCRANGE_PREFIX_BASE')).toBe(SRCRANGE_PREFIX_BASE);
    expect(d.get('EKP_SVCCIDR_PREFIX_BASE')).toBe(SVCCIDR_PREFIX_BASE);
    expect({ min: d.get('EKP_SNAT_PORT_MIN_DEFAULT'), max: d.get('EKP_SNAT_PORT_MAX_DEFAULT') }).toEqual(SNAT_PORT_DEFAULT);
    expect({
      syn: d.get('EKP_CT_TIMEOUT_SYN_S'), established: d.get('EKP_CT_TIMEOUT_ESTABLISHED_S'), closing: d.get('EKP_CT_TIMEOUT_CLOSING_S'),
      udp: d.get('EKP_CT_TIMEOUT_UDP_S'), other: d.get('EKP_CT_TIMEOUT_OTHER_S'),
    }).toEqual(CT_TIMEOUT_DEFAULT_S);
    const mapNames = [...d].filter(([k]) => k.startsWith('EKP_MAP_')).map(([, v]) => v).sort();
    expect(mapNames).toEqual(Object.values(MAP).sort());

    const drops = headerEnum('ekp_drop_reason');
    expect(drops.get('EKP_DROP_MAX')).toBe(DROP_MAX);
    drops.delete('EKP_DROP_MAX');
    expect(Object.fromEntries([...drops].map(([k, v]) => [k.slice('EKP_DROP_'.length).toLowerCase(), v]))).toEqual(DROP);
    const events = headerEnum('ekp_event');
    expect(events.get('EKP_EV_MAX')).toBe(EVENT_MAX);
    events.delete('EKP_EV_MAX');
    expect(Object.fromEntries([...events].map(([k, v]) => [k.slice('EKP_EV_'.length).toLowerCase(), v]))).toEqual(EVENT);
  });

  plainIt('address and key codecs round-trip in network byte order', () => {
    expect(encodeAddr('10.96.0.10').toString('hex')).toBe('0a60000a' + '00'.repeat(12));
    expect(encodeAddr('2001:db8::1').toString('hex')).toBe('20010db8000000000000000000000001');
    expect(encodeAddr('::ffff:1.2.3.4').toString('hex')).toBe('00000000000000000000ffff01020304');
    for (const a of ['fd00:10:96::a', '2001:db8:0:1:1:1:1:1', '::', '::1', 'fe80::1:0:0:1']) expect(decodeAddr(encodeAddr(a), 6)).toBe(a);
    const k = encodeSvcKey({ addr: '10.96.0.10', port: 443, proto: 'tcp', scope: 'internal' });
    expect(k.readUInt16BE(16)).toBe(443);
    expect(decodeSvcKey(k)).toEqual({ addr: '10.96.0.10', port: 443, proto: 6, scope: 'internal' });
    const ck = { saddr: 'fd00::1', daddr: 'fd00::2', sport: 1, dport: 65535, proto: 'udp' as const };
    expect(decodeCtKey(encodeCtKey(ck))).toEqual({ ...ck, proto: 17, family: 6 });
    // IPv4 flows have their own map with the short key: addresses, ports, protocol.
    const ck4 = { saddr: '10.244.0.2', daddr: '10.96.0.10', sport: 40000, dport: 80, proto: 'tcp' as const };
    expect(encodeCtKey(ck4).toString('hex')).toBe('0af40002' + '0a60000a' + '9c40' + '0050' + '06' + '000000');
    expect(decodeCtKey(encodeCtKey(ck4))).toEqual({ ...ck4, proto: 6, family: 4 });
    expect([ctMapOf(4), ctMapOf(6)]).toEqual([MAP.ct4, MAP.ct]);
    expect(encodeConfig().length).toBe(SIZE.ekp_config);
  });

  describe('loaded maps', () => {
    let fs: PrivateBpffs | undefined;
    beforeAll(() => { if (process.getuid?.() === 0) fs = mountPrivateBpffs(); });
    afterAll(() => fs?.dispose());

    it('key/value sizes and default sizes of every pinned map match the codec', () => {
      const obj = BpfObject.open(bpfObjectPath('tc_lb'), { pinRoot: fs!.path }).load();
      try {
        const expectSizes: Record<string, [number, number]> = {
          [MAP.svc]: [SIZE.ekp_svc_key, SIZE.ekp_svc_val],
          [MAP.backend]: [4, SIZE.ekp_backend_val],
          [MAP.backendNh]: [4, SIZE.ekp_backend_nh],
          [MAP.slots]: [4, SIZE.ekp_slot_pair],
          [MAP.ct4]: [SIZE.ekp_ct4_key, SIZE.ekp_ct_val],
          [MAP.ct]: [SIZE.ekp_ct_key, SIZE.ekp_ct_val],
          [MAP.affinity]: [SIZE.ekp_affinity_key, SIZE.ekp_affinity_val],
          [MAP.frag]: [SIZE.ekp_frag_key, SIZE.ekp_frag_val],
          [MAP.srcRange]: [SIZE.ekp_srcrange_key, SIZE.ekp_srcrange_val],
          [MAP.sock]: [SIZE.ekp_sock_key, SIZE.ekp_sock_val],
          [MAP.drop]: [4, SIZE.ekp_counter],
          [MAP.event]: [4, SIZE.ekp_counter],
          [MAP.svcStat]: [4, SIZE.ekp_counter],
        };
        for (const [name, [k, v]] of Object.entries(expectSizes)) {
          const m = obj.map(name);
          expect([m.keySize, m.valueSize], name).toEqual([k, v]);
          expect(m.maxEntries, name).toBe(MAP_DEFAULT_SIZE[name as keyof typeof MAP_DEFAULT_SIZE]);
        }
      } finally {
        obj.close();
      }
    });

    it('every object loads with the TypeScript-encoded config and shares the pinned maps', () => {
      for (const name of OBJECTS) {
        const obj = BpfObject.open(bpfObjectPath(name), { pinRoot: fs!.path });
        obj.setRodata('ekp_cfg', encodeConfig({ flags: CFG_F.FROM_PODS, snatV4: '172.18.0.2', snatV6: 'fd00::2' }));
        obj.load();
        obj.close();
      }
    });
  });
});
