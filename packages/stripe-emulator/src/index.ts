import type { AddressInfo } from 'node:net';
import type Stripe from 'stripe';
import { EmulatorCore } from './core.js';
import { DEFAULT_MAX_EXPAND_DEPTH } from './expand.js';
import type { FaultSpec, RequestHold, RequestMatch } from './faults.js';
import {
  completeCheckout,
  confirmBillingPortal,
  payInvoice,
  renewSubscription,
  setStatus,
  triggerTrialWillEnd,
} from './helpers.js';
import { seedCustomers, type SeedCustomer, type SeededCustomer, type SeedOptions } from './seed.js';
import { createServer } from './server.js';
import { signPayload } from './webhooks.js';

export { API_VERSION } from './version.js';
export type { FaultSpec, RequestHold, RequestMatch } from './faults.js';
export type { SeedCustomer, SeededCustomer, SeedOptions } from './seed.js';

export interface EmulatorOptions {
  /** 0 = random free port. */
  port?: number;
  /** Default 127.0.0.1. */
  host?: string;
  /** Default 'sk_test_emulator'. */
  apiKey?: string;
  /** Default 'whsec_emulator'. */
  webhookSecret?: string;
  webhookUrl?: string | null;
  /** Default true when webhookUrl is set. */
  autoDeliver?: boolean;
  /** Auto-delivery tries per event before it is left pending (default 3). */
  webhookAttempts?: number;
  /** Delay between auto-delivery tries, multiplied by the attempt number (default 50 ms). */
  webhookBackoffMs?: number;
  /** Max `expand[]` path depth; Stripe's is 4 (default). */
  maxExpandDepth?: number;
}

export interface StripeEmulator {
  url: string;
  host: string;
  port: number;
  apiKey: string;
  webhookSecret: string;
  /** Spread into `new Stripe(apiKey, {...})`. */
  stripeClientConfig(): { host: string; port: number; protocol: 'http' };
  /** Keys like 'GET /v1/products', 'POST /v1/subscriptions/:id', plus 'total'. Faulted requests count too. */
  requestCounts(): Record<string, number>;
  resetRequestCounts(): void;
  injectFault(fault: FaultSpec): void;
  injectLatency(ms: number, match?: RequestMatch): void;
  /** Matching requests wait until `release()` (clearFaults releases them too). */
  holdRequests(match?: RequestMatch): RequestHold;
  clearFaults(): void;
  setWebhookEndpoint(url: string | null, options?: { secret?: string; autoDeliver?: boolean }): void;
  /** All events produced so far, oldest first. */
  events(): Stripe.Event[];
  deliverEvent(
    eventId: string,
    /** timeoutMs: how long this delivery waits for the answer (default 5 s, the endpoint's setting). */
    options?: { url?: string; timestamp?: number; secret?: string; timeoutMs?: number },
  ): Promise<{ status: number; body: string }>;
  /** Delivers, in order, events not yet delivered successfully (one try each). */
  deliverPendingEvents(): Promise<Array<{ eventId: string; status: number }>>;
  /** Resolves when the auto-delivery queue is empty. */
  waitForDeliveries(): Promise<void>;
  /** `Stripe-Signature` header value for a payload: `t=...,v1=...`. */
  signPayload(payload: string, options?: { timestamp?: number; secret?: string }): string;
  /** Emits customer.subscription.updated with previous_attributes including `status`. */
  setSubscriptionStatus(
    subscriptionId: string,
    status: 'trialing' | 'active' | 'past_due' | 'unpaid' | 'canceled' | 'paused' | 'incomplete',
  ): Stripe.Event;
  /** Creates a paid (or open, on failure) invoice and emits invoice.payment_succeeded / invoice.payment_failed. */
  payInvoice(subscriptionId: string, options?: { succeeded?: boolean }): Stripe.Event;
  /**
   * Renews the subscription as a test clock reaching its period end would (advance the clock there
   * first): every item moves to the next period (customer.subscription.updated), and the period's
   * invoice is paid (invoice.payment_succeeded). Answers both events.
   */
  renewSubscription(subscriptionId: string): Stripe.Event[];
  /** Emits customer.subscription.trial_will_end. */
  triggerTrialWillEnd(subscriptionId: string): Stripe.Event;
  /**
   * Pays an open subscription-mode session that has a customer, as a customer on the hosted page would:
   * creates the subscription (customer.subscription.created), then emits checkout.session.completed.
   * Throws for any other session.
   */
  completeCheckoutSession(sessionId: string): Stripe.Checkout.Session;
  /**
   * Confirms a billing portal session's subscription_update_confirm flow, as the customer would on
   * the portal page: the subscription item moves to the flow's price (customer.subscription.updated).
   */
  confirmBillingPortalSession(sessionId: string): Stripe.Subscription;
  emitEvent(type: string, object: unknown, previousAttributes?: Record<string, unknown>): Stripe.Event;
  /**
   * Creates customers and their subscriptions as `customers.create` + `subscriptions.create` would,
   * in one call without HTTP (bulk fixtures: 100,000 in seconds). `events: false` keeps no event;
   * `perSecond` spreads `created` (the clock moves one second after every `perSecond` customers).
   */
  seedCustomers(customers: readonly SeedCustomer[], options?: SeedOptions): SeededCustomer[];
  /**
   * Moves the emulator's clock forward by whole seconds (never back): objects created afterwards
   * carry the later `created`, so lists filtered by `created` ranges can be tested. Kept by reset().
   */
  advanceClock(seconds: number): void;
  /** Clears all objects, events, counts, faults and idempotency keys (webhook endpoint config is kept). */
  reset(): void;
  close(): Promise<void>;
}

const asEvent = (e: unknown) => structuredClone(e) as Stripe.Event;

export async function startStripeEmulator(options: EmulatorOptions = {}): Promise<StripeEmulator> {
  const host = options.host ?? '127.0.0.1';
  const apiKey = options.apiKey ?? 'sk_test_emulator';
  const webhookUrl = options.webhookUrl ?? null;
  const core = new EmulatorCore({
    apiKey,
    maxExpandDepth: options.maxExpandDepth ?? DEFAULT_MAX_EXPAND_DEPTH,
    webhook: {
      url: webhookUrl,
      secret: options.webhookSecret ?? 'whsec_emulator',
      autoDeliver: options.autoDeliver ?? webhookUrl !== null,
      attempts: options.webhookAttempts ?? 3,
      backoffMs: options.webhookBackoffMs ?? 50,
      timeoutMs: 5000,
    },
  });
  const server = createServer(core);
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(options.port ?? 0, host, () => {
      server.off('error', reject);
      resolve();
    });
  });
  const port = (server.address() as AddressInfo).port;
  const urlHost = host.includes(':') ? `[${host}]` : host;
  const url = `http://${urlHost}:${port}`;
  core.baseUrl = url;

  return {
    url,
    host,
    port,
    apiKey,
    get webhookSecret() {
      return core.options.webhook.secret;
    },
    stripeClientConfig: () => ({ host, port, protocol: 'http' }),
    requestCounts: () => core.counts.snapshot(),
    resetRequestCounts: () => core.counts.reset(),
    injectFault: (fault) => core.faults.inject(fault),
    injectLatency: (ms, match) => core.faults.injectLatency(ms, match),
    holdRequests: (match) => core.faults.hold(match),
    clearFaults: () => core.faults.clear(),
    setWebhookEndpoint: (target, opts) => core.webhooks.configure(target, opts),
    events: () => core.events.all().map(asEvent),
    deliverEvent: (eventId, opts) => core.webhooks.deliver(eventId, opts),
    deliverPendingEvents: () => core.webhooks.deliverPending(),
    waitForDeliveries: () => core.webhooks.waitForDeliveries(),
    signPayload: (payload, opts) =>
      signPayload(payload, opts?.secret ?? core.options.webhook.secret, opts?.timestamp),
    setSubscriptionStatus: (id, status) => asEvent(setStatus(core, id, status)),
    payInvoice: (id, opts) => asEvent(payInvoice(core, id, opts?.succeeded ?? true)),
    triggerTrialWillEnd: (id) => asEvent(triggerTrialWillEnd(core, id)),
    renewSubscription: (id) => renewSubscription(core, id).map(asEvent),
    completeCheckoutSession: (id) => completeCheckout(core, id) as Stripe.Checkout.Session,
    confirmBillingPortalSession: (id) => confirmBillingPortal(core, id) as Stripe.Subscription,
    emitEvent: (type, object, previousAttributes) =>
      asEvent(core.events.emit(type, object, previousAttributes ?? null)),
    seedCustomers: (customers, opts) => seedCustomers(core, customers, opts),
    advanceClock: (seconds) => core.store.clock.advance(seconds),
    reset: () => core.reset(),
    close: async () => {
      core.webhooks.close();
      await new Promise<void>((resolve) => {
        server.close(() => resolve());
        // stripe-node keeps sockets alive; without this close() waits for them to time out.
        server.closeAllConnections();
      });
    },
  };
}
