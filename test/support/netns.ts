// Network namespaces made by tests. Names carry a prefix no user would choose,
// and a sweep removes leftovers from a run that was killed.
import { existsSync, readdirSync } from 'node:fs';
import { run, tryRun } from './sys.js';

const PREFIX = 'ekpt-';
let counter = 0;

export class TestNetns {
  readonly name: string;
  readonly path: string;

  private constructor(name: string) {
    this.name = name;
    this.path = `/run/netns/${name}`;
  }

  static create(label: string): TestNetns {
    const name = `${PREFIX}${label}-${process.pid}-${counter++}`;
    run(['ip', 'netns', 'add', name]);
    const ns = new TestNetns(name);
    ns.ip('link', 'set', 'lo', 'up');
    return ns;
  }

  /** `ip -n NAME …` */
  ip(...args: string[]): string {
    return run(['ip', '-n', this.name, ...args]);
  }

  /**
   * Runs argv inside the namespace with nsenter, which (unlike `ip netns exec`)
   * keeps the host's /sys mounts, so bpffs pins and cgroup2 stay visible.
   */
  exec(argv: string[], input?: string): string {
    return run(['nsenter', `--net=${this.path}`, '--', ...argv], input);
  }

  tryExec(argv: string[]) {
    return tryRun(['nsenter', `--net=${this.path}`, '--', ...argv]);
  }

  destroy(): void {
    if (existsSync(this.path)) tryRun(['ip', 'netns', 'del', this.name]);
  }
}

/** Deletes test namespaces whose creating process is gone (a crashed or killed run). */
export function sweepStaleNetns(): void {
  if (!existsSync('/run/netns')) return;
  for (const name of readdirSync('/run/netns')) {
    const m = /^ekpt-.*-(\d+)-\d+$/.exec(name);
    if (!m) continue;
    const pid = Number(m[1]);
    if (pid !== process.pid && !existsSync(`/proc/${pid}`)) tryRun(['ip', 'netns', 'del', name]);
  }
}

/** A veth pair with one end in each namespace, addressed and up. */
export function vethBetween(a: TestNetns, aIf: string, aAddr: string, b: TestNetns, bIf: string, bAddr: string): void {
  run(['ip', '-n', a.name, 'link', 'add', aIf, 'type', 'veth', 'peer', 'name', bIf, 'netns', b.name]);
  a.ip('addr', 'add', aAddr, 'dev', aIf);
  b.ip('addr', 'add', bAddr, 'dev', bIf);
  a.ip('link', 'set', aIf, 'up');
  b.ip('link', 'set', bIf, 'up');
}
