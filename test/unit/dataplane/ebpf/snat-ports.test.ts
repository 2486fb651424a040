import { describe, expect, it } from 'vitest';
import { snatOverlap } from '../../../../src/dataplane/ebpf/snat-ports.js';

describe('SNAT ports against ip_local_port_range', () => {
  it('Linux\'s default range ends below ours: nothing to say', () => {
    expect(snatOverlap('32768\t60999\n', 61000, 65000)).toBeNull();
  });

  it('a widened range overlaps: the warning names both ranges and the ways out', () => {
    expect(snatOverlap('1024\t65535\n', 61000, 65000)).toMatch(/ip_local_port_range 1024-65535 overlaps the SNAT ports 61000-65000.*below 61000.*ip_local_reserved_ports/);
    expect(snatOverlap('62000 62001', 61000, 65000)).not.toBeNull();
  });

  it('text that is not a range says nothing', () => {
    expect(snatOverlap('', 61000, 65000)).toBeNull();
  });
});
