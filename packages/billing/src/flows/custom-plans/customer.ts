import type { PrismaClient } from '@packages/db';
import { recordAudit } from '../../io/audit/index.js';
import { CustomerAlreadyLinkedError } from '../../core/errors.js';
import { inTransaction } from '../../io/tenant-store/index.js';
import type { CustomPlanStripeSteps } from './stripe-steps.js';

/**
 * The Stripe customer a link is made out to, for a tenant that has none linked yet: the customer
 * whose metadata.tenantId names the tenant, or a new one; linked to the tenant (audited) only if it
 * still has no customer, so a concurrent link wins and is used instead.
 */
export async function ensureTenantCustomer(
  prisma: PrismaClient,
  steps: CustomPlanStripeSteps,
  tenant: { id: string; name: string },
  actor: string,
): Promise<string> {
  const customer = await steps.findOrCreateCustomer(tenant.id, tenant.name);
  const owner = await prisma.tenant.findUnique({
    where: { stripeCustomerId: customer.id },
    select: { id: true },
  });
  if (owner && owner.id !== tenant.id) throw new CustomerAlreadyLinkedError(customer.id, owner.id);
  return inTransaction(prisma, async (tx) => {
    const linked = await tx.tenant.updateMany({
      where: { id: tenant.id, stripeCustomerId: null },
      data: { stripeCustomerId: customer.id },
    });
    if (linked.count === 1) {
      await recordAudit(tx, {
        tenantId: tenant.id,
        actor,
        source: 'custom_plan',
        action: 'stripe_customer_linked',
        before: { name: tenant.name, stripeCustomerId: null },
        after: { name: tenant.name, stripeCustomerId: customer.id },
      });
      return customer.id;
    }
    const current = await tx.tenant.findUnique({
      where: { id: tenant.id },
      select: { stripeCustomerId: true },
    });
    return current?.stripeCustomerId ?? customer.id;
  });
}
