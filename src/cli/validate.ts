// `meshlight validate FILE|DIR...`: one line per problem on stdout, exit 0 (valid) or 1.
import { formatIssue, loadConfig } from '../config/load.js';
import { helpText, parseFlags, stringFlag, UsageError, type FlagSpecs } from './args.js';

const FLAGS: FlagSpecs = {
  namespace: { type: 'string', help: 'namespace of documents that name none', default: 'default' },
};

export async function run(argv: string[]): Promise<number> {
  const parsed = parseFlags(argv, FLAGS, true);
  if (parsed.help) {
    process.stdout.write(helpText('meshlight validate FILE|DIR... [flags]', FLAGS));
    return 0;
  }
  if (parsed.positionals.length === 0) throw new UsageError('name at least one FILE or DIR to check');
  const result = await loadConfig(parsed.positionals, { defaultNamespace: stringFlag(parsed, 'namespace')! });
  if (!result.ok) {
    for (const issue of result.errors) process.stdout.write(`${formatIssue(issue)}\n`);
    process.stderr.write(`${result.errors.length} problem${result.errors.length === 1 ? '' : 's'}\n`);
    return 1;
  }
  const s = result.snapshot;
  process.stdout.write(
    `ok: ${s.sources.length} files, ${s.services.size} services, ${s.httpRoutes.length} HTTPRoutes, ` +
      `${s.telemetry.length} Telemetry (version ${s.version})\n`,
  );
  return 0;
}
