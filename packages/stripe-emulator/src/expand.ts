import type { Ctx } from './context.js';
import { invalidRequest } from './errors.js';
import type { Obj } from './store.js';
import { deletedCustomerStub } from './resources/customers.js';
import { renderSession, sessionLineItems } from './resources/checkout.js';
import { renderFeature } from './resources/entitlements.js';
import { renderSubscription } from './resources/subscriptions.js';

/** Stripe's documented limit: `data.source.customer.default_source` is the deepest list expansion. */
export const DEFAULT_MAX_EXPAND_DEPTH = 4;

type Resolver = (ctx: Ctx, id: string) => Obj | undefined;

const resolvers: Record<string, Resolver> = {
  product: (ctx, id) => {
    const p = ctx.store.products.get(id);
    return p ? structuredClone(p) : { id, object: 'product', deleted: true };
  },
  price: (ctx, id) => {
    const p = ctx.store.prices.get(id);
    return p && structuredClone(p);
  },
  customer: (ctx, id) => {
    const c = ctx.store.customers.get(id);
    if (!c) return undefined;
    return c.deleted ? deletedCustomerStub(id) : structuredClone(c);
  },
  subscription: (ctx, id) => {
    const s = ctx.store.subscriptions.get(id);
    return s && renderSubscription(ctx, s);
  },
  invoice: (ctx, id) => {
    const i = ctx.store.invoices.get(id);
    return i && structuredClone(i);
  },
  'checkout.session': (ctx, id) => {
    const s = ctx.store.checkoutSessions.get(id);
    return s && renderSession(s);
  },
  'entitlements.feature': (ctx, id) => {
    const f = ctx.store.features.get(id);
    return f && renderFeature(f);
  },
};

/** Which kind of object an id-valued field points at. Field names beat id prefixes: product ids can be custom. */
const FIELD_KINDS: Record<string, string> = {
  product: 'product',
  default_price: 'price',
  price: 'price',
  customer: 'customer',
  subscription: 'subscription',
  latest_invoice: 'invoice',
  invoice: 'invoice',
  feature: 'entitlements.feature',
};

/** Properties that are absent unless expanded ("includable" in Stripe's docs). */
const INCLUDABLE: Record<string, Record<string, (ctx: Ctx, target: Obj) => Obj>> = {
  customer: {
    subscriptions: (ctx, customer) => {
      const data = ctx.store.subscriptions
        .where('customer', customer.id as string)
        .filter((s) => s.status !== 'canceled' && s.status !== 'incomplete_expired')
        .map((s) => renderSubscription(ctx, s));
      return {
        object: 'list',
        data,
        has_more: false,
        total_count: data.length,
        url: `/v1/customers/${customer.id}/subscriptions`,
      };
    },
  },
  'checkout.session': {
    line_items: (ctx, session) => {
      const stored = ctx.store.checkoutSessions.get(session.id as string);
      return stored ? sessionLineItems(ctx, stored) : { object: 'list', data: [], has_more: false, url: '' };
    },
  },
};

function cannotExpand(path: string, hint?: string): never {
  throw invalidRequest(
    `This property cannot be expanded (${path}).${hint ? ` You may want to try expanding '${hint}' instead.` : ''}`,
    'expand',
  );
}

function walk(ctx: Ctx, target: unknown, segments: string[], path: string): unknown {
  if (Array.isArray(target)) return target.map((t) => walk(ctx, t, segments, path));
  if (typeof target !== 'object' || target === null) return target;
  const node = target as Obj;
  const [head, ...rest] = segments as [string, ...string[]];
  let value = node[head];
  if (value === undefined) {
    const include = INCLUDABLE[node.object as string]?.[head];
    if (!include) cannotExpand(path, node.object === 'list' ? `data.${path}` : undefined);
    value = include(ctx, node);
  } else if (typeof value === 'string') {
    const kind = FIELD_KINDS[head];
    if (!kind) cannotExpand(path);
    value = resolvers[kind]!(ctx, value) ?? value;
  } else if (value !== null && typeof value !== 'object') {
    cannotExpand(path);
  }
  node[head] = rest.length ? walk(ctx, value, rest, path) : value;
  return node;
}

function expandPaths(expand: unknown, maxDepth: number): string[] {
  if (expand === undefined || expand === '') return [];
  const paths = Array.isArray(expand)
    ? expand
    : typeof expand === 'object' && expand !== null
      ? Object.values(expand)
      : [expand];
  return paths.map((path) => {
    if (typeof path !== 'string' || path === '') throw invalidRequest('Invalid array', 'expand');
    if (path.split('.').length > maxDepth) {
      throw invalidRequest(`You cannot expand more than ${maxDepth} levels of a property.`, 'expand');
    }
    return path;
  });
}

/** Checked before the handler runs so a malformed `expand` cannot follow a state change. */
export function validateExpand(expand: unknown, maxDepth = DEFAULT_MAX_EXPAND_DEPTH): void {
  expandPaths(expand, maxDepth);
}

/** Applies `expand[]` paths in place to a response body (a single object or a list). */
export function applyExpand(ctx: Ctx, body: Obj, expand: unknown, maxDepth = DEFAULT_MAX_EXPAND_DEPTH): Obj {
  for (const path of expandPaths(expand, maxDepth)) walk(ctx, body, path.split('.'), path);
  return body;
}
