// The fuzz corpus: inputs worth replaying on every run, one a line in test/fuzz-corpus/*.txt as
// `request <bytes>` or `response <bytes>`, bytes escaped so the files stay readable text:
// \r \n \t \\ and \xNN for any other byte outside printable ASCII. Lines starting with # are comments.
import { appendFileSync, readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import type { Kind } from './outcome.js';

export const CORPUS_DIR = new URL('../fuzz-corpus/', import.meta.url).pathname;

export interface CorpusEntry {
  readonly kind: Kind;
  readonly input: Buffer;
  /** `file:line`, to name the entry in a failure. */
  readonly where: string;
}

export function readCorpus(): CorpusEntry[] {
  const out: CorpusEntry[] = [];
  for (const file of readdirSync(CORPUS_DIR).filter((f) => f.endsWith('.txt')).sort()) {
    readFileSync(join(CORPUS_DIR, file), 'utf8')
      .split('\n')
      .forEach((line, i) => {
        if (line === '' || line.startsWith('#')) return;
        const m = /^(request|response) (.*)$/.exec(line);
        if (m === null) throw new Error(`${file}:${i + 1}: expected "request <bytes>" or "response <bytes>"`);
        out.push({ kind: m[1] as Kind, input: unescapeBytes(m[2]!), where: `${file}:${i + 1}` });
      });
  }
  return out;
}

/** Adds an input the long run found to the corpus, with a comment saying what it showed. */
export function addToCorpus(file: string, kind: Kind, input: Buffer, comment: string): void {
  appendFileSync(join(CORPUS_DIR, file), `# ${comment.replace(/\n/g, ' ')}\n${kind} ${escapeBytes(input)}\n`);
}

const NAMED: Record<number, string> = { 9: '\\t', 10: '\\n', 13: '\\r', 92: '\\\\' };

export function escapeBytes(b: Buffer): string {
  let s = '';
  for (const c of b) s += NAMED[c] ?? (c >= 0x20 && c < 0x7f ? String.fromCharCode(c) : `\\x${c.toString(16).padStart(2, '0')}`);
  return s;
}

export function unescapeBytes(s: string): Buffer {
  const text = s.replace(/\\(x[0-9a-fA-F]{2}|[rnt\\])/g, (_, e: string) => (e === 'r' ? '\r' : e === 'n' ? '\n' : e === 't' ? '\t' : e === '\\' ? '\\' : String.fromCharCode(parseInt(e.slice(1), 16))));
  return Buffer.from(text, 'latin1');
}
