import { describe, expect, it } from 'vitest';
import { resolveConfig } from '../../../src/config/index.js';
import { applyConntrackSysctls, conntrackSysctls, ConntrackSetup, tcpBeLiberal, type SysctlFs } from '../../../src/dataplane/conntrack-sysctls.js';
import { memoryLogger } from '../../../src/observe/index.js';

const configWith = (conntrack: Record<string, unknown>) => resolveConfig(['--config', 'c.yaml'], () => ({ apiVersion: 'kubeproxy.config.k8s.io/v1alpha1', kind: 'KubeProxyConfiguration', conntrack }));

/** /proc/sys and /sys as a map; a path absent is ENOENT, one in `readOnly` refuses writes. */
function fakeFs(files: Record<string, string>, readOnly: string[] = []): SysctlFs & { files: Record<string, string> } {
  return {
    files,
    read(p) {
      if (!(p in files)) throw Object.assign(new Error(`ENOENT: ${p}`), { code: 'ENOENT' });
      return `${files[p]}\n`;
    },
    write(p, v) {
      if (readOnly.includes(p)) throw Object.assign(new Error('EACCES: permission denied'), { code: 'EACCES' });
      files[p] = v;
    },
  };
}

const NF = '/proc/sys/net/netfilter';
const kernelDefaults = () => ({
  [`${NF}/nf_conntrack_max`]: '65536',
  [`${NF}/nf_conntrack_tcp_timeout_established`]: '432000',
  [`${NF}/nf_conntrack_tcp_timeout_close_wait`]: '60',
  [`${NF}/nf_conntrack_tcp_be_liberal`]: '0',
  [`${NF}/nf_conntrack_udp_timeout`]: '30',
  [`${NF}/nf_conntrack_udp_timeout_stream`]: '120',
  '/sys/module/nf_conntrack/parameters/hashsize': '16384',
});

describe('conntrack sysctls, as kube-proxy sets them for the netfilter modes', () => {
  it('defaults: the table size, 24 h established, 1 h CLOSE_WAIT; UDP and be_liberal left to the kernel', () => {
    const c = configWith({ min: 262_144 });
    expect(conntrackSysctls(c)).toEqual({
      nf_conntrack_max: 262_144, nf_conntrack_tcp_timeout_established: 86_400, nf_conntrack_tcp_timeout_close_wait: 3600,
    });
  });

  it('every setting given; maxPerCore 0 leaves the table size alone', () => {
    const c = configWith({ maxPerCore: 0, tcpEstablishedTimeout: '2h', tcpCloseWaitTimeout: '30m', tcpBeLiberal: true, udpTimeout: '45s', udpStreamTimeout: '3m' });
    expect(conntrackSysctls(c)).toEqual({
      nf_conntrack_tcp_timeout_established: 7200, nf_conntrack_tcp_timeout_close_wait: 1800, nf_conntrack_tcp_be_liberal: 1,
      nf_conntrack_udp_timeout: 45, nf_conntrack_udp_timeout_stream: 180,
    });
    expect(tcpBeLiberal(c, fakeFs({}))).toBe(true);
  });

  it('writes what differs, and grows the hash buckets to a quarter of the table it set', () => {
    const fs = fakeFs(kernelDefaults());
    expect(applyConntrackSysctls(configWith({ min: 262_144 }), fs)).toEqual({ missing: false, problems: [] });
    expect(fs.files[`${NF}/nf_conntrack_max`]).toBe('262144');
    expect(fs.files[`${NF}/nf_conntrack_tcp_timeout_established`]).toBe('86400');
    expect(fs.files[`${NF}/nf_conntrack_tcp_timeout_close_wait`]).toBe('3600');
    expect(fs.files['/sys/module/nf_conntrack/parameters/hashsize']).toBe('65536');
    expect(fs.files[`${NF}/nf_conntrack_udp_timeout`]).toBe('30');
  });

  it('a table size it may not set (not the host\'s namespace, a read-only /proc): named, and the buckets left alone', () => {
    const fs = fakeFs(kernelDefaults(), [`${NF}/nf_conntrack_max`]);
    const r = applyConntrackSysctls(configWith({ min: 262_144 }), fs);
    expect(r).toEqual({ missing: false, problems: [expect.stringMatching(/nf_conntrack_max: cannot set 262144, it stays 65536: EACCES.*conntrack\.maxPerCore: 0 leaves it alone/)] });
    expect(fs.files['/sys/module/nf_conntrack/parameters/hashsize']).toBe('16384');
    expect(fs.files[`${NF}/nf_conntrack_tcp_timeout_established`]).toBe('86400');
  });

  it('nf_conntrack not loaded yet: tried again after the first sync, once; then said', () => {
    const fs = fakeFs({});
    const log = memoryLogger();
    const setup = new ConntrackSetup(configWith({}), log, fs);
    setup.apply();
    expect(log.lines).toEqual([]);
    Object.assign(fs.files, kernelDefaults());
    setup.apply();
    expect(fs.files[`${NF}/nf_conntrack_tcp_timeout_close_wait`]).toBe('3600');
    fs.files[`${NF}/nf_conntrack_tcp_timeout_close_wait`] = '60';
    setup.apply();
    expect(fs.files[`${NF}/nf_conntrack_tcp_timeout_close_wait`]).toBe('60');

    const never = new ConntrackSetup(configWith({}), log, fakeFs({}));
    never.apply();
    never.apply();
    never.apply();
    expect(log.lines.map((l) => l.msg)).toEqual(['nf_conntrack is not loaded: the conntrack settings were not applied']);
  });

  it('TCP timeouts given as 0s leave the kernel\'s (kube-proxy sets them only when > 0)', () => {
    expect(conntrackSysctls(configWith({ min: 262_144, tcpEstablishedTimeout: '0s', tcpCloseWaitTimeout: '0s' }))).toEqual({ nf_conntrack_max: 262_144 });
  });

  it('a table size already as wanted: the buckets still grow to a quarter of it, as kube-proxy\'s SetMax does', () => {
    const fs = fakeFs({ ...kernelDefaults(), [`${NF}/nf_conntrack_max`]: '262144' });
    expect(applyConntrackSysctls(configWith({ min: 262_144 }), fs)).toEqual({ missing: false, problems: [] });
    expect(fs.files['/sys/module/nf_conntrack/parameters/hashsize']).toBe('65536');
  });

  it('a table size as wanted but not writable here (another namespace reads the host\'s): buckets left alone, nothing said', () => {
    const fs = fakeFs({ ...kernelDefaults(), [`${NF}/nf_conntrack_max`]: '262144' }, [`${NF}/nf_conntrack_max`]);
    expect(applyConntrackSysctls(configWith({ min: 262_144 }), fs)).toEqual({ missing: false, problems: [] });
    expect(fs.files['/sys/module/nf_conntrack/parameters/hashsize']).toBe('16384');
  });

  it('be_liberal set on the host by hand counts too (no INVALID drop then)', () => {
    expect(tcpBeLiberal(configWith({}), fakeFs({ [`${NF}/nf_conntrack_tcp_be_liberal`]: '1' }))).toBe(true);
    expect(tcpBeLiberal(configWith({}), fakeFs({ [`${NF}/nf_conntrack_tcp_be_liberal`]: '0' }))).toBe(false);
  });
});
