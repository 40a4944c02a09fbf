// The control plane's config: the --config directory and/or the cluster's objects, watched. A valid
// change becomes the new views; an invalid one is logged as FILE:LINE:COL (a cluster object's FILE is
// `Kind namespace/name`) and kept in `rejected`, while the last good views keep serving.
import { ConfigRejectedError, formatIssue, parseConfig, readSources, YamlCache, type ConfigSource } from '../../src/config/load.js';
import type { ConfigIssue } from '../../src/config/types.js';
import type { Logger } from '../../src/diagnostics.js';
import { watchConfig, type ConfigWatcher } from '../../src/proxy/config-watch.js';
import { ConfigViews } from './views.js';
import { PUSH_NAMESPACE } from '../proto/index.js';

export type ReadResult = Awaited<ReturnType<typeof readSources>>;

/** Where config texts come from. `start` resolves once the first read can be served. */
export interface ConfigFeed {
  readonly describe: string;
  start(onChange: () => void): Promise<void>;
  read(): Promise<ReadResult>;
  close(): void;
}

/** The --config file or directory (a ConfigMap mount in a cluster). */
export class FileFeed implements ConfigFeed {
  private watcher: ConfigWatcher | undefined;
  constructor(private readonly path: string) {}
  get describe(): string {
    return this.path;
  }
  async start(onChange: () => void): Promise<void> {
    this.watcher = await watchConfig(this.path, onChange);
  }
  read(): Promise<ReadResult> {
    return readSources([this.path]);
  }
  close(): void {
    this.watcher?.close();
  }
}

export class ConfigStore {
  private current: ConfigViews | undefined;
  /** Problems of the newest config on disk, when it was rejected. */
  rejected: readonly ConfigIssue[] = [];
  loadedAt = new Date();
  private reloading = Promise.resolve();
  private readonly yaml = new YamlCache();

  constructor(private readonly feeds: readonly ConfigFeed[], private readonly log: Logger, private readonly onChange: (views: ConfigViews) => void) {}

  get views(): ConfigViews {
    return this.current!;
  }

  /** Starts watching the feeds, then loads the config (rejecting if invalid: nothing to serve yet). */
  async start(): Promise<void> {
    let started = false;
    for (const feed of this.feeds) {
      this.log.info(`config from ${feed.describe}`);
      await feed.start(() => {
        if (started) this.reloading = this.reloading.then(() => this.reload());
      });
    }
    const result = await this.load();
    if (!result.ok) throw new ConfigRejectedError(result.errors);
    this.adopt(result.views);
    started = true;
    // A change between the feeds' start and the first load is not lost.
    this.reloading = this.reloading.then(() => this.reload());
  }

  close(): void {
    for (const feed of this.feeds) feed.close();
  }

  private async load(): Promise<{ ok: true; views: ConfigViews } | { ok: false; errors: readonly ConfigIssue[] }> {
    const sources: ConfigSource[] = [];
    const errors: ConfigIssue[] = [];
    for (const feed of this.feeds) {
      const read = await feed.read();
      if (read.ok) sources.push(...read.sources);
      else errors.push(...read.errors);
    }
    if (errors.length > 0) return { ok: false, errors };
    const parsed = parseConfig(sources, { defaultNamespace: PUSH_NAMESPACE, cache: this.yaml });
    return parsed.ok ? { ok: true, views: new ConfigViews(parsed.snapshot, sources, this.yaml) } : parsed;
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
