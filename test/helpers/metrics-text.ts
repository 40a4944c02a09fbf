// Reading Prometheus text exposition in tests.

interface Sample {
  readonly name: string;
  readonly labels: ReadonlyMap<string, string>;
  readonly value: number;
}

/** One exposition line (`name{a="1",b="x\"y"} 3 [timestamp]`, or an OpenMetrics exemplar after `#`), or undefined for comments. */
export function parseSample(line: string): Sample | undefined {
  if (line === '' || line.startsWith('#')) return undefined;
  const m = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(\{(.*)\})? (\S+)/.exec(line.replace(/ # \{.*$/, ''));
  if (m === null) throw new Error(`not a sample line: ${line}`);
  const labels = new Map<string, string>();
  for (const [, key, raw] of (m[3] ?? '').matchAll(/([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"/g)) {
    labels.set(key!, raw!.replace(/\\(.)/g, (_, c: string) => (c === 'n' ? '\n' : c)));
  }
  return { name: m[1]!, labels, value: Number(m[4]) };
}

/** The value of the one sample of `name` whose labels include every given pair exactly (by label name, not by substring). */
export function sample(text: string, name: string, labels: Readonly<Record<string, string>> = {}): number | undefined {
  const matching = text.split('\n').filter((line) => {
    const s = parseSample(line);
    return s !== undefined && s.name === name && Object.entries(labels).every(([k, v]) => s.labels.get(k) === v);
  });
  if (matching.length > 1) throw new Error(`more than one ${name} sample matches:\n${matching.join('\n')}`);
  return matching[0] === undefined ? undefined : parseSample(matching[0])!.value;
}
