import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect } from 'vitest';
import { isBpffs, preparePinDir } from '../../src/native/index.js';
import { mountPrivateBpffs, type PrivateBpffs } from '../support/bpffs.js';
import { kernelIt } from '../support/capability.js';

const it = kernelIt();

describe('pin directories', () => {
  let fs: PrivateBpffs;
  let plain: string;
  beforeAll(() => {
    fs = mountPrivateBpffs();
    plain = mkdtempSync(join(tmpdir(), 'ekpt-plain-'));
  });
  afterAll(() => {
    fs?.dispose();
    rmSync(plain, { recursive: true, force: true });
  });

  it('tells bpffs from other filesystems', () => {
    expect(isBpffs(fs.path)).toBe(true);
    expect(isBpffs(plain)).toBe(false);
    expect(isBpffs('/nonexistent')).toBe(false);
  });

  it('creates the instance directory on bpffs, nested levels too', () => {
    preparePinDir(join(fs.path, 'lab', 'node1'));
    expect(existsSync(join(fs.path, 'lab', 'node1'))).toBe(true);
    const dir = join(fs.path, 'instance-a');
    preparePinDir(dir);
    expect(existsSync(dir)).toBe(true);
    preparePinDir(dir); // idempotent
  });

  it('refuses a pin directory whose parent is not bpffs, saying how to fix it', () => {
    expect(() => preparePinDir(join(plain, 'x'))).toThrow(/is not a bpf filesystem \(mount -t bpf bpf/);
  });
});
