import { beforeAll, describe, expect, it } from 'vitest';
import type { SyncResult } from '../src/feature-sync/index.js';
import { createTenant, seedTenantsWithSubscriptions, type SeededTenant } from './helpers/fixtures.js';
import { useFeatureSyncEnv } from './helpers/use-env.js';

/**
 * The bulk sync walks Stripe page by page and writes batches while the walk goes on: results come
 * before the last page, the run can keep none of them in memory, and a customer whose better
 * subscription sits on a later page than its first one ends as one pass would leave it, counted once.
 */
const { env, plans, sync } = await useFeatureSyncEnv({ batchSize: 100, concurrency: 2 });
let seeded: SeededTenant[];
const split = { tenantId: 'split_tenant', customerId: '' };

beforeAll(async () => {
  // Oldest: the split customer's active subscription; newest: its canceled one. A newest-first walk
  // meets the canceled one first (no access), the active one pages later.
  const customer = await env.stripe.customers.create({ name: 'Split' });
  split.customerId = customer.id;
  await createTenant(env.prisma, split.tenantId, customer.id);
  await env.stripe.subscriptions.create({ customer: customer.id, items: [{ price: plans.pro.price.id }] });
  seeded = await seedTenantsWithSubscriptions(env.stripe, env.prisma, 450, { plans, prefix: 'stream' });
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
    // 450 seeded + the split customer, each counted once, though the split one was reported twice.
    expect(summary.processed).toBe(451);
    expect(summary.updated).toBe(451);
    expect(calls).toBe(452);
    expect(streamed.size).toBe(451);
    expect(streamed.get(split.customerId)).toMatchObject({
      tenantId: split.tenantId,
      success: true,
      changed: true,
    });
    const config = await env.prisma.tenantFeatureConfig.findUnique({ where: { tenantId: split.tenantId } });
    expect(config?.stripePriceId).toBe(plans.pro.price.id);
    expect(config?.accessActive).toBe(true);
    const written = await env.prisma.tenantFeatureConfig.count({
      where: { tenantId: { in: seeded.map((t) => t.tenantId) } },
    });
    expect(written).toBe(450);
  });

  it('a second run keeps the results by default, in walk order, every tenant up to date', async () => {
    const { results, summary } = await sync.syncAllTenantsFromStripe();
    expect(summary.updated).toBe(0);
    expect(summary.unchanged).toBe(451);
    expect(results).toHaveLength(451);
    expect(new Set(results.map((r) => r.customerId)).size).toBe(451);
    expect(results.every((r) => r.reason === 'up_to_date')).toBe(true);
  });
});
