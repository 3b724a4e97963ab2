import { applyDecision, type FoldStep } from './apply-decision.js';
import type { EventFacts } from './event-facts.js';
import type { SubscriptionTruth } from './subscription-truth.js';
import type { Decision, TenantFeatureState } from './tenant-state.js';

/**
 * One customer's claimed webhook events, decided in order against the state the previous one left,
 * and the Stripe reads they need first. Pure: the webhook worker reads Stripe as planned here, folds,
 * and writes the result in one statement.
 */

/** A claimed event as a decision sees it. */
export interface FoldEvent {
  id: string;
  type: string;
  /** Stripe's `created`. */
  created: Date;
  /** The subscription the event names (for an invoice: the one it bills); null when none. */
  subscriptionId: string | null;
}

/** What Stripe says about a subscription, as far as a trial notice needs it. */
export interface SubscriptionFact {
  status: string;
  trialEnd: Date | null;
}

/** What Stripe said, read once per claim (once per subscription for invoices and trial notices). */
export interface StripeFacts {
  /** The customer's subscription truth, when an event needed it. */
  truth: SubscriptionTruth | null;
  /** Whether each subscription's newest invoice is paid; null: it has no invoice yet. */
  invoicePaid: ReadonlyMap<string, boolean | null>;
  /** Each trial notice's subscription; null: it no longer exists. */
  subscriptions: ReadonlyMap<string, SubscriptionFact | null>;
}

/** What to tell the application after the commit (`onTrialWillEnd`). */
export interface TrialNotice {
  tenantId: string;
  subscriptionId: string;
  trialEnd: Date | null;
}

/**
 * How one event type is handled for a tenant: which Stripe facts it needs and what it decides from
 * them. One per event type (`src/flows/webhooks/events/`); the fold runs them in order.
 */
export interface TenantEventRule {
  /** A subscription event: "something changed for this customer", decided from the truth alone. */
  readonly subscriptionEvent: boolean;
  /** Cached attached Stripe Features may be stale: forget them before anything is read. */
  readonly refreshesAttachedFeatures?: boolean;
  /** The subscription whose newest invoice must be read, if any. */
  invoiceOf?(event: FoldEvent): string | null;
  /** The subscription that must be retrieved, if any. */
  subscriptionOf?(event: FoldEvent): string | null;
  /** Needs the customer's subscription truth, given the state and the invoices read. */
  needsTruth(
    event: FoldEvent,
    state: TenantFeatureState | null,
    invoicePaid: StripeFacts['invoicePaid'],
  ): boolean;
  decide(event: FoldEvent, state: TenantFeatureState | null, facts: StripeFacts, f: EventFacts): Decision;
  /** Said after the commit when the event was processed. */
  notice?(event: FoldEvent, facts: StripeFacts, tenantId: string): TrialNotice | null;
}

export interface RuledEvent {
  event: FoldEvent;
  rule: TenantEventRule;
}

/** One Stripe read the events need before the truth, in the order they need them. */
export type FactRead = { invoiceOf: string } | { subscription: string };

/** Reads for every event, each subscription's invoice and each subscription read once. */
export function factReads(events: readonly RuledEvent[]): FactRead[] {
  const reads: FactRead[] = [];
  const invoices = new Set<string>();
  const subscriptions = new Set<string>();
  for (const { event, rule } of events) {
    const invoiceOf = rule.invoiceOf?.(event) ?? null;
    if (invoiceOf && !invoices.has(invoiceOf)) {
      invoices.add(invoiceOf);
      reads.push({ invoiceOf });
    }
    const subscription = rule.subscriptionOf?.(event) ?? null;
    if (subscription && !subscriptions.has(subscription)) {
      subscriptions.add(subscription);
      reads.push({ subscription });
    }
  }
  return reads;
}

/**
 * Whether the customer's subscription truth must be read, and the subscription to fall back to if
 * the customer lists none (e.g. deleted): the last subscription event's, else the last event's.
 */
export function truthRead(
  events: readonly RuledEvent[],
  state: TenantFeatureState | null,
  invoicePaid: StripeFacts['invoicePaid'],
): { fallbackSubscriptionId: string | null } | null {
  if (!events.some(({ event, rule }) => rule.needsTruth(event, state, invoicePaid))) return null;
  const lastSubscriptionEvent = [...events].reverse().find(({ rule }) => rule.subscriptionEvent);
  return {
    fallbackSubscriptionId:
      lastSubscriptionEvent?.event.subscriptionId ?? events.at(-1)?.event.subscriptionId ?? null,
  };
}

export interface FoldedEvent {
  eventId: string;
  status: 'processed' | 'ignored';
  action: string;
}

export interface Fold {
  /** The state to write; null when no event changed anything. */
  next: TenantFeatureState | null;
  /** The steps that get an audit row. */
  steps: FoldStep[];
  /** What became of each event, in order. */
  finished: FoldedEvent[];
  notices: { eventId: string; notice: TrialNotice }[];
}

/** Every event decided in order against the state the previous one left. */
export function foldEvents(input: {
  tenantId: string;
  start: TenantFeatureState | null;
  events: readonly RuledEvent[];
  facts: StripeFacts;
  now: Date;
  graceMs: number;
}): Fold {
  const { tenantId, facts } = input;
  let state = input.start;
  let changed = false;
  const fold: Fold = { next: null, steps: [], finished: [], notices: [] };
  for (const { event, rule } of input.events) {
    const f: EventFacts = {
      tenantId,
      eventId: event.id,
      eventType: event.type,
      created: event.created,
      now: input.now,
      graceMs: input.graceMs,
    };
    const decision = rule.decide(event, state, facts, f);
    if ('skip' in decision) {
      fold.finished.push({ eventId: event.id, status: 'ignored', action: decision.skip });
      continue;
    }
    const applied = applyDecision(tenantId, state, decision, event.id);
    if (applied.changed) {
      changed = true;
      if (applied.step.audited) fold.steps.push(applied.step);
      state = applied.step.after;
    }
    fold.finished.push({ eventId: event.id, status: 'processed', action: decision.action });
    const notice = rule.notice?.(event, facts, tenantId);
    if (notice) fold.notices.push({ eventId: event.id, notice });
  }
  fold.next = changed ? state : null;
  return fold;
}
