export { createKubernetesSource, loadKubeConfig, type KubernetesSourceOptions } from './source.js';
export { ResourceWatcher, type ResourceWatcherHandler, type ResourceWatcherOptions } from './resource-watcher.js';
export { createJsonTransport, type JsonTransportOptions } from './json-transport.js';
export { ExponentialBackoff, DEFAULT_BACKOFF } from './backoff.js';
export { systemClock } from './clock.js';
export { resourcesFor, objectKey, PROXY_LABEL_SELECTOR } from './resources.js';
export * from './types.js';
