// The Kubernetes protobuf schemas (top-level proto/, same numbers as upstream generated.proto),
// parsed once at run time with protobufjs. Resolved from the package root so that the same
// files are found from src/ (tests) and dist/ (the CLI).

import { isAbsolute, join } from 'node:path';
import protobuf from 'protobufjs';
import { packageRoot } from '../../../native/paths.js';

const FILES = [
  'k8s.io/apimachinery/pkg/runtime/generated.proto',
  'k8s.io/apimachinery/pkg/util/intstr/generated.proto',
  'k8s.io/apimachinery/pkg/apis/meta/v1/generated.proto',
  'k8s.io/api/core/v1/generated.proto',
  'k8s.io/api/discovery/v1/generated.proto',
  'k8s.io/api/networking/v1/generated.proto',
];

export const META = 'k8s.io.apimachinery.pkg.apis.meta.v1';
export const RUNTIME = 'k8s.io.apimachinery.pkg.runtime';
export const INTSTR = 'k8s.io.apimachinery.pkg.util.intstr';
export const CORE = 'k8s.io.api.core.v1';
export const DISCOVERY = 'k8s.io.api.discovery.v1';
export const NETWORKING = 'k8s.io.api.networking.v1';

let root: protobuf.Root | undefined;

/** The directory holding the .proto files. */
export function protoDir(): string {
  return join(packageRoot(), 'proto');
}

/** All schemas, loaded and resolved on first use. */
export function k8sRoot(): protobuf.Root {
  return (root ??= loadK8sRoot());
}

/** A fresh copy of all schemas, for a caller that adds to them (the wire bench) without touching the decoder's. */
export function loadK8sRoot(): protobuf.Root {
  const dir = protoDir();
  const r = new protobuf.Root();
  // Imports are written as upstream writes them ("k8s.io/…/generated.proto"), relative to proto/.
  r.resolvePath = (_origin, target) => (isAbsolute(target) ? target : join(dir, target));
  // keepCase: upstream field names already are the JSON names (podCIDR, clusterIPs, ipMode).
  r.loadSync(FILES, { keepCase: true });
  r.resolveAll();
  return r;
}

export function lookupType(name: string): protobuf.Type {
  return k8sRoot().lookupType(name);
}
