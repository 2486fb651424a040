export { decideMode, checkMode, requiredFeatures } from './decide.js';
export { probeFeatures, realProbeEnv, type ProbeEnv } from './features.js';
export { PROXY_MODES, type Feature, type FeatureName, type Features, type ModeDecision, type ProxyMode } from './types.js';
