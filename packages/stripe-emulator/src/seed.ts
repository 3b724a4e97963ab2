import type { EmulatorCore } from './core.js';
import { createCustomer } from './resources/customers.js';
import { createSubscription } from './resources/subscriptions.js';

/** One customer to create and, optionally, its subscription: the fields of the two API calls it replaces. */
export interface SeedCustomer {
  name?: string;
  email?: string;
  metadata?: Record<string, string>;
  subscription?: {
    items: Array<{ price: string; quantity?: number }>;
    metadata?: Record<string, string>;
  };
}

export interface SeedOptions {
  /** False: keep no event (default true, as the API). */
  events?: boolean;
  /**
   * Customers per second of `created`: the emulator's clock moves one second forward after every
   * `perSecond` of them (and stays moved, as with advanceClock), so `created` spreads as over an
   * account's history instead of a few seconds; walks split by `created` ranges depend on it.
   */
  perSecond?: number;
}

export interface SeededCustomer {
  customer: string;
  subscription: string | null;
}

/**
 * Creates customers and their subscriptions in one call, through the same code as
 * `POST /v1/customers` and `POST /v1/subscriptions` (validation, ids, active entitlements), without
 * the HTTP round trip, form parsing and idempotency record of each. With `events: false` no event is
 * kept or delivered, as for an account whose objects are older than the 30 days of events Stripe
 * keeps; that is what lets a benchmark hold a million subscriptions. An invalid entry stops the call
 * with its index in the message; the entries before it stay created.
 */
export function seedCustomers(
  core: EmulatorCore,
  customers: readonly SeedCustomer[],
  { events = true, perSecond }: SeedOptions = {},
): SeededCustomer[] {
  if (perSecond !== undefined && !(Number.isInteger(perSecond) && perSecond > 0))
    throw new Error(`perSecond must be a whole number > 0, got ${perSecond}`);
  const base = core.ctx();
  const ctx = events ? base : { ...base, events: base.events.muted() };
  return customers.map((c, i) => {
    try {
      const customer = createCustomer(ctx, {
        ...(c.name === undefined ? {} : { name: c.name }),
        ...(c.email === undefined ? {} : { email: c.email }),
        ...(c.metadata === undefined ? {} : { metadata: c.metadata }),
      });
      if (!c.subscription) return { customer: customer.id as string, subscription: null };
      const subscription = createSubscription(ctx, {
        customer: customer.id,
        items: c.subscription.items.map((item) => ({
          price: item.price,
          ...(item.quantity === undefined ? {} : { quantity: String(item.quantity) }),
        })),
        ...(c.subscription.metadata === undefined ? {} : { metadata: c.subscription.metadata }),
      });
      return { customer: customer.id as string, subscription: subscription.id as string };
    } catch (error) {
      throw new Error(`customers[${i}]: ${(error as Error).message}`, { cause: error });
    } finally {
      if (perSecond !== undefined && (i + 1) % perSecond === 0) core.store.clock.advance(1);
    }
  });
}
