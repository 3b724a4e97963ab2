import { describe, expect, it } from 'vitest';
import { restrictFeatures } from '../src/core/index.js';
import { enforcePaymentGrace } from '../src/flows/webhooks/index.js';
import { whileAuditInsertsFail } from './helpers/db-faults.js';
import { PLAN_FIXTURES, seedPlan } from './helpers/fixtures.js';
import { startExtraServer } from './webhook-helpers.js';
import { useWebhookTestEnv } from './helpers/use-env.js';

/** Regressions for defects found in review; each failed before its fix. */

const DAY = 86_400_000;
const env = await useWebhookTestEnv({ resetClockEachTest: true });

/** Subscribed to an arbitrary price (a plan seeded by the test), created event delivered. */
const subscribedTo = (tenantId: string, priceId: string) =>
  env.subscribed(tenantId, 'starter', { items: [{ price: priceId }] });

describe('product.updated with reapplyOnPlanChange', () => {
  it('a broken price on the product skips only its tenants: the others are written *and* published to the cache', async () => {
    const extra = await startExtraServer(env, { reapplyOnPlanChange: true });
    try {
      const basic = {
        name: 'Reapply',
        bundle: 'reapply',
        lookupKey: 'reapply_monthly',
        unitAmount: 500,
        productMetadata: { bundle: 'reapply', features: 'api_access', featuresJson: '{"max_projects":1}' },
        features: { api_access: true, max_projects: 1 },
        scrapeIntervalHours: 24,
      };
      const plan = await seedPlan(env.stripe, 'reapply', basic);
      const second = await env.stripe.prices.create({
        product: plan.product.id,
        currency: 'usd',
        unit_amount: 700,
        recurring: { interval: 'month' },
        metadata: { features: '{"max_projects":2}' },
      });
      // Tenants are re-applied in id order: the good price's tenant comes first.
      await subscribedTo('reapply_a', plan.price.id);
      await subscribedTo('reapply_b', second.id);
      expect((await env.featureSync.getTenantFeatures('reapply_a'))?.features).toEqual(basic.features);

      // The second price's metadata breaks (its price.updated only invalidates the cached price)...
      await env.stripe.prices.update(second.id, { metadata: { features: '{"max_projects":"lots"}' } });
      expect((await env.deliver(env.lastEvent('price.updated', second.id))).json).toMatchObject({
        action: 'plan_invalidated',
      });
      // ...then the product gains a feature.
      await env.stripe.products.update(plan.product.id, { metadata: { features: 'api_access,sso' } });
      const event = env.lastEvent('product.updated', plan.product.id);
      const res = await env.deliver(event, { url: extra.url });

      expect(res.json).toMatchObject({ status: 'processed', action: 'plan_reapplied' });
      expect((await env.state('reapply_a'))?.features).toEqual({ ...basic.features, sso: true });
      // The committed change is what readers see (it used to stay on the old cached version).
      expect((await env.featureSync.getTenantFeatures('reapply_a'))?.features).toEqual({
        ...basic.features,
        sso: true,
      });
      expect(await env.featureSync.isFeatureEnabled('reapply_a', 'sso')).toBe(true);
      // The tenant on the broken price is left alone, and the ledger names the reason.
      expect((await env.state('reapply_b'))?.features).toEqual({ api_access: true, max_projects: 2 });
      const ledger = await env.ledger(event.id);
      expect(ledger).toMatchObject({ status: 'processed', action: 'plan_reapplied' });
      expect(ledger?.error).toContain(second.id);
    } finally {
      await extra.close();
    }
  });
});

describe('enforcePaymentGrace', () => {
  it('one tenant whose transaction fails is reported; the tenants after it are still restricted', async () => {
    const tenants = ['grace_a', 'grace_b', 'grace_c'];
    let failedAt = 0;
    for (const tenantId of tenants) {
      const { sub } = await subscribedTo(tenantId, env.plans.starter.price.id);
      const failed = env.emu.payInvoice(sub.id, { succeeded: false });
      expect((await env.deliver(failed)).json).toMatchObject({ action: 'payment_failed' });
      failedAt = Math.max(failedAt, failed.created * 1000);
    }
    // grace_a's audit insert fails inside its transaction.
    await whileAuditInsertsFail(env.db, 'grace_a', async () => {
      const run = await enforcePaymentGrace(env.prisma, env.featureSync, {
        now: new Date(failedAt + 8 * DAY),
      });
      expect(run.failed).toEqual([
        { tenantId: 'grace_a', error: expect.stringContaining('injected failure') },
      ]);
      expect(run.restricted).toEqual(expect.arrayContaining(['grace_b', 'grace_c']));
      expect(await env.state('grace_a')).toMatchObject({ accessActive: true });
      for (const tenantId of ['grace_b', 'grace_c']) {
        expect(await env.state(tenantId)).toMatchObject({
          accessActive: false,
          features: restrictFeatures(PLAN_FIXTURES.starter.features),
        });
        expect(await env.featureSync.isFeatureEnabled(tenantId, 'api_access')).toBe(false);
      }
    });
    // The next run heals the one that failed.
    const again = await enforcePaymentGrace(env.prisma, env.featureSync, {
      now: new Date(failedAt + 8 * DAY),
    });
    expect(again).toMatchObject({ restricted: ['grace_a'], failed: [] });
  });
});
