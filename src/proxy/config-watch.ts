// Watches the config file or directory and calls back, debounced, when anything in it changes.
// Editors save by rename, so the directory is watched, not the file.
import { watch, type FSWatcher } from 'node:fs';
import { stat } from 'node:fs/promises';
import { basename, dirname } from 'node:path';

const DEBOUNCE_MS = 100;

export async function watchConfig(path: string, onChange: () => void): Promise<FSWatcher> {
  const isDir = (await stat(path)).isDirectory();
  const dir = isDir ? path : dirname(path);
  const file = isDir ? undefined : basename(path);
  let timer: NodeJS.Timeout | undefined;
  const watcher = watch(dir, { persistent: false, recursive: isDir }, (_event, name) => {
    // A Kubernetes ConfigMap mount changes a file by swapping its `..data` symlink, not the file itself.
    if (file !== undefined && name !== null && name !== file && !name.startsWith('..')) return;
    clearTimeout(timer);
    timer = setTimeout(onChange, DEBOUNCE_MS);
  });
  watcher.on('error', () => undefined); // the directory went away: keep serving the last good config
  return watcher;
}
