export { SyncLoop, type SyncLoopOptions } from './sync-loop.js';
export { BoundedFrequencyRunner, type RunnerOptions, type RunReason } from './runner.js';
export { realClock, FakeClock, type Clock } from './clock.js';
export { ObjectStore, isNoOpChange, serviceOfSlice } from './store.js';
export type { StateConsumer, StateUpdate, SyncObserver, SyncReport } from './types.js';
