// With --base-port, the demo's YAML (whose endpoints name the default ports) is mirrored into the demo's
// own directory with every default demo port moved by the same offset, and kept in step with edits, so
// the control plane watching the mirror sees a weight edit as it would see it in the original.
import { mkdir, rename, rm, writeFile } from 'node:fs/promises';
import { dirname, join, relative } from 'node:path';
import { readSources } from '../config/load.js';
import { watchConfig, type ConfigWatcher } from '../proxy/config-watch.js';
import { DEMO_PORTS, type DemoPorts } from './topology.js';

/** `text` with each `127.0.0.1:PORT` of a default demo port moved to the same place among `ports`. */
export function shiftPorts(text: string, ports: DemoPorts): string {
  const offset = ports.base - DEMO_PORTS.base;
  const known = new Set(DEMO_PORTS.all().map((p) => p.port));
  return text.replace(/127\.0\.0\.1:(\d+)/g, (whole, port: string) => (known.has(Number(port)) ? `127.0.0.1:${Number(port) + offset}` : whole));
}

/** Copies `from` (a directory) to `to` with the ports shifted, now and after every change; resolves once the first copy is written. */
export async function mirrorConfig(from: string, to: string, ports: DemoPorts): Promise<ConfigWatcher> {
  let written = new Set<string>();
  const copy = async (): Promise<void> => {
    const read = await readSources([from]);
    if (!read.ok) return; // mid-edit or unreadable: the control plane keeps what it has
    const now = new Set<string>();
    for (const { file, text } of read.sources) {
      const target = join(to, relative(from, file));
      now.add(target);
      await mkdir(dirname(target), { recursive: true });
      // By rename, as an editor would: the control plane never reads a half-written file.
      await writeFile(`${target}.tmp~`, shiftPorts(text, ports));
      await rename(`${target}.tmp~`, target);
    }
    for (const gone of written) if (!now.has(gone)) await rm(gone, { force: true });
    written = now;
  };
  await copy();
  let copying = Promise.resolve();
  return watchConfig(from, () => {
    copying = copying.then(copy, copy);
  });
}
