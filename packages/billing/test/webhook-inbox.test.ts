import { spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { createPrometheusMetrics } from '../src/io/metrics/index.js';
import { reconcileTenants } from '../src/flows/reconcile/index.js';
import { buildServer } from '../src/entry/server/app.js';
import type { SubscriptionState } from '../src/io/stripe-sync/index.js';
import {
  createStripeWebhookHandler,
  inboxStats,
  listWebhookEvents,
  replayWebhookEvents,
  startWebhookWorkers,
  type StripeWebhookHandlerOptions,
  type StripeWebhookPipeline,
  type WebhookFeatureSync,
  type WebhookWorkers,
} from '../src/flows/webhooks/index.js';
import { PLAN_FIXTURES } from './helpers/fixtures.js';
import { startExtraServer } from './webhook-helpers.js';
import { useWebhookTestEnv } from './helpers/use-env.js';
import { watched } from './helpers/child-process.js';

const env = await useWebhookTestEnv();

// The tests share one inbox, and processNext, processPending and worker pools claim any customer
// that is due: an event a test left open would be taken (or its injected faults spent) by the next
// test. So each test must leave the inbox settled; what one left open is retired and reported here.
afterEach(async () => {
  const open = await env.prisma.processedStripeEvent.findMany({
    where: { status: { in: ['pending', 'processing'] } },
    select: { eventId: true },
  });
  if (open.length === 0) return;
  const ids = open.map((r) => r.eventId);
  await env.prisma.processedStripeEvent.updateMany({
    where: { eventId: { in: ids } },
    data: { status: 'ignored', action: 'left_open_by_a_test' },
  });
  throw new Error(`the test left ${ids.length} inbox event(s) open: ${ids.join(', ')}`);
});

const subscriptionReads = () => env.emu.requestCounts()['GET /v1/subscriptions'] ?? 0;
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** A pipeline of its own on the shared database (no server, no worker), for options the shared one lacks. */
function pipeline(
  options: Partial<StripeWebhookHandlerOptions> = {},
  featureSync: WebhookFeatureSync = env.featureSync,
) {
  return createStripeWebhookHandler(env.stripe, env.prisma, featureSync, env.emu.webhookSecret, {
    log: () => {},
    ...options,
  });
}

/** Signs a hand-made subscription event the way Stripe would (it only says "re-read this customer"). */
function signedUpdate(customerId: string, subscriptionId: string, id?: string) {
  const eventId = id ?? `evt_inbox_${Math.random().toString(36).slice(2)}`;
  const body = JSON.stringify({
    id: eventId,
    object: 'event',
    type: 'customer.subscription.updated',
    created: Math.floor(Date.now() / 1000),
    data: { object: { object: 'subscription', id: subscriptionId, customer: customerId } },
  });
  return { eventId, body, signature: env.emu.signPayload(body) };
}

/** A stripe-sync whose subscription reads complete, then wait for `release()` before returning. */
function gatedFeatureSync() {
  let open!: () => void;
  const gate = new Promise<void>((resolve) => (open = resolve));
  let reads = 0;
  const stripeSync = {
    ...env.featureSync.stripeSync,
    async getSubscriptionState(customerId: string): Promise<SubscriptionState> {
      const state = await env.featureSync.stripeSync.getSubscriptionState(customerId);
      reads += 1;
      await gate;
      return state;
    },
  };
  return {
    featureSync: { stripeSync, reader: env.featureSync.reader },
    release: () => open(),
    reads: () => reads,
  };
}

async function until(condition: () => boolean | Promise<boolean>, what: string, timeoutMs = 5_000) {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    if (await condition()) return;
    await sleep(10);
  }
  throw new Error(`timed out waiting for ${what}`);
}

describe('with workers attached, the route answers once the event is stored', () => {
  let workers: WebhookWorkers;
  beforeAll(() => {
    workers = startWebhookWorkers(env.handler, { concurrency: 2, pollIntervalMs: 20 });
  });
  afterAll(async () => {
    await workers?.stop();
  });

  it('answers queued; a woken worker applies it; a redelivery is a harmless duplicate', async () => {
    const customerId = await env.createCustomer('ib_queued');
    const sub = await env.subscribe(customerId, 'pro');
    const event = env.lastEvent('customer.subscription.created', sub.id);
    const first = await env.deliver(event);
    expect(first).toMatchObject({
      status: 200,
      json: { received: true, status: 'queued', eventId: event.id },
    });
    await env.settled([event.id]);
    expect(await env.state('ib_queued')).toMatchObject({ features: PLAN_FIXTURES.pro.features, version: 1 });
    expect(await env.ledger(event.id)).toMatchObject({
      status: 'processed',
      action: 'plan_applied',
      tenantId: 'ib_queued',
      processingAttempts: 1,
    });

    const again = await env.deliver(event);
    expect(again.json).toMatchObject({ status: 'duplicate', action: 'plan_applied' });
    await env.settled([event.id]);
    expect(await env.audits('ib_queued')).toHaveLength(1);
    expect(await env.ledger(event.id)).toMatchObject({
      status: 'processed',
      attempts: 2,
      processingAttempts: 1,
    });
  });

  it('two processes’ workers racing on one customer coalesce: every event once, one audit row', async () => {
    const extra = await startExtraServer(env, {});
    const extraWorkers = startWebhookWorkers(extra.handler, { concurrency: 2, pollIntervalMs: 20 });
    try {
      const customerId = await env.createCustomer('ib_race');
      const sub = await env.subscribe(customerId, 'starter');
      await env.deliver(env.lastEvent('customer.subscription.created', sub.id));
      await env.settled();
      await env.stripe.subscriptions.update(sub.id, {
        items: [{ id: sub.items.data[0]!.id, price: env.plans.pro.price.id }],
      });
      env.emu.injectLatency(100, { method: 'GET', path: /^\/v1\/subscriptions/ });
      env.emu.resetRequestCounts();
      const answers = await Promise.all(
        Array.from({ length: 40 }, (_, i) =>
          env.postEvent(
            {
              type: 'customer.subscription.updated',
              object: { object: 'subscription', id: sub.id, customer: customerId },
            },
            { url: i % 2 === 0 ? env.webhookUrl : extra.url },
          ),
        ),
      );
      const ids = answers.map((a) => a.eventId);
      await env.settled(ids);
      // One customer is processed by one claim at a time, each claim taking every event that arrived
      // during the previous read: a handful of reads for 40 events (how many depends on how fast this
      // machine accepts them), never one per event, and never a wrong or doubled write.
      expect(subscriptionReads()).toBeLessThan(10);
      expect(
        await env.prisma.processedStripeEvent.count({ where: { eventId: { in: ids }, status: 'processed' } }),
      ).toBe(40);
      expect(
        await env.prisma.featureAuditLog.count({
          where: { tenantId: 'ib_race', stripeEventId: { in: ids } },
        }),
      ).toBe(1);
      expect(await env.state('ib_race')).toMatchObject({ features: PLAN_FIXTURES.pro.features });
    } finally {
      env.emu.injectLatency(0);
      await extraWorkers.stop();
      await extra.close();
    }
  });
});

describe('coalescing', () => {
  it('a burst of 50 events for one customer, arriving during a Stripe read, costs at most 2 reads and one audit row', async () => {
    const customerId = await env.createCustomer('ib_burst');
    const sub = await env.subscribe(customerId, 'starter');
    await env.deliver(env.lastEvent('customer.subscription.created', sub.id));
    await env.settled();
    await env.stripe.subscriptions.update(sub.id, {
      items: [{ id: sub.items.data[0]!.id, price: env.plans.enterprise.price.id }],
    });
    // Another process's pipeline and workers; its first Stripe read is held until the whole burst is
    // stored, however slow this machine is at accepting 50 requests.
    const gated = gatedFeatureSync();
    const p = pipeline({}, gated.featureSync);
    const burstWorkers = startWebhookWorkers(p, { concurrency: 4, pollIntervalMs: 20 });
    env.emu.resetRequestCounts();
    try {
      const events = Array.from({ length: 50 }, () => signedUpdate(customerId, sub.id));
      const answers = await Promise.all(events.map((e) => p.acceptWebhook(e.body, e.signature)));
      expect(answers.map((a) => a.status)).toEqual(Array(50).fill('queued'));
      await until(() => gated.reads() >= 1, 'the first read');
      gated.release();
      const ids = events.map((e) => e.eventId);
      await env.settled(ids);
      expect(subscriptionReads()).toBeGreaterThanOrEqual(1);
      expect(subscriptionReads()).toBeLessThanOrEqual(2);
      const rows = await env.prisma.processedStripeEvent.findMany({ where: { eventId: { in: ids } } });
      expect(rows.every((r) => r.status === 'processed' && r.tenantId === 'ib_burst')).toBe(true);
      expect(
        await env.prisma.featureAuditLog.count({
          where: { tenantId: 'ib_burst', stripeEventId: { in: ids } },
        }),
      ).toBe(1);
      expect(await env.state('ib_burst')).toMatchObject({
        stripePriceId: env.plans.enterprise.price.id,
        features: PLAN_FIXTURES.enterprise.features,
      });
    } finally {
      gated.release();
      await burstWorkers.stop();
    }
  });
});

describe('failures are retried with backoff, then kept as failed until replayed', () => {
  it('Stripe 5xx → retries with backoff → failed with the reason → listed → replay applies it', async () => {
    // A backoff long enough that "not due at once" still holds when this machine stalls for a while.
    const p = pipeline({ retry: { maxAttempts: 3, backoffBaseMs: 1_000, backoffMaxMs: 1_000 } });
    const customerId = await env.createCustomer('ib_fail');
    const sub = await env.subscribe(customerId, 'pro');
    const { eventId, body, signature } = signedUpdate(customerId, sub.id);
    expect(await p.acceptWebhook(body, signature)).toMatchObject({ status: 'queued', eventId });
    env.emu.injectFault({ status: 500, method: 'GET', path: '/v1/subscriptions', count: 3 });
    try {
      const first = await p.processNext();
      expect(first).toMatchObject({ kind: 'failed', eventIds: [eventId] });
      const pending = await env.ledger(eventId);
      expect(pending).toMatchObject({ status: 'pending', processingAttempts: 1 });
      expect(pending!.lastError).toMatch(/StripeServerError.*subscriptions\.list/);
      // Backoff: not due at once.
      expect(pending!.nextAttemptAt!.getTime()).toBeGreaterThan(Date.now() - 5);
      expect(await p.processNext()).toBeNull();
      await until(
        async () => {
          await p.processPending();
          return (await env.ledger(eventId))?.status === 'failed';
        },
        'the event to fail',
        20_000,
      );
    } finally {
      env.emu.clearFaults();
    }
    expect(await env.ledger(eventId)).toMatchObject({
      status: 'failed',
      processingAttempts: 3,
      nextAttemptAt: null,
      lastError: expect.stringContaining('subscriptions.list'),
    });
    expect(await env.state('ib_fail')).toBeNull();
    // Failed events are no longer claimed …
    expect(await p.processNext()).toBeNull();
    const failed = await listWebhookEvents(env.prisma, { status: 'failed' });
    expect(failed.events.map((e) => e.eventId)).toContain(eventId);

    // … until replayed.
    const replay = await replayWebhookEvents(env.prisma, { eventIds: [eventId, 'evt_never_seen'] });
    expect(replay).toEqual({ replayed: [eventId], notReplayable: ['evt_never_seen'] });
    await p.processPending();
    expect(await env.ledger(eventId)).toMatchObject({ status: 'processed', lastError: null });
    expect(await env.state('ib_fail')).toMatchObject({ features: PLAN_FIXTURES.pro.features });

    // Replaying a processed event re-runs it against Stripe's current truth: no change, no audit row.
    const audits = (await env.audits('ib_fail')).length;
    expect((await replayWebhookEvents(env.prisma, { eventIds: [eventId] })).replayed).toEqual([eventId]);
    await p.processPending();
    expect(await env.ledger(eventId)).toMatchObject({ status: 'processed' });
    expect(await env.audits('ib_fail')).toHaveLength(audits);
  });

  it('a worker that dies mid-claim: its lease runs out, another worker takes over, the dead one’s late write is refused', async () => {
    const gated = gatedFeatureSync();
    // A lease long enough to still be live at the first check below on a stalled machine; the
    // healthy worker's own claim keeps the default (60 s), so it cannot lose the takeover.
    const dying = pipeline({ leaseMs: 1_500 }, gated.featureSync);
    const healthy = pipeline();
    const customerId = await env.createCustomer('ib_lease');
    const sub = await env.subscribe(customerId, 'enterprise');
    const { eventId, body, signature } = signedUpdate(customerId, sub.id);
    await dying.acceptWebhook(body, signature);
    // The dying worker claims and reads Stripe, then hangs (as if killed) while holding the lease.
    const stuck = dying.processNext();
    await until(() => gated.reads() === 1, 'the first read');
    expect(await healthy.processNext()).toBeNull(); // the lease is live: nobody else may take it
    let takeover: Awaited<ReturnType<typeof healthy.processNext>> = null;
    await until(async () => (takeover = await healthy.processNext()) !== null, 'the lease to run out');
    expect(takeover).toMatchObject({ kind: 'done', events: [{ eventId, status: 'processed' }] });
    // The first worker wakes up with its stale claim: fenced by the claim ticket, nothing written.
    gated.release();
    expect(await stuck).toEqual({ kind: 'released' });
    expect(await env.ledger(eventId)).toMatchObject({ status: 'processed', processingAttempts: 2 });
    expect(await env.prisma.featureAuditLog.count({ where: { stripeEventId: eventId } })).toBe(1);
    expect(await env.state('ib_lease')).toMatchObject({
      version: 1,
      features: PLAN_FIXTURES.enterprise.features,
    });
  });
});

/**
 * A tenant on starter whose subscription moves to pro: that event is accepted and its processing
 * started through a gated read, which has read "pro" and is held until `gated.release()`. Then the
 * subscription moves on to enterprise in Stripe, for a later reader to see.
 */
async function slowReadOfPro(tenantId: string) {
  const { customerId, sub } = await env.subscribed(tenantId, 'starter');
  expect(await env.state(tenantId)).toMatchObject({ stripePriceId: env.plans.starter.price.id });
  const itemId = sub.items.data[0]!.id;
  await env.stripe.subscriptions.update(sub.id, { items: [{ id: itemId, price: env.plans.pro.price.id }] });
  const gated = gatedFeatureSync();
  const slow = pipeline({}, gated.featureSync);
  const { eventId, body, signature } = signedUpdate(customerId, sub.id);
  await slow.acceptWebhook(body, signature);
  const processing = slow.processNext();
  await until(() => gated.reads() === 1, 'the slow read');
  await env.stripe.subscriptions.update(sub.id, {
    items: [{ id: itemId, price: env.plans.enterprise.price.id }],
  });
  return { gated, slow, eventId, processing };
}

describe('order safety without a lock across Stripe: read tickets', () => {
  it('a Stripe read that started earlier never overwrites the result of a read that started later', async () => {
    // Read 1 (its ticket taken at the claim) sees "pro" and is slow to write; meanwhile the plan
    // changes in Stripe again and read 2 (a later ticket) writes "enterprise".
    const { gated, slow, eventId, processing } = await slowReadOfPro('ib_ticket');
    const applied = await env.featureSync.applyPlanDefaultsToTenant(
      'ib_ticket',
      env.plans.enterprise.price.id,
    );
    expect(applied).toMatchObject({ success: true, changed: true });
    const afterNewer = await env.state('ib_ticket');

    gated.release();
    // The older read's write ("pro") is refused; its events go back to the queue, the try not counted.
    expect(await processing).toEqual({ kind: 'released' });
    expect(await env.state('ib_ticket')).toEqual(afterNewer);
    expect(await env.ledger(eventId)).toMatchObject({ status: 'pending', processingAttempts: 0 });
    // Tried again with a new ticket and a new read: Stripe's current truth, enterprise.
    await slow.processPending();
    expect(await env.ledger(eventId)).toMatchObject({ status: 'processed' });
    expect(await env.state('ib_ticket')).toMatchObject({
      stripePriceId: env.plans.enterprise.price.id,
      features: PLAN_FIXTURES.enterprise.features,
    });
    const prices = (
      await env.prisma.featureAuditLog.findMany({ where: { tenantId: 'ib_ticket' }, orderBy: { id: 'asc' } })
    ).map((a) => (a.after as { stripePriceId: string }).stripePriceId);
    expect(prices).toEqual([env.plans.starter.price.id, env.plans.enterprise.price.id]);
  });
});

describe('read tickets across writers: the reconcile fix and the bulk sync win over an older webhook read', () => {
  const writers = {
    reconcile: async (tenantId: string) => {
      const report = await reconcileTenants(
        { prisma: env.prisma, featureSync: env.featureSync },
        { tenantId, fix: true },
      );
      expect(report.drift.map((d) => d.fix)).toEqual(['applied']);
    },
    sync: async (tenantId: string) => {
      const { summary } = await env.featureSync.syncAllTenantsFromStripe({ tenantId });
      expect(summary.updated).toBe(1);
    },
  };
  it.each(Object.keys(writers) as (keyof typeof writers)[])('%s', async (writer) => {
    const tenantId = `ib_ticket_${writer}`;
    const { gated, slow, eventId, processing } = await slowReadOfPro(tenantId);
    await writers[writer](tenantId);
    gated.release();
    expect(await processing).toEqual({ kind: 'released' });
    await slow.processPending();
    expect(await env.ledger(eventId)).toMatchObject({ status: 'processed' });
    expect(await env.state(tenantId)).toMatchObject({ stripePriceId: env.plans.enterprise.price.id });
    const prices = (
      await env.prisma.featureAuditLog.findMany({ where: { tenantId }, orderBy: { id: 'asc' } })
    ).map((a) => (a.after as { stripePriceId: string }).stripePriceId);
    expect(prices).not.toContain(env.plans.pro.price.id);
  });
});

describe('a lean write path', () => {
  it('a webhook event costs 3 database round trips (store, claim, write); a single-tenant apply 2', async () => {
    // Plans checked without the database catalog: its occasional re-read (amortised over every plan
    // read of the process) is not part of an event's write path and would make the count flaky.
    const p: StripeWebhookPipeline = pipeline(
      {},
      { stripeSync: env.stripeSync, reader: env.featureSync.reader },
    );
    const customerId = await env.createCustomer('ib_trips');
    const sub = await env.subscribe(customerId, 'starter');
    await env.stripe.subscriptions.update(sub.id, {
      items: [{ id: sub.items.data[0]!.id, price: env.plans.pro.price.id }],
    });
    const stats = env.db.stats;
    // A pooled connection opened mid-measurement would count its own setup; measure on a warm one.
    const warm = () => env.prisma.$queryRaw`SELECT 1`;

    // Worker path: the route's accept is one statement; the worker's claim and write two more.
    const queued = signedUpdate(customerId, sub.id);
    await warm();
    let before = stats.queries;
    await p.acceptWebhook(queued.body, queued.signature);
    expect(stats.queries - before).toBe(1);
    await warm();
    before = stats.queries;
    expect(await p.processNext()).toMatchObject({ kind: 'done', events: [{ action: 'plan_applied' }] });
    expect(stats.queries - before).toBe(2);

    // The spec's handleWebhook: the same three statements in one call.
    await env.stripe.subscriptions.update(sub.id, {
      items: [{ id: sub.items.data[0]!.id, price: env.plans.enterprise.price.id }],
    });
    const inline = signedUpdate(customerId, sub.id);
    await warm();
    before = stats.queries;
    expect(await p.handleWebhook(inline.body, inline.signature)).toMatchObject({
      status: 'processed',
      action: 'plan_changed',
    });
    expect(stats.queries - before).toBe(3);

    // Single-tenant apply: ticket + tenant + config, then one write statement.
    await env.featureSync.stripeSync.getPlanDefaultsFromStripe(env.plans.starter.price.id); // plan cached
    before = stats.queries;
    const applied = await env.featureSync.applyPlanDefaultsToTenant('ib_trips', env.plans.starter.price.id, {
      force: true,
    });
    expect(applied).toMatchObject({ success: true, changed: true });
    expect(stats.queries - before).toBeLessThanOrEqual(3);
  });
});

describe('a busy pool: several customers per claim statement and per write statement', () => {
  it('claims 5 customers in one statement (one ticket each); their writes go out in 3 statements, each checked alone: a refused one is retried', async () => {
    const tenants = ['ib_many_0', 'ib_many_1', 'ib_many_2', 'ib_many_3', 'ib_many_4'];
    const customers: string[] = [];
    const eventIds: string[] = [];
    const gated = gatedFeatureSync();
    const p = pipeline({}, gated.featureSync);
    for (const tenantId of tenants) {
      const { customerId, sub } = await env.subscribed(tenantId, 'starter');
      await env.stripe.subscriptions.update(sub.id, {
        items: [{ id: sub.items.data[0]!.id, price: env.plans.pro.price.id }],
      });
      const { eventId, body, signature } = signedUpdate(customerId, sub.id);
      await p.acceptWebhook(body, signature);
      customers.push(customerId);
      eventIds.push(eventId);
    }
    const stats = env.db.stats;
    await env.prisma.$queryRaw`SELECT 1`; // a warm connection: its setup is not counted
    let before = stats.queries;
    const claims = await p.claimQueues(50);
    expect(stats.queries - before).toBe(1);
    const ours = claims.filter((c) => customers.includes(c.customerId ?? ''));
    expect(ours.map((c) => c.customerId).sort()).toEqual([...customers].sort());
    expect(new Set(claims.map((c) => c.ticket)).size).toBe(claims.length);
    // Leased: a second claim takes none of them.
    const again = await p.claimQueues(50);
    expect(again.filter((c) => customers.includes(c.customerId ?? ''))).toEqual([]);

    // Every read is held until all five are in; meanwhile a newer read (a single-tenant apply, whose
    // ticket is taken after the claim's) is written for the first tenant.
    // Queues of earlier tests in this file that came due meanwhile were claimed too: they are
    // processed after the count, so only these five customers' statements are counted.
    const others = [...claims, ...again].filter((c) => !ours.includes(c));
    const processing = Promise.all(ours.map((c) => p.processClaim(c)));
    await until(() => gated.reads() === ours.length, 'the five reads');
    const applied = await env.featureSync.applyPlanDefaultsToTenant(
      tenants[0]!,
      env.plans.enterprise.price.id,
      {
        force: true,
      },
    );
    expect(applied).toMatchObject({ success: true, changed: true });
    await env.prisma.$queryRaw`SELECT 1`;
    before = stats.queries;
    gated.release();
    const outcomes = await processing;
    // Two writes alone (the in-flight bound), the three that waited in one statement, and the
    // refused customer's events given back: 4 statements for 5 customers.
    expect(stats.queries - before).toBe(4);
    await Promise.all(others.map((c) => p.processClaim(c)));
    const byCustomer = new Map(ours.map((c, i) => [c.customerId, outcomes[i]]));
    expect(byCustomer.get(customers[0]!)).toEqual({ kind: 'released' });
    for (const c of customers.slice(1))
      expect(byCustomer.get(c)).toMatchObject({ kind: 'done', events: [{ action: 'plan_changed' }] });
    expect(await env.ledger(eventIds[0]!)).toMatchObject({ status: 'pending', processingAttempts: 0 });

    // The refused one is claimed again with a new ticket and applies Stripe's truth (pro).
    await p.processPending();
    for (const [i, tenantId] of tenants.entries()) {
      expect(await env.ledger(eventIds[i]!)).toMatchObject({ status: 'processed' });
      expect(await env.state(tenantId)).toMatchObject({ stripePriceId: env.plans.pro.price.id });
    }
    const prices = async (tenantId: string) =>
      (await env.prisma.featureAuditLog.findMany({ where: { tenantId }, orderBy: { id: 'asc' } })).map(
        (a) => (a.after as { stripePriceId: string }).stripePriceId,
      );
    expect(await prices(tenants[0]!)).toEqual([
      env.plans.starter.price.id,
      env.plans.enterprise.price.id,
      env.plans.pro.price.id,
    ]);
    expect(await prices(tenants[1]!)).toEqual([env.plans.starter.price.id, env.plans.pro.price.id]);
  });
});

describe('a pool slot is free once its write committed', () => {
  it('the cache publish finishes beside the slot, and stop() waits for it', async () => {
    let release!: () => void;
    const gate = new Promise<void>((resolve) => (release = resolve));
    const published: string[] = [];
    const reader = {
      ...env.featureSync.reader,
      async publish(states: Parameters<typeof env.featureSync.reader.publish>[0]) {
        await gate;
        await env.featureSync.reader.publish(states);
        published.push(...states.map((s) => s.tenantId));
      },
    };
    const p = pipeline({}, { stripeSync: env.featureSync.stripeSync, reader });
    // Subscribed before the pool starts, so the pool's only claim is the update below.
    const { customerId, sub } = await env.subscribed('ib_tail', 'starter');
    await env.stripe.subscriptions.update(sub.id, {
      items: [{ id: sub.items.data[0]!.id, price: env.plans.pro.price.id }],
    });
    const { eventId, body, signature } = signedUpdate(customerId, sub.id);
    const processed: string[] = [];
    const pool = startWebhookWorkers(p, {
      concurrency: 1,
      pollIntervalMs: 20,
      onProcessed: (o) => {
        if (o.kind === 'done') processed.push(...o.events.map((e) => e.eventId));
      },
    });
    try {
      await p.acceptWebhook(body, signature);
      // Committed and reported while the publish is still held.
      await until(() => processed.includes(eventId), 'the processed outcome');
      expect(await env.ledger(eventId)).toMatchObject({ status: 'processed' });
      expect(published).toEqual([]);
      let stopped = false;
      const stopping = pool.stop().then(() => (stopped = true));
      // stop() cannot finish while the publish is held; this only gives it the chance to.
      await sleep(50);
      expect(stopped).toBe(false);
      release();
      await stopping;
      expect(published).toEqual(['ib_tail']);
    } finally {
      release();
      await pool.stop();
    }
  });
});

describe('admin API: list and replay inbox events', () => {
  const ADMIN = 'inbox-admin-token-0123456789abcdef';
  const TENANT = 'inbox-tenant-token-0123456789abcdef';

  it('lists failed events (admin only, paginated), replays one and all failed, 404 for an unknown id', async () => {
    const p = pipeline({ retry: { maxAttempts: 1 } });
    const app = await buildServer({
      prisma: env.prisma,
      stripe: env.stripe,
      webhookHandler: p,
      webhooks: p,
      featureSync: env.featureSync,
      auth: {
        tokens: [
          { name: 'ops', role: 'admin', token: ADMIN },
          { name: 'tenant', role: 'tenant', tenantId: 'ib_admin_a', token: TENANT },
        ],
        prisma: env.prisma,
      },
    });
    const call = (method: 'GET' | 'POST', url: string, token: string | null, payload?: unknown) =>
      app.inject({
        method,
        url,
        headers: token ? { authorization: `Bearer ${token}` } : {},
        ...(payload !== undefined ? { payload: payload as object } : {}),
      });
    try {
      const ids: string[] = [];
      for (const tenantId of ['ib_admin_a', 'ib_admin_b']) {
        const customerId = await env.createCustomer(tenantId);
        const sub = await env.subscribe(customerId, 'pro');
        const { eventId, body, signature } = signedUpdate(customerId, sub.id);
        await p.acceptWebhook(body, signature);
        ids.push(eventId);
      }
      env.emu.injectFault({ status: 503, method: 'GET', path: '/v1/subscriptions', count: 2 });
      try {
        await p.processPending();
      } finally {
        env.emu.clearFaults();
      }
      for (const id of ids) expect(await env.ledger(id)).toMatchObject({ status: 'failed' });

      expect((await call('GET', '/api/admin/webhooks/events?status=failed', null)).statusCode).toBe(401);
      expect((await call('GET', '/api/admin/webhooks/events?status=failed', TENANT)).statusCode).toBe(403);
      expect((await call('POST', `/api/admin/webhooks/events/${ids[0]}/replay`, TENANT)).statusCode).toBe(
        403,
      );
      const bad = await call('GET', '/api/admin/webhooks/events?status=lost', ADMIN);
      expect([bad.statusCode, bad.json().error.code]).toEqual([400, 'validation_error']);
      // A cursor this list never handed out is refused, not read as "from the first page".
      const forged = Buffer.from(JSON.stringify(['not a date', 'evt_x'])).toString('base64url');
      for (const cursor of ['garbage', forged]) {
        const refused = await call('GET', `/api/admin/webhooks/events?cursor=${cursor}`, ADMIN);
        expect([refused.statusCode, refused.json().error.issues]).toEqual([
          400,
          [{ path: 'cursor', message: expect.any(String) }],
        ]);
      }

      const first = await call('GET', '/api/admin/webhooks/events?status=failed&limit=1', ADMIN);
      expect(first.statusCode).toBe(200);
      const page1 = first.json<{ events: { eventId: string; lastError: string }[]; nextCursor: string }>();
      expect(page1.events).toHaveLength(1);
      expect(page1.events[0]!.lastError).toContain('subscriptions.list');
      const second = await call(
        'GET',
        `/api/admin/webhooks/events?status=failed&limit=1&cursor=${page1.nextCursor}`,
        ADMIN,
      );
      const page2 = second.json<{ events: { eventId: string }[] }>();
      expect(page2.events).toHaveLength(1);
      expect(new Set([page1.events[0]!.eventId, page2.events[0]!.eventId])).toEqual(new Set(ids));

      // Replaying one: no worker runs in this process, so the request processes it.
      const one = await call('POST', `/api/admin/webhooks/events/${ids[0]}/replay`, ADMIN);
      expect([one.statusCode, one.json()]).toEqual([200, { replayed: [ids[0]], notReplayable: [] }]);
      expect(await env.ledger(ids[0]!)).toMatchObject({ status: 'processed' });
      expect(await env.state('ib_admin_a')).toMatchObject({ features: PLAN_FIXTURES.pro.features });

      const unknown = await call('POST', '/api/admin/webhooks/events/evt_not_received/replay', ADMIN);
      expect([unknown.statusCode, unknown.json().error.code]).toEqual([404, 'event_not_found']);
      const badBody = await call('POST', '/api/admin/webhooks/replay', ADMIN, { status: 'processed' });
      expect(badBody.statusCode).toBe(400);

      const all = await call('POST', '/api/admin/webhooks/replay', ADMIN, { status: 'failed' });
      expect(all.statusCode).toBe(200);
      expect(all.json().replayed).toContain(ids[1]);
      expect(await env.ledger(ids[1]!)).toMatchObject({ status: 'processed' });
      expect(await env.state('ib_admin_b')).toMatchObject({ features: PLAN_FIXTURES.pro.features });
    } finally {
      await app.close();
    }
  });
});

describe('metrics', () => {
  it('/metrics shows the inbox depth and the oldest pending event’s age, read at scrape time', async () => {
    const prometheus = createPrometheusMetrics();
    prometheus.observeInbox(() => inboxStats(env.prisma));
    const p = pipeline({ metrics: prometheus.metrics });
    const customerId = await env.createCustomer('ib_metrics');
    const sub = await env.subscribe(customerId, 'starter');
    const { body, signature } = signedUpdate(customerId, sub.id);
    await p.acceptWebhook(body, signature);
    await sleep(20);
    const pending = await prometheus.render();
    expect(pending).toMatch(/billing_webhook_inbox_events\{status="pending"\} [1-9]/);
    const age = Number(/^billing_webhook_inbox_oldest_pending_seconds (\S+)$/m.exec(pending)?.[1]);
    expect(age).toBeGreaterThan(0);
    expect(age).toBeLessThan(60);
    await p.processPending();
    const done = await prometheus.render();
    expect(done).toMatch(/billing_webhook_inbox_events\{status="pending"\} 0/);
    expect(done).toMatch(/billing_webhook_inbox_oldest_pending_seconds 0\n/);
    expect(done).toMatch(
      /billing_webhooks_total\{type="customer.subscription.updated",outcome="processed"\} 1/,
    );
    expect(done).toMatch(
      /billing_webhook_processing_lag_seconds_count\{type="customer.subscription.updated"\} 1/,
    );
  });
});

describe.skipIf(!process.env.DATABASE_URL)(
  'npm run worker: a separate worker process on the same database',
  () => {
    it(
      'processes events another process accepted, and stops cleanly on SIGTERM',
      { timeout: 120_000 },
      async () => {
        const repoRoot = fileURLToPath(new URL('../../../', import.meta.url));
        const childEnv: NodeJS.ProcessEnv = {
          ...process.env,
          STRIPE_SECRET_KEY: env.emu.apiKey,
          STRIPE_API_BASE: env.emu.url,
          DATABASE_SCHEMA: env.db.schema,
          WEBHOOK_WORKERS: '2',
          WEBHOOK_POLL_MS: '20',
          LOG_LEVEL: 'info',
        };
        delete childEnv.REDIS_URL;
        const { child, exited, output } = watched(
          spawn('npm', ['run', '-s', 'worker'], { cwd: repoRoot, env: childEnv }),
        );
        try {
          await until(() => output().includes('webhook worker started'), 'the worker to start', 90_000);
          const p = pipeline(); // this process only accepts: no worker attached here
          const customerId = await env.createCustomer('ib_worker_process');
          const sub = await env.subscribe(customerId, 'enterprise');
          const { eventId, body, signature } = signedUpdate(customerId, sub.id);
          expect(await p.acceptWebhook(body, signature)).toMatchObject({ status: 'queued' });
          await env.settled([eventId]);
          expect(await env.ledger(eventId)).toMatchObject({ status: 'processed', action: 'plan_applied' });
          expect(await env.state('ib_worker_process')).toMatchObject({
            features: PLAN_FIXTURES.enterprise.features,
          });
          child.kill('SIGTERM');
          expect(await exited).toBe(0);
          expect(output()).toMatch(/"stripeEventId":"[^"]+".*"msg":"stripe event handled"/);
        } finally {
          if (child.exitCode === null) child.kill('SIGKILL');
        }
      },
    );
  },
);
