// The only place that loads the compiled addon. Everything else goes through
// the typed wrappers in this folder, which validate arguments before C++ sees them.
import { createRequire } from 'node:module';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { packageRoot } from './paths.js';

export interface NativeMapDescriptor {
  name: string;
  fd: number;
  type: number;
  keySize: number;
  valueSize: number;
  maxEntries: number;
  internal: boolean;
  pinPath: string | null;
}

export interface NativeProgramDescriptor {
  name: string;
  fd: number;
  type: number;
  expectedAttachType: number;
  section: string;
}

export interface NativeObject {
  setRodata(name: string, value: Buffer): void;
  setMaxEntries(map: string, n: number): void;
  setAutoload(program: string, on: boolean): void;
  load(): void;
  loadAsync(): Promise<void>;
  maps(): NativeMapDescriptor[];
  programs(): NativeProgramDescriptor[];
  close(): void;
  collectVerifierStats(): void;
  verifierStats(): Record<string, string>;
}

export interface NativeTestRunResult {
  retval: number;
  durationNs: number;
  data: Buffer;
  ctx: Buffer;
}

export interface ProbeAnswer {
  supported: boolean;
  errno: number;
}

export interface NativeBinding {
  BpfObject: new (path: string, pinRoot: string | null) => NativeObject;
  mapLookup(fd: number, key: Buffer, value: Buffer): boolean;
  mapUpdate(fd: number, key: Buffer, value: Buffer, flags: number): void;
  mapDelete(fd: number, key: Buffer): boolean;
  mapNextKey(fd: number, key: Buffer | null, next: Buffer): boolean;
  mapUpdateBatch(fd: number, keys: Buffer, values: Buffer, count: number, keySize: number, valueSize: number, flags: number): number;
  mapDeleteBatch(fd: number, keys: Buffer, count: number, keySize: number): number;
  mapLookupBatch(
    fd: number, inBatch: Buffer | null, outBatch: Buffer, keys: Buffer, values: Buffer, count: number,
  ): { count: number; done: boolean; supported: boolean };
  mapInfo(fd: number): { id: number; name: string; type: number; keySize: number; valueSize: number; maxEntries: number; flags: number };
  objGet(path: string): number;
  objPin(fd: number, path: string): void;
  closeFd(fd: number): void;
  possibleCpus(): number;
  ifNameToIndex(name: string): number;
  xdpAttach(ifindex: number, progFd: number, flags: number): void;
  xdpDetach(ifindex: number, flags: number): void;
  xdpQuery(ifindex: number): { mode: number; progId: number; driverProgId: number; genericProgId: number };
  tcAttach(ifindex: number, direction: 'ingress' | 'egress', progFd: number, priority: number, handle: number): {
    createdHook: boolean; handle: number; priority: number;
  };
  tcDetach(ifindex: number, direction: 'ingress' | 'egress', priority: number, handle: number): void;
  tcQuery(ifindex: number, direction: 'ingress' | 'egress', priority: number, handle: number): number;
  tcHookDestroy(ifindex: number): void;
  cgroupAttach(progFd: number, cgroupPath: string, attachType: number): void;
  cgroupDetach(progFd: number, cgroupPath: string, attachType: number): void;
  cgroupQuery(cgroupPath: string, attachType: number): number[];
  cgroupDetachById(progId: number, cgroupPath: string, attachType: number): void;
  progInfoById(id: number): { id: number; name: string; type: number; tag: string; runTimeNs: number; runCount: number };
  progIdByFd(fd: number): number;
  mapIterRead(progFd: number, mapFd: number, readBytes: number): Promise<Buffer>;
  enableRunTimeStats(): number;
  testRun(
    progFd: number, data: Buffer, dataOutSize: number, repeat: number, ctx: Buffer | null, ctxOutSize: number, flags: number,
  ): NativeTestRunResult;
  testRunAsync(
    progFd: number, data: Buffer, dataOutSize: number, repeat: number, ctx: Buffer | null, ctxOutSize: number, flags: number,
  ): Promise<NativeTestRunResult>;
  probeProgType(type: number): ProbeAnswer;
  probeMapType(type: number): ProbeAnswer;
  probeHelper(progType: number, helperId: number): ProbeAnswer;
  probeKernelBtf(): ProbeAnswer;
  netnsEnter(path: string): number;
  netnsRestore(fd: number): void;
  ifAddrs(): { ifindex: number; ifname: string; family: 4 | 6; address: string; prefixLen: number; scope: number; flags: number }[];
  defaultRoutes(): { family: 4 | 6; table: number; priority: number; oif: number; prefsrc: string | null }[];
  linkWatchOpen(links: boolean): number;
  linkWatchDrain(fd: number): number;
  nfacctEnsure(name: string): void;
  nfacctPackets(name: string): number;
  constants: Readonly<Record<string, number>>;
}

let cached: NativeBinding | undefined;

export function addonPath(): string {
  return join(packageRoot(), 'build', 'Release', 'ekp_native.node');
}

/** Loads the addon once. Throws a readable error when it has not been built. */
export function native(): NativeBinding {
  if (cached) return cached;
  const path = addonPath();
  if (!existsSync(path)) {
    throw Object.assign(new Error(`native addon not built: ${path} is missing (run \`npm run setup\`)`), { code: 'ENOADDON' });
  }
  cached = createRequire(import.meta.url)(path) as NativeBinding;
  return cached;
}

/** A kernel enum value by its UAPI name, as compiled into the addon. */
export function constant(name: string): number {
  const v = native().constants[name];
  if (v === undefined) throw new Error(`unknown kernel constant ${name}`);
  return v;
}
