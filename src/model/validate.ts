// The model's boundary: every API object enters through one of these parsers. They take `unknown`,
// never throw, and return either a validated object plus the non-fatal problems found in it, or
// the problems that made the whole object unusable.

export { parseService, type ParseServiceOptions, type PortRange } from './validate-service.js';
export { parseEndpointSlice } from './validate-endpointslice.js';
export { parseNode } from './validate-node.js';
export { parseServiceCIDR, serviceCIDRsOf, type ServiceCIDRs } from './validate-servicecidr.js';
export type { ParseResult, Problem } from './problem.js';
