import type { PrismaClient } from '@packages/db';
import type Stripe from 'stripe';
import {
  decideFromTruth,
  decidePaymentFailed,
  decidePaymentSucceeded,
  decidePlanReapply,
  decideTrialWillEnd,
  toDate,
  type Decision,
  type EventFacts,
  type SubscriptionTruth,
  type TenantFeatureState,
} from '../core/index.js';
import { BillingError, StripeNotFoundError } from '../errors.js';
import { createRequestBatcher } from '../request-batcher.js';
import { mapStripeError, readSubscriptionTruth } from '../stripe-sync/index.js';
import {
  applyDecision,
  readTenantState,
  stateFromJson,
  writeTicketed,
  writeTicketedMany,
  type FoldStep,
  type TicketedWrite,
  type TicketedWriteResult,
} from '../tenant-store/index.js';
import type { PlanDefaults } from '../types.js';
import { idOf, refsOf, type EventRefs, type VerifiedEvent } from './event.js';
import type { WebhookFeatureSync, WebhookLog, TrialWillEndInfo } from './handler-types.js';
import { finishEvents, releaseEvents, type ClaimedQueue, type FinishRow } from './inbox.js';
import { UNKNOWN_TENANT } from './ledger.js';

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

type TenantEventKind = 'subscription' | 'payment_succeeded' | 'payment_failed' | 'trial_will_end';

export function tenantEventKind(type: string): TenantEventKind | null {
  if (SUBSCRIPTION_EVENTS.has(type)) return 'subscription';
  if (type === 'invoice.payment_succeeded') return 'payment_succeeded';
  if (type === 'invoice.payment_failed') return 'payment_failed';
  if (type === 'customer.subscription.trial_will_end') return 'trial_will_end';
  return null;
}

/** Types the worker acts on; any other is stored `ignored` when it arrives. */
export function isHandledType(type: string): boolean {
  return PLAN_EVENTS.has(type) || tenantEventKind(type) !== null;
}

/** Customer the event is queued under: events of one customer are processed together, in order. */
export function queueCustomerOf(event: VerifiedEvent): string | null {
  if (PLAN_EVENTS.has(event.type)) return null;
  return refsOf(event).customerId;
}

export interface EventOutcome {
  eventId: string;
  type: string;
  status: 'processed' | 'ignored' | 'unknown_tenant';
  action: string;
  tenantId: string | null;
  /** Stripe's `created`, for the processing lag. */
  created: Date;
}

export type QueueOutcome =
  | { kind: 'done'; events: EventOutcome[] }
  /** A newer read was written first, or the lease ran out: the events are (or will be) tried again. */
  | { kind: 'released' };

/** Receives what is left to do after a commit (cache publish, then hooks); never rejects on hook errors. */
export type AfterCommit = (tail: Promise<void>) => void;

export interface ProcessorDeps {
  stripe: Stripe;
  prisma: PrismaClient;
  featureSync: WebhookFeatureSync;
  graceMs: number;
  now: () => Date;
  log: WebhookLog;
  onTrialWillEnd?: (info: TrialWillEndInfo) => Promise<void> | void;
  reapplyOnPlanChange: boolean;
}

const AUDIT = { actor: 'stripe', source: 'webhook' } as const;
/** Retries of the write when another writer changed the config in between (no new Stripe read). */
const MAX_VERSION_RETRIES = 5;

interface PlannedEvent {
  event: VerifiedEvent;
  refs: EventRefs;
  kind: TenantEventKind;
}

/** What Stripe said, read once per customer (and per subscription for payment/trial events). */
interface StripeFacts {
  truth: SubscriptionTruth | null;
  /** Null: the subscription has no invoice yet. */
  invoicePaid: Map<string, boolean | null>;
  subscriptions: Map<string, Stripe.Subscription | null>;
}

export function createQueueProcessor(deps: ProcessorDeps) {
  const { stripe, prisma, featureSync } = deps;
  // Group commit for the ticketed writes: a write that finds two write statements running waits,
  // and the writes waiting when one finishes go out together (one per tenant per statement). An
  // idle pipeline writes at once, alone; a failed combined statement is retried write by write.
  const writes = createRequestBatcher<TicketedWrite, TicketedWriteResult>({
    run: (batch) => writeTicketedMany(prisma, batch),
    runAlone: (write) => writeTicketed(prisma, write),
    keyOf: (write) => write.tenantId,
    maxInFlight: 2,
    maxBatch: 64,
  });
  // The cache publishes after those writes, the same way: one setIfNewer round and one change
  // message for every state committed while the previous publish was under way.
  const publishes = createRequestBatcher<TenantFeatureState, void>({
    run: async (states) => {
      await featureSync.reader.publish(states);
      return states.map(() => undefined);
    },
    keyOf: (state) => state.tenantId,
    maxInFlight: 2,
    maxBatch: 64,
  });
  const stripeSync = featureSync.stripeSync;
  const call = stripeSync.call;

  // ---- Stripe reads (never inside a transaction; the claim's read ticket orders them) ----

  async function readTruth(customerId: string, fallbackSubscriptionId: string | null) {
    const truth = await readSubscriptionTruth(stripeSync, customerId);
    if (truth.subscriptionId !== null || !fallbackSubscriptionId) return truth;
    // The customer lists no subscription at all (e.g. deleted): fall back to the event's own one.
    const sub = await retrieveSubscription(fallbackSubscriptionId);
    return {
      kind: 'none' as const,
      subscriptionId: fallbackSubscriptionId,
      status: sub?.status ?? 'canceled',
    };
  }

  async function retrieveSubscription(id: string): Promise<Stripe.Subscription | null> {
    try {
      return await call('subscriptions.retrieve', () => stripe.subscriptions.retrieve(id));
    } catch (error) {
      if (mapStripeError(error, 'subscriptions.retrieve') instanceof StripeNotFoundError) return null;
      throw error;
    }
  }

  /** Whether the subscription's newest invoice is paid: both payment events ask this instead of comparing timestamps. */
  async function newestInvoicePaid(subscriptionId: string): Promise<boolean | null> {
    const list = await call('invoices.list', () =>
      stripe.invoices.list({ subscription: subscriptionId, limit: 1 }),
    );
    const newest = list.data[0];
    return newest ? newest.status === 'paid' : null;
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

  type Match =
    | { tenantId: string; state: TenantFeatureState | null; link: string | null }
    | { unknown: string; action: string };

  async function matchTenant(claim: ClaimedQueue, planned: PlannedEvent[]): Promise<Match> {
    const customerId = claim.customerId;
    if (!customerId) return { unknown: 'event names no customer', action: UNKNOWN_TENANT };
    if (claim.tenant) return { tenantId: claim.tenant.id, state: claim.state, link: null };
    const hint =
      planned.map((p) => p.refs.tenantIdHint).find((h) => h !== null) ??
      (await customerTenantHint(customerId));
    if (!hint) return { unknown: `customer ${customerId} matches no tenant`, action: UNKNOWN_TENANT };
    const found = await readTenantState(prisma, hint);
    if (!found)
      return {
        unknown: `customer ${customerId} names tenant ${hint} in its metadata, which does not exist`,
        action: UNKNOWN_TENANT,
      };
    const linked = found.tenant.stripeCustomerId;
    if (linked && linked !== customerId) {
      // Two customers claiming one tenant needs a human; silently re-pointing would hand one customer's plan to the other.
      return {
        unknown: `customer ${customerId} names tenant ${hint}, which is linked to customer ${linked}`,
        action: 'customer_mismatch',
      };
    }
    return { tenantId: hint, state: found.state, link: linked ? null : customerId };
  }

  // ---- Stripe facts for a customer's events: one subscription read for all of them ----

  async function readFacts(
    planned: PlannedEvent[],
    customerId: string,
    state: TenantFeatureState | null,
  ): Promise<StripeFacts> {
    const facts: StripeFacts = { truth: null, invoicePaid: new Map(), subscriptions: new Map() };
    if (planned.some((p) => p.event.type === ENTITLEMENT_SUMMARY_EVENT))
      // Stripe sends no event when a Feature is attached to or detached from a product, only this
      // summary per affected customer, so the cached attachments may be stale: read them afresh.
      await stripeSync.invalidateAttachedFeatures?.();
    for (const p of planned) {
      const sub = p.refs.subscriptionId;
      if (
        (p.kind === 'payment_succeeded' || p.kind === 'payment_failed') &&
        sub &&
        !facts.invoicePaid.has(sub)
      ) {
        facts.invoicePaid.set(sub, await newestInvoicePaid(sub));
      }
      if (p.kind === 'trial_will_end' && sub && !facts.subscriptions.has(sub))
        facts.subscriptions.set(sub, await retrieveSubscription(sub));
    }
    const needsTruth = planned.some(
      (p) =>
        p.kind === 'subscription' ||
        (p.kind === 'payment_succeeded' &&
          p.refs.subscriptionId !== null &&
          state !== null &&
          !state.accessActive &&
          facts.invoicePaid.get(p.refs.subscriptionId) !== false),
    );
    if (needsTruth) {
      const lastSub = [...planned].reverse().find((p) => p.kind === 'subscription')?.refs.subscriptionId;
      facts.truth = await readTruth(customerId, lastSub ?? planned.at(-1)!.refs.subscriptionId);
    }
    return facts;
  }

  // ---- The fold: every event decided in order against the state the previous one left ----

  interface Fold {
    next: TenantFeatureState | null;
    steps: FoldStep[];
    finished: FinishRow[];
    hooks: { eventId: string; info: TrialWillEndInfo }[];
  }

  function fold(
    tenantId: string,
    start: TenantFeatureState | null,
    planned: PlannedEvent[],
    facts: StripeFacts,
  ): Fold {
    let state = start;
    let changed = false;
    const steps: FoldStep[] = [];
    const finished: FinishRow[] = [];
    const hooks: Fold['hooks'] = [];
    for (const p of planned) {
      const f: EventFacts = {
        tenantId,
        eventId: p.event.id,
        eventType: p.event.type,
        created: p.event.created,
        now: deps.now(),
        graceMs: deps.graceMs,
      };
      const decision = decide(p, state, facts, f);
      if ('skip' in decision) {
        finished.push({ eventId: p.event.id, status: 'ignored', action: decision.skip, tenantId });
        continue;
      }
      const applied = applyDecision(tenantId, state, decision, p.event.id);
      if (applied.changed) {
        changed = true;
        if (applied.step.audited) steps.push(applied.step);
        state = applied.step.after;
      }
      finished.push({ eventId: p.event.id, status: 'processed', action: decision.action, tenantId });
      if (p.kind === 'trial_will_end') {
        const sub = facts.subscriptions.get(p.refs.subscriptionId!);
        hooks.push({
          eventId: p.event.id,
          info: { tenantId, subscriptionId: p.refs.subscriptionId!, trialEnd: toDate(sub?.trial_end) },
        });
      }
    }
    return { next: changed ? state : null, steps, finished, hooks };
  }

  function decide(
    p: PlannedEvent,
    state: TenantFeatureState | null,
    facts: StripeFacts,
    f: EventFacts,
  ): Decision {
    const sub = p.refs.subscriptionId;
    switch (p.kind) {
      case 'subscription':
        return decideFromTruth(state, facts.truth!, f);
      case 'payment_succeeded': {
        if (!sub) return { skip: 'not_subscription_invoice' };
        const paid = facts.invoicePaid.get(sub) ?? true;
        const truth = state !== null && !state.accessActive && paid ? facts.truth : null;
        return decidePaymentSucceeded(state, { newestInvoicePaid: paid, truth }, f);
      }
      case 'payment_failed': {
        if (!sub) return { skip: 'not_subscription_invoice' };
        return decidePaymentFailed(state, { newestInvoicePaid: facts.invoicePaid.get(sub) ?? false }, f);
      }
      case 'trial_will_end': {
        if (!sub) return { skip: 'no_subscription' };
        const retrieved = facts.subscriptions.get(sub);
        // The notice is moot once the trial converted or the subscription ended before we got to it.
        if (!retrieved || retrieved.status !== 'trialing') return { skip: 'trial_not_active' };
        return decideTrialWillEnd(state, { subscriptionId: sub, trialEnd: toDate(retrieved.trial_end) }, f);
      }
    }
  }

  // ---- One customer's claimed events: one Stripe read, one write statement ----

  async function processTenantEvents(
    claim: ClaimedQueue,
    planned: PlannedEvent[],
    afterCommit?: AfterCommit,
  ): Promise<QueueOutcome> {
    const match = await matchTenant(claim, planned);
    if ('unknown' in match) {
      deps.log('stripe event matches no tenant', {
        level: 'warn',
        eventId: planned[0]!.event.id,
        type: planned[0]!.event.type,
        reason: match.unknown,
      });
      const rows = planned.map((p) => ({
        eventId: p.event.id,
        status: 'ignored' as const,
        action: match.action,
        tenantId: null,
        error: match.unknown,
      }));
      const done = await finishEvents(prisma, claim.ticket, rows);
      if (done !== rows.length) return { kind: 'released' };
      return {
        kind: 'done',
        events: planned.map((p) => ({
          eventId: p.event.id,
          type: p.event.type,
          status: 'unknown_tenant',
          action: match.action,
          tenantId: null,
          created: p.event.created,
        })),
      };
    }
    const { tenantId } = match;
    const facts = await readFacts(planned, claim.customerId!, match.state);
    let state = match.state;
    for (let tries = 0; ; tries += 1) {
      const folded = fold(tenantId, state, planned, facts);
      const result = await writes.request({
        tenantId,
        ticket: claim.ticket,
        expectedVersion: state?.version ?? 0,
        next: folded.next,
        audits: folded.steps,
        ...AUDIT,
        linkCustomerId: match.link,
        events: folded.finished,
      });
      switch (result.status) {
        case 'written': {
          // After commit only: a cache entry for a version that then rolled back would outlive the truth.
          const published = result.state ? publishes.request(result.state) : Promise.resolve();
          const tail = published.then(() => runHooks(folded.hooks));
          if (afterCommit) afterCommit(tail);
          else await tail;
          return {
            kind: 'done',
            events: planned.map((p, i) => ({
              eventId: p.event.id,
              type: p.event.type,
              status: folded.finished[i]!.status,
              action: folded.finished[i]!.action,
              tenantId,
              created: p.event.created,
            })),
          };
        }
        case 'lease_lost':
          return { kind: 'released' };
        case 'tenant_not_found': {
          // Deleted while we read Stripe: the next claim records the events as unknown_tenant.
          await releaseEvents(
            prisma,
            claim.ticket,
            planned.map((p) => p.event.id),
          );
          return { kind: 'released' };
        }
        case 'stale_ticket':
          // A read that started after ours has been written: ours must not land. Tried again with a
          // new ticket (and so a new read), the try not counted.
          await releaseEvents(
            prisma,
            claim.ticket,
            planned.map((p) => p.event.id),
          );
          return { kind: 'released' };
        case 'stale_version': {
          if (tries >= MAX_VERSION_RETRIES)
            throw new Error(`tenant ${tenantId} kept changing during the write`);
          state = (await readTenantState(prisma, tenantId))?.state ?? null;
          break;
        }
      }
    }
  }

  async function runHooks(hooks: Fold['hooks']) {
    const hook = deps.onTrialWillEnd;
    if (!hook) return;
    for (const { eventId, info } of hooks) {
      try {
        await hook(info);
      } catch (error) {
        deps.log('onTrialWillEnd hook failed', {
          level: 'error',
          eventId,
          tenantId: info.tenantId,
          error: describe(error),
        });
      }
    }
  }

  // ---- Product / price events (queued one per event) ----

  async function processPlanEvent(claim: ClaimedQueue, event: VerifiedEvent): Promise<QueueOutcome> {
    const finish = async (row: Omit<FinishRow, 'eventId'>): Promise<QueueOutcome> => {
      const done = await finishEvents(prisma, claim.ticket, [{ eventId: event.id, ...row }]);
      if (done !== 1) return { kind: 'released' };
      const status = row.status;
      return {
        kind: 'done',
        events: [
          {
            eventId: event.id,
            type: event.type,
            status,
            action: row.action,
            tenantId: null,
            created: event.created,
          },
        ],
      };
    };
    const objectId = idOf(event.object.id);
    if (!objectId) return finish({ status: 'ignored', action: 'no_object_id', tenantId: null });
    await stripeSync.invalidatePlan(objectId);
    if (!deps.reapplyOnPlanChange || event.type.endsWith('.deleted'))
      return finish({ status: 'processed', action: 'plan_invalidated', tenantId: null });

    const configs = event.type.startsWith('product.')
      ? await prisma.$queryRaw<{ config: unknown }[]>`
          SELECT row_to_json(c) AS config FROM tenant_feature_configs c
          WHERE c.stripe_product_id = ${objectId} ORDER BY c.tenant_id`
      : await prisma.$queryRaw<{ config: unknown }[]>`
          SELECT row_to_json(c) AS config FROM tenant_feature_configs c
          WHERE c.stripe_price_id = ${objectId} ORDER BY c.tenant_id`;
    // A plan that cannot be resolved is remembered as its error, so every tenant on it is skipped.
    const plans = new Map<string, PlanDefaults | BillingError>();
    const errors: string[] = [];
    for (const { config } of configs) {
      let state: TenantFeatureState | null = stateFromJson(config);
      const planId = state.stripePriceId ?? state.stripeProductId;
      if (!planId) continue;
      let plan = plans.get(planId);
      if (!plan) {
        try {
          plan = await stripeSync.getPlanDefaultsFromStripe(planId);
        } catch (error) {
          // Broken metadata will not fix itself on a retry; the fix arrives as a new product.updated.
          // Only the tenants on *that* plan are skipped.
          if (!(error instanceof BillingError)) throw error;
          plan = error;
          errors.push(describe(error));
        }
        plans.set(planId, plan);
      }
      if (plan instanceof BillingError) continue;
      const chosen = plan;
      const tenantId = state.tenantId;
      for (let tries = 0; state && tries <= MAX_VERSION_RETRIES; tries += 1) {
        const f: EventFacts = {
          tenantId,
          eventId: event.id,
          eventType: event.type,
          created: event.created,
          now: deps.now(),
          graceMs: deps.graceMs,
        };
        const decision = decidePlanReapply(state, chosen, f);
        if ('skip' in decision) break;
        const applied = applyDecision(tenantId, state, decision, event.id);
        if (!applied.changed) break;
        const result = await writes.request({
          tenantId,
          ticket: claim.ticket,
          expectedVersion: state.version,
          next: applied.step.after,
          audits: applied.step.audited ? [applied.step] : [],
          ...AUDIT,
        });
        if (result.status === 'written') {
          if (result.state) await publishes.request(result.state);
          break;
        }
        // A newer read of this tenant (its subscription, with the plan read afresh) is already stored.
        if (result.status !== 'stale_version') break;
        state = (await readTenantState(prisma, tenantId))?.state ?? null;
      }
    }
    return finish({
      status: 'processed',
      action: 'plan_reapplied',
      tenantId: null,
      ...(errors.length > 0 ? { error: errors.join('; ') } : {}),
    });
  }

  return {
    /** Processes one claimed queue. Throws on a failure (the caller schedules the retry). */
    /**
     * With `afterCommit`, a written customer's cache publish and hooks are handed to it instead of
     * awaited: the outcome is known at commit (a worker slot is free for its next customer at once).
     */
    async processQueue(claim: ClaimedQueue, afterCommit?: AfterCommit): Promise<QueueOutcome> {
      const first = claim.events[0]!.event;
      if (PLAN_EVENTS.has(first.type)) return processPlanEvent(claim, first);
      const planned: PlannedEvent[] = [];
      const unhandled: FinishRow[] = [];
      for (const { event } of claim.events) {
        const kind = tenantEventKind(event.type);
        if (kind) planned.push({ event, refs: refsOf(event), kind });
        else
          unhandled.push({
            eventId: event.id,
            status: 'ignored',
            action: 'unhandled_event_type',
            tenantId: null,
          });
      }
      if (unhandled.length > 0) await finishEvents(prisma, claim.ticket, unhandled);
      if (planned.length === 0)
        return {
          kind: 'done',
          events: claim.events.map(({ event }) => ({
            eventId: event.id,
            type: event.type,
            status: 'ignored',
            action: 'unhandled_event_type',
            tenantId: null,
            created: event.created,
          })),
        };
      return processTenantEvents(claim, planned, afterCommit);
    },
  };
}

export type QueueProcessor = ReturnType<typeof createQueueProcessor>;

export function describe(error: unknown): string {
  return error instanceof Error ? `${error.name}: ${error.message}` : String(error);
}
