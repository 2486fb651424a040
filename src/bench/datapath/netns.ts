// The datapath benchmark runs in a namespace of its own, set up as a node: forwarding on,
// a device, a resolved gateway and routes through it to every address the synthetic cluster
// uses. tc's FIB lookup after a rewrite then succeeds and the program redirects, as on a
// node; in the host's namespace (forwarding usually off) the lookup would stop early and
// leave out what forwarding costs. The node's address (the SNAT source) is routed too,
// not local: the reply case's mirror entry rewrites a reply back to it (measure.ts), and a
// local answer would send every other repetition in through lo instead of forwarding it
// as the replies it stands in for.
import { spawnSync } from 'node:child_process';
import { readlinkSync } from 'node:fs';
import { NODE_IP } from './services.js';

const DEVICE = 'bench0';
const DEVICE_ADDR = '172.18.0.9/24';
const GATEWAY = '172.18.0.1';
/** Services, pods, the clients of established flows and of SYNs, the miss packets' destinations. */
const ROUTED = ['10.96.0.0/12', '10.128.0.0/9', '100.64.0.0/10', '198.18.0.0/15', '198.22.0.0/16', '203.0.113.0/24', `${NODE_IP}/32`];

function ip(...args: string[]): string {
  const r = spawnSync('ip', args, { encoding: 'utf8' });
  if (r.status !== 0) throw new Error(`ip ${args.join(' ')}: ${(r.stderr || String(r.error ?? '')).trim()}`);
  return r.stdout;
}

/** This process's network namespace, to hand to the child that sets up its own. */
export function currentNetns(): string {
  return readlinkSync('/proc/self/ns/net');
}

/** The names of the network devices in the calling process's namespace. */
function deviceNames(): string[] {
  return (JSON.parse(ip('-j', 'link', 'show')) as { ifname: string }[]).map((l) => l.ifname);
}

/**
 * Sets up the calling process's namespace as described above. Refuses unless that
 * namespace is not `parentNetns` (the one the benchmark was started in) and is fresh
 * (no device but lo): it never touches the host's devices, routes or sysctls, whatever
 * the arguments it was run with.
 */
export function setUpRoutedNetns(parentNetns: string): void {
  const others = deviceNames().filter((n) => n !== 'lo');
  if (!parentNetns || currentNetns() === parentNetns || others.length > 0) {
    throw new Error(`bench datapath: the routed setup runs only in a fresh namespace of its own (unshare --net)${others.length ? `; this one has ${others.join(', ')}` : ''}`);
  }
  ip('link', 'set', 'lo', 'up');
  ip('link', 'add', DEVICE, 'type', 'veth', 'peer', 'name', `${DEVICE}p`);
  ip('link', 'set', DEVICE, 'up');
  ip('link', 'set', `${DEVICE}p`, 'up');
  ip('addr', 'add', DEVICE_ADDR, 'dev', DEVICE);
  ip('neigh', 'add', GATEWAY, 'lladdr', '02:00:00:00:00:01', 'dev', DEVICE, 'nud', 'permanent');
  for (const net of ROUTED) ip('route', 'add', net, 'via', GATEWAY, 'dev', DEVICE);
  const r = spawnSync('sysctl', ['-qw', 'net.ipv4.ip_forward=1'], { encoding: 'utf8' });
  if (r.status !== 0) throw new Error(`sysctl net.ipv4.ip_forward=1: ${r.stderr.trim()}`);
}
