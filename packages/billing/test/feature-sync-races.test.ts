import { describe, expect, it } from 'vitest';
import { restrictFeatures } from '../src/core/index.js';
import { createFeatureSyncService } from '../src/flows/feature-sync/index.js';
import type { StripeSyncService } from '../src/io/stripe-sync/index.js';
import { enforcePaymentGrace } from '../src/flows/webhooks/index.js';
import { PLAN_FIXTURES } from './helpers/fixtures.js';
import { useWebhookTestEnv } from './helpers/use-env.js';

/**
 * The bulk sync next to the webhook path: it must never undo what the payment lifecycle or a
 * webhook decided. Regressions for defects found in review; each failed before its fix.
 */

const DAY = 86_400_000;
const env = await useWebhookTestEnv({ resetClockEachTest: true });

/** Tenant on `pro`, past_due, whose grace period ran out (restricted by the cron). */
async function graceExpired(tenantId: string) {
  const { customerId, sub } = await env.subscribed(tenantId, 'pro');
  const failed = env.emu.payInvoice(sub.id, { succeeded: false });
  expect((await env.deliver(failed)).json).toMatchObject({ action: 'payment_failed' });
  expect((await env.deliver(env.emu.setSubscriptionStatus(sub.id, 'past_due'))).status).toBe(200);
  const failedAt = failed.created * 1000;
  expect(
    (await enforcePaymentGrace(env.prisma, env.featureSync, { now: new Date(failedAt + 8 * DAY) }))
      .restricted,
  ).toContain(tenantId);
  return { customerId, sub, failedAt };
}

describe('bulk sync and the payment-grace policy', () => {
  it('does not hand a past_due tenant whose grace ran out its features back (the webhook rules keep it restricted)', async () => {
    await graceExpired('sg_expired');
    const { results } = await env.featureSync.syncAllTenantsFromStripe({ tenantId: 'sg_expired' });
    expect(results).toEqual([
      expect.objectContaining({
        tenantId: 'sg_expired',
        success: true,
        changed: false,
        reason: 'up_to_date',
      }),
    ]);
    expect(await env.state('sg_expired')).toMatchObject({
      accessActive: false,
      subscriptionStatus: 'past_due',
      features: restrictFeatures(PLAN_FIXTURES.pro.features),
    });
    expect(await env.featureSync.isFeatureEnabled('sg_expired', 'api_access')).toBe(false);
    // The full walk agrees.
    await env.featureSync.syncAllTenantsFromStripe();
    expect((await env.state('sg_expired'))?.accessActive).toBe(false);
  });

  it('a new subscription found by the sync starts without the old streak, so the grace cron does not cut it off again', async () => {
    const { customerId, sub, failedAt } = await graceExpired('sg_new_sub');
    env.emu.setSubscriptionStatus(sub.id, 'canceled');
    const fresh = await env.subscribe(customerId, 'starter');
    // Neither event is delivered: the sync is what catches the tenant up.
    const { results } = await env.featureSync.syncAllTenantsFromStripe({ tenantId: 'sg_new_sub' });
    expect(results).toEqual([expect.objectContaining({ success: true, changed: true })]);
    expect(await env.state('sg_new_sub')).toMatchObject({
      accessActive: true,
      stripeSubscriptionId: fresh.id,
      paymentFailedAt: null,
    });
    const cron = await enforcePaymentGrace(env.prisma, env.featureSync, {
      now: new Date(failedAt + 9 * DAY),
    });
    expect(cron.restricted).not.toContain('sg_new_sub');
    expect(await env.state('sg_new_sub')).toMatchObject({
      accessActive: true,
      features: PLAN_FIXTURES.starter.features,
    });
  });
});

describe('bulk sync racing a webhook', () => {
  it('a cancellation webhook that commits after the sync read Stripe is not overwritten with the older picture', async () => {
    const { sub } = await env.subscribed('race_cancel', 'pro');
    // The sync reads Stripe (subscription active); before it writes, the customer cancels and the
    // webhook commits.
    let cancelled = false;
    const racing: StripeSyncService = {
      // The reader the feature service reads plans with (bound to the database's catalog).
      ...env.featureSync.stripeSync,
      async getActiveSubscription(customerId) {
        const active = await env.stripeSync.getActiveSubscription(customerId);
        if (!cancelled) {
          cancelled = true;
          const res = await env.deliver(env.emu.setSubscriptionStatus(sub.id, 'canceled'));
          expect(res.json).toMatchObject({ status: 'processed', action: 'access_restricted' });
        }
        return active;
      },
    };
    const sync = createFeatureSyncService(env.prisma, racing, { featureReader: env.featureSync.reader });
    const { results } = await sync.syncAllTenantsFromStripe({ tenantId: 'race_cancel' });
    expect(cancelled).toBe(true);
    expect(results).toEqual([
      expect.objectContaining({
        tenantId: 'race_cancel',
        success: false,
        changed: false,
        reason: 'stale_read',
      }),
    ]);
    expect(await env.state('race_cancel')).toMatchObject({
      accessActive: false,
      subscriptionStatus: 'canceled',
      features: restrictFeatures(PLAN_FIXTURES.pro.features),
    });
    expect(await env.featureSync.isFeatureEnabled('race_cancel', 'api_access')).toBe(false);
    // The sync wrote no audit row of its own.
    expect((await env.audits('race_cancel')).map((a) => a.source)).toEqual(['webhook', 'webhook']);
  });
});
