import { afterAll, beforeAll, describe, expect } from 'vitest';
import {
  attachCgroup, attachTc, attachXdp, constant, destroyTcHook, detachCgroup, detachCgroupById, detachTc, detachXdp, queryCgroup, queryTc,
  queryXdp, withNetns, type BpfObject,
} from '../../src/native/index.js';
import { mountPrivateBpffs, type PrivateBpffs } from '../support/bpffs.js';
import { kernelIt } from '../support/capability.js';
import { createTestCgroup, type TestCgroup } from '../support/cgroup.js';
import { sweepStaleNetns, TestNetns, vethBetween } from '../support/netns.js';
import { run } from '../support/sys.js';
import { openFixture, sumPerCpu, u32 } from './fixture.js';

const it = kernelIt();

describe('attaching programs, with real traffic between test namespaces', () => {
  let fs: PrivateBpffs;
  let a: TestNetns;
  let b: TestNetns;
  let obj: BpfObject;

  const counter = (slot: number) => {
    const m = obj.map('fx_pcpu');
    return sumPerCpu(m.splitPerCpu(m.lookup(u32(slot))!));
  };
  const ping = () => b.tryExec(['ping', '-c', '1', '-W', '1', '10.77.0.1']).status === 0;

  beforeAll(() => {
    sweepStaleNetns();
    fs = mountPrivateBpffs();
    a = TestNetns.create('att-a');
    b = TestNetns.create('att-b');
    vethBetween(a, 'ekpt0', '10.77.0.1/24', b, 'ekpt1', '10.77.0.2/24');
    obj = openFixture({ pinRoot: fs.path });
  });
  afterAll(() => {
    obj?.close();
    a?.destroy();
    b?.destroy();
    fs?.dispose();
  });

  it('tc ingress: attach, see it in the slot, count real packets, detach and remove only our qdisc', () => {
    const prog = obj.program('fx_tc');
    const before = counter(1);
    const att = withNetns(a.path, () => attachTc(prog, 'ekpt0', 'ingress'));
    expect(att.createdHook).toBe(true);
    expect(withNetns(a.path, () => queryTc('ekpt0', 'ingress'))).toBe(prog.id());
    expect(ping()).toBe(true);
    expect(counter(1)).toBeGreaterThan(before);
    // Attaching again replaces in place and reports the hook as pre-existing.
    expect(withNetns(a.path, () => attachTc(prog, 'ekpt0', 'ingress')).createdHook).toBe(false);
    withNetns(a.path, () => detachTc('ekpt0', 'ingress'));
    expect(withNetns(a.path, () => queryTc('ekpt0', 'ingress'))).toBe(0);
    withNetns(a.path, () => destroyTcHook('ekpt0'));
    expect(run(['tc', '-n', a.name, 'qdisc', 'show', 'dev', 'ekpt0'])).not.toMatch(/clsact/);
  });

  it('tc egress attaches separately from ingress', () => {
    const prog = obj.program('fx_tc');
    withNetns(a.path, () => attachTc(prog, 'ekpt0', 'egress'));
    expect(withNetns(a.path, () => queryTc('ekpt0', 'egress'))).toBe(prog.id());
    expect(withNetns(a.path, () => queryTc('ekpt0', 'ingress'))).toBe(0);
    withNetns(a.path, () => destroyTcHook('ekpt0'));
  });

  it.each(['native', 'generic'] as const)('XDP %s: attach, traffic counted, a DROP build blocks traffic, detach restores it', (mode) => {
    const prog = obj.program('fx_xdp');
    const before = counter(0);
    withNetns(a.path, () => attachXdp(prog, 'ekpt0', mode));
    expect(withNetns(a.path, () => queryXdp('ekpt0'))).toEqual({ mode, progId: prog.id() });
    expect(ping()).toBe(true);
    expect(counter(0)).toBeGreaterThan(before);

    const dropper = openFixture({ pinRoot: fs.path }, (o) => o.setRodata('xdp_verdict', u32(1)));
    try {
      withNetns(a.path, () => attachXdp(dropper.program('fx_xdp'), 'ekpt0', mode));
      expect(ping()).toBe(false);
    } finally {
      withNetns(a.path, () => detachXdp('ekpt0', mode));
      dropper.close();
    }
    expect(withNetns(a.path, () => queryXdp('ekpt0')).mode).toBe('none');
    expect(ping()).toBe(true);
  });

  it('an interface that does not exist is a clear error', () => {
    const prog = obj.program('fx_tc');
    expect(() => withNetns(a.path, () => attachTc(prog, 'nosuchdev0', 'ingress'))).toThrow(/interface nosuchdev0: .*ENODEV/);
    expect(() => attachXdp(obj.program('fx_xdp'), 999_999)).toThrow(/program fx_xdp: XDP on ifindex 999999/);
    expect(() => attachTc(prog, 'x'.repeat(16), 'ingress')).toThrow(/1-15 characters/);
  });

  describe('cgroup socket hooks', () => {
    let cg: TestCgroup;
    beforeAll(() => {
      cg = createTestCgroup('att');
    });
    afterAll(() => cg?.dispose());

    it('connect4: attached to our cgroup only, runs for a process in it, detaches', () => {
      const prog = obj.program('fx_connect4');
      attachCgroup(prog, cg.path);
      const type = constant('BPF_CGROUP_INET4_CONNECT');
      expect(queryCgroup(cg.path, type).map((p) => p.id)).toContain(prog.id());
      const before = counter(2);
      // A UDP connect() runs the hook and sends nothing; run inside the test
      // namespace so even a mistake could not leave it.
      run([
        'nsenter', `--net=${a.path}`, '--', 'sh', '-c',
        `echo $$ > ${cg.path}/cgroup.procs && exec node -e "const s=require('dgram').createSocket('udp4');s.connect(9,'10.77.0.2',()=>s.close())"`,
      ]);
      expect(counter(2)).toBe(before + 1n);
      detachCgroup(prog, cg.path);
      expect(queryCgroup(cg.path, type)).toEqual([]);
    });

    it('a program attached by someone else is detached by its id', () => {
      const prog = obj.program('fx_connect4');
      const type = constant('BPF_CGROUP_INET4_CONNECT');
      attachCgroup(prog, cg.path);
      const [found] = queryCgroup(cg.path, type);
      expect(found).toEqual({ id: prog.id(), name: 'fx_connect4' });
      detachCgroupById(found!.id, cg.path, type);
      expect(queryCgroup(cg.path, type)).toEqual([]);
      expect(() => detachCgroupById(found!.id, cg.path, type)).toThrow(/program id \d+ on cgroup .*ENOENT/);
    });

    it('a cgroup path that does not exist is a clear error', () => {
      expect(() => attachCgroup(obj.program('fx_connect4'), '/sys/fs/cgroup/nonexistent-ekp')).toThrow(/cgroup \/sys\/fs\/cgroup\/nonexistent-ekp: .*ENOENT/);
      expect(() => attachCgroup(obj.program('fx_connect4'), 'relative')).toThrow(/must be absolute/);
    });
  });
});
