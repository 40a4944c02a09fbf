// `meshlight inject -f manifest.yaml`: the manifest with the sidecar and its init container added to
// every pod template, on stdout (`-f -` reads stdin). One line per workload on stderr.
import { readFile } from 'node:fs/promises';
import { injectManifest, ManifestError } from '../kube/inject-manifest.js';
import { InjectError } from '../kube/inject.js';
import { sidecarSettings, SIDECAR_FLAGS } from './sidecar-flags.js';
import { helpText, parseFlags, stringFlag, UsageError, type FlagSpecs } from './args.js';

const FLAGS: FlagSpecs = {
  filename: { type: 'string', help: 'the manifest (YAML, --- separated; - for stdin)' },
  f: { type: 'string', help: 'short for --filename' },
  ...SIDECAR_FLAGS,
};

export async function run(argv: string[]): Promise<number> {
  const parsed = parseFlags(argv.map((a) => (a === '-f' ? '--f' : a)), FLAGS, false);
  if (parsed.help) {
    process.stdout.write(helpText('meshlight inject -f manifest.yaml [flags] > injected.yaml', FLAGS));
    return 0;
  }
  const file = stringFlag(parsed, 'filename') ?? stringFlag(parsed, 'f');
  if (file === undefined) throw new UsageError('-f FILE is required (- for stdin)');
  let text: string;
  try {
    text = file === '-' ? await readStdin() : await readFile(file, 'utf8');
  } catch (err) {
    process.stderr.write(`meshlight inject: cannot read ${file}: ${(err as Error).message}\n`);
    return 1;
  }
  try {
    const result = injectManifest(text, file, sidecarSettings(parsed));
    process.stdout.write(result.text);
    for (const note of result.notes) process.stderr.write(`${note}\n`);
    return 0;
  } catch (err) {
    if (!(err instanceof ManifestError || err instanceof InjectError)) throw err;
    process.stderr.write(`meshlight inject: ${err.message}\n`);
    return 1;
  }
}

async function readStdin(): Promise<string> {
  const chunks: Buffer[] = [];
  for await (const c of process.stdin) chunks.push(c as Buffer);
  return Buffer.concat(chunks).toString('utf8');
}
