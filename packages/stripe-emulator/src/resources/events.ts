import type { Route } from '../context.js';
import { noSuchObject } from '../errors.js';
import { paginate } from '../list.js';
import { bool, str, strArray } from '../params.js';

/** `customer.*` style wildcards are accepted by Stripe's `type` filter. */
function typeMatcher(pattern: string): (type: string) => boolean {
  if (!pattern.includes('*')) return (t) => t === pattern;
  const re = new RegExp(
    `^${pattern
      .split('*')
      .map((s) => s.replace(/[.+?^${}()|[\]\\]/g, '\\$&'))
      .join('.*')}$`,
  );
  return (t) => re.test(t);
}

export const eventRoutes: Route[] = [
  {
    method: 'GET',
    path: '/v1/events/:id',
    handler: ({ ctx, id }) => {
      const event = ctx.store.events.get(id);
      if (!event) throw noSuchObject('event', id);
      return event;
    },
  },
  {
    method: 'GET',
    path: '/v1/events',
    handler: ({ ctx, params }) => {
      const type = str(params, 'type');
      const types = strArray(params, 'types');
      const matchers = [...(type ? [type] : []), ...(types ?? [])].map(typeMatcher);
      const deliverySuccess = bool(params, 'delivery_success');
      return paginate(ctx.store.events, params, {
        url: '/v1/events',
        kind: 'event',
        filter: (e) =>
          (matchers.length === 0 || matchers.some((m) => m(e.type))) &&
          (deliverySuccess === undefined || (e.pending_webhooks === 0) === deliverySuccess),
      });
    },
  },
];
