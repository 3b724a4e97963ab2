import type { EventLog, RequestRef } from './events.js';
import type { Params } from './params.js';
import type { Obj, Store } from './store.js';

/** Everything a resource handler may touch while serving one request. */
export interface Ctx {
  store: Store;
  events: EventLog;
  baseUrl: string;
  request: RequestRef;
}

export type Method = 'GET' | 'POST' | 'DELETE';

export interface HandlerInput {
  ctx: Ctx;
  params: Params;
  /** The `:id` path segment, when the route has one. */
  id: string;
  /** The `:sub` path segment of nested routes (`/v1/products/:id/features/:sub`). */
  subId: string;
}

export interface Route {
  method: Method;
  /** Express-like pattern; `:id` and `:sub` each match one path segment. */
  path: string;
  handler: (input: HandlerInput) => Obj;
}
