/**
 * Statuses that keep a tenant's features. past_due is included on purpose: Stripe is still
 * retrying the payment (Smart Retries / dunning), and cutting features during that window would
 * punish a card that is merely expiring. When retries are exhausted Stripe moves the subscription
 * to unpaid or canceled (per the account's settings), and access ends then.
 */
export const ACCESS_GRANTING_STATUSES = ['active', 'trialing', 'past_due'] as const;

export function grantsAccess(status: string): boolean {
  return (ACCESS_GRANTING_STATUSES as readonly string[]).includes(status);
}
