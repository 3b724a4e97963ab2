import { expect, it, vi } from 'vitest';
import { createTenant, seedTenantsWithSubscriptions } from './helpers/fixtures.js';
import { useFeatureSyncEnv } from './helpers/use-env.js';

/**
 * The streaming walk remembers one number per customer, not its best subscription's id. Two
 * subscriptions of a customer on different pages that tie on status and `created` are ranked by
 * their ids, so the walk reads such a customer whole and the result is the one a single pass gives.
 */
const { env, plans, sync } = await useFeatureSyncEnv({ batchSize: 100 });

it('a tie across pages (same status, same created) is settled by reading the customer whole', async () => {
  const customer = await env.stripe.customers.create({ name: 'Tie' });
  await createTenant(env.prisma, 'tie_tenant', customer.id);
  // Every object below is created in the same second of the emulator's clock.
  vi.useFakeTimers({ toFake: ['Date'], now: Date.now() });
  let older: string;
  let newer: string;
  try {
    older = (
      await env.stripe.subscriptions.create({ customer: customer.id, items: [{ price: plans.pro.price.id }] })
    ).id;
    env.emu.setSubscriptionStatus(older, 'incomplete');
    // A page and a half between them: a newest-first walk meets `newer` on its first page, `older` on its second.
    await seedTenantsWithSubscriptions(env.stripe, env.prisma, 150, { plans, prefix: 'tie' });
    // The subscription met first must lose the tie: its id after the older one's. A candidate that
    // would win is moved out of the tie (canceled ranks below incomplete).
    for (;;) {
      newer = (
        await env.stripe.subscriptions.create({
          customer: customer.id,
          items: [{ price: plans.starter.price.id }],
        })
      ).id;
      if (newer > older) break;
      env.emu.setSubscriptionStatus(newer, 'canceled');
    }
    env.emu.setSubscriptionStatus(newer, 'incomplete');
  } finally {
    vi.useRealTimers();
  }
  const [a, b] = await Promise.all([older, newer].map((id) => env.stripe.subscriptions.retrieve(id)));
  expect(a!.created).toBe(b!.created);

  const { results, summary } = await sync.syncAllTenantsFromStripe();
  const mine = results.filter((r) => r.customerId === customer.id);
  expect(mine).toMatchObject([
    { tenantId: 'tie_tenant', success: false, reason: 'no_active_subscription', planId: plans.pro.price.id },
  ]);
  expect(summary.skipped.no_active_subscription).toBe(1);
});
