import type { ListTenantsOptions } from './tenants.js';

/**
 * A tenant list's filters as both adapters name them: `npm run manage -- tenants list --access …`
 * and `GET /api/admin/tenants?access=…` (`access` is listTenants' `accessActive`), already parsed.
 */
export interface TenantListFilter {
  limit?: number;
  cursor?: string;
  bundle?: string;
  plan?: string;
  access?: boolean;
  customPlan?: boolean;
  updatedSince?: Date;
}

/** The filter as listTenants takes it; filters not given are left out. */
export function listTenantsOptions(filter: TenantListFilter): ListTenantsOptions {
  const { access, ...rest } = filter;
  const options: ListTenantsOptions = { ...rest, accessActive: access };
  return Object.fromEntries(Object.entries(options).filter(([, v]) => v !== undefined));
}
