#!/usr/bin/env node
// `meshlight <command>`: picks the subcommand and maps its outcome to an exit code.
import { PerformanceObserver } from 'node:perf_hooks';
import { getHeapSpaceStatistics, setFlagsFromString } from 'node:v8';
import { UsageError } from './args.js';

const commands: Record<string, { summary: string; load: () => Promise<{ run(argv: string[]): Promise<number> }> }> = {
  proxy: { summary: 'run one sidecar proxy', load: () => import('./proxy.js') },
  'control-plane': { summary: 'push config to the sidecars, gather their telemetry, serve the call graph', load: () => import('./control-plane.js') },
  tap: { summary: 'stream the live requests of a service from its sidecars (through the control plane)', load: () => import('./tap.js') },
  validate: { summary: 'check route YAML files or directories', load: () => import('./validate.js') },
  demo: { summary: 'run the demo mesh (what `npm start` runs)', load: () => import('./demo.js') },
};

function usage(): string {
  const lines = Object.entries(commands).map(([name, c]) => `  ${name.padEnd(14)} ${c.summary}`);
  return `usage: meshlight <command> [flags]\n\ncommands:\n${lines.join('\n')}\n\n'meshlight <command> --help' for a command's flags.\n`;
}

async function main(argv: string[]): Promise<number> {
  const [name, ...rest] = argv;
  if (name === undefined || name === '--help' || name === '-h' || name === 'help') {
    process.stdout.write(usage());
    return name === undefined ? 2 : 0;
  }
  const command = commands[name];
  if (command === undefined) {
    process.stderr.write(`meshlight: unknown command '${name}' (see meshlight --help)\n`);
    return 2;
  }
  if (name === 'proxy') capYoungGeneration();
  try {
    return await (await command.load()).run(rest);
  } catch (err) {
    if (err instanceof UsageError) {
      process.stderr.write(`meshlight ${name}: ${err.message}\n`);
      return 2;
    }
    throw err;
  }
}

/**
 * New space (two semi-spaces) at which a sidecar stops V8 growing it; V8's own cap is 32 MiB. GC entries
 * reach the observer a little late, so growth may take one more step, to 8 MiB.
 */
const YOUNG_GENERATION_BYTES = 4 * 1024 * 1024;

/**
 * Caps a sidecar's young generation at 4 MiB, as `--max-semi-space-size=2` would: ~20 MB less RSS under
 * load and no more CPU (a proxy keeps little alive across a scavenge). 2 MiB is worse: in-flight
 * requests get promoted and the old generation grows instead. That flag only works on the command line,
 * but the growth factor can be changed at run time, so growth stops once new space reaches the cap
 * (checked after each GC, not per request). An operator's own semi-space flag wins.
 */
function capYoungGeneration(): void {
  if ([...process.execArgv, process.env['NODE_OPTIONS'] ?? ''].some((a) => a.includes('semi-space'))) return;
  let growing = true;
  new PerformanceObserver(() => {
    const young = getHeapSpaceStatistics().find((s) => s.space_name === 'new_space')?.space_size ?? 0;
    if ((young < YOUNG_GENERATION_BYTES) === growing) return;
    growing = !growing;
    setFlagsFromString(`--semi-space-growth-factor=${growing ? 2 : 1}`);
  }).observe({ entryTypes: ['gc'] });
}

main(process.argv.slice(2)).then(
  (code) => {
    process.exitCode = code;
  },
  (err: unknown) => {
    process.stderr.write(`meshlight: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}\n`);
    process.exitCode = 1;
  },
);
