import { beforeAll, describe, expect, it } from 'vitest';
import type { SyncResult } from '../src/flows/feature-sync/index.js';
import { createTenant, seedTenantsWithSubscriptions, type SeededTenant } from './helpers/fixtures.js';
import { useFeatureSyncEnv } from './helpers/use-env.js';

/**
 * The bulk sync walks Stripe page by page and writes batches while the walk goes on: results come
 * before the last page, the run can keep none of them in memory, and a customer whose better
 * subscription sits on a later page than its first one ends as one pass would leave it, counted once;
 * so does one whose two granting subscriptions (a plan, an add-on bought later) sit pages apart.
 */
// At most 150 new tenants' first results wait for the end of the walk: the rest stream.
const { env, plans, sync } = await useFeatureSyncEnv({ batchSize: 100, concurrency: 2, holdNewTenants: 150 });
let seeded: SeededTenant[];
const split = { tenantId: 'split_tenant', customerId: '' };
const addonLater = { tenantId: 'split_addon_tenant', customerId: '' };
const addonFirst = { tenantId: 'split_addon_first_tenant', customerId: '' };

beforeAll(async () => {
  // Oldest: the split customer's active subscription; newest: its canceled one. A newest-first walk
  // meets the canceled one first (no access), the active one pages later.
  const customer = await env.stripe.customers.create({ name: 'Split' });
  split.customerId = customer.id;
  await createTenant(env.prisma, split.tenantId, customer.id);
  await env.stripe.subscriptions.create({ customer: customer.id, items: [{ price: plans.pro.price.id }] });
  // Oldest: a pro subscription; newest: a second one holding only an add-on. Both grant access and
  // combine, though the walk meets the add-on pages before the plan.
  const buyer = await env.stripe.customers.create({ name: 'Add-on later' });
  addonLater.customerId = buyer.id;
  await createTenant(env.prisma, addonLater.tenantId, buyer.id);
  await env.stripe.subscriptions.create({ customer: buyer.id, items: [{ price: plans.pro.price.id }] });
  const addon = await env.stripe.products.create({
    name: 'SSO add-on',
    metadata: { addon: 'true', features: 'sso' },
  });
  const addonPrice = await env.stripe.prices.create({
    product: addon.id,
    currency: 'usd',
    unit_amount: 500,
    recurring: { interval: 'month' },
  });
  // The other way round: the add-on subscription oldest, the plan newest, so the walk hands the
  // plan out alone first, then meets the add-on and reads the customer whole.
  const early = await env.stripe.customers.create({ name: 'Add-on first' });
  addonFirst.customerId = early.id;
  await createTenant(env.prisma, addonFirst.tenantId, early.id);
  await env.stripe.subscriptions.create({ customer: early.id, items: [{ price: addonPrice.id }] });
  seeded = await seedTenantsWithSubscriptions(env.stripe, env.prisma, 450, { plans, prefix: 'stream' });
  await env.stripe.subscriptions.create({ customer: early.id, items: [{ price: plans.pro.price.id }] });
  await env.stripe.subscriptions.create({ customer: buyer.id, items: [{ price: addonPrice.id }] });
  const later = await env.stripe.subscriptions.create({
    customer: customer.id,
    items: [{ price: plans.enterprise.price.id }],
  });
  env.emu.setSubscriptionStatus(later.id, 'canceled');
});

describe('streaming bulk sync', () => {
  it('writes while the walk goes on, keeps no results when asked, and judges a customer on all its pages', async () => {
    // Each page answers after 100 ms: the walk takes several hundred ms, the batches run meanwhile.
    env.emu.injectLatency(100, { method: 'GET', path: '/v1/subscriptions' });
    const started = performance.now();
    const firstResultAt: number[] = [];
    const streamed = new Map<string, SyncResult>();
    let calls = 0;
    const { results, summary } = await sync.syncAllTenantsFromStripe({
      keepResults: false,
      onResult: (r) => {
        calls += 1;
        if (firstResultAt.length === 0) firstResultAt.push(performance.now() - started);
        streamed.set(r.customerId, r);
      },
    });
    env.emu.clearFaults();

    expect(results).toEqual([]);
    expect(firstResultAt[0]).toBeLessThan(summary.stripeMs);
    // 450 seeded + the three split customers, each counted once, though the canceled-first one was
    // reported twice (the add-on-first one was read whole before its first; the plan-first one is a
    // new tenant, its first result held until its add-on's page completed it).
    expect(summary.processed).toBe(453);
    expect(summary.updated).toBe(453);
    expect(calls).toBe(454);
    expect(streamed.size).toBe(453);
    expect(streamed.get(split.customerId)).toMatchObject({
      tenantId: split.tenantId,
      success: true,
      changed: true,
    });
    const config = await env.prisma.tenantFeatureConfig.findUnique({ where: { tenantId: split.tenantId } });
    expect(config?.stripePriceId).toBe(plans.pro.price.id);
    expect(config?.accessActive).toBe(true);
    for (const { tenantId } of [addonLater, addonFirst]) {
      const combined = await env.prisma.tenantFeatureConfig.findUnique({ where: { tenantId } });
      expect(combined).toMatchObject({ stripePriceId: plans.pro.price.id, accessActive: true });
      expect(combined?.features).toEqual({ ...plans.pro.fixture.features, sso: true });
    }
    // Each new tenant's first write is the whole combination: one audit row.
    const firstWrites = await env.prisma.featureAuditLog.findMany({
      where: { tenantId: addonFirst.tenantId },
    });
    expect(firstWrites).toHaveLength(1);
    expect(firstWrites[0]!.after).toMatchObject({ features: { ...plans.pro.fixture.features, sso: true } });
    const written = await env.prisma.tenantFeatureConfig.count({
      where: { tenantId: { in: seeded.map((t) => t.tenantId) } },
    });
    expect(written).toBe(450);
  });

  it('a second run keeps the results by default, in walk order; a downgrade waits for the end of the walk, the plan-first customer is not written again', async () => {
    // A real downgrade: it takes features away, so it is held until the walk ends, then written.
    const down = seeded.find((t) => t.priceId !== plans.starter.price.id)!;
    const sub = await env.stripe.subscriptions.retrieve(down.subscriptionId);
    await env.stripe.subscriptions.update(sub.id, {
      items: [{ id: sub.items.data[0]!.id, price: plans.starter.price.id }],
    });
    const { results, summary } = await sync.syncAllTenantsFromStripe();
    // The plan-first customer's first result (the plan without its add-on) waited too, and went
    // when its add-on's page completed it: nothing written, up to date.
    expect(summary.updated).toBe(1);
    expect(summary.unchanged).toBe(452);
    expect(results).toHaveLength(453);
    expect(new Set(results.map((r) => r.customerId)).size).toBe(453);
    const moved = results.filter((r) => r.reason !== 'up_to_date');
    expect(moved).toMatchObject([{ tenantId: down.tenantId, success: true, changed: true }]);
    expect(moved[0]!.after).toEqual(plans.starter.fixture.features);
    const audits = await env.prisma.featureAuditLog.count({ where: { tenantId: addonFirst.tenantId } });
    expect(audits).toBe(1);
  });
});
