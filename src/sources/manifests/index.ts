export { ManifestSource, type ManifestSourceOptions } from './source.js';
export { parseManifest, type ManifestObject, type ParsedFile } from './parse.js';
