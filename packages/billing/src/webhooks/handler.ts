import type { PrismaClient } from '@packages/db';
import type Stripe from 'stripe';
import { gracePeriodMs } from '../core/index.js';
import { noopMetrics, type BillingMetrics } from '../metrics/index.js';
import { verifyEvent, type VerifiedEvent } from './event.js';
import type { TrialWillEndInfo, WebhookFeatureSync, WebhookLog } from './handler-types.js';
import { createAcceptBatcher } from './accept-batcher.js';
import {
  claimQueue,
  claimQueues,
  readLedgerRow,
  retryLater,
  sqlThroughPool,
  sqlThroughPrisma,
  type ClaimedQueue,
  type RetryPolicy,
  type SqlPool,
} from './inbox.js';
import { UNKNOWN_TENANT } from './ledger.js';
import {
  createQueueProcessor,
  describe,
  isHandledType,
  queueCustomerOf,
  type AfterCommit,
  type EventOutcome,
  type QueueOutcome,
} from './processor.js';

export type { TrialWillEndInfo, WebhookFeatureSync, WebhookLog, WebhookStripeSync } from './handler-types.js';

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
  /** Failed tries before an event is marked `failed`, and the backoff between them (see inbox.ts). */
  retry?: Partial<RetryPolicy>;
  /** How long a claim holds its events before another worker may take them over (default 60 s). */
  leaseMs?: number;
  sleep?: (ms: number) => Promise<void>;
  /**
   * The pg pool behind `prisma` (`Database.pool`): deliveries are then stored through it directly,
   * skipping Prisma's per-query work on the hot path. Without it they go through `prisma`.
   */
  pool?: SqlPool;
}

/** `queued`: stored in the inbox, a worker processes it (acceptWebhook). */
export type WebhookResultStatus = 'processed' | 'duplicate' | 'ignored' | 'unknown_tenant' | 'queued';

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
  /** Verifies, stores and processes the event before answering (the spec's contract). */
  handleWebhook(payload: Buffer | string, signature: string | undefined): Promise<WebhookResult>;
  /**
   * What an HTTP route calls: `acceptWebhook` while a worker is attached (answer at once, the worker
   * processes), `handleWebhook` otherwise. Handlers without it are called through handleWebhook.
   */
  receiveWebhook?(payload: Buffer | string, signature: string | undefined): Promise<WebhookResult>;
}

/** The inbox side of the handler: what workers, the admin API and tests use. */
export interface StripeWebhookPipeline extends StripeWebhookHandler {
  /** Verifies and stores the event (one statement), then answers `queued` (or `duplicate`). */
  acceptWebhook(payload: Buffer | string, signature: string | undefined): Promise<WebhookResult>;
  receiveWebhook(payload: Buffer | string, signature: string | undefined): Promise<WebhookResult>;
  /**
   * Claims the due events of one customer and processes them (one Stripe read, one write).
   * Null when nothing is due. A failed try is scheduled for retry and reported, not thrown.
   */
  processNext(): Promise<ProcessedQueue | null>;
  /**
   * Claims the due events of up to `maxQueues` customers in one statement (what a worker pool's
   * dispatcher calls to fill its free slots); each claim is then processed with `processClaim`,
   * right away: the lease runs from the claim.
   */
  claimQueues(maxQueues: number): Promise<ClaimedQueue[]>;
  /** Processes one claimed queue (one Stripe read, one write); a failed try is scheduled for retry and reported. */
  processClaim(claim: ClaimedQueue, options?: { afterCommit?: AfterCommit }): Promise<ProcessedQueue>;
  /** Processes until nothing is due (tests, a one-shot drain); returns the number of claims. */
  processPending(options?: { maxClaims?: number }): Promise<number>;
  /** Called after each accepted event; a worker pool registers its wake-up here. Returns the unsubscribe. */
  onAccepted(listener: () => void): () => void;
  /**
   * After events were made due outside an accept (a replay): wakes the attached workers, or, with
   * none attached in this process, processes up to `maxClaims` claims right here.
   */
  dispatch(options?: { maxClaims?: number }): Promise<void>;
}

export type ProcessedQueue =
  | QueueOutcome
  | { kind: 'failed'; eventIds: string[]; error: string; statuses: { eventId: string; status: string }[] };

const DEFAULT_RETRY: RetryPolicy = { maxAttempts: 8, backoffBaseMs: 1_000, backoffMaxMs: 300_000 };
const DEFAULT_LEASE_MS = 60_000;

/** Default log: only problems reach stderr, so a quiet server stays quiet. */
const defaultLog: WebhookLog = (line, fields) => {
  if (fields.level === 'error' || fields.level === 'warn')
    console.error(JSON.stringify({ msg: line, ...fields }));
};

const defaultSleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms));

export function createStripeWebhookHandler(
  stripe: Stripe,
  prisma: PrismaClient,
  featureSync: WebhookFeatureSync,
  webhookSecret: string,
  options: StripeWebhookHandlerOptions = {},
): StripeWebhookPipeline {
  const tolerance = options.toleranceSeconds ?? 300;
  const now = options.now ?? (() => new Date());
  const log = options.log ?? defaultLog;
  const metrics = options.metrics ?? noopMetrics;
  const retry: RetryPolicy = { ...DEFAULT_RETRY, ...options.retry };
  const leaseMs = options.leaseMs ?? DEFAULT_LEASE_MS;
  const sleep = options.sleep ?? defaultSleep;
  const listeners = new Set<() => void>();
  // Concurrent deliveries share one INSERT (group commit); each still answers after its row committed.
  const inbox = createAcceptBatcher(options.pool ? sqlThroughPool(options.pool) : sqlThroughPrisma(prisma));
  const processor = createQueueProcessor({
    stripe,
    prisma,
    featureSync,
    graceMs: gracePeriodMs(options.paymentFailurePolicy?.gracePeriodDays),
    now,
    log,
    onTrialWillEnd: options.onTrialWillEnd,
    reapplyOnPlanChange: options.reapplyOnPlanChange ?? false,
  });

  /** Processes a claim; a failure is recorded on its events (backoff or `failed`), then reported. */
  async function run(claim: ClaimedQueue, afterCommit?: AfterCommit): Promise<ProcessedQueue> {
    const started = performance.now();
    let outcome: QueueOutcome;
    try {
      outcome = await processor.processQueue(claim, afterCommit);
    } catch (error) {
      const message = describe(error);
      const eventIds = claim.events.map((e) => e.eventId);
      for (const e of claim.events) metrics.webhookFailed(e.type);
      const statuses = await retryLater(prisma, claim.ticket, eventIds, message, retry);
      log('stripe event processing failed; will retry', {
        level: 'error',
        eventId: eventIds[0],
        events: eventIds.length,
        queue: claim.queueKey,
        error: message,
        statuses,
      });
      return { kind: 'failed', eventIds, error: message, statuses };
    }
    if (outcome.kind === 'done') {
      for (const e of outcome.events) {
        // Lag from Stripe's `created` (when the change happened) to the commit: delivery delay,
        // queueing, Stripe's retries and our processing time together, the figure an operator alerts on.
        metrics.webhookProcessed(e.type, Date.now() - e.created.getTime());
        log('stripe event handled', {
          level: 'info',
          eventId: e.eventId,
          type: e.type,
          status: e.status,
          action: e.action,
          tenantId: e.tenantId,
          events: outcome.events.length,
          ms: Math.round(performance.now() - started),
        });
      }
    }
    return outcome;
  }

  function verify(payload: Buffer | string, signature: string | undefined): VerifiedEvent {
    const event = verifyEvent(stripe, payload, signature, webhookSecret, tolerance);
    metrics.webhookReceived(event.type);
    return event;
  }

  type Accepted = { result: WebhookResult } | { queueKey: string };

  async function accept(event: VerifiedEvent): Promise<Accepted> {
    const handled = isHandledType(event.type);
    const customerId = handled ? queueCustomerOf(event) : null;
    const outcome = await inbox.accept({
      event,
      customerId,
      ...(handled ? {} : { ignoredAction: 'unhandled_event_type' }),
    });
    const base = { received: true as const, eventId: event.id, type: event.type, tenantId: null };
    if (outcome.kind === 'duplicate') {
      metrics.webhookDuplicate(event.type);
      log('stripe event duplicate', { level: 'info', eventId: event.id, type: event.type });
      return { result: { ...base, status: 'duplicate', action: outcome.action ?? outcome.status } };
    }
    if (!handled) {
      metrics.webhookProcessed(event.type, Date.now() - event.created.getTime());
      return { result: { ...base, status: 'ignored', action: 'unhandled_event_type' } };
    }
    return { queueKey: customerId ?? event.id };
  }

  function resultOf(e: EventOutcome): WebhookResult {
    return {
      received: true,
      eventId: e.eventId,
      type: e.type,
      action: e.action,
      status: e.status,
      tenantId: e.tenantId,
    };
  }

  async function acceptWebhook(payload: Buffer | string, signature: string | undefined) {
    const event = verify(payload, signature);
    const accepted = await accept(event);
    if ('result' in accepted) return accepted.result;
    for (const listener of listeners) listener();
    return {
      received: true as const,
      eventId: event.id,
      type: event.type,
      action: 'queued',
      status: 'queued' as const,
      tenantId: null,
    };
  }

  /**
   * Stores the event, then processes its customer's due events right here (the same coalesced path
   * a worker takes: one Stripe read outside any transaction, one write). If another request or a
   * worker holds that customer's queue, waits for it and reports what became of this event.
   */
  async function handleWebhook(payload: Buffer | string, signature: string | undefined) {
    const event = verify(payload, signature);
    const accepted = await accept(event);
    if ('result' in accepted) return accepted.result;
    const deadline = Date.now() + leaseMs * 2;
    for (let wait = 2; ; wait = Math.min(wait * 2, 50)) {
      const claim = await claimQueue(prisma, { queueKey: accepted.queueKey, leaseMs });
      if (claim) {
        const outcome = await run(claim);
        if (outcome.kind === 'failed' && outcome.eventIds.includes(event.id)) throw new Error(outcome.error);
        if (outcome.kind === 'done') {
          const mine = outcome.events.find((e) => e.eventId === event.id);
          if (mine) return resultOf(mine);
        }
        continue;
      }
      const row = await readLedgerRow(prisma, event.id);
      if (row && (row.status === 'processed' || row.status === 'ignored')) {
        const unknown = row.action === UNKNOWN_TENANT || row.action === 'customer_mismatch';
        return {
          received: true as const,
          eventId: event.id,
          type: event.type,
          action: row.action ?? row.status,
          status: unknown ? ('unknown_tenant' as const) : row.status,
          tenantId: row.tenantId,
        };
      }
      // Tried by someone else meanwhile and failed: Stripe's redelivery (or a worker) tries again.
      if (row?.status === 'failed' || (row?.status === 'pending' && row.lastError !== null))
        throw new Error(row.lastError ?? `event ${event.id} failed`);
      if (Date.now() > deadline)
        throw new Error(`event ${event.id} is still waiting for its customer's queue`);
      await sleep(wait);
    }
  }

  async function processPending(opts: { maxClaims?: number } = {}): Promise<number> {
    let claims = 0;
    while (claims < (opts.maxClaims ?? Infinity)) {
      const claim = await claimQueue(prisma, { leaseMs });
      if (!claim) break;
      await run(claim);
      claims += 1;
    }
    return claims;
  }

  return {
    handleWebhook,
    acceptWebhook,
    receiveWebhook(payload, signature) {
      return listeners.size > 0 ? acceptWebhook(payload, signature) : handleWebhook(payload, signature);
    },
    async processNext() {
      const claim = await claimQueue(prisma, { leaseMs });
      return claim ? run(claim) : null;
    },
    claimQueues: (maxQueues) => claimQueues(prisma, { leaseMs, maxQueues }),
    processClaim: (claim, opts) => run(claim, opts?.afterCommit),
    processPending,
    onAccepted(listener) {
      listeners.add(listener);
      return () => void listeners.delete(listener);
    },
    async dispatch(opts = {}) {
      if (listeners.size > 0) {
        for (const listener of listeners) listener();
        return;
      }
      await processPending(opts);
    },
  };
}
