import type Stripe from 'stripe';
import type { BillingMetrics } from '../../io/metrics/index.js';
import type { AcceptBatcher } from './accept-batcher.js';
import { refsOf, verifyEvent, type VerifiedEvent } from './event.js';
import { handlerOf } from './events/index.js';
import type { WebhookLog } from './handler-types.js';

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

/** A stored event waiting in its queue, or the answer when there is nothing to process. */
export type Accepted =
  { event: VerifiedEvent; queueKey: string } | { event: VerifiedEvent; result: WebhookResult };

/** Customer the event is queued under: events of one customer are processed together, in order. */
function queueCustomerOf(event: VerifiedEvent): string | null {
  if (handlerOf(event.type)?.queue === 'plan') return null;
  return refsOf(event).customerId;
}

/**
 * The accept step every delivery takes: verify the signature and shape, store the event in the
 * inbox (one grouped statement), and answer at once for a duplicate or a type nothing acts on.
 */
export function createAccept(options: {
  stripe: Stripe;
  webhookSecret: string;
  toleranceSeconds: number;
  inbox: AcceptBatcher;
  metrics: BillingMetrics;
  log: WebhookLog;
}): (payload: Buffer | string, signature: string | undefined) => Promise<Accepted> {
  const { inbox, metrics, log } = options;
  return async (payload, signature) => {
    const event = verifyEvent(
      options.stripe,
      payload,
      signature,
      options.webhookSecret,
      options.toleranceSeconds,
    );
    metrics.webhookReceived(event.type);
    const handled = handlerOf(event.type) !== null;
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
      return { event, result: { ...base, status: 'duplicate', action: outcome.action ?? outcome.status } };
    }
    if (!handled) {
      metrics.webhookProcessed(event.type, Date.now() - event.created.getTime());
      return { event, result: { ...base, status: 'ignored', action: 'unhandled_event_type' } };
    }
    return { event, queueKey: customerId ?? event.id };
  };
}
