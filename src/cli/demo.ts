// `meshlight demo` (what `npm start` runs): flags only; the mesh itself is src/demo/.
import { runDemo } from '../demo/mesh.js';
import { DEMO_CONFIG } from '../demo/sidecars.js';
import { BASE_PORT_SPAN, DEFAULT_BASE_PORT } from '../demo/topology.js';
import { durationFlag, helpText, logLevelFlag, parseFlags, portFlag, positiveIntFlag, stringFlag, UsageError, type FlagSpecs } from './args.js';
import { LOG_LEVELS } from '../diagnostics.js';

const FLAGS: FlagSpecs = {
  duration: { type: 'string', help: 'stop after this long (e.g. 20s); default: until Ctrl-C' },
  rps: { type: 'string', help: 'generated requests per second into frontend', default: '20' },
  config: { type: 'string', help: 'route YAML directory the demo\'s control plane watches (copy config/demo to experiment)', default: DEMO_CONFIG },
  'base-port': {
    type: 'string',
    help: `where the demo's ports start: apps at +1..+5, sidecars at +1001.., +1101.., +1201.., control plane at +930 and +934 (a second demo beside the first: --base-port 28080)`,
    default: String(DEFAULT_BASE_PORT),
  },
  'log-level': { type: 'string', help: `the sidecars' diagnostics on stderr: ${LOG_LEVELS.join('|')}`, default: 'warn' },
};

export async function run(argv: string[]): Promise<number> {
  const parsed = parseFlags(argv, FLAGS, false);
  if (parsed.help) {
    process.stdout.write(helpText('meshlight demo [flags]', FLAGS));
    return 0;
  }
  const logLevel = logLevelFlag(parsed);
  const basePort = portFlag(parsed, 'base-port')!;
  if (basePort < 1024 || basePort + BASE_PORT_SPAN > 65535) throw new UsageError(`--base-port must be 1024-${65535 - BASE_PORT_SPAN}, so that every demo port fits, got '${basePort}'`);
  return runDemo({ durationMs: durationFlag(parsed, 'duration'), rps: positiveIntFlag(parsed, 'rps')!, logLevel, configDir: stringFlag(parsed, 'config')!, basePort });
}
