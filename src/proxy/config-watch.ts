// Watches the config file or directory and calls back, debounced, when anything in it changes.
// Editors save by rename, so directories are watched, not files. Each directory of the tree gets its
// own non-recursive watch: Node 20's recursive watch on Linux is emulated and can miss a file replaced
// by rename, and a missed change would leave a stale config serving.
import { watch, type FSWatcher } from 'node:fs';
import { readdir, stat } from 'node:fs/promises';
import { basename, dirname, join } from 'node:path';

const DEBOUNCE_MS = 100;

export interface ConfigWatcher {
  close(): void;
}

export async function watchConfig(path: string, onChange: () => void): Promise<ConfigWatcher> {
  const isDir = (await stat(path)).isDirectory();
  const file = isDir ? undefined : basename(path);
  const watchers = new Map<string, FSWatcher>();
  let timer: NodeJS.Timeout | undefined;
  let closed = false;
  const changed = (name: string | null): void => {
    // A Kubernetes ConfigMap mount changes a file by swapping its `..data` symlink, not the file itself.
    if (file !== undefined && name !== null && name !== file && !name.startsWith('..')) return;
    clearTimeout(timer);
    timer = setTimeout(() => {
      if (closed) return;
      if (isDir) void sync(); // a directory may have come or gone
      onChange();
    }, DEBOUNCE_MS);
  };
  const sync = async (): Promise<void> => {
    const dirs = isDir ? await directories(path) : [dirname(path)];
    if (closed) return;
    for (const [dir, w] of watchers) {
      if (!dirs.includes(dir)) {
        w.close();
        watchers.delete(dir);
      }
    }
    for (const dir of dirs) {
      if (watchers.has(dir)) continue;
      try {
        const w = watch(dir, { persistent: false }, (_event, name) => changed(name));
        w.on('error', () => undefined); // the directory went away: keep serving the last good config
        watchers.set(dir, w);
      } catch {
        // gone between listing and watching: the parent's watch reports it
      }
    }
  };
  await sync();
  return {
    close() {
      closed = true;
      clearTimeout(timer);
      for (const w of watchers.values()) w.close();
    },
  };
}

/** `root` and every directory under it, skipping dot entries as the loader does. */
async function directories(root: string): Promise<string[]> {
  const out = [root];
  try {
    for (const e of await readdir(root, { withFileTypes: true })) {
      if (e.isDirectory() && !e.name.startsWith('.')) out.push(...(await directories(join(root, e.name))));
    }
  } catch {
    // unreadable or gone: what is left is still watched
  }
  return out;
}
