import type { PrismaClient } from '@packages/db';
import type { TenantFeatureState } from '../../core/index.js';
import { readTenantState } from '../../io/tenant-store/index.js';
import type { ClaimedQueue } from './inbox.js';
import { UNKNOWN_TENANT } from './ledger.js';

export type TenantMatch =
  /** `link`: the customer to record on the tenant (matched by metadata, not linked yet). */
  | { tenantId: string; state: TenantFeatureState | null; link: string | null }
  | { unknown: string; action: string };

/**
 * The tenant a claimed customer's events belong to: the one linked to the customer (the claim read
 * it), else the one its metadata names (from the events, else from Stripe) if that tenant is not
 * linked to another customer.
 */
export async function matchTenant(
  prisma: PrismaClient,
  claim: ClaimedQueue,
  hints: (string | null)[],
  customerTenantHint: (customerId: string) => Promise<string | null>,
): Promise<TenantMatch> {
  const customerId = claim.customerId;
  if (!customerId) return { unknown: 'event names no customer', action: UNKNOWN_TENANT };
  if (claim.tenant) return { tenantId: claim.tenant.id, state: claim.state, link: null };
  const hint = hints.find((h) => h !== null) ?? (await customerTenantHint(customerId));
  if (!hint) return { unknown: `customer ${customerId} matches no tenant`, action: UNKNOWN_TENANT };
  const found = await readTenantState(prisma, hint);
  if (!found)
    return {
      unknown: `customer ${customerId} names tenant ${hint} in its metadata, which does not exist`,
      action: UNKNOWN_TENANT,
    };
  const linked = found.tenant.stripeCustomerId;
  if (linked && linked !== customerId) {
    // Two customers claiming one tenant needs a human; silently re-pointing would hand one customer's plan to the other.
    return {
      unknown: `customer ${customerId} names tenant ${hint}, which is linked to customer ${linked}`,
      action: 'customer_mismatch',
    };
  }
  return { tenantId: hint, state: found.state, link: linked ? null : customerId };
}
