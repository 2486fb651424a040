import { describe, expect, it } from 'vitest';
import { cidrContains, compareIPs, parseCIDR, parseIP } from '../../../src/model/ip.js';

describe('parseIP', () => {
  it.each([
    { input: '10.0.0.1', family: 4, text: '10.0.0.1' },
    { input: '010.000.0.1', family: 4, text: '10.0.0.1' }, // decimal, like netutils.ParseIPSloppy
    { input: '255.255.255.255', family: 4, text: '255.255.255.255' },
    { input: '2001:DB8::1', family: 6, text: '2001:db8::1' },
    { input: '2001:0db8:0000:0000:0000:0000:0000:0001', family: 6, text: '2001:db8::1' },
    { input: '::', family: 6, text: '::' },
    { input: '::1', family: 6, text: '::1' },
    { input: '1::', family: 6, text: '1::' },
    { input: '2001:db8:0:0:1:0:0:1', family: 6, text: '2001:db8::1:0:0:1' },
    { input: '2001:db8::1:2:3:4:5', family: 6, text: '2001:db8:0:1:2:3:4:5' }, // a lone zero group is not compressed,
    { input: '64:ff9b::1.2.3.4', family: 6, text: '64:ff9b::102:304' },
  ])('$input → $text', ({ input, family, text }) => {
    const r = parseIP(input);
    expect(r).toEqual({ ok: true, ip: expect.objectContaining({ family, text }) });
  });

  it.each(['', '1.2.3', '1.2.3.4.5', '256.1.1.1', '1.2.3.-1', ' 1.2.3.4', '1.2.3.4 ', 'a.b.c.d', '1:2:3:4:5:6:7:8:9', '1::2::3', 'fe80::1%eth0', '12345::', '::ffff:1.2.3.4', '::ffff:102:304', '1.2.3.4/32', 'x'.repeat(100)])(
    'rejects %j',
    (input) => {
      expect(parseIP(input).ok).toBe(false);
    },
  );
});

describe('parseCIDR', () => {
  it.each([
    { input: '10.0.0.0/8', text: '10.0.0.0/8' },
    { input: '10.1.2.3/8', text: '10.0.0.0/8' }, // host bits cleared, as ParseCIDRSloppy
    { input: '10.1.2.3/32', text: '10.1.2.3/32' },
    { input: '0.0.0.0/0', text: '0.0.0.0/0' },
    { input: '10.1.255.3/20', text: '10.1.240.0/20' },
    { input: 'fd00:1::5/64', text: 'fd00:1::/64' },
    { input: '::/0', text: '::/0' },
  ])('$input → $text', ({ input, text }) => {
    const r = parseCIDR(input);
    expect(r.ok && r.cidr.text).toBe(text);
  });

  it.each(['10.0.0.0', '10.0.0.0/33', '10.0.0.0/-1', '10.0.0.0/', 'fd00::/129', '/8', '10.0.0.0/8/8', '10.0.0.0/0x8'])('rejects %j', (input) => {
    expect(parseCIDR(input).ok).toBe(false);
  });

  it.each([
    { cidr: '10.244.0.0/16', ip: '10.244.3.4', inside: true },
    { cidr: '10.244.0.0/16', ip: '10.245.0.1', inside: false },
    { cidr: '10.1.240.0/20', ip: '10.1.255.255', inside: true },
    { cidr: '0.0.0.0/0', ip: '1.2.3.4', inside: true },
    { cidr: '0.0.0.0/0', ip: '::1', inside: false },
    { cidr: 'fd00::/8', ip: 'fd12::1', inside: true },
    { cidr: 'fd00::/8', ip: 'fe00::1', inside: false },
  ])('$cidr contains $ip: $inside', ({ cidr, ip, inside }) => {
    const c = parseCIDR(cidr);
    const i = parseIP(ip);
    if (!c.ok || !i.ok) throw new Error('fixture');
    expect(cidrContains(c.cidr, i.ip)).toBe(inside);
  });
});

it('compareIPs orders IPv4 before IPv6, numerically', () => {
  const ips = ['fd00::2', '10.0.0.10', '10.0.0.9', 'fd00::1', '9.0.0.1'];
  expect([...ips].sort(compareIPs)).toEqual(['9.0.0.1', '10.0.0.9', '10.0.0.10', 'fd00::1', 'fd00::2']);
});
