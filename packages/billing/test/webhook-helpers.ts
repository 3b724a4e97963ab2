import type { FastifyInstance } from 'fastify';
import type Stripe from 'stripe';
import { type TenantFeatureState } from '../src/core/index.js';
import { createFeatureReader } from '../src/io/feature-cache/index.js';
import { createFeatureSyncService, type FeatureSyncService } from '../src/flows/feature-sync/index.js';
import { buildServer, type ServerOptions } from '../src/entry/server/app.js';
import {
  createStripeSyncService,
  type StripeSyncOptions,
  type StripeSyncService,
} from '../src/io/stripe-sync/index.js';
import { toState } from '../src/io/tenant-store/index.js';
import {
  createStripeWebhookHandler,
  type StripeWebhookHandlerOptions,
  type StripeWebhookPipeline,
  type TrialWillEndInfo,
} from '../src/flows/webhooks/index.js';
import { setupBillingTestEnv, type BillingTestEnv } from './helpers/env.js';
import { seedPlans, type PlanName, type SeededPlans } from './helpers/fixtures.js';

export interface WebhookTestEnvOptions {
  /** Emulator POSTs each event as it happens (default false: tests deliver in the order they choose). */
  autoDeliver?: boolean;
  handler?: Partial<StripeWebhookHandlerOptions>;
  stripeSync?: StripeSyncOptions;
  server?: ServerOptions;
  poolMax?: number;
}

export interface WebhookTestEnv extends BillingTestEnv {
  plans: SeededPlans;
  stripeSync: StripeSyncService;
  featureSync: FeatureSyncService;
  handler: StripeWebhookPipeline;
  app: FastifyInstance;
  /** http://127.0.0.1:<port>/api/stripe/webhook */
  webhookUrl: string;
  /** Settable clock behind the handler's `now` option. */
  clock: { now: Date };
  trialCalls: TrialWillEndInfo[];
  logs: { line: string; fields: Record<string, unknown> }[];
  /** Tenant + Stripe customer; `link` says how the tenant is findable (default: stripe_customer_id column). */
  createCustomer(
    tenantId: string,
    options?: { link?: 'column' | 'metadata' | 'none'; createTenant?: boolean },
  ): Promise<string>;
  subscribe(
    customerId: string,
    plan: PlanName,
    params?: Partial<Stripe.SubscriptionCreateParams>,
  ): Promise<Stripe.Subscription>;
  /** A new tenant (customer linked by column) subscribed to `plan`, its created event delivered and acknowledged. */
  subscribed(
    tenantId: string,
    plan: PlanName,
    params?: Partial<Stripe.SubscriptionCreateParams>,
  ): Promise<{ customerId: string; sub: Stripe.Subscription }>;
  state(tenantId: string): Promise<TenantFeatureState | null>;
  audits(
    tenantId: string,
  ): Promise<{ action: string; stripeEventId: string | null; source: string; actor: string }[]>;
  ledger(eventId: string): ReturnType<BillingTestEnv['prisma']['processedStripeEvent']['findUnique']>;
  /** Events of `type` (oldest first), optionally only those about one object id. */
  eventsOf(type: string, objectId?: string): Stripe.Event[];
  lastEvent(type: string, objectId?: string): Stripe.Event;
  deliver(
    event: Stripe.Event | string,
    options?: { timestamp?: number; secret?: string; url?: string; timeoutMs?: number },
  ): Promise<{ status: number; json: Record<string, unknown> }>;
  /**
   * Waits until each of these events (default: every event in the inbox) is finished — processed,
   * ignored or failed — for tests where a worker processes after the route answered `queued`.
   */
  settled(eventIds?: string[], timeoutMs?: number): Promise<void>;
  /** Signs and POSTs a hand-made event (defaults: a fresh id, `created` now). */
  postEvent(
    event: { id?: string; type: string; created?: number; object: Record<string, unknown> },
    options?: { url?: string },
  ): Promise<{ status: number; json: Record<string, unknown>; eventId: string }>;
  /** POSTs raw bytes to the webhook URL. */
  post(
    body: string | Buffer,
    headers?: Record<string, string>,
  ): Promise<{ status: number; json: Record<string, unknown> }>;
  close(): Promise<void>;
}

/**
 * Everything a webhook test needs, wired as the composition root does but with our Stripe retries
 * off and the rate limit out of the way, listening on a real port so the emulator signs and POSTs
 * events over HTTP exactly as Stripe would.
 */
export async function setupWebhookTestEnv(options: WebhookTestEnvOptions = {}): Promise<WebhookTestEnv> {
  const env = await setupBillingTestEnv({ maxNetworkRetries: 0, poolMax: options.poolMax });
  try {
    const plans = await seedPlans(env.stripe);
    const stripeSync = createStripeSyncService(env.stripe, {
      maxRetries: 0,
      requestsPerSecond: 100_000,
      burst: 100_000,
      ...options.stripeSync,
    });
    const reader = createFeatureReader(env.prisma, env.cache, { namespace: env.namespace });
    const featureSync = createFeatureSyncService(env.prisma, stripeSync, { featureReader: reader });
    const clock = { now: new Date() };
    const trialCalls: TrialWillEndInfo[] = [];
    const logs: WebhookTestEnv['logs'] = [];
    const handler = createStripeWebhookHandler(env.stripe, env.prisma, featureSync, env.emu.webhookSecret, {
      now: () => clock.now,
      onTrialWillEnd: (info) => void trialCalls.push(info),
      log: (line, fields) => void logs.push({ line, fields }),
      ...options.handler,
    });
    const app = await buildServer(
      { prisma: env.prisma, stripe: env.stripe, webhookHandler: handler, featureSync },
      options.server,
    );
    await app.listen({ port: 0, host: '127.0.0.1' });
    const address = app.server.address();
    if (!address || typeof address === 'string') throw new Error('server has no TCP address');
    const webhookUrl = `http://127.0.0.1:${address.port}/api/stripe/webhook`;
    env.emu.setWebhookEndpoint(webhookUrl, { autoDeliver: options.autoDeliver ?? false });

    const eventsOf = (type: string, objectId?: string) =>
      env.emu
        .events()
        .filter(
          (e) =>
            e.type === type && (objectId === undefined || (e.data.object as { id?: string }).id === objectId),
        );

    const parse = (text: string): Record<string, unknown> => {
      try {
        return JSON.parse(text) as Record<string, unknown>;
      } catch {
        return { raw: text };
      }
    };

    const subscribe = (
      customerId: string,
      plan: PlanName,
      params: Partial<Stripe.SubscriptionCreateParams> = {},
    ) =>
      env.stripe.subscriptions.create({
        customer: customerId,
        items: [{ price: plans[plan].price.id }],
        ...params,
      });

    const webhookEnv: WebhookTestEnv = {
      ...env,
      plans,
      stripeSync,
      featureSync,
      handler,
      app,
      webhookUrl,
      clock,
      trialCalls,
      logs,
      async createCustomer(tenantId, o = {}) {
        const link = o.link ?? 'column';
        const customer = await env.stripe.customers.create({
          name: tenantId,
          ...(link === 'metadata' ? { metadata: { tenantId } } : {}),
        });
        if (o.createTenant !== false) {
          await env.prisma.tenant.create({
            data: { id: tenantId, name: tenantId, stripeCustomerId: link === 'column' ? customer.id : null },
          });
        }
        return customer.id;
      },
      subscribe,
      async subscribed(tenantId, plan, params = {}) {
        const customerId = await webhookEnv.createCustomer(tenantId);
        const sub = await subscribe(customerId, plan, params);
        const res = await webhookEnv.deliver(webhookEnv.lastEvent('customer.subscription.created', sub.id));
        if (res.status !== 200)
          throw new Error(
            `created event for ${tenantId} answered ${res.status}: ${JSON.stringify(res.json)}`,
          );
        return { customerId, sub };
      },
      async state(tenantId) {
        const row = await env.prisma.tenantFeatureConfig.findUnique({ where: { tenantId } });
        return row ? toState(row) : null;
      },
      async audits(tenantId) {
        return env.prisma.featureAuditLog.findMany({
          where: { tenantId },
          orderBy: { id: 'asc' },
          select: { action: true, stripeEventId: true, source: true, actor: true },
        });
      },
      ledger(eventId) {
        return env.prisma.processedStripeEvent.findUnique({ where: { eventId } });
      },
      eventsOf,
      lastEvent(type, objectId) {
        const event = eventsOf(type, objectId).at(-1);
        if (!event) throw new Error(`no ${type} event${objectId ? ` for ${objectId}` : ''}`);
        return event;
      },
      async deliver(event, o) {
        const id = typeof event === 'string' ? event : event.id;
        const result = await env.emu.deliverEvent(id, o);
        return { status: result.status, json: parse(result.body) };
      },
      async settled(eventIds, timeoutMs = 15_000) {
        const deadline = Date.now() + timeoutMs;
        for (;;) {
          const open = await env.prisma.processedStripeEvent.count({
            where: {
              status: { in: ['pending', 'processing'] },
              ...(eventIds ? { eventId: { in: eventIds } } : {}),
            },
          });
          const known = eventIds
            ? await env.prisma.processedStripeEvent.count({ where: { eventId: { in: eventIds } } })
            : 0;
          if (open === 0 && (!eventIds || known === eventIds.length)) return;
          if (Date.now() > deadline)
            throw new Error(`${open} inbox event(s) still open after ${timeoutMs} ms`);
          await new Promise((r) => setTimeout(r, 10));
        }
      },
      async postEvent(event, o = {}) {
        const id = event.id ?? `evt_test_${Math.random().toString(36).slice(2)}${Date.now().toString(36)}`;
        const body = JSON.stringify({
          id,
          object: 'event',
          type: event.type,
          created: event.created ?? Math.floor(Date.now() / 1000),
          data: { object: event.object },
        });
        const response = await fetch(o.url ?? webhookUrl, {
          method: 'POST',
          headers: { 'content-type': 'application/json', 'stripe-signature': env.emu.signPayload(body) },
          body,
        });
        return { status: response.status, json: parse(await response.text()), eventId: id };
      },
      async post(body, headers = {}) {
        const response = await fetch(webhookUrl, {
          method: 'POST',
          headers: { 'content-type': 'application/json', ...headers },
          body: typeof body === 'string' ? body : new Uint8Array(body),
        });
        return { status: response.status, json: parse(await response.text()) };
      },
      async close() {
        await app.close().catch(() => {});
        await env.close();
      },
    };
    return webhookEnv;
  } catch (error) {
    await env.close();
    throw error;
  }
}

/**
 * A second handler + server on the same database and emulator, for handler options the shared
 * one does not use; deliver with `env.deliver(event, { url })`. The caller closes it.
 */
export async function startExtraServer(
  env: WebhookTestEnv,
  handlerOptions: Partial<StripeWebhookHandlerOptions>,
): Promise<{ url: string; handler: StripeWebhookPipeline; app: FastifyInstance; close(): Promise<void> }> {
  const handler = createStripeWebhookHandler(env.stripe, env.prisma, env.featureSync, env.emu.webhookSecret, {
    now: () => env.clock.now,
    log: (line, fields) => void env.logs.push({ line, fields }),
    ...handlerOptions,
  });
  const app = await buildServer({
    prisma: env.prisma,
    stripe: env.stripe,
    webhookHandler: handler,
    featureSync: env.featureSync,
  });
  await app.listen({ port: 0, host: '127.0.0.1' });
  const address = app.server.address();
  if (!address || typeof address === 'string') throw new Error('server has no TCP address');
  return {
    url: `http://127.0.0.1:${address.port}/api/stripe/webhook`,
    handler,
    app,
    close: () => app.close(),
  };
}
