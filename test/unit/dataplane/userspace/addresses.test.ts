import { describe, expect, it } from 'vitest';
import { AddressManager, ADDR_METRIC, addLine, delLine, parseAddresses, type CommandResult } from '../../../../src/dataplane/userspace/addresses.js';

// What `ip -j address show` prints (trimmed to the fields we read).
const LISTING = JSON.stringify([
  {
    ifname: 'lo',
    addr_info: [
      { family: 'inet', local: '127.0.0.1', prefixlen: 8, label: 'lo' },
      { family: 'inet', local: '10.96.0.10', prefixlen: 32, label: 'lo:ekp', metric: ADDR_METRIC },
      { family: 'inet', local: '10.96.0.11', prefixlen: 32, label: 'lo:ekp' }, // metric lost: still ours by label
      { family: 'inet', local: '10.9.9.9', prefixlen: 32, label: 'lo' }, // a user's own
      { family: 'inet', local: '10.8.0.0', prefixlen: 24, label: 'lo:ekp', metric: ADDR_METRIC }, // not a host prefix
      { family: 'inet6', local: 'fd00:96::a', prefixlen: 128, metric: ADDR_METRIC },
      { family: 'inet6', local: 'fd00:99::1', prefixlen: 128 },
      { family: 'inet6', local: '::1', prefixlen: 128 },
    ],
  },
  { ifname: 'eth0', addr_info: [{ family: 'inet', local: '192.168.77.11', prefixlen: 24, label: 'eth0', metric: ADDR_METRIC }] },
]);

describe('service addresses on lo', () => {
  it('ours: on lo, a host prefix, and our metric (or our IPv4 label); everything else is someone else\'s', () => {
    const r = parseAddresses(LISTING);
    expect([...r.ours].sort()).toEqual(['10.96.0.10', '10.96.0.11', 'fd00:96::a']);
    expect([...r.others].sort()).toEqual(['10.8.0.0', '10.9.9.9', '127.0.0.1', '192.168.77.11', '::1', 'fd00:99::1']);
  });

  it('links: the subnets of the addresses on devices other than lo', () => {
    expect(parseAddresses(LISTING).links.map((l) => `${l.device} ${l.cidr.text}`)).toEqual(['eth0 192.168.77.0/24']);
  });

  it('add is an idempotent replace; IPv4 scope host (never a source address), IPv6 deprecated and without DAD', () => {
    expect(addLine('10.96.0.10')).toBe(`address replace 10.96.0.10/32 dev lo scope host label lo:ekp metric ${ADDR_METRIC}`);
    expect(addLine('fd00:96::a')).toBe(`address replace fd00:96::a/128 dev lo nodad preferred_lft 0 metric ${ADDR_METRIC}`);
    expect(delLine('fd00:96::a')).toBe('address del fd00:96::a/128 dev lo');
  });

  it('AddressManager: argument arrays and one ip -batch script, never a shell', async () => {
    const calls: { argv: string[]; input?: string }[] = [];
    const m = new AddressManager(async (argv, input): Promise<CommandResult> => {
      calls.push({ argv, ...(input !== undefined ? { input } : {}) });
      return { status: 0, stdout: argv.includes('show') ? LISTING : '', stderr: '' };
    });
    expect((await m.list()).ours.size).toBe(3);
    expect(await m.add(['10.96.0.20', '10.96.0.21'])).toBe('');
    expect(await m.remove([])).toBe('');
    expect(calls).toEqual([
      { argv: ['ip', '-j', 'address', 'show'] },
      { argv: ['ip', '-force', '-batch', '-'], input: `${addLine('10.96.0.20')}\n${addLine('10.96.0.21')}\n` },
    ]);
  });

  it('a failing batch reports ip\'s error text', async () => {
    const m = new AddressManager(async () => ({ status: 1, stdout: '', stderr: 'RTNETLINK answers: Operation not permitted\n' }));
    expect(await m.add(['10.96.0.20'])).toBe('RTNETLINK answers: Operation not permitted');
    await expect(m.list()).rejects.toThrow(/Operation not permitted/);
  });
});
