import { spawnSync } from 'node:child_process';
import { join } from 'node:path';
import { afterAll, describe, expect } from 'vitest';
import { packageRoot } from '../../src/native/index.js';
import { labDown, defaultPinBase } from '../../src/lab/index.js';
import { kernelIt } from '../support/capability.js';

const it = kernelIt();
const BIN = join(packageRoot(), 'bin', 'ebpf-kube-proxy.js');
const NAME = `c${process.pid % 100_000}`;

function cli(...args: string[]) {
  return spawnSync(process.execPath, [BIN, ...args], { encoding: 'utf8', timeout: 60_000 });
}

describe('ebpf-kube-proxy lab (the CLI a researcher uses)', () => {
  afterAll(async () => {
    await labDown(NAME, { pinBase: defaultPinBase(NAME) });
  }, 30_000);

  it('up, curl, scale, status, down', () => {
    const up = cli('lab', 'up', '--name', NAME, '--nodes', '2', '--pods-per-node', '2');
    expect(up.status, up.stderr).toBe(0);
    expect(up.stdout).toMatch(/web-nodeport +10\.96\.0\.11:80\/tcp +NodePort 30080 eTP=Cluster; 4 pod\(s\)/);

    const curl = cli('lab', 'curl', 'web-local', '--name', NAME, '--count', '4');
    expect(curl.status, curl.stdout + curl.stderr).toBe(0);
    expect(curl.stdout).toMatch(/from client/);
    // eTP=Local through node1: node1's pods only, and they see the client's own address.
    expect(curl.stdout).not.toMatch(/node2/);
    expect(curl.stdout).toMatch(/192\.168\.77\.100:\d+/);

    expect(cli('lab', 'scale', 'web', '1', '--name', NAME).stdout).toMatch(/web: 1 pod/);
    let one = '';
    for (let i = 0; i < 20; i++) {
      one = cli('lab', 'curl', 'web', '--from', 'n2p1', '--count', '4', '--name', NAME).stdout;
      if (/by pod: \S+ 4;/.test(one)) break;
    }
    expect(one).toMatch(/by pod: \S+ 4;/);

    const refused = cli('lab', 'curl', 'web', '--name', NAME);
    expect(refused.status).toBe(2);
    expect(refused.stderr).toMatch(/ClusterIP Service: the client outside the cluster cannot reach it/);

    const status = cli('lab', 'status', '--name', NAME);
    expect(status.stdout).toMatch(/proxies: node1 pid \d+, node2 pid \d+/);

    expect(cli('lab', 'down', '--name', NAME).status).toBe(0);
    expect(cli('lab', 'status', '--name', NAME).stdout).toMatch(/absent/);
  }, 120_000);
});
