import type { Method, Route } from './context.js';
import { billingPortalRoutes } from './resources/billing-portal.js';
import { checkoutRoutes } from './resources/checkout.js';
import { customerRoutes } from './resources/customers.js';
import { eventRoutes } from './resources/events.js';
import { entitlementRoutes } from './resources/entitlements.js';
import { invoiceRoutes } from './resources/invoices.js';
import { meterRoutes } from './resources/meters.js';
import { priceRoutes } from './resources/prices.js';
import { productRoutes } from './resources/products.js';
import { searchRoutes } from './resources/search.js';
import { subscriptionRoutes } from './resources/subscriptions.js';

// Search routes first: `/v1/customers/search` must not be taken for a customer id.
export const ROUTES: Route[] = [
  ...searchRoutes,
  ...productRoutes,
  ...priceRoutes,
  ...customerRoutes,
  ...subscriptionRoutes,
  ...checkoutRoutes,
  ...billingPortalRoutes,
  ...eventRoutes,
  ...invoiceRoutes,
  ...entitlementRoutes,
  ...meterRoutes,
];

export interface RouteMatch {
  route: Route;
  id: string;
  /** The `:sub` segment of nested routes such as `/v1/products/:id/features/:sub`. */
  subId: string;
}

export function matchRoute(
  method: string,
  pathname: string,
  routes: Route[] = ROUTES,
): RouteMatch | undefined {
  const segments = pathname.split('/');
  for (const route of routes) {
    if (route.method !== (method as Method)) continue;
    const pattern = route.path.split('/');
    if (pattern.length !== segments.length) continue;
    const found = { id: '', sub: '' };
    const ok = pattern.every((p, i) => {
      const s = segments[i]!;
      if (p === ':id' || p === ':sub') {
        found[p === ':id' ? 'id' : 'sub'] = decodeURIComponent(s);
        return s.length > 0;
      }
      return p === s;
    });
    if (ok) return { route, id: found.id, subId: found.sub };
  }
  return undefined;
}

/** For unrouted paths: replace id-looking segments so counts still group sensibly. */
export function normalisePath(pathname: string): string {
  return pathname
    .split('/')
    .map((s) => (/^[a-z]+(_test|_live)?_[A-Za-z0-9]*[A-Z0-9][A-Za-z0-9]*$/.test(s) ? ':id' : s))
    .join('/');
}
