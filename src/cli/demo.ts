// `meshlight demo` (what `npm start` runs): flags only; the mesh itself is src/demo/.
import { runDemo } from '../demo/mesh.js';
import { DEMO_CONFIG } from '../demo/sidecars.js';
import { durationFlag, helpText, logLevelFlag, parseFlags, positiveIntFlag, stringFlag, type FlagSpecs } from './args.js';
import { LOG_LEVELS } from '../diagnostics.js';

const FLAGS: FlagSpecs = {
  duration: { type: 'string', help: 'stop after this long (e.g. 20s); default: until Ctrl-C' },
  rps: { type: 'string', help: 'generated requests per second into frontend', default: '20' },
  config: { type: 'string', help: 'route YAML directory the demo\'s control plane watches (copy config/demo to experiment)', default: DEMO_CONFIG },
  'log-level': { type: 'string', help: `the sidecars' diagnostics on stderr: ${LOG_LEVELS.join('|')}`, default: 'warn' },
};

export async function run(argv: string[]): Promise<number> {
  const parsed = parseFlags(argv, FLAGS, false);
  if (parsed.help) {
    process.stdout.write(helpText('meshlight demo [flags]', FLAGS));
    return 0;
  }
  const logLevel = logLevelFlag(parsed);
  return runDemo({ durationMs: durationFlag(parsed, 'duration'), rps: positiveIntFlag(parsed, 'rps')!, logLevel, configDir: stringFlag(parsed, 'config')! });
}
