#!/usr/bin/env node
// Runs the compiled CLI (dist/, built by `npm run build`).
import { main } from '../dist/cli/main.js';

main(process.argv.slice(2)).then(
  (code) => { process.exitCode = code; },
  (err) => {
    process.stderr.write(`ebpf-kube-proxy: ${err?.stack ?? err}\n`);
    process.exitCode = 1;
  },
);
