import type { PrismaClient } from '@packages/db';
import type { BillingMetrics } from '../../io/metrics/index.js';
import { describe, type AfterCommit, type QueueOutcome } from './claim-context.js';
import type { WebhookLog } from './handler-types.js';
import { retryLater, type ClaimedQueue, type RetryPolicy } from './inbox.js';
import type { createQueueProcessor } from './processor.js';

export type ProcessedQueue =
  | QueueOutcome
  | { kind: 'failed'; eventIds: string[]; error: string; statuses: { eventId: string; status: string }[] };

/**
 * Processes a claim the way every caller does (worker slot, request, drain): a failure is recorded
 * on its events (backoff, or `failed` after the last try) and reported, not thrown; what was done
 * is counted and logged.
 */
export function createClaimRunner(options: {
  prisma: PrismaClient;
  processor: ReturnType<typeof createQueueProcessor>;
  retry: RetryPolicy;
  metrics: BillingMetrics;
  log: WebhookLog;
}): (claim: ClaimedQueue, afterCommit?: AfterCommit) => Promise<ProcessedQueue> {
  const { prisma, processor, retry, metrics, log } = options;
  return async (claim, afterCommit) => {
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
  };
}
