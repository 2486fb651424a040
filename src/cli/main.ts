// Entry point of the `ebpf-kube-proxy` command: dispatch only.
import { runProbe } from './probe.js';
import { runDaemon } from './run.js';
import { runBench } from '../bench/index.js';
import { runLab } from '../lab/cli.js';
import { runDemo } from './demo.js';

const USAGE = `usage: ebpf-kube-proxy <command> [options]

commands:
  run [flags]      the proxy daemon (see README for flags; kube-proxy's names where it has them)
  probe [--json]   what this kernel and machine support, and the mode auto would pick
  lab CMD          a simulated cluster in network namespaces (ebpf-kube-proxy lab help)
  demo             lab up, traffic through every kind of Service, a table, lab down
  bench SUITE      benchmarks: datapath, controlplane, wire (add --json for machine output)
  help             this text
`;

type Command = (args: string[]) => number | Promise<number>;

const COMMANDS: Record<string, Command> = {
  run: runDaemon,
  probe: runProbe,
  bench: runBench,
  lab: runLab,
  demo: runDemo,
  help: () => {
    process.stdout.write(USAGE);
    return 0;
  },
};

export async function main(argv: string[]): Promise<number> {
  const [name, ...rest] = argv;
  if (!name || name === '--help' || name === '-h') {
    process.stdout.write(USAGE);
    return name ? 0 : 2;
  }
  const command = COMMANDS[name];
  if (!command) {
    process.stderr.write(`ebpf-kube-proxy: unknown command ${JSON.stringify(name)}\n${USAGE}`);
    return 2;
  }
  return command(rest);
}
