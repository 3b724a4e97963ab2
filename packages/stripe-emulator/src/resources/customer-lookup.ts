import type { Ctx } from '../context.js';
import type { Obj } from '../store.js';

/** A live (not deleted) customer, or undefined (read by customers, subscriptions, checkout and the portal). */
export function liveCustomer(ctx: Ctx, id: string): Obj | undefined {
  const c = ctx.store.customers.get(id);
  return c && !c.deleted ? c : undefined;
}
