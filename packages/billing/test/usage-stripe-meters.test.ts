import Stripe from 'stripe';
import { createIsolatedDatabase } from '@packages/db';
import { startStripeEmulator } from '@packages/stripe-emulator';
import { afterAll, describe, expect, it } from 'vitest';
import {
  addFeature,
  createPrometheusMetrics,
  createTenant,
  createUsageMeterReporter,
  createUsageService,
  listUsageMeterReports,
  setFeatureOverride,
  setFeatureUsage,
} from '../src/index.js';
import { createStripeCaller, type StripeCall } from '../src/io/stripe-sync/client.js';
import { createTokenBucket } from '../src/io/stripe-sync/limiter.js';
import { buildServer } from '../src/server.js';
import { ADMIN_TOKEN, bearer, TENANT_A_TOKEN } from './admin-helpers.js';

/**
 * Stripe Billing Meters (docs/usage.md, Stripe meters): the usage of a key with `stripeMeter` reaches
 * the emulator's meter as batched meter events, exactly once per unit across crashes, through the
 * shared Stripe caller, with no database lock held while Stripe answers.
 */
const emu = await startStripeEmulator({ port: 0 });
afterAll(() => emu.close());
const stripe = new Stripe(emu.apiKey, { ...emu.stripeClientConfig(), maxNetworkRetries: 0 });
const db = await createIsolatedDatabase();
afterAll(() => db.close());
const { prisma } = db;
const prometheus = createPrometheusMetrics();
const stats = { stripeRequests: 0, cacheHits: 0, cacheMisses: 0, retries: 0, rateLimited: 0 };
const call = createStripeCaller({
  limiter: createTokenBucket({ ratePerSecond: 1000 }),
  stats,
  maxRetries: 0,
  metrics: prometheus.metrics,
});
const usage = createUsageService(prisma, { checkCacheMs: 0, sweepIntervalMs: 0 });
afterAll(() => usage.close());

let clock = Date.now();
const now = () => new Date(clock);
const reporter = (over: Partial<Parameters<typeof createUsageMeterReporter>[1]> = {}) =>
  createUsageMeterReporter(prisma, { stripe, call, now, metrics: prometheus.metrics, ...over });

await addFeature(prisma, {
  key: 'api.calls',
  type: 'number',
  description: 'API calls',
  usage: { reset: 'month', overage: 'reject', stripeMeter: 'api_calls' },
});
await addFeature(prisma, {
  key: 'ai.tokens',
  type: 'number',
  description: 'Tokens',
  usage: { reset: 'month', overage: 'allow', stripeMeter: 'ai_tokens', stripeMeterReport: 'overage' },
});
const meters = {
  calls: await stripe.billing.meters.create({
    display_name: 'API calls',
    event_name: 'api_calls',
    default_aggregation: { formula: 'sum' },
  }),
  tokens: await stripe.billing.meters.create({
    display_name: 'Tokens',
    event_name: 'ai_tokens',
    default_aggregation: { formula: 'sum' },
  }),
};

async function tenant(id: string, limits: Record<string, number>, withCustomer = true) {
  const customer = withCustomer ? await stripe.customers.create({ name: id }) : null;
  await createTenant(prisma, { id, name: id, stripeCustomerId: customer?.id ?? null });
  for (const [key, value] of Object.entries(limits)) await setFeatureOverride(prisma, id, key, value);
  return customer?.id ?? '';
}

/** What Stripe has summed for the customer on the meter, this month and the next. */
async function billed(meter: { id: string }, customer: string): Promise<number> {
  const start = Math.floor(Date.now() / 1000 / 60) * 60 - 35 * 86_400;
  const list = await stripe.billing.meters.listEventSummaries(meter.id, {
    customer,
    start_time: start,
    end_time: start + 70 * 86_400,
  });
  return list.data.reduce((s, x) => s + x.aggregated_value, 0);
}

const eventsSent = () => emu.requestCounts()['POST /v1/billing/meter_events'] ?? 0;

describe('Stripe meter events', () => {
  it('many tracks become one event per counter, through the shared Stripe caller', async () => {
    const customer = await tenant('sm-a', { 'api.calls': 100, 'ai.tokens': 10 });
    await Promise.all([1, 2, 3, 4].map((n) => usage.track('sm-a', 'api.calls', n)));
    const before = { sent: eventsSent(), requests: stats.stripeRequests };
    expect(await reporter().reportDue()).toEqual({ sent: 1, failed: 0 });
    expect(eventsSent() - before.sent).toBe(1);
    expect(stats.stripeRequests - before.requests).toBe(1);
    expect(await billed(meters.calls, customer)).toBe(10);
    // Nothing new: no event.
    expect(await reporter().reportDue()).toEqual({ sent: 0, failed: 0 });
    await usage.track('sm-a', 'api.calls', 5);
    expect(await reporter().reportDue()).toEqual({ sent: 1, failed: 0 });
    expect(await billed(meters.calls, customer)).toBe(15);
    // A refused track reports nothing.
    await usage.track('sm-a', 'api.calls', 1000);
    expect(await reporter().reportDue()).toEqual({ sent: 0, failed: 0 });
    const [state] = await listUsageMeterReports(prisma, { tenantId: 'sm-a' });
    expect(state).toMatchObject({ key: 'api.calls', reported: 15, due: false, sendingTo: null });
  });

  it('only the overage, for a key that reports overage', async () => {
    const customer = await tenant('sm-b', { 'ai.tokens': 10 });
    await usage.track('sm-b', 'ai.tokens', 8);
    expect(await reporter().reportDue()).toEqual({ sent: 0, failed: 0 });
    await usage.track('sm-b', 'ai.tokens', 5);
    await reporter().reportDue();
    expect(await billed(meters.tokens, customer)).toBe(3);
    await usage.track('sm-b', 'ai.tokens', 2);
    await reporter().reportDue();
    expect(await billed(meters.tokens, customer)).toBe(5);
  });

  it('a send Stripe took but the process did not record is sent again under the same identifier: counted once', async () => {
    const customer = await tenant('sm-c', { 'api.calls': 100 });
    await usage.track('sm-c', 'api.calls', 7);
    // The process "dies" right after Stripe answered: the outcome is never recorded.
    const crashing: StripeCall = async (label, fn) => {
      await call(label, fn);
      throw new Error('killed');
    };
    await expect(reporter({ call: crashing, backoffMs: 30_000 }).reportDue()).resolves.toEqual({
      sent: 0,
      failed: 1,
    });
    expect(await billed(meters.calls, customer)).toBe(7);
    // More usage meanwhile; the unfinished range goes first, unchanged, once its retry is due.
    await usage.track('sm-c', 'api.calls', 2);
    expect(await reporter().reportDue()).toEqual({ sent: 0, failed: 0 });
    // (The emulator counts events stamped up to 5 minutes ahead of its clock.)
    clock += 60_000;
    expect(await reporter().reportDue()).toEqual({ sent: 1, failed: 0 });
    expect(await billed(meters.calls, customer)).toBe(7);
    expect(await reporter().reportDue()).toEqual({ sent: 1, failed: 0 });
    expect(await billed(meters.calls, customer)).toBe(9);
    const text = await prometheus.registry.metrics();
    expect(text).toMatch(/billing_usage_meter_events_total\{outcome="duplicate"\} 1/);
  });

  it('no lock is held while Stripe answers: a track on the same counter completes meanwhile', async () => {
    const customer = await tenant('sm-d', { 'api.calls': 100 });
    await usage.track('sm-d', 'api.calls', 1);
    const hold = emu.holdRequests({ method: 'POST', path: '/v1/billing/meter_events' });
    try {
      const round = reporter().reportDue();
      await expect.poll(() => hold.held, { timeout: 10_000 }).toBe(1);
      const tracked = await usage.track('sm-d', 'api.calls', 1);
      expect(tracked).toMatchObject({ allowed: true, used: 2 });
      hold.release();
      expect(await round).toEqual({ sent: 1, failed: 0 });
    } finally {
      hold.release();
    }
    expect(await billed(meters.calls, customer)).toBe(1);
    await reporter().reportDue();
    expect(await billed(meters.calls, customer)).toBe(2);
  });

  it('an operator’s reset while a send fails keeps the range: retried as it was, then the rest', async () => {
    const customer = await tenant('sm-g', { 'api.calls': 100 });
    await usage.track('sm-g', 'api.calls', 10);
    emu.injectFault({ method: 'POST', path: '/v1/billing/meter_events', status: 500, count: 1 });
    expect(await reporter().reportDue()).toEqual({ sent: 0, failed: 1 });
    await usage.resetUsage('sm-g', 'api.calls');
    await usage.track('sm-g', 'api.calls', 4);
    const [failing] = await listUsageMeterReports(prisma, { tenantId: 'sm-g' });
    expect(failing).toMatchObject({ reported: 0, sendingTo: 10, due: true });
    clock += 60_000;
    // The failed range first, under its identifier, then what was counted after the reset.
    expect(await reporter().reportDue()).toEqual({ sent: 1, failed: 0 });
    expect(await billed(meters.calls, customer)).toBe(10);
    expect(await reporter().reportDue()).toEqual({ sent: 1, failed: 0 });
    expect(await billed(meters.calls, customer)).toBe(14);
    expect(await reporter().reportDue()).toEqual({ sent: 0, failed: 0 });
  });

  it('an operator’s reset while a send is in flight: the send is recorded, the same units are not sent twice', async () => {
    const customer = await tenant('sm-h', { 'api.calls': 100 });
    await usage.track('sm-h', 'api.calls', 6);
    const hold = emu.holdRequests({ method: 'POST', path: '/v1/billing/meter_events' });
    try {
      const round = reporter().reportDue();
      await expect.poll(() => hold.held, { timeout: 10_000 }).toBe(1);
      await usage.resetUsage('sm-h', 'api.calls');
      // As many units as the range in flight: a reused range would carry the same identifier.
      await usage.track('sm-h', 'api.calls', 6);
      hold.release();
      expect(await round).toEqual({ sent: 1, failed: 0 });
    } finally {
      hold.release();
    }
    expect(await billed(meters.calls, customer)).toBe(6);
    expect(await reporter().reportDue()).toEqual({ sent: 1, failed: 0 });
    expect(await billed(meters.calls, customer)).toBe(12);
    // Lowered by an operator to 2, then raised to 5: the raise (3) is owed, the lowering takes nothing back.
    await usage.setUsage('sm-h', 'api.calls', 2);
    await usage.setUsage('sm-h', 'api.calls', 5);
    await reporter().reportDue();
    expect(await billed(meters.calls, customer)).toBe(15);
    const [state] = await listUsageMeterReports(prisma, { tenantId: 'sm-h' });
    expect(state).toMatchObject({ reported: 15, due: false, sendingTo: null });
  });

  it('a tenant without a Stripe customer waits, with the reason; an operator’s reset lowers what is reported', async () => {
    await tenant('sm-e', { 'api.calls': 100 }, false);
    await usage.track('sm-e', 'api.calls', 3);
    expect((await reporter().reportDue()).failed).toBe(1);
    const [waiting] = await listUsageMeterReports(prisma, { tenantId: 'sm-e' });
    expect(waiting).toMatchObject({ due: true, lastError: 'the tenant has no Stripe customer' });

    const customer = await tenant('sm-f', { 'api.calls': 100 });
    await usage.track('sm-f', 'api.calls', 6);
    await reporter().reportDue();
    await usage.resetUsage('sm-f', 'api.calls');
    await usage.track('sm-f', 'api.calls', 2);
    await reporter().reportDue();
    // The 6 before the reset and the 2 after: both were used.
    expect(await billed(meters.calls, customer)).toBe(8);
  });

  it('the admin API shows each counter’s reporting: what Stripe was sent, what is pending, the last error', async () => {
    const app = await buildServer({
      prisma,
      usage,
      auth: {
        tokens: [
          { name: 'ops', role: 'admin', token: ADMIN_TOKEN },
          { name: 'tenant-a', role: 'tenant', tenantId: 'sm-a', token: TENANT_A_TOKEN },
        ],
        prisma,
      },
    } as unknown as Parameters<typeof buildServer>[0]);
    try {
      const get = (url: string, token = ADMIN_TOKEN) =>
        app.inject({ method: 'GET', url, headers: bearer(token) });
      const sent = await get('/api/admin/usage-meter-reports?tenantId=sm-a');
      expect(sent.statusCode).toBe(200);
      const customer = (await prisma.tenant.findUnique({ where: { id: 'sm-a' } }))!.stripeCustomerId;
      expect(sent.json().reports).toEqual([
        expect.objectContaining({
          key: 'api.calls',
          meter: 'api_calls',
          report: 'usage',
          customer,
          owed: 15,
          reported: 15,
          pending: 0,
          sendingTo: null,
          lastError: null,
        }),
      ]);
      // Only what is left to send: sm-e, waiting for a Stripe customer.
      const pending = (await get('/api/admin/usage-meter-reports?pending=true')).json().reports;
      expect(pending).toEqual([
        expect.objectContaining({
          tenantId: 'sm-e',
          customer: null,
          owed: 3,
          reported: 0,
          pending: 3,
          sendingTo: 3,
          due: true,
          lastError: 'the tenant has no Stripe customer',
        }),
      ]);
      expect((await get('/api/admin/usage-meter-reports?pending=maybe')).statusCode).toBe(400);
      expect((await get('/api/admin/usage-meter-reports', TENANT_A_TOKEN)).statusCode).toBe(403);
    } finally {
      await app.close();
    }
  });

  it('a key whose stripeMeter is removed reports nothing more', async () => {
    await setFeatureUsage(prisma, 'api.calls', { reset: 'month', overage: 'reject' });
    await setFeatureUsage(prisma, 'ai.tokens', { reset: 'month', overage: 'allow' });
    const before = eventsSent();
    await usage.track('sm-a', 'api.calls', 1);
    expect(await reporter().reportDue()).toEqual({ sent: 0, failed: 0 });
    expect(eventsSent()).toBe(before);
  });
});
