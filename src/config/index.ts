export { resolveConfig, DEFAULTS, IPVS_SCHEDULERS } from './resolve.js';
export { deprecatedFlags, parseFlags, RUN_FLAGS, unhonouredFlags } from './flags.js';
export { parseDuration } from './duration.js';
export { ConfigError, type ProxyConfig, type RequestedMode } from './types.js';
export { podRanges } from './local-detect.js';
export { preferSameNode, unhonouredFeatureGates } from './feature-gates.js';
