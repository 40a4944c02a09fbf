#!/usr/bin/env node
// `meshlight <command>`: picks the subcommand and maps its outcome to an exit code.
import { UsageError } from './args.js';

const commands: Record<string, { summary: string; load: () => Promise<{ run(argv: string[]): Promise<number> }> }> = {
  proxy: { summary: 'run one sidecar proxy', load: () => import('./proxy.js') },
  'control-plane': { summary: 'push config to the sidecars, gather their telemetry, serve the call graph', load: () => import('./control-plane.js') },
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

main(process.argv.slice(2)).then(
  (code) => {
    process.exitCode = code;
  },
  (err: unknown) => {
    process.stderr.write(`meshlight: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}\n`);
    process.exitCode = 1;
  },
);
