import { describe, expect, it } from 'vitest';
import { createUsageService, setFeatureUsage } from '../src/index.js';
import { PLAN_FIXTURES } from './helpers/fixtures.js';
import { useWebhookTestEnv } from './helpers/use-env.js';

/**
 * billing_period meters follow the subscription: a real renewal in the emulator (its clock moved to
 * the period end) starts a new counter once, whatever the order and number of deliveries; a plan
 * change applies the new limit to the usage already counted (docs/usage.md, Periods).
 */
const env = await useWebhookTestEnv();
// max_projects is a plan limit in the fixtures (starter 3, pro 20): metered here.
await setFeatureUsage(env.prisma, 'max_projects', { reset: 'billing_period', overage: 'reject' });
const usage = createUsageService(env.prisma, { featureReader: env.featureSync.reader, checkCacheMs: 0 });

const meterOf = async (tenantId: string) =>
  (await usage.getUsage(tenantId)).meters.find((m) => m.key === 'max_projects')!;

describe('billing_period', () => {
  it('a renewal starts a new counter exactly once, under duplicate and out-of-order delivery', async () => {
    const { sub } = await env.subscribed('up_renew', 'pro');
    const item = sub.items.data[0]!;
    const first = await usage.track('up_renew', 'max_projects', 12);
    expect(first).toMatchObject({ allowed: true, used: 12, limit: 20 });
    expect(first.periodStart).toEqual(new Date(item.current_period_start * 1000));
    expect(first.resetsAt).toEqual(new Date(item.current_period_end * 1000));
    const created = env.lastEvent('customer.subscription.created', sub.id);

    env.emu.advanceClock(item.current_period_end - item.current_period_start);
    const [renewed, paid] = env.emu.renewSubscription(sub.id);
    // The invoice first, the renewal twice, then the old created event: the period moves once.
    for (const event of [paid!, renewed!, renewed!, created])
      expect((await env.deliver(event)).status).toBe(200);
    const state = await env.state('up_renew');
    expect(state?.currentPeriodStart).toEqual(new Date(item.current_period_end * 1000));

    const after = await usage.track('up_renew', 'max_projects', 5);
    expect(after).toMatchObject({ allowed: true, used: 5 });
    expect(after.periodStart).toEqual(new Date(item.current_period_end * 1000));
    // Redeliveries after usage was counted in the new period reset nothing.
    for (const event of [renewed!, paid!, created]) await env.deliver(event);
    expect(await meterOf('up_renew')).toMatchObject({ used: 5, limit: 20, overLimit: false });
    // The previous period's counter is kept as it was.
    const rows = await env.prisma.usageCounter.findMany({
      where: { tenantId: 'up_renew' },
      orderBy: { periodStart: 'asc' },
    });
    expect(rows.map((r) => Number(r.used))).toEqual([12, 5]);
  });

  it('a downgrade below the usage is reported over the limit and refused', async () => {
    const { sub } = await env.subscribed('up_down', 'pro');
    expect(await usage.track('up_down', 'max_projects', 15)).toMatchObject({ allowed: true, used: 15 });
    await env.stripe.subscriptions.update(sub.id, {
      items: [{ id: sub.items.data[0]!.id, price: env.plans.starter.price.id }],
    });
    expect((await env.deliver(env.lastEvent('customer.subscription.updated', sub.id))).json).toMatchObject({
      action: 'plan_changed',
    });
    const limit = PLAN_FIXTURES.starter.features.max_projects;
    expect(await meterOf('up_down')).toMatchObject({ used: 15, limit, remaining: 0, overLimit: true });
    expect(await usage.track('up_down', 'max_projects')).toMatchObject({ allowed: false, used: 15, limit });
    expect(await usage.check('up_down', 'max_projects')).toMatchObject({ allowed: false });
  });
});
