// Reading Prometheus text exposition in tests.

/** The value of the one sample whose name and labels contain every given `name="value"` pair. */
export function sample(text: string, name: string, labels: Readonly<Record<string, string>> = {}): number | undefined {
  const lines = text.split('\n').filter((l) => (l.startsWith(`${name}{`) || l.startsWith(`${name} `)) && Object.entries(labels).every(([k, v]) => l.includes(`${k}="${v}"`)));
  if (lines.length > 1) throw new Error(`more than one ${name} sample matches:\n${lines.join('\n')}`);
  const line = lines[0];
  if (line === undefined) return undefined;
  const value = line.startsWith(`${name}{`) ? line.slice(line.indexOf('} ') + 2) : line.slice(name.length + 1);
  return Number(value.split(' ')[0]);
}
