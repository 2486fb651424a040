// `conntrack -L` lines as conntrack-tools 1.4.7 (Debian 12) printed them on Linux 6.18, with and
// without -o extended, accounting, timestamps, marks and zones.
import { describe, expect, it } from 'vitest';
import { parseConntrackLine, parseConntrackList } from '../../../src/dataplane/conntrack-list.js';

const NATED = 'udp      17 119 src=10.244.9.9 dst=10.96.0.53 sport=40000 dport=53 [UNREPLIED] src=10.244.1.1 dst=10.244.9.9 sport=5353 dport=40000 [ASSURED] mark=0 use=1';
const expected = {
  family: 4,
  orig: { src: '10.244.9.9', dst: '10.96.0.53', sport: 40000, dport: 53 },
  reply: { src: '10.244.1.1', dst: '10.244.9.9', sport: 5353, dport: 40000 },
};

describe('conntrack -L lines', () => {
  it('the two tuples of a UDP entry, flags and extras aside', () => {
    expect(parseConntrackLine(NATED)).toEqual(expected);
    // -o extended (and id): the layer 3 name and number first.
    expect(parseConntrackLine(`ipv4     2 ${NATED} id=1223209489`)).toEqual(expected);
    // An un-NATed entry in a zone, with a mark: the reply comes from the VIP itself.
    expect(parseConntrackLine('udp      17 119 src=10.244.9.9 dst=10.96.0.54 sport=40001 dport=53 [UNREPLIED] src=10.96.0.54 dst=10.244.9.9 sport=53 dport=40001 mark=16384 zone=3 use=1'))
      .toEqual({ family: 4, orig: { src: '10.244.9.9', dst: '10.96.0.54', sport: 40001, dport: 53 }, reply: { src: '10.96.0.54', dst: '10.244.9.9', sport: 53, dport: 40001 } });
    // Accounting (packets/bytes after each tuple) and timestamps, whose start date has spaces.
    expect(parseConntrackLine('udp      17 29 src=127.0.0.1 dst=127.0.0.1 sport=38006 dport=9 packets=1 bytes=29 [UNREPLIED] src=127.0.0.1 dst=127.0.0.1 sport=9 dport=38006 packets=0 bytes=0 mark=0 delta-time=0 [start=Mon Nov 23 18:17:48 2026] use=1'))
      .toEqual({ family: 4, orig: { src: '127.0.0.1', dst: '127.0.0.1', sport: 38006, dport: 9 }, reply: { src: '127.0.0.1', dst: '127.0.0.1', sport: 9, dport: 38006 } });
  });

  it('IPv6, in the model\'s canonical form', () => {
    const v6 = { family: 6, orig: { src: 'fd00::9', dst: 'fd00:96::10', sport: 40000, dport: 53 }, reply: { src: 'fd00:244::1', dst: 'fd00::9', sport: 5353, dport: 40000 } };
    expect(parseConntrackLine('udp      17 119 src=fd00::9 dst=fd00:96::10 sport=40000 dport=53 [UNREPLIED] src=fd00:244::1 dst=fd00::9 sport=5353 dport=40000 [ASSURED] mark=0 use=1')).toEqual(v6);
    expect(parseConntrackLine('ipv6     10 udp      17 29 src=fd00::9 dst=fd00:96:0:0::10 sport=40000 dport=53 packets=1 bytes=49 src=FD00:244::1 dst=fd00::9 sport=5353 dport=40000 packets=1 bytes=49 mark=0 use=1 id=4100592363')).toEqual(v6);
  });

  it('anything else is skipped: other protocols, summaries, lines cut short or with bad fields', () => {
    for (const line of [
      'tcp      6 431999 ESTABLISHED src=10.244.9.9 dst=10.96.0.53 sport=40000 dport=80 src=10.244.1.1 dst=10.244.9.9 sport=8080 dport=40000 [ASSURED] mark=0 use=1',
      'icmp     1 29 src=10.0.0.2 dst=10.0.0.1 type=8 code=0 id=7 src=10.0.0.1 dst=10.0.0.2 type=0 code=0 id=7 mark=0 use=1',
      'conntrack v1.4.7 (conntrack-tools): 3 flow entries have been shown.',
      '',
      'udp      17 119 src=10.244.9.9 dst=10.96.0.53 sport=40000 dport=53 [UNREPLIED]',
      'udp      17 119 src=10.244.9.9 dst=10.96.0.53 sport=40000 dport=53 src=10.244.1.1 dst=10.244.9.9 sport=5353',
      'udp      17 119 src=10.244.9.999 dst=10.96.0.53 sport=40000 dport=53 src=10.244.1.1 dst=10.244.9.9 sport=5353 dport=40000',
      'udp      17 119 src=10.244.9.9 dst=10.96.0.53 sport=40000 dport=53 src=10.244.1.1 dst=10.244.9.9 sport=5353 dport=70000',
      'udp      17 119 src=10.244.9.9 dst=fd00::1 sport=40000 dport=53 src=10.244.1.1 dst=10.244.9.9 sport=5353 dport=40000',
      'udp      17 119 src=10.244.9.9 dst=10.96.0.53 sport=40000 dport=53 src=fd00::1 dst=fd00::9 sport=5353 dport=40000',
      'udp      17 119 src=10.244.9.9 dst=10.96.0.53 sport=4e4 dport=53 src=10.244.1.1 dst=10.244.9.9 sport=5353 dport=40000',
      'udplite  136 119 src=10.244.9.9 dst=10.96.0.53 sport=40000 dport=53 src=10.244.1.1 dst=10.244.9.9 sport=5353 dport=40000',
      'udp      17 119 toString=1 constructor=2 src=10.244.9.9',
    ]) expect(parseConntrackLine(line), line).toBeNull();
  });

  it('a listing: its UDP entries, in order', () => {
    const text = [NATED, 'garbage', `ipv4     2 ${NATED.replace('sport=40000 dport=53', 'sport=40001 dport=53')}`, 'conntrack v1.4.7 (conntrack-tools): 2 flow entries have been shown.', ''].join('\n');
    expect(parseConntrackList(text).map((e) => e.orig.sport)).toEqual([40000, 40001]);
  });
});
