/** A tenant as far as matching it to a Stripe customer is concerned. */
export interface TenantRef {
  id: string;
  stripeCustomerId: string | null;
}

export type CustomerMatch<T extends TenantRef> =
  | {
      tenant: T;
      /** true when found through metadata: the customer id is to be stored on the tenant */ link: boolean;
    }
  | { skip: 'no_tenant' | 'customer_mismatch' | 'duplicate_customer'; tenantId: string | null };

/**
 * Maps Stripe customers to tenants, one result per customer in input order. Tenants bound by
 * stripe_customer_id are claimed first, so a stale `tenantId` hint on another customer can never
 * take a tenant away from the customer it is actually bound to; an unbound tenant goes to the first
 * customer (in input order) whose hint names it. Shared by the bulk sync and the reconcile report
 * so both agree on who is who.
 */
export function matchCustomersToTenants<T extends TenantRef>(
  customers: readonly { customerId: string; tenantIdHint: string | null }[],
  tenants: readonly T[],
): CustomerMatch<T>[] {
  const byCustomer = new Map(
    tenants.flatMap((t) => (t.stripeCustomerId ? [[t.stripeCustomerId, t] as const] : [])),
  );
  const byId = new Map(tenants.map((t) => [t.id, t]));
  const claimed = new Set<string>();
  const bound = customers.map((c) => byCustomer.get(c.customerId));
  for (const tenant of bound) if (tenant) claimed.add(tenant.id);
  return customers.map((c, i): CustomerMatch<T> => {
    const boundTenant = bound[i];
    if (boundTenant) return { tenant: boundTenant, link: false };
    const tenant = c.tenantIdHint ? byId.get(c.tenantIdHint) : undefined;
    if (!tenant) return { skip: 'no_tenant', tenantId: c.tenantIdHint };
    // Not bound to this customer (else byCustomer would have found it), so bound to another one.
    if (tenant.stripeCustomerId !== null) return { skip: 'customer_mismatch', tenantId: tenant.id };
    if (claimed.has(tenant.id)) return { skip: 'duplicate_customer', tenantId: tenant.id };
    claimed.add(tenant.id);
    return { tenant, link: true };
  });
}
