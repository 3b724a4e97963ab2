import type { KeyValueCache } from './key-value-cache.js';

/** A shared cache that holds nothing: every lookup through it is a read of the committed row. */
export function createNoCache(): KeyValueCache {
  return {
    kind: 'memory',
    get: async () => null,
    set: async () => {},
    setIfNewer: async () => false,
    del: async () => {},
    close: async () => {},
  };
}
