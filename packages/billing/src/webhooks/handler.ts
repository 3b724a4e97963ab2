import type { PrismaClient } from '@packages/db';
import type Stripe from 'stripe';
import { noopMetrics, type BillingMetrics } from '../metrics/index.js';
import {
  decideFromTruth,
  decidePaymentFailed,
  decidePaymentSucceeded,
  decidePlanReapply,
  decideTrialWillEnd,
  gracePeriodMs,
  toDate,
  type Decision,
  type EventFacts,
  type SubscriptionTruth,
  type TenantFeatureState,
} from '../core/index.js';
import { BillingError, StripeNotFoundError } from '../errors.js';
import type { FeatureReader } from '../feature-cache/index.js';
import {
  mapStripeError,
  readSubscriptionTruth,
  type StripeCall,
  type SubscriptionState,
} from '../stripe-sync/index.js';
import {
  inTransaction,
  lockTenant,
  updateTenantFeatures,
  wroteVersion,
  type AuditContext,
  type Tx,
  type UpdateOutcome,
} from '../tenant-store/index.js';
import type { PlanDefaults } from '../types.js';
import { idOf, refsOf, verifyEvent, type EventRefs, type VerifiedEvent } from './event.js';
import { claimEvent, finishEvent, UNKNOWN_TENANT } from './ledger.js';

/** What the handler needs from the stripe-sync service (structural, so tests can wrap it). */
export interface WebhookStripeSync {
  getSubscriptionState(customerId: string): Promise<SubscriptionState>;
  getPlanDefaultsFromStripe(planId: string): Promise<PlanDefaults>;
  invalidatePlan(id?: string): void | Promise<void>;
  /** Forget cached attached Stripe Features (only services whose plan source reads them have any). */
  invalidateAttachedFeatures?(): void | Promise<void>;
  call: StripeCall;
}

/** What the handler needs from the feature-sync service. */
export interface WebhookFeatureSync {
  stripeSync: WebhookStripeSync;
  reader: Pick<FeatureReader, 'publish'>;
}

export interface TrialWillEndInfo {
  tenantId: string;
  subscriptionId: string;
  trialEnd: Date | null;
}

export type WebhookLog = (line: string, fields: Record<string, unknown>) => void;

export interface StripeWebhookHandlerOptions {
  /** Largest accepted age of the signature timestamp, in seconds (default 300, Stripe's default). */
  toleranceSeconds?: number;
  paymentFailurePolicy?: { gracePeriodDays: number };
  /** Runs after the event committed. Errors are logged and swallowed: a reminder must not make Stripe resend the event. */
  onTrialWillEnd?: (info: TrialWillEndInfo) => Promise<void> | void;
  /** On product/price updates, push the new plan defaults to every tenant on that plan (default false: caches are only invalidated). */
  reapplyOnPlanChange?: boolean;
  /** Clock for the grace policy only; signature tolerance always uses the real clock. */
  now?: () => Date;
  log?: WebhookLog;
  /** Counts received / processed / duplicate / failed events by type, and the processing lag. */
  metrics?: BillingMetrics;
}

export type WebhookResultStatus = 'processed' | 'duplicate' | 'ignored' | 'unknown_tenant';

export interface WebhookResult {
  received: true;
  eventId: string;
  type: string;
  action: string;
  status: WebhookResultStatus;
  /** The tenant the event changed or was matched to; null when none (or for a duplicate). */
  tenantId: string | null;
}

export interface StripeWebhookHandler {
  handleWebhook(payload: Buffer | string, signature: string | undefined): Promise<WebhookResult>;
}

/**
 * Stripe's Entitlements announcement: its payload lists at most 10 entitlements and it is not sent
 * on trial end or pause, so it is only a signal to re-read the customer, like a subscription event.
 */
const ENTITLEMENT_SUMMARY_EVENT = 'entitlements.active_entitlement_summary.updated';

/** Events whose only trustworthy content is "something changed for this customer". */
const SUBSCRIPTION_EVENTS = new Set([
  ENTITLEMENT_SUMMARY_EVENT,
  'customer.subscription.created',
  'customer.subscription.updated',
  'customer.subscription.deleted',
  'customer.subscription.paused',
  'customer.subscription.resumed',
  'customer.subscription.pending_update_applied',
  'customer.subscription.pending_update_expired',
]);
const PLAN_EVENTS = new Set(['product.updated', 'product.deleted', 'price.updated', 'price.deleted']);

const AUDIT: Omit<AuditContext, 'stripeEventId'> = { actor: 'stripe', source: 'webhook' };

interface Applied {
  status: 'processed' | 'ignored' | 'unknown_tenant';
  action: string;
  tenantId: string | null;
  error?: string;
  publish: TenantFeatureState[];
  afterCommit?: () => Promise<void>;
}

/** A matched tenant's row is locked for the rest of the transaction. */
type TenantMatch = { tenantId: string } | { unknown: string; action: string };

/** Default log: only problems reach stderr, so a quiet server stays quiet. */
const defaultLog: WebhookLog = (line, fields) => {
  if (fields.level === 'error' || fields.level === 'warn')
    console.error(JSON.stringify({ msg: line, ...fields }));
};

export function createStripeWebhookHandler(
  stripe: Stripe,
  prisma: PrismaClient,
  featureSync: WebhookFeatureSync,
  webhookSecret: string,
  options: StripeWebhookHandlerOptions = {},
): StripeWebhookHandler {
  const tolerance = options.toleranceSeconds ?? 300;
  const graceMs = gracePeriodMs(options.paymentFailurePolicy?.gracePeriodDays);
  const now = options.now ?? (() => new Date());
  const log = options.log ?? defaultLog;
  const metrics = options.metrics ?? noopMetrics;
  const stripeSync = featureSync.stripeSync;
  const call = stripeSync.call;

  // ---- Stripe reads (always issued while the tenant row is locked; see docs/webhooks.md) ----

  async function readTruth(
    customerId: string,
    eventSubscriptionId: string | null,
  ): Promise<SubscriptionTruth> {
    const truth = await readSubscriptionTruth(stripeSync, customerId);
    if (truth.subscriptionId !== null || !eventSubscriptionId) return truth;
    // The customer lists no subscription at all (e.g. deleted): fall back to the event's own one.
    const sub = await retrieveSubscription(eventSubscriptionId);
    return { kind: 'none', subscriptionId: eventSubscriptionId, status: sub?.status ?? 'canceled' };
  }

  async function retrieveSubscription(id: string): Promise<Stripe.Subscription | null> {
    try {
      return await call('subscriptions.retrieve', () => stripe.subscriptions.retrieve(id));
    } catch (error) {
      if (mapStripeError(error, 'subscriptions.retrieve') instanceof StripeNotFoundError) return null;
      throw error;
    }
  }

  /**
   * Whether Stripe considers the subscription's billing settled right now: its newest invoice is
   * paid. Both payment events ask this instead of comparing event timestamps, which tie within a
   * second and would let a late failure overwrite a newer success.
   */
  async function newestInvoicePaid(subscriptionId: string, fallback: boolean): Promise<boolean> {
    const list = await call('invoices.list', () =>
      stripe.invoices.list({ subscription: subscriptionId, limit: 1 }),
    );
    const newest = list.data[0];
    return newest ? newest.status === 'paid' : fallback;
  }

  async function customerTenantHint(customerId: string): Promise<string | null> {
    try {
      const customer = await call('customers.retrieve', () => stripe.customers.retrieve(customerId));
      if ((customer as Stripe.DeletedCustomer).deleted) return null;
      const value = (customer as Stripe.Customer).metadata?.tenantId?.trim();
      return value ? value : null;
    } catch (error) {
      if (mapStripeError(error, 'customers.retrieve') instanceof StripeNotFoundError) return null;
      throw error;
    }
  }

  // ---- Tenant lookup ----

  async function matchTenant(tx: Tx, refs: EventRefs): Promise<TenantMatch> {
    const customerId = refs.customerId;
    if (!customerId) return { unknown: 'event names no customer', action: UNKNOWN_TENANT };
    // Finding and locking in one round trip; every path below returns with the tenant row locked.
    const byCustomer = await tx.$queryRaw<
      { id: string }[]
    >`SELECT id FROM tenants WHERE stripe_customer_id = ${customerId} FOR UPDATE`;
    if (byCustomer[0]) return { tenantId: byCustomer[0].id };
    const hint = refs.tenantIdHint ?? (await customerTenantHint(customerId));
    if (!hint) return { unknown: `customer ${customerId} matches no tenant`, action: UNKNOWN_TENANT };
    const locked = await lockTenant(tx, hint);
    if (!locked)
      return {
        unknown: `customer ${customerId} names tenant ${hint} in its metadata, which does not exist`,
        action: UNKNOWN_TENANT,
      };
    const linked = locked.tenant.stripeCustomerId;
    if (linked && linked !== customerId) {
      // Two customers claiming one tenant needs a human; silently re-pointing would hand one customer's plan to the other.
      return {
        unknown: `customer ${customerId} names tenant ${hint}, which is linked to customer ${linked}`,
        action: 'customer_mismatch',
      };
    }
    if (!linked) await tx.tenant.update({ where: { id: hint }, data: { stripeCustomerId: customerId } });
    return { tenantId: hint };
  }

  // ---- Per-type processing, all inside the event's transaction ----

  function factsFor(event: VerifiedEvent, tenantId: string): EventFacts {
    return {
      tenantId,
      eventId: event.id,
      eventType: event.type,
      created: event.created,
      now: now(),
      graceMs,
    };
  }

  async function write(
    tx: Tx,
    event: VerifiedEvent,
    tenantId: string,
    decide: (current: TenantFeatureState | null) => Decision,
  ): Promise<Applied> {
    const outcome = await updateTenantFeatures(tx, tenantId, decide, { ...AUDIT, stripeEventId: event.id });
    return fromOutcome(outcome);
  }

  async function onSubscriptionEvent(
    tx: Tx,
    event: VerifiedEvent,
    tenantId: string,
    refs: EventRefs,
  ): Promise<Applied> {
    // The row is locked (matchTenant) before Stripe is read: two events for one tenant then read
    // and write in the same order, so the one that commits last also read last.
    // Stripe sends no event when a Feature is attached to or detached from a product, only this
    // summary per affected customer, so the cached attachments may be stale: read them afresh.
    if (event.type === ENTITLEMENT_SUMMARY_EVENT) await stripeSync.invalidateAttachedFeatures?.();
    const truth = await readTruth(refs.customerId!, refs.subscriptionId);
    return write(tx, event, tenantId, (current) =>
      decideFromTruth(current, truth, factsFor(event, tenantId)),
    );
  }

  async function onPaymentSucceeded(
    tx: Tx,
    event: VerifiedEvent,
    tenantId: string,
    refs: EventRefs,
  ): Promise<Applied> {
    if (!refs.subscriptionId) return ignored('not_subscription_invoice', tenantId);
    const row = await tx.tenantFeatureConfig.findUnique({
      where: { tenantId },
      select: { accessActive: true },
    });
    const paid = await newestInvoicePaid(refs.subscriptionId, true);
    const truth =
      row && !row.accessActive && paid ? await readTruth(refs.customerId!, refs.subscriptionId) : null;
    return write(tx, event, tenantId, (current) =>
      decidePaymentSucceeded(current, { newestInvoicePaid: paid, truth }, factsFor(event, tenantId)),
    );
  }

  async function onPaymentFailed(
    tx: Tx,
    event: VerifiedEvent,
    tenantId: string,
    refs: EventRefs,
  ): Promise<Applied> {
    if (!refs.subscriptionId) return ignored('not_subscription_invoice', tenantId);
    const paid = await newestInvoicePaid(refs.subscriptionId, false);
    return write(tx, event, tenantId, (current) =>
      decidePaymentFailed(current, { newestInvoicePaid: paid }, factsFor(event, tenantId)),
    );
  }

  async function onTrialWillEnd(
    tx: Tx,
    event: VerifiedEvent,
    tenantId: string,
    refs: EventRefs,
  ): Promise<Applied> {
    const subscriptionId = refs.subscriptionId;
    if (!subscriptionId) return ignored('no_subscription', tenantId);
    const sub = await retrieveSubscription(subscriptionId);
    // The notice is moot once the trial converted or the subscription ended before we got to it.
    if (!sub || sub.status !== 'trialing') return ignored('trial_not_active', tenantId);
    const trialEnd = toDate(sub.trial_end);
    const applied = await write(tx, event, tenantId, (current) =>
      decideTrialWillEnd(current, { subscriptionId, trialEnd }, factsFor(event, tenantId)),
    );
    const hook = options.onTrialWillEnd;
    if (hook && applied.status === 'processed') {
      applied.afterCommit = async () => {
        try {
          await hook({ tenantId, subscriptionId, trialEnd });
        } catch (error) {
          log('onTrialWillEnd hook failed', {
            level: 'error',
            eventId: event.id,
            tenantId,
            error: describe(error),
          });
        }
      };
    }
    return applied;
  }

  async function onPlanEvent(tx: Tx, event: VerifiedEvent): Promise<Applied> {
    const objectId = idOf(event.object.id);
    if (!objectId) return ignored('no_object_id', null);
    await stripeSync.invalidatePlan(objectId);
    if (!options.reapplyOnPlanChange || event.type.endsWith('.deleted'))
      return { status: 'processed', action: 'plan_invalidated', tenantId: null, publish: [] };

    const where = event.type.startsWith('product.')
      ? { stripeProductId: objectId }
      : { stripePriceId: objectId };
    const configs = await tx.tenantFeatureConfig.findMany({
      where,
      select: { tenantId: true },
      orderBy: { tenantId: 'asc' },
    });
    // Locks in id order (no deadlock between two plan events), then reads the plan, so a slower
    // event that read an older plan can never commit after a newer one.
    const states: TenantFeatureState[] = [];
    for (const { tenantId } of configs) {
      const locked = await lockTenant(tx, tenantId);
      if (locked?.state) states.push(locked.state);
    }
    // A plan that cannot be resolved is remembered as its error, so every tenant on it is skipped.
    const plans = new Map<string, PlanDefaults | BillingError>();
    const publish: TenantFeatureState[] = [];
    const errors: string[] = [];
    for (const state of states) {
      const planId = state.stripePriceId ?? state.stripeProductId;
      if (!planId) continue;
      let plan = plans.get(planId);
      if (!plan) {
        try {
          plan = await stripeSync.getPlanDefaultsFromStripe(planId);
        } catch (error) {
          // Broken metadata will not fix itself on a retry; the fix arrives as a new product.updated.
          // Only the tenants on *that* plan are skipped: returning here used to commit the writes
          // already made for earlier tenants while dropping their cache publish (stale reads until
          // the TTL) and recording the event as ignored, and left later tenants on good plans behind.
          if (!(error instanceof BillingError)) throw error;
          plan = error;
          errors.push(describe(error));
        }
        plans.set(planId, plan);
      }
      if (plan instanceof BillingError) continue;
      const chosen = plan;
      const applied = await write(tx, event, state.tenantId, (current) =>
        decidePlanReapply(current, chosen, factsFor(event, state.tenantId)),
      );
      publish.push(...applied.publish);
    }
    return {
      status: 'processed',
      action: 'plan_reapplied',
      tenantId: null,
      publish,
      ...(errors.length > 0 ? { error: errors.join('; ') } : {}),
    };
  }

  async function process(tx: Tx, event: VerifiedEvent): Promise<Applied> {
    if (PLAN_EVENTS.has(event.type)) return onPlanEvent(tx, event);
    const kind = tenantEventKind(event.type);
    if (!kind) return ignored('unhandled_event_type', null);
    const refs = refsOf(event);
    const match = await matchTenant(tx, refs);
    if ('unknown' in match) {
      log('stripe event matches no tenant', {
        level: 'warn',
        eventId: event.id,
        type: event.type,
        reason: match.unknown,
      });
      return {
        status: 'unknown_tenant',
        action: match.action,
        tenantId: null,
        error: match.unknown,
        publish: [],
      };
    }
    switch (kind) {
      case 'subscription':
        return onSubscriptionEvent(tx, event, match.tenantId, refs);
      case 'payment_succeeded':
        return onPaymentSucceeded(tx, event, match.tenantId, refs);
      case 'payment_failed':
        return onPaymentFailed(tx, event, match.tenantId, refs);
      case 'trial_will_end':
        return onTrialWillEnd(tx, event, match.tenantId, refs);
    }
  }

  return {
    async handleWebhook(payload, signature) {
      const started = performance.now();
      const event = verifyEvent(stripe, payload, signature, webhookSecret, tolerance);
      metrics.webhookReceived(event.type);
      let result: Applied | { duplicate: string };
      try {
        result = await inTransaction(prisma, async (tx): Promise<Applied | { duplicate: string }> => {
          const claim = await claimEvent(tx, event);
          if (!claim.claimed) return { duplicate: claim.action ?? claim.status };
          const applied = await process(tx, event);
          await finishEvent(tx, event.id, {
            status: applied.status === 'processed' ? 'processed' : 'ignored',
            action: applied.action,
            tenantId: applied.tenantId,
            error: applied.error,
          });
          return applied;
        });
      } catch (error) {
        metrics.webhookFailed(event.type);
        throw error;
      }

      if ('duplicate' in result) {
        metrics.webhookDuplicate(event.type);
        log('stripe event duplicate', { level: 'info', eventId: event.id, type: event.type });
        return {
          received: true,
          eventId: event.id,
          type: event.type,
          action: result.duplicate,
          status: 'duplicate',
          tenantId: null,
        };
      }
      // After commit only: a cache entry for a version that then rolled back would outlive the truth.
      if (result.publish.length > 0) await featureSync.reader.publish(result.publish);
      await result.afterCommit?.();
      // Lag from Stripe's `created` (when the change happened) to the commit: delivery delay,
      // Stripe's retries and our processing time together, the figure an operator alerts on.
      metrics.webhookProcessed(event.type, Date.now() - event.created.getTime());
      log('stripe event handled', {
        level: 'info',
        eventId: event.id,
        type: event.type,
        status: result.status,
        action: result.action,
        tenantId: result.tenantId,
        ms: Math.round(performance.now() - started),
      });
      return {
        received: true,
        eventId: event.id,
        type: event.type,
        action: result.action,
        status: result.status,
        tenantId: result.tenantId,
      };
    },
  };
}

type TenantEventKind = 'subscription' | 'payment_succeeded' | 'payment_failed' | 'trial_will_end';

function tenantEventKind(type: string): TenantEventKind | null {
  if (SUBSCRIPTION_EVENTS.has(type)) return 'subscription';
  if (type === 'invoice.payment_succeeded') return 'payment_succeeded';
  if (type === 'invoice.payment_failed') return 'payment_failed';
  if (type === 'customer.subscription.trial_will_end') return 'trial_will_end';
  return null;
}

function ignored(action: string, tenantId: string | null): Applied {
  return { status: 'ignored', action, tenantId, publish: [] };
}

function fromOutcome(outcome: UpdateOutcome): Applied {
  switch (outcome.status) {
    case 'tenant_not_found':
      return {
        status: 'unknown_tenant',
        action: UNKNOWN_TENANT,
        tenantId: null,
        error: `tenant ${outcome.tenantId} vanished`,
        publish: [],
      };
    case 'skipped':
      return ignored(outcome.reason, outcome.tenantId);
    default:
      return {
        status: 'processed',
        action: outcome.action,
        tenantId: outcome.tenantId,
        publish: wroteVersion(outcome) ? [outcome.after] : [],
      };
  }
}

function describe(error: unknown): string {
  return error instanceof Error ? `${error.name}: ${error.message}` : String(error);
}
