// unknown → validated v1 Node (name, labels, addresses, podCIDRs).

import type { Node, NodeAddress } from './k8s.js';
import {
  describe,
  guarded,
  isRecord,
  own,
  readArray,
  readCIDR,
  readIP,
  readMetadata,
  readObject,
  type ParseResult,
} from './problem.js';

export function parseNode(obj: unknown): ParseResult<Node> {
  return guarded('Node', () => parseNodeUnguarded(obj));
}

function parseNodeUnguarded(obj: unknown): ParseResult<Node> {
  const m = readMetadata('Node', obj, false);
  if (!m.ok) return m;
  const p = m.read.problems;

  const spec = readObject(own(m.obj, 'spec'), 'spec', p);
  const podCIDRs: string[] = [];
  if (spec) {
    readArray(own(spec, 'podCIDRs'), 'spec.podCIDRs', p).forEach((v, i) => {
      const c = readCIDR(v, `spec.podCIDRs[${i}]`, p);
      if (c !== undefined && !podCIDRs.includes(c)) podCIDRs.push(c);
    });
  }

  const status = readObject(own(m.obj, 'status'), 'status', p);
  const addresses: NodeAddress[] = [];
  if (status) {
    readArray(own(status, 'addresses'), 'status.addresses', p).forEach((item, i) => {
      const f = `status.addresses[${i}]`;
      if (!isRecord(item)) {
        p.add(f, `must be an object, got ${describe(item)}`);
        return;
      }
      const type = own(item, 'type');
      if (typeof type !== 'string' || type === '') {
        p.add(`${f}.type`, `must be a non-empty string, got ${describe(type)}`);
        return;
      }
      // Hostname / InternalDNS / ExternalDNS entries are names, not addresses: nothing to check.
      if (type !== 'InternalIP' && type !== 'ExternalIP') return;
      const address = readIP(own(item, 'address'), `${f}.address`, p);
      if (address !== undefined) addresses.push({ type, address });
    });
  }
  return { ok: true, value: { metadata: m.read.meta, spec: { podCIDRs }, status: { addresses } }, problems: p.list };
}
