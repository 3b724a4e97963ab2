import type { Ctx, Route } from '../context.js';
import { invalidRequest, missingParam } from '../errors.js';
import { parseLimit } from '../list.js';
import { str, type Params } from '../params.js';
import type { Obj, Table } from '../store.js';
import { renderSubscription } from './subscriptions.js';

type Predicate = (o: Obj) => boolean;

const CLAUSE =
  /^(-)?([a-z_]+)(?:\[(?:'([^']*)'|"([^"]*)")\])?\s*(:|~|>=|<=|>|<)\s*(?:'([^']*)'|"([^"]*)"|(\S+))$/;

function clause(text: string): Predicate {
  const m = CLAUSE.exec(text.trim());
  if (!m) throw invalidRequest(`Unsupported search query clause: ${text.trim()}`, 'query');
  const [, negate, field, key1, key2, op, v1, v2, v3] = m;
  const value = v1 ?? v2 ?? v3 ?? '';
  const key = key1 ?? key2;
  const pick = (o: Obj): unknown => (key !== undefined ? o[field!]?.[key] : o[field!]);
  let test: Predicate;
  if (op === ':') {
    test = (o) => {
      const actual = pick(o);
      if (value === 'null' && v3 !== undefined) return actual === null || actual === undefined;
      return actual !== null && actual !== undefined && String(actual) === value;
    };
  } else if (op === '~') {
    if (value.length < 3) throw invalidRequest('Substring search requires at least 3 characters.', 'query');
    test = (o) =>
      String(pick(o) ?? '')
        .toLowerCase()
        .includes(value.toLowerCase());
  } else {
    const n = Number(value);
    if (!Number.isFinite(n)) throw invalidRequest(`Invalid number in search query: ${value}`, 'query');
    test = (o) => {
      const a = Number(pick(o));
      return op === '>' ? a > n : op === '<' ? a < n : op === '>=' ? a >= n : a <= n;
    };
  }
  return negate ? (o) => !test(o) : test;
}

/** The subset of Stripe's search query language that billing code typically uses. */
export function parseQuery(query: string): Predicate {
  const hasAnd = / AND /.test(query);
  const hasOr = / OR /.test(query);
  if (hasAnd && hasOr) throw invalidRequest('Search queries cannot mix AND and OR.', 'query');
  const parts = query.split(hasOr ? / OR / : / AND /).map(clause);
  return hasOr ? (o) => parts.some((p) => p(o)) : (o) => parts.every((p) => p(o));
}

function search<T extends Obj>(
  table: Table<T>,
  params: Params,
  url: string,
  include: Predicate = () => true,
  render: (o: T) => Obj = (o) => structuredClone(o),
): Obj {
  const query = str(params, 'query');
  if (!query) throw missingParam('query');
  const limit = parseLimit(params);
  const page = str(params, 'page');
  // Page tokens are opaque to clients; an offset is enough for a static in-memory store.
  const offset = page ? Number(Buffer.from(page, 'base64url').toString('utf8')) : 0;
  if (!Number.isInteger(offset) || offset < 0) throw invalidRequest('Invalid page token.', 'page');
  const predicate = parseQuery(query);
  // Stops one match past the page: a page costs the rows before it, not the whole table.
  const matches: T[] = [];
  for (const { row } of table.scope().newestFirst()) {
    if (!include(row) || !predicate(row)) continue;
    matches.push(row);
    if (matches.length > offset + limit) break;
  }
  const data = matches.slice(offset, offset + limit).map(render);
  const hasMore = matches.length > offset + limit;
  return {
    object: 'search_result',
    data,
    has_more: hasMore,
    next_page: hasMore ? Buffer.from(String(offset + limit)).toString('base64url') : null,
    url,
  };
}

export const searchRoutes: Route[] = [
  {
    method: 'GET',
    path: '/v1/customers/search',
    handler: ({ ctx, params }) =>
      search(ctx.store.customers, params, '/v1/customers/search', (c) => !c.deleted),
  },
  {
    method: 'GET',
    path: '/v1/products/search',
    handler: ({ ctx, params }) => search(ctx.store.products, params, '/v1/products/search'),
  },
  {
    method: 'GET',
    path: '/v1/prices/search',
    handler: ({ ctx, params }) => search(ctx.store.prices, params, '/v1/prices/search'),
  },
  {
    method: 'GET',
    path: '/v1/invoices/search',
    handler: ({ ctx, params }) => search(ctx.store.invoices, params, '/v1/invoices/search'),
  },
  {
    method: 'GET',
    path: '/v1/subscriptions/search',
    handler: ({ ctx, params }: { ctx: Ctx; params: Params }) =>
      search(ctx.store.subscriptions, params, '/v1/subscriptions/search', undefined, (s) =>
        renderSubscription(ctx, s),
      ),
  },
];
