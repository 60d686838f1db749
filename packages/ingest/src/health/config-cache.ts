/**
 * The published config, parsed once per version and typed: health, lifecycle, alerts, status
 * and the config routes read it here instead of each running `JSON.parse(latest.document)`.
 * Documents are validated before they are stored, so the parsed value is a `KeelConfig`.
 */
import type { KeelConfig } from '@keel/sdk-core/schema';
import type { ConfigStore, ConfigVersion } from '../store/state-types.js';

export interface CurrentConfig {
  version: number;
  /** The stored version (document text, hash…). */
  stored: ConfigVersion;
  config: KeelConfig;
}

export interface ConfigCache {
  /** The latest published config, parsed; undefined before the first publish. */
  current(): Promise<CurrentConfig | undefined>;
}

const cacheOf = new WeakMap<ConfigStore, ConfigCache>();

/** One cache per config store: every service of a store shares the parse. */
export function configCache(store: ConfigStore): ConfigCache {
  let c = cacheOf.get(store);
  if (c) return c;
  let last: CurrentConfig | undefined;
  c = {
    async current() {
      const v = await store.latest();
      if (!v) return undefined;
      if (last?.version !== v.version || last.stored.hash !== v.hash) last = { version: v.version, stored: v, config: JSON.parse(v.document) as KeelConfig };
      return last;
    },
  };
  cacheOf.set(store, c);
  return c;
}
