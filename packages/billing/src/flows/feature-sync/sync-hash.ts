import { createHash } from 'node:crypto';
import type { MergeStrategy, PlanDefaults } from '../../core/types.js';

/**
 * Raised whenever what the hash covers or how it is decided changes: every stored hash then
 * differs once, and the next sync reads and decides every tenant again.
 */
const SCHEME = 'v1';

/** JSON with object keys sorted at every level, so equal plans give equal text. */
function canonical(value: unknown): string {
  if (value === null || typeof value !== 'object') return JSON.stringify(value) ?? 'null';
  if (Array.isArray(value)) return `[${value.map(canonical).join(',')}]`;
  const entries = Object.entries(value as Record<string, unknown>)
    .filter(([, v]) => v !== undefined)
    .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
  return `{${entries.map(([k, v]) => `${JSON.stringify(k)}:${canonical(v)}`).join(',')}}`;
}

/**
 * Hashes of what Stripe implies for a tenant, for one sync run: the plan (all it grants and names),
 * the subscription's id and status, whether it grants access, and the run's merge strategy. Two
 * runs that compute the same hash for a customer would decide its tenant the same way from the same
 * stored config, which the stored `sync_hash_version` vouches for (tenant-store/sync-hash.ts).
 * A plan object is shared by every customer on it during a walk, so it is hashed once.
 */
export function createSyncHasher(mergeStrategy: MergeStrategy) {
  const planText = new WeakMap<PlanDefaults, string>();
  return (item: {
    plan: PlanDefaults;
    subscription: { id: string; status: string } | null;
    grantsAccess: boolean;
  }): string => {
    let text = planText.get(item.plan);
    if (text === undefined) {
      text = createHash('sha256').update(canonical(item.plan)).digest('base64url');
      planText.set(item.plan, text);
    }
    const { subscription } = item;
    return createHash('sha256')
      .update(SCHEME)
      .update('\0')
      .update(mergeStrategy)
      .update('\0')
      .update(subscription ? `${subscription.id}\0${subscription.status}` : '-')
      .update('\0')
      .update(item.grantsAccess ? '1' : '0')
      .update('\0')
      .update(text)
      .digest('base64url')
      .slice(0, 22);
  };
}
