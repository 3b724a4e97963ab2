import type Stripe from 'stripe';
import type { StripeCall } from './client.js';

/**
 * Walks a Stripe list endpoint 100 objects per request, each page through `call`, handing pages
 * to `onPage` as they arrive (return false to stop; a promise is awaited before the next page) so
 * large walks need not hold every object.
 */
export async function forEachPage<T extends { id: string }>(
  call: StripeCall,
  label: string,
  page: (params: { limit: number; starting_after?: string }) => Promise<Stripe.ApiList<T>>,
  onPage: (items: T[]) => boolean | void | Promise<boolean | void>,
): Promise<void> {
  let startingAfter: string | undefined;
  for (;;) {
    const params = startingAfter ? { limit: 100, starting_after: startingAfter } : { limit: 100 };
    const list = await call(label, () => page(params));
    const last = list.data.at(-1);
    if ((await onPage(list.data)) === false || !list.has_more || !last) return;
    startingAfter = last.id;
  }
}

export async function listAll<T extends { id: string }>(
  call: StripeCall,
  label: string,
  page: (params: { limit: number; starting_after?: string }) => Promise<Stripe.ApiList<T>>,
): Promise<T[]> {
  const all: T[] = [];
  await forEachPage(call, label, page, (items) => {
    all.push(...items);
  });
  return all;
}
