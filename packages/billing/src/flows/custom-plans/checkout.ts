import type Stripe from 'stripe';

/**
 * A checkout link we hand out must stay usable for a while: a session with less than this left
 * (Stripe expires them after 24 h) is replaced instead of returned.
 */
export const CHECKOUT_MIN_REMAINING_MS = 60 * 60_000;

/** What the `custom_plans` row keeps about the plan's current Checkout Session. */
export interface StoredCheckout {
  url: string;
  sessionId: string;
  expiresAt: Date;
}

/** The row's checkout columns; null clears them. */
export function checkoutColumns(checkout: StoredCheckout | null) {
  return {
    checkoutUrl: checkout?.url ?? null,
    checkoutSessionId: checkout?.sessionId ?? null,
    checkoutExpiresAt: checkout?.expiresAt ?? null,
  };
}

export function storedCheckout(session: Stripe.Checkout.Session): StoredCheckout | null {
  if (!session.url) return null;
  return { url: session.url, sessionId: session.id, expiresAt: new Date(session.expires_at * 1000) };
}

/** The stored URL unless it is known to be dead; rows older than the expiry column cannot tell. */
export function storedUrlIfLive(
  row: { checkoutUrl: string | null; checkoutExpiresAt: Date | null },
  now: Date,
): string | undefined {
  if (!row.checkoutUrl) return undefined;
  if (row.checkoutExpiresAt && row.checkoutExpiresAt.getTime() <= now.getTime()) return undefined;
  return row.checkoutUrl;
}

export type CheckoutReplay =
  /** The session is open with time to spare: hand out its URL again. */
  | { kind: 'reuse'; url: string }
  /** The customer has checked out: a second session could sell them the plan twice. */
  | { kind: 'completed' }
  /** Expired, or too close to it: a new session is needed (an open one is expired first). */
  | { kind: 'replace'; expireFirst: boolean };

export function decideCheckoutReplay(session: Stripe.Checkout.Session, now: Date): CheckoutReplay {
  if (session.status === 'complete') return { kind: 'completed' };
  if (session.status === 'open') {
    const remaining = session.expires_at * 1000 - now.getTime();
    if (session.url && remaining > CHECKOUT_MIN_REMAINING_MS) return { kind: 'reuse', url: session.url };
    return { kind: 'replace', expireFirst: true };
  }
  return { kind: 'replace', expireFirst: false };
}
