// The model room: Kubernetes Service semantics as pure functions (no I/O, no imports from other rooms).

export * from './k8s.js';
export * from './ip.js';
export { ROOT_FIELD, type Problem, type ParseResult } from './problem.js';
export * from './validate.js';
export * from './service.js';
export * from './endpoints.js';
export * from './topology.js';
export * from './node.js';
export * from './desired.js';
export * from './source-ranges.js';
