import type { KeyValueCache } from '../../src/cache/index.js';

/** A shared cache that never holds anything: every lookup through it is a database read. */
export function noCache(): KeyValueCache {
  return {
    kind: 'memory',
    get: async () => null,
    set: async () => {},
    setIfNewer: async () => false,
    del: async () => {},
    close: async () => {},
  };
}
