// The control plane's config: the --config directory, watched. A valid change becomes the new views; an
// invalid one is logged as FILE:LINE:COL and kept in `rejected`, while the last good views keep serving.
import { ConfigRejectedError, formatIssue, parseConfig, readSources, YamlCache } from '../../src/config/load.js';
import type { ConfigIssue } from '../../src/config/types.js';
import type { Logger } from '../../src/diagnostics.js';
import { watchConfig, type ConfigWatcher } from '../../src/proxy/config-watch.js';
import { ConfigViews } from './views.js';
import { PUSH_NAMESPACE } from '../proto/index.js';

export class ConfigStore {
  private current: ConfigViews | undefined;
  /** Problems of the newest config on disk, when it was rejected. */
  rejected: readonly ConfigIssue[] = [];
  loadedAt = new Date();
  private watcher: ConfigWatcher | undefined;
  private reloading = Promise.resolve();
  private readonly yaml = new YamlCache();

  constructor(private readonly path: string, private readonly log: Logger, private readonly onChange: (views: ConfigViews) => void) {}

  get views(): ConfigViews {
    return this.current!;
  }

  /** Loads the config (rejecting if invalid: nothing to serve yet) and starts watching it. */
  async start(): Promise<void> {
    const result = await this.load();
    if (!result.ok) throw new ConfigRejectedError(result.errors);
    this.adopt(result.views);
    this.watcher = await watchConfig(this.path, () => {
      this.reloading = this.reloading.then(() => this.reload());
    });
  }

  close(): void {
    this.watcher?.close();
  }

  private async load(): Promise<{ ok: true; views: ConfigViews } | { ok: false; errors: readonly ConfigIssue[] }> {
    const read = await readSources([this.path]);
    if (!read.ok) return read;
    const parsed = parseConfig(read.sources, { defaultNamespace: PUSH_NAMESPACE, cache: this.yaml });
    return parsed.ok ? { ok: true, views: new ConfigViews(parsed.snapshot, read.sources, this.yaml) } : parsed;
  }

  private async reload(): Promise<void> {
    const result = await this.load();
    if (!result.ok) {
      this.rejected = result.errors;
      for (const issue of result.errors) this.log.error(formatIssue(issue));
      this.log.error(`config rejected (${result.errors.length} problems); still serving version ${this.current?.snapshot.version}`);
      return;
    }
    this.rejected = [];
    if (result.views.snapshot.version === this.current?.snapshot.version) return;
    this.adopt(result.views);
    this.onChange(result.views);
  }

  private adopt(views: ConfigViews): void {
    this.current = views;
    this.loadedAt = new Date();
    const { version, services, httpRoutes } = views.snapshot;
    this.log.info(`config version ${version}: ${services.size} services, ${httpRoutes.length} HTTPRoutes`);
  }
}
