// A throwaway qemu VM that runs the host's own userland on a kernel that has
// what this host's kernel lacks (IP_VS, dummy interfaces): Debian's packaged
// kernel (linux-image-amd64), booted under TCG with a tiny initramfs (static
// busybox, the 9p modules and scripts/vm/guest-init.sh as /init). The guest
// mounts the host root read-only over 9p and chroots into it to run a job
// script; everything it prints arrives on the serial console.
import { spawn, spawnSync } from 'node:child_process';
import { closeSync, existsSync, mkdirSync, openSync, readdirSync, readFileSync, statSync, writeFileSync, writeSync } from 'node:fs';
import { join } from 'node:path';

const GUEST_INIT = new URL('../../scripts/vm/guest-init.sh', import.meta.url);
const QEMU = 'qemu-system-x86_64';
const BUSYBOX = '/bin/busybox';
/** Modules /init loads itself: what mounting the 9p root and the repository overlay needs. */
const INITRAMFS_MODULES = ['virtio_pci', '9pnet_virtio', '9p', 'overlay'];

export interface VmKernel {
  version: string;
  vmlinuz: string;
}

/**
 * A kernel image under /boot whose modules include ip_vs and dummy, newest first;
 * EKP_VM_KERNEL=<version> picks one.
 */
export function findVmKernel(): VmKernel | null {
  let names: string[];
  try {
    names = readdirSync('/boot').filter((n) => n.startsWith('vmlinuz-'));
  } catch {
    return null;
  }
  const versions = names.map((n) => n.slice('vmlinuz-'.length)).sort().reverse();
  const wanted = process.env.EKP_VM_KERNEL;
  for (const version of wanted ? versions.filter((v) => v === wanted) : versions) {
    const mods = `/lib/modules/${version}/kernel`;
    if (existsSync(`${mods}/net/netfilter/ipvs/ip_vs.ko`) && existsSync(`${mods}/drivers/net/dummy.ko`)) {
      return { version, vmlinuz: `/boot/vmlinuz-${version}` };
    }
  }
  return null;
}

function commandWorks(argv: string[]): boolean {
  const r = spawnSync(argv[0]!, argv.slice(1), { stdio: 'ignore' });
  return !r.error && r.status === 0;
}

function onPath(cmd: string): boolean {
  const dirs = (process.env.PATH ?? '/usr/sbin:/usr/bin:/sbin:/bin').split(':').concat(['/usr/sbin', '/sbin']);
  return dirs.some((d) => d && existsSync(join(d, cmd)));
}

/** Why this machine cannot run the VM, or null. */
export function missingVmCapability(): string | null {
  if (process.getuid?.() !== 0) return 'the VM test needs root (9p export of /, module lists)';
  if (!commandWorks([QEMU, '--version'])) return `${QEMU} not installed (apt-get install qemu-system-x86)`;
  if (!findVmKernel()) {
    return `no kernel with ip_vs and dummy modules under /boot${process.env.EKP_VM_KERNEL ? ` matching EKP_VM_KERNEL=${process.env.EKP_VM_KERNEL}` : ''} (apt-get install linux-image-amd64)`;
  }
  // A static busybox: the dynamic one would need the host's libc inside the initramfs.
  const ldd = spawnSync('ldd', [BUSYBOX], { encoding: 'utf8' });
  if (!existsSync(BUSYBOX) || /=>|ld-linux/.test(ldd.stdout ?? '')) return `${BUSYBOX} missing or not static (apt-get install busybox-static)`;
  // The guest runs these from the host's root.
  for (const [cmd, pkg] of [['modprobe', 'kmod'], ['ipvsadm', 'ipvsadm'], ['ipset', 'ipset'], ['curl', 'curl'], ['python3', 'python3']] as const) {
    if (!onPath(cmd)) return `${cmd} not installed (apt-get install ${pkg})`;
  }
  return null;
}

/** `modprobe --show-depends` for the guest's kernel: insmod lines in load order, each module once. */
export function moduleLoadOrder(version: string, modules: readonly string[]): { path: string; params: string }[] {
  const out: { path: string; params: string }[] = [];
  for (const m of modules) {
    const r = spawnSync('modprobe', ['-S', version, '--show-depends', m], { encoding: 'utf8' });
    if (r.status !== 0) throw new Error(`modprobe -S ${version} --show-depends ${m}: ${r.stderr.trim()}`);
    for (const line of r.stdout.split('\n')) {
      const mm = /^insmod (\S+)\s*(.*)$/.exec(line.trim());
      if (mm && !out.some((x) => x.path === mm[1])) out.push({ path: mm[1]!, params: mm[2]!.trim() });
    }
  }
  return out;
}

// ---------------------------------------------------------------------------
// initramfs: a "newc" cpio archive, written directly (no cpio binary needed).

interface CpioEntry {
  name: string;
  mode: number;
  data?: Buffer;
}

function cpioArchive(entries: CpioEntry[]): Buffer {
  const parts: Buffer[] = [];
  const pad4 = (n: number) => Buffer.alloc((4 - (n % 4)) % 4);
  let ino = 1;
  const push = (e: CpioEntry) => {
    const data = e.data ?? Buffer.alloc(0);
    const name = Buffer.from(`${e.name}\0`);
    const hex = (v: number) => v.toString(16).padStart(8, '0');
    const fields = [ino++, e.mode, 0, 0, 1, 0, data.length, 0, 0, 0, 0, name.length, 0];
    const header = Buffer.from(`070701${fields.map(hex).join('')}`);
    parts.push(header, name, pad4(header.length + name.length), data, pad4(data.length));
  };
  for (const e of entries) push(e);
  push({ name: 'TRAILER!!!', mode: 0 });
  return Buffer.concat(parts);
}

/**
 * Writes the initramfs to `file`: busybox, /init, the modprobe helper and the
 * modules /init loads. Rebuilt only when an input changed (a cache key file
 * beside it), so repeated runs reuse it.
 */
export function buildInitramfs(kernel: VmKernel, file: string): string {
  const init = readFileSync(GUEST_INIT);
  const modules = moduleLoadOrder(kernel.version, INITRAMFS_MODULES);
  const key = JSON.stringify({
    kernel: kernel.version,
    init: hashOf(init),
    busybox: statSync(BUSYBOX).mtimeMs,
    modules,
  });
  const keyFile = `${file}.key`;
  if (existsSync(file) && existsSync(keyFile) && readFileSync(keyFile, 'utf8') === key) return file;
  const entries: CpioEntry[] = [];
  const dirs = new Set<string>();
  const dir = (path: string) => {
    const segs = path.split('/');
    for (let i = 1; i <= segs.length; i++) {
      const d = segs.slice(0, i).join('/');
      if (d && !dirs.has(d)) {
        dirs.add(d);
        entries.push({ name: d, mode: 0o40755 });
      }
    }
  };
  dir('bin');
  dir('sbin');
  entries.push({ name: 'bin/busybox', mode: 0o100755, data: readFileSync(BUSYBOX) });
  entries.push({ name: 'bin/sh', mode: 0o120777, data: Buffer.from('busybox') });
  entries.push({ name: 'init', mode: 0o100755, data: init });
  entries.push({
    name: 'sbin/ekp-modprobe',
    mode: 0o100755,
    data: Buffer.from('#!/bin/busybox sh\nexec /bin/busybox chroot /host /sbin/modprobe "$@"\n'),
  });
  const order: string[] = [];
  for (const m of modules) {
    const rel = m.path.replace(/^\//, '');
    dir(rel.slice(0, rel.lastIndexOf('/')));
    entries.push({ name: rel, mode: 0o100644, data: readFileSync(m.path) });
    order.push(`/${rel} ${m.params}`.trim());
  }
  entries.push({ name: 'modules.order', mode: 0o100644, data: Buffer.from(`${order.join('\n')}\n`) });
  writeFileSync(file, cpioArchive(entries));
  writeFileSync(keyFile, key);
  return file;
}

function hashOf(b: Buffer): string {
  let h = 0x811c9dc5;
  for (const x of b) h = Math.imul(h ^ x, 0x01000193) >>> 0;
  return h.toString(16);
}

// ---------------------------------------------------------------------------
// Running

export interface VmShare {
  tag: string;
  path: string;
  readonly: boolean;
}

export interface VmRunOptions {
  kernel: VmKernel;
  initrd: string;
  shares: VmShare[];
  memoryMB?: number;
  cpus?: number;
  /** Kill qemu after this long. */
  timeoutMs: number;
  /** The serial console, line by line, as it arrives. */
  onLine?: (line: string) => void;
  /** Also append the raw serial output here. */
  logFile?: string;
  /** Kills qemu when aborted (a test run that ends before the guest does). */
  signal?: AbortSignal;
  /** qemu's nice value (through nice(1), so that every thread of it has it); negative needs root. */
  niceness?: number;
}

export interface VmRunResult {
  /** Everything the guest printed on its serial console. */
  log: string;
  /** The job's exit status from the `EKP-VM-EXIT n` line, null if it never came. */
  jobStatus: number | null;
  qemuStatus: number | null;
  timedOut: boolean;
  ms: number;
}

/** Boots the VM and resolves when it powers off (or is killed at the timeout). */
export function runVm(opts: VmRunOptions): Promise<VmRunResult> {
  const args = [
    // KVM does not work on this machine's kind: software emulation only.
    '-accel', 'tcg',
    // Every feature TCG emulates (SSE4.2, AVX…): node starts noticeably faster than on qemu64.
    '-cpu', process.env.EKP_VM_CPU ?? 'max',
    '-m', String(opts.memoryMB ?? 2048),
    '-smp', String(opts.cpus ?? 2),
    '-kernel', opts.kernel.vmlinuz,
    '-initrd', opts.initrd,
    '-append', 'console=ttyS0 quiet panic=-1',
    '-nodefaults', '-display', 'none', '-monitor', 'none', '-serial', 'stdio',
    '-no-reboot',
    ...opts.shares.flatMap((s) => ['-virtfs', `local,path=${s.path},mount_tag=${s.tag},security_model=none,multidevs=remap${s.readonly ? ',readonly=on' : ''}`]),
  ];
  const t0 = Date.now();
  return new Promise((resolve) => {
    const argv = opts.niceness === undefined ? [QEMU, ...args] : ['nice', '-n', String(opts.niceness), QEMU, ...args];
    const child = spawn(argv[0]!, argv.slice(1), { stdio: ['ignore', 'pipe', 'pipe'] });
    let log = '';
    let partial = '';
    let timedOut = false;
    const fd = opts.logFile ? openSync(opts.logFile, 'a') : null;
    const timer = setTimeout(() => {
      timedOut = true;
      child.kill('SIGKILL');
    }, opts.timeoutMs);
    const abort = () => child.kill('SIGKILL');
    opts.signal?.addEventListener('abort', abort, { once: true });
    const take = (d: string) => {
      // The serial line discipline sends CRLF.
      const text = d.replace(/\r/g, '');
      log += text;
      if (fd !== null) writeSync(fd, text);
      partial += text;
      const lines = partial.split('\n');
      partial = lines.pop()!;
      for (const l of lines) opts.onLine?.(l);
    };
    child.stdout.setEncoding('utf8').on('data', take);
    child.stderr.setEncoding('utf8').on('data', (d: string) => take(`[qemu] ${d}`));
    child.on('error', (e) => take(`[qemu] ${String(e)}\n`));
    child.on('close', (status) => {
      clearTimeout(timer);
      opts.signal?.removeEventListener('abort', abort);
      if (partial) opts.onLine?.(partial);
      if (fd !== null) closeSync(fd);
      const m = /^EKP-VM-EXIT (\d+)$/m.exec(log);
      resolve({ log, jobStatus: m ? Number(m[1]) : null, qemuStatus: status, timedOut, ms: Date.now() - t0 });
    });
  });
}

/**
 * A fresh job directory (the "job" share): job.sh, the repository path, results written by the
 * guest. Returns the shares the VM needs: the host root, the job, and the repository on its own
 * when it lies under /tmp, /run or /var/tmp, which the guest's own tmpfs mounts would hide.
 */
export function prepareJobDir(dir: string, repo: string, script: string): VmShare[] {
  mkdirSync(dir, { recursive: true });
  writeFileSync(join(dir, 'job.sh'), script, { mode: 0o755 });
  writeFileSync(join(dir, 'repo'), `${repo}\n`);
  const hidden = ['/tmp/', '/run/', '/var/tmp/'].some((d) => `${repo}/`.startsWith(d));
  if (hidden) writeFileSync(join(dir, 'repo-share'), '1\n');
  return [
    { tag: 'host', path: '/', readonly: true },
    { tag: 'job', path: dir, readonly: false },
    ...(hidden ? [{ tag: 'repo', path: repo, readonly: true }] : []),
  ];
}
