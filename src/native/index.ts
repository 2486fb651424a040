// The typed face of the native addon; nothing outside src/native loads the .node file.
export { BpfObject, type OpenOptions, type VerifierStats } from './object.js';
export { BpfMap, type UpdateFlag } from './map.js';
export { BpfProgram, type TestRunOptions, type TestRunResult } from './program.js';
export {
  attachXdp, detachXdp, queryXdp, attachTc, detachTc, queryTc, destroyTcHook, attachCgroup, detachCgroup, detachCgroupById, queryCgroup,
  ifindexOf, DEFAULT_TC_SLOT, type Interface, type XdpMode, type TcDirection, type TcSlot, type TcAttachment, type XdpState,
} from './attach.js';
export { probeKernel, type KernelProbe } from './probe.js';
export { bpfObjectPath, packageRoot } from './paths.js';
export { isBpfError, type BpfError } from './errors.js';
export { constant, native } from './binding.js';
export { enterNetns, withNetns } from './netns.js';
export { LinkWatch } from './link-watch.js';
export { nfacctEnsure, nfacctPackets } from './nfacct.js';
export { enableRunTimeStats, progRunStats, type RunStats } from './stats.js';
export { DEFAULT_PIN_DIR, isBpffs, preparePinDir } from './pins.js';
