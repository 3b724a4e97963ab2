import { describe, expect, it } from 'vitest';
import {
  factReads,
  foldEvents,
  truthRead,
  type FoldEvent,
  type RuledEvent,
  type StripeFacts,
  type TenantFeatureState,
} from '../../src/core/index.js';
import { EVENT_HANDLERS, handlerOf, type HandledEventType } from '../../src/flows/webhooks/events/index.js';
import { days, granting, plan, tenantState, T0 } from './state-builder.js';

/** A claimed event of `type` with the rule the worker would use for it. */
function ruled(type: HandledEventType, patch: Partial<FoldEvent> = {}): RuledEvent {
  const handler = EVENT_HANDLERS[type];
  if (handler.queue !== 'customer') throw new Error(`${type} is not a customer event`);
  return {
    event: { id: `evt_${type}`, type, created: T0, subscriptionId: 'sub_1', ...patch },
    rule: handler.rule,
  };
}

function stripeFacts(patch: Partial<StripeFacts> = {}): StripeFacts {
  return { truth: null, invoicePaid: new Map(), subscriptions: new Map(), ...patch };
}

const fold = (
  events: RuledEvent[],
  start: TenantFeatureState | null = tenantState(),
  facts = stripeFacts(),
  now = T0,
) => foldEvents({ tenantId: 't_1', start, events, facts, now, graceMs: 7 * 86_400_000 });

describe('the event map', () => {
  it('customer events have a rule, plan events are queued on their own, anything else is unhandled', () => {
    expect(handlerOf('customer.subscription.updated')).toMatchObject({ queue: 'customer' });
    expect(handlerOf('invoice.payment_failed')).toMatchObject({ queue: 'customer' });
    expect(handlerOf('price.updated')).toEqual({ queue: 'plan' });
    expect(handlerOf('charge.succeeded')).toBeNull();
    expect(handlerOf('toString')).toBeNull();
  });
});

describe('Stripe reads planned for a claim', () => {
  it('each subscription’s newest invoice and each trial’s subscription are read once, in event order', () => {
    const events = [
      ruled('invoice.payment_failed', { id: 'e1', subscriptionId: 'sub_1' }),
      ruled('customer.subscription.trial_will_end', { id: 'e2', subscriptionId: 'sub_2' }),
      ruled('invoice.payment_succeeded', { id: 'e3', subscriptionId: 'sub_1' }),
      ruled('customer.subscription.updated', { id: 'e4' }),
      ruled('invoice.payment_failed', { id: 'e5', subscriptionId: null }),
    ];
    expect(factReads(events)).toEqual([{ invoiceOf: 'sub_1' }, { subscription: 'sub_2' }]);
  });

  it('the truth: for any subscription event, falling back to the last one’s subscription', () => {
    const events = [
      ruled('customer.subscription.updated', { subscriptionId: 'sub_a' }),
      ruled('customer.subscription.deleted', { subscriptionId: 'sub_b' }),
      ruled('invoice.payment_failed', { subscriptionId: 'sub_c' }),
    ];
    expect(truthRead(events, tenantState(), new Map())).toEqual({ fallbackSubscriptionId: 'sub_b' });
    expect(truthRead(events.slice(2), tenantState(), new Map())).toBeNull();
  });

  it('the truth for a payment only when it may restore cut access: paid or no invoice yet', () => {
    const paid = [ruled('invoice.payment_succeeded', { subscriptionId: 'sub_1' })];
    const cut = tenantState({ accessActive: false });
    expect(truthRead(paid, cut, new Map([['sub_1', true]]))).toEqual({ fallbackSubscriptionId: 'sub_1' });
    expect(truthRead(paid, cut, new Map([['sub_1', null]]))).toEqual({ fallbackSubscriptionId: 'sub_1' });
    expect(truthRead(paid, cut, new Map([['sub_1', false]]))).toBeNull();
    expect(truthRead(paid, tenantState(), new Map([['sub_1', true]]))).toBeNull();
    expect(truthRead(paid, null, new Map([['sub_1', true]]))).toBeNull();
  });
});

describe('the fold', () => {
  it('decides each event on the state the previous one left: one write, one audit row per entitlement change', () => {
    const start = tenantState({ paymentFailedAt: days(-10), accessActive: true });
    const events = [
      // The failure streak began 10 days ago: past the 7-day grace, access ends.
      ruled('invoice.payment_failed', { id: 'e1', created: days(0) }),
      // Then it is paid: access comes back through the subscription truth.
      ruled('invoice.payment_succeeded', { id: 'e2', created: days(0) }),
    ];
    const facts = stripeFacts({
      invoicePaid: new Map([['sub_1', false]]),
      truth: granting('active', plan()),
    });
    const result = fold(events, start, facts, days(0));
    expect(result.finished).toEqual([
      { eventId: 'e1', status: 'processed', action: 'payment_grace_expired' },
      { eventId: 'e2', status: 'processed', action: 'payment_succeeded' },
    ]);
    expect(result.steps.map((s) => s.action)).toEqual(['payment_grace_expired']);
    expect(result.next).toMatchObject({ accessActive: false, lastPaymentAt: days(0) });
  });

  it('a skipped event is finished `ignored` with its reason and changes nothing', () => {
    const result = fold([ruled('invoice.payment_failed', { id: 'e1', subscriptionId: null })]);
    expect(result).toEqual({
      next: null,
      steps: [],
      finished: [{ eventId: 'e1', status: 'ignored', action: 'not_subscription_invoice' }],
      notices: [],
    });
  });

  it('a decision that repeats the stored state writes nothing but still finishes its event', () => {
    const start = tenantState({ lastStripeEventAt: T0, lastStripeEventId: 'evt_0', paymentFailedAt: T0 });
    const facts = stripeFacts({ invoicePaid: new Map([['sub_1', false]]) });
    const result = fold([ruled('invoice.payment_failed', { id: 'e1' })], start, facts);
    expect(result.next).toBeNull();
    expect(result.finished).toEqual([{ eventId: 'e1', status: 'processed', action: 'payment_failed' }]);
  });

  it('a trial notice is said only for a trial Stripe still reports as trialing', () => {
    const trialEnd = days(3);
    const trialing = stripeFacts({ subscriptions: new Map([['sub_1', { status: 'trialing', trialEnd }]]) });
    const notice = fold(
      [ruled('customer.subscription.trial_will_end', { id: 'e1' })],
      tenantState(),
      trialing,
    );
    expect(notice.notices).toEqual([
      { eventId: 'e1', notice: { tenantId: 't_1', subscriptionId: 'sub_1', trialEnd } },
    ]);
    expect(notice.next).toMatchObject({ trialEndsAt: trialEnd });

    const converted = stripeFacts({ subscriptions: new Map([['sub_1', { status: 'active', trialEnd }]]) });
    const moot = fold(
      [ruled('customer.subscription.trial_will_end', { id: 'e1' })],
      tenantState(),
      converted,
    );
    expect(moot.notices).toEqual([]);
    expect(moot.finished).toEqual([{ eventId: 'e1', status: 'ignored', action: 'trial_not_active' }]);
  });

  it('a subscription event applies the plan Stripe reports to a tenant without a config', () => {
    const result = fold(
      [ruled('customer.subscription.created', { id: 'e1' })],
      null,
      stripeFacts({ truth: granting('active', plan()) }),
    );
    expect(result.finished).toEqual([{ eventId: 'e1', status: 'processed', action: 'plan_applied' }]);
    expect(result.steps).toHaveLength(1);
    expect(result.next).toMatchObject({ tenantId: 't_1', stripePriceId: 'price_pro', accessActive: true });
  });
});
