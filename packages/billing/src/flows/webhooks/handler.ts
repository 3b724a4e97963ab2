import type { PrismaClient } from '@packages/db';
import type Stripe from 'stripe';
import { gracePeriodMs } from '../../core/index.js';
import { noopMetrics, type BillingMetrics } from '../../io/metrics/index.js';
import { createAccept, type WebhookResult } from './accept.js';
import { createAcceptBatcher } from './accept-batcher.js';
import type { AfterCommit } from './claim-context.js';
import { createClaimRunner, type ProcessedQueue } from './claim-runner.js';
import type { TrialWillEndInfo, WebhookFeatureSync, WebhookLog } from './handler-types.js';
import {
  claimQueue,
  claimQueues,
  sqlThroughPool,
  sqlThroughPrisma,
  type ClaimedQueue,
  type RetryPolicy,
  type SqlPool,
} from './inbox.js';
import { createQueueProcessor } from './processor.js';
import { settleHere } from './settle.js';

export type { WebhookResult, WebhookResultStatus } from './accept.js';
export type { ProcessedQueue } from './claim-runner.js';
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

const DEFAULT_RETRY: RetryPolicy = { maxAttempts: 8, backoffBaseMs: 1_000, backoffMaxMs: 300_000 };
const DEFAULT_LEASE_MS = 60_000;

/** Default log: only problems reach stderr, so a quiet server stays quiet. */
const defaultLog: WebhookLog = (line, fields) => {
  if (fields.level === 'error' || fields.level === 'warn')
    console.error(JSON.stringify({ msg: line, ...fields }));
};

const defaultSleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms));

/**
 * One path for every delivery: accept (verify, store), then either answer `queued` (a worker
 * processes it) or process its customer's queue here before answering. The three entry names only
 * choose who processes: `handleWebhook` (the spec's contract) always here, `acceptWebhook` never,
 * `receiveWebhook` (what the HTTP route calls) here unless a worker pool of this process is attached.
 */
export function createStripeWebhookHandler(
  stripe: Stripe,
  prisma: PrismaClient,
  featureSync: WebhookFeatureSync,
  webhookSecret: string,
  options: StripeWebhookHandlerOptions = {},
): StripeWebhookPipeline {
  const log = options.log ?? defaultLog;
  const metrics = options.metrics ?? noopMetrics;
  const leaseMs = options.leaseMs ?? DEFAULT_LEASE_MS;
  // The hot statements (accept, claim, write) go straight through the pg pool when there is one.
  const sql = options.pool ? sqlThroughPool(options.pool) : sqlThroughPrisma(prisma);
  const accept = createAccept({
    stripe,
    webhookSecret,
    toleranceSeconds: options.toleranceSeconds ?? 300,
    // Concurrent deliveries share one INSERT (group commit); each still answers after its row committed.
    inbox: createAcceptBatcher(sql),
    metrics,
    log,
  });
  const run = createClaimRunner({
    prisma,
    processor: createQueueProcessor({
      stripe,
      prisma,
      sql,
      featureSync,
      graceMs: gracePeriodMs(options.paymentFailurePolicy?.gracePeriodDays),
      now: options.now ?? (() => new Date()),
      log,
      onTrialWillEnd: options.onTrialWillEnd,
      reapplyOnPlanChange: options.reapplyOnPlanChange ?? false,
    }),
    retry: { ...DEFAULT_RETRY, ...options.retry },
    metrics,
    log,
  });
  const settle = { prisma, sql, run, leaseMs, sleep: options.sleep ?? defaultSleep };
  /** Wake-ups of the worker pools attached in this process. */
  const workers = new Set<() => void>();

  async function receive(
    payload: Buffer | string,
    signature: string | undefined,
    processHere: boolean,
  ): Promise<WebhookResult> {
    const accepted = await accept(payload, signature);
    if ('result' in accepted) return accepted.result;
    if (processHere) return settleHere(settle, accepted.event, accepted.queueKey);
    for (const wake of workers) wake();
    const { id: eventId, type } = accepted.event;
    return { received: true, eventId, type, action: 'queued', status: 'queued', tenantId: null };
  }

  async function processPending(opts: { maxClaims?: number } = {}): Promise<number> {
    let claims = 0;
    while (claims < (opts.maxClaims ?? Infinity)) {
      const claim = await claimQueue(sql, { leaseMs });
      if (!claim) break;
      await run(claim);
      claims += 1;
    }
    return claims;
  }

  return {
    handleWebhook: (payload, signature) => receive(payload, signature, true),
    acceptWebhook: (payload, signature) => receive(payload, signature, false),
    receiveWebhook: (payload, signature) => receive(payload, signature, workers.size === 0),
    async processNext() {
      const claim = await claimQueue(sql, { leaseMs });
      return claim ? run(claim) : null;
    },
    claimQueues: (maxQueues) => claimQueues(sql, { leaseMs, maxQueues }),
    processClaim: (claim, opts) => run(claim, opts?.afterCommit),
    processPending,
    onAccepted(wake) {
      workers.add(wake);
      return () => void workers.delete(wake);
    },
    async dispatch(opts = {}) {
      if (workers.size > 0) {
        for (const wake of workers) wake();
        return;
      }
      await processPending(opts);
    },
  };
}
