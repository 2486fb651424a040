export {
  createKubernetesSource,
  createTransport,
  loadKubeConfig,
  DEFAULT_BURST,
  DEFAULT_CONTENT_TYPE,
  DEFAULT_QPS,
  type ContentType,
  type KubernetesSourceOptions,
} from './source.js';
export { ABSENT_RELIST_MS, ResourceWatcher, type ResourceWatcherHandler, type ResourceWatcherOptions } from './resource-watcher.js';
export { createJsonTransport, type JsonTransportOptions } from './json-transport.js';
export { createProtobufTransport, protobufWire, type ProtobufTransportOptions } from './protobuf-transport.js';
export { createHttpTransport, type HttpTransportOptions, type Wire, type WatchDecoder, type ListBody } from './http-transport.js';
export { TokenBucket, rateLimiterFor, type RateLimiter } from './rate-limit.js';
export {
  decodeObject,
  decodeList,
  decodeWatchFrame,
  encodeObject,
  encodeWatchFrame,
  FrameReader,
  DEFAULT_MAX_FRAME_BYTES,
  PROTOBUF_MEDIA_TYPE,
  PROTOBUF_STREAM_MEDIA_TYPE,
} from './proto/codec.js';
export { ExponentialBackoff, DEFAULT_BACKOFF } from './backoff.js';
export { systemClock } from './clock.js';
export { resourcesFor, objectKey, PROXY_LABEL_SELECTOR } from './resources.js';
export * from './types.js';
