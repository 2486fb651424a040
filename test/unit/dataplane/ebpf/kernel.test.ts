import { describe, expect, it } from 'vitest';
import { CFG_F } from '../../../../src/dataplane/ebpf/abi.js';
import { kernelAtLeast, kernelConfigFlags } from '../../../../src/dataplane/ebpf/kernel.js';

describe('kernel feature flags', () => {
  it('compares uname releases by major.minor', () => {
    expect(kernelAtLeast(6, 3, '6.3.0')).toBe(true);
    expect(kernelAtLeast(6, 3, '6.18.44-fc-v657')).toBe(true);
    expect(kernelAtLeast(6, 3, '7.0.1')).toBe(true);
    expect(kernelAtLeast(6, 3, '6.1.0-18-amd64')).toBe(false);
    expect(kernelAtLeast(6, 3, '5.15.0-91-generic')).toBe(false);
    expect(kernelAtLeast(6, 3, 'weird')).toBe(false);
  });

  it('takes bpf_cast_to_kern_ctx only where the kernel has it (6.2)', () => {
    expect(kernelConfigFlags('6.1.0-18-amd64')).toBe(0);
    expect(kernelConfigFlags('6.2.0-39-generic')).toBe(CFG_F.KERN_CTX);
    expect(kernelConfigFlags('6.18.44')).toBe(CFG_F.KERN_CTX);
  });
});
