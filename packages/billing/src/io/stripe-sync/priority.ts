import { AsyncLocalStorage } from 'node:async_hooks';

/**
 * Which Stripe work goes first when the shared budget is short: `high` (webhooks, admin and
 * single-tenant actions, the default) is served before `low` (bulk sync, reconcile walks).
 */
export type StripePriority = 'high' | 'low';

const storage = new AsyncLocalStorage<StripePriority>();

/** Runs `fn` with every Stripe call it makes (however deep) taking tokens at `priority`. */
export function withStripePriority<T>(priority: StripePriority, fn: () => T): T {
  return storage.run(priority, fn);
}

export function currentStripePriority(): StripePriority {
  return storage.getStore() ?? 'high';
}
