export { createLogger, memoryLogger, type Logger, type Fields } from './log.js';
export { Collected, CollectedHistogram, Counter, Gauge, Histogram, Registry, type HistogramSample } from './metrics.js';
export { HealthState, HealthCheckServers, healthRoutes, listen, boundPort, nodeEligible, TO_BE_DELETED_TAINT, type HealthCheckService, type HttpEndpoints } from './health.js';
export { proxyMetrics, setNoLocalEndpoints, syncObserver, type ProxyMetrics } from './proxy-metrics.js';
export { HttpServers } from './http-servers.js';
