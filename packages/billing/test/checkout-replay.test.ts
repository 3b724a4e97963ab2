import type Stripe from 'stripe';
import { describe, expect, it } from 'vitest';
import {
  CHECKOUT_MIN_REMAINING_MS,
  decideCheckoutReplay,
  storedUrlIfLive,
} from '../src/flows/custom-plans/checkout.js';

/** The pure rules for handing a custom plan's checkout link out again. */

const now = new Date('2026-11-26T12:00:00Z');
const inSeconds = (ms: number) => Math.floor((now.getTime() + ms) / 1000);

function session(
  status: Stripe.Checkout.Session.Status,
  expiresInMs: number,
  url: string | null = 'https://pay.example/cs_1',
): Stripe.Checkout.Session {
  return { id: 'cs_1', status, url, expires_at: inSeconds(expiresInMs) } as Stripe.Checkout.Session;
}

describe('decideCheckoutReplay', () => {
  it('reuses an open session with more than the minimum left', () => {
    expect(decideCheckoutReplay(session('open', CHECKOUT_MIN_REMAINING_MS + 60_000), now)).toEqual({
      kind: 'reuse',
      url: 'https://pay.example/cs_1',
    });
  });

  it('replaces an open session at or under the minimum, expiring it first', () => {
    expect(decideCheckoutReplay(session('open', CHECKOUT_MIN_REMAINING_MS), now)).toEqual({
      kind: 'replace',
      expireFirst: true,
    });
    expect(decideCheckoutReplay(session('open', -1000), now)).toEqual({ kind: 'replace', expireFirst: true });
  });

  it('replaces an open session that has no URL (not a hosted one)', () => {
    expect(decideCheckoutReplay(session('open', 20 * 3600_000, null), now)).toEqual({
      kind: 'replace',
      expireFirst: true,
    });
  });

  it('replaces an expired session without expiring it again', () => {
    expect(decideCheckoutReplay(session('expired', 20 * 3600_000, null), now)).toEqual({
      kind: 'replace',
      expireFirst: false,
    });
  });

  it('never replaces a completed session', () => {
    expect(decideCheckoutReplay(session('complete', 20 * 3600_000, null), now)).toEqual({
      kind: 'completed',
    });
  });
});

describe('storedUrlIfLive', () => {
  it('returns the URL before its expiry, and for rows that do not know their expiry', () => {
    expect(
      storedUrlIfLive({ checkoutUrl: 'u', checkoutExpiresAt: new Date(now.getTime() + 1000) }, now),
    ).toBe('u');
    expect(storedUrlIfLive({ checkoutUrl: 'u', checkoutExpiresAt: null }, now)).toBe('u');
  });

  it('returns nothing once expired, or when there is no URL', () => {
    expect(storedUrlIfLive({ checkoutUrl: 'u', checkoutExpiresAt: now }, now)).toBeUndefined();
    expect(storedUrlIfLive({ checkoutUrl: null, checkoutExpiresAt: null }, now)).toBeUndefined();
  });
});
