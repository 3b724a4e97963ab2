import type { AfterCommit, ClaimContext, QueueOutcome } from './claim-context.js';
import { processCustomerClaim } from './customer-claim.js';
import { handlerOf } from './events/index.js';
import type { ClaimedQueue, RunSql } from './inbox.js';
import { processPlanEvent } from './plan-events.js';
import { createStripeFactReader } from './stripe-facts.js';
import { createWebhookWrites } from './writes.js';

/** What a pipeline passes in; the Stripe reader and the grouped writes are built here. */
export type ProcessorDeps = Omit<ClaimContext, 'reads' | 'writes'> & {
  /** What the grouped writes go through (the pg pool behind `prisma` when there is one). */
  sql: RunSql;
};

/**
 * Processes claimed queues: a product or price event on its own (plan-events.ts), a customer's
 * events together (customer-claim.ts). The Stripe reader and the grouped writes are shared by every
 * claim of the pipeline.
 */
export function createQueueProcessor(deps: ProcessorDeps) {
  const { sql, ...rest } = deps;
  const ctx: ClaimContext = {
    ...rest,
    reads: createStripeFactReader(deps.stripe, deps.featureSync.stripeSync),
    writes: createWebhookWrites(deps.prisma, sql, deps.featureSync),
  };
  return {
    /**
     * Processes one claimed queue. Throws on a failure (the caller schedules the retry). With
     * `afterCommit`, a written customer's cache publish and hooks are handed to it instead of
     * awaited: the outcome is known at commit (a worker slot is free for its next customer at once).
     */
    processQueue(claim: ClaimedQueue, afterCommit?: AfterCommit): Promise<QueueOutcome> {
      const first = claim.events[0]!.event;
      if (handlerOf(first.type)?.queue === 'plan') return processPlanEvent(ctx, claim, first);
      return processCustomerClaim(ctx, claim, afterCommit);
    },
  };
}
