import type Stripe from 'stripe';
import StripeSdk from 'stripe';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  MetadataError,
  PlanNotFoundError,
  StripeAuthenticationError,
  StripeNotFoundError,
  StripeServerError,
} from '../src/core/errors.js';
import {
  chooseSubscription,
  createStripeSyncService,
  createTtlCache,
  isRetryable,
  mapStripeError,
  type StripeSyncService,
} from '../src/io/stripe-sync/index.js';
import { noopMetrics } from '../src/io/metrics/index.js';
import { startTestStripe, type TestStripe } from './helpers/env.js';
import { mapConcurrent, PLAN_FIXTURES, seedPlan, seedPlans } from './helpers/fixtures.js';
import { closeAfterAll } from './helpers/use-env.js';

const env = closeAfterAll(await startTestStripe());
const plans = await seedPlans(env.stripe);
/** Fast limiter so functional tests are not slowed down by the default 25 rps. */
const fast = { requestsPerSecond: 10_000, retryBaseDelayMs: 5 };

function counts(): Record<string, number> {
  return env.emu.requestCounts();
}

describe('getPlanDefaultsFromStripe', () => {
  it('resolves a product id through its default price, price metadata over product metadata', async () => {
    const sync = createStripeSyncService(env.stripe, fast);
    const plan = await sync.getPlanDefaultsFromStripe(plans.pro.product.id);
    expect(plan).toMatchObject({
      productId: plans.pro.product.id,
      productName: 'Pro',
      priceId: plans.pro.price.id,
      lookupKey: 'pro_monthly',
      bundle: 'pro',
      scrapeIntervalHours: 6,
      custom: false,
      active: true,
    });
    expect(plan.features).toEqual(PLAN_FIXTURES.pro.features);
  });

  it('resolves a price id and a lookup_key to the same plan', async () => {
    const sync = createStripeSyncService(env.stripe, fast);
    const byPrice = await sync.getPlanDefaultsFromStripe(plans.starter.price.id);
    const byLookup = await sync.getPlanDefaultsFromStripe('starter_monthly');
    expect(byPrice).toEqual(byLookup);
    expect(byPrice.features).toEqual(PLAN_FIXTURES.starter.features);
    expect(byPrice.priceId).toBe(plans.starter.price.id);
  });

  it('resolves a product without a default price from product metadata alone', async () => {
    const sync = createStripeSyncService(env.stripe, fast);
    const product = await env.stripe.products.create({
      name: 'Bare',
      metadata: { bundle: 'bare', features: 'sso' },
    });
    const plan = await sync.getPlanDefaultsFromStripe(product.id);
    expect(plan).toMatchObject({ priceId: null, lookupKey: null, bundle: 'bare', features: { sso: true } });
  });

  it('throws PlanNotFoundError for unknown product ids, price ids and lookup keys', async () => {
    const sync = createStripeSyncService(env.stripe, fast);
    for (const id of ['prod_doesnotexist', 'price_doesnotexist', 'no_such_lookup_key']) {
      await expect(sync.getPlanDefaultsFromStripe(id)).rejects.toBeInstanceOf(PlanNotFoundError);
    }
    await expect(sync.getPlanDefaultsFromStripe('')).rejects.toBeInstanceOf(PlanNotFoundError);
  });

  it('treats an id-looking string that is not an id as a lookup_key', async () => {
    const sync = createStripeSyncService(env.stripe, fast);
    await env.stripe.prices.create({
      product: plans.starter.product.id,
      currency: 'usd',
      unit_amount: 100,
      recurring: { interval: 'year' },
      lookup_key: 'price_starter_yearly',
    });
    const plan = await sync.getPlanDefaultsFromStripe('price_starter_yearly');
    expect(plan.lookupKey).toBe('price_starter_yearly');
    expect(plan.bundle).toBe('starter');
  });

  it('keeps archived products resolvable but flags them inactive', async () => {
    const sync = createStripeSyncService(env.stripe, fast);
    const legacy = await seedPlan(env.stripe, 'legacy', {
      ...PLAN_FIXTURES.starter,
      name: 'Legacy',
      lookupKey: 'legacy_monthly',
    });
    await env.stripe.products.update(legacy.product.id, { active: false });
    const plan = await sync.getPlanDefaultsFromStripe(legacy.price.id);
    expect(plan.active).toBe(false);
    expect(plan.features).toEqual(PLAN_FIXTURES.starter.features);
  });

  it('throws MetadataError naming the object and field for malformed metadata', async () => {
    const sync = createStripeSyncService(env.stripe, fast);
    const product = await env.stripe.products.create({
      name: 'Broken',
      metadata: { featuresJson: '{not json' },
    });
    const error = await sync.getPlanDefaultsFromStripe(product.id).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(MetadataError);
    expect(error).toMatchObject({ objectType: 'product', objectId: product.id, field: 'featuresJson' });
  });
});

describe('plan cache', () => {
  it('serves repeats from cache, shares concurrent misses, and refetches after invalidatePlan', async () => {
    const sync = createStripeSyncService(env.stripe, fast);
    const product = await env.stripe.products.create({ name: 'Cached', metadata: { features: 'sso' } });
    const price = await env.stripe.prices.create({
      product: product.id,
      currency: 'usd',
      unit_amount: 500,
      recurring: { interval: 'month' },
    });
    env.emu.resetRequestCounts();

    const results = await Promise.all(
      Array.from({ length: 10 }, () => sync.getPlanDefaultsFromStripe(price.id)),
    );
    expect(new Set(results.map((r) => JSON.stringify(r))).size).toBe(1);
    expect(counts()['GET /v1/prices/:id']).toBe(1);
    expect(counts().total).toBe(1);

    const hitsBefore = sync.stats.cacheHits;
    await sync.getPlanDefaultsFromStripe(price.id);
    expect(counts().total).toBe(1);
    expect(sync.stats.cacheHits).toBeGreaterThan(hitsBefore);

    await env.stripe.products.update(product.id, { metadata: { features: 'sso,webhooks' } });
    env.emu.resetRequestCounts();
    expect((await sync.getPlanDefaultsFromStripe(price.id)).features).toEqual({ sso: true });
    expect(counts().total ?? 0).toBe(0);

    sync.invalidatePlan(product.id);
    expect((await sync.getPlanDefaultsFromStripe(price.id)).features).toEqual({ sso: true, webhooks: true });
    expect(counts()['GET /v1/products/:id']).toBe(1);

    sync.invalidatePlan();
    env.emu.resetRequestCounts();
    await sync.getPlanDefaultsFromStripe(price.id);
    expect(counts()['GET /v1/prices/:id']).toBe(1);
    expect(sync.stats.cacheMisses).toBeGreaterThan(0);
  });

  it('parses a plan once while its product and price stay the same, again once either changes', async () => {
    const sync = createStripeSyncService(env.stripe, fast);
    const product = await env.stripe.products.create({ name: 'Parsed', metadata: { features: 'sso' } });
    const price = await env.stripe.prices.create({
      product: product.id,
      currency: 'usd',
      unit_amount: 700,
      recurring: { interval: 'month' },
      metadata: { features: '{"max_users":3}' },
    });
    const first = await sync.getPlanDefaultsFromStripe(price.id);
    // The same object: the second resolution reused the first one's parse.
    expect(await sync.getPlanDefaultsFromStripe(price.id)).toBe(first);
    expect(first.features).toEqual({ sso: true, max_users: 3 });

    await env.stripe.prices.update(price.id, { metadata: { features: '{"max_users":4}' } });
    sync.invalidatePlan();
    const afterPriceEdit = await sync.getPlanDefaultsFromStripe(price.id);
    expect(afterPriceEdit.features).toEqual({ sso: true, max_users: 4 });

    await env.stripe.products.update(product.id, { name: 'Parsed again' });
    sync.invalidatePlan(product.id);
    const afterRename = await sync.getPlanDefaultsFromStripe(price.id);
    expect(afterRename.productName).toBe('Parsed again');
    expect(afterRename).not.toBe(afterPriceEdit);
  });

  it('customers read at once on a cold product share one products.list', async () => {
    const sync = createStripeSyncService(env.stripe, fast);
    const customers: string[] = [];
    for (let i = 0; i < 10; i += 1) {
      const customer = await env.stripe.customers.create({});
      await env.stripe.subscriptions.create({
        customer: customer.id,
        items: [{ price: plans.pro.price.id }],
      });
      customers.push(customer.id);
    }
    env.emu.resetRequestCounts();
    const states = await Promise.all(customers.map((id) => sync.getSubscriptionState(id)));
    expect(states.map((s) => s.active?.productId)).toEqual(customers.map(() => plans.pro.product.id));
    expect(counts()['GET /v1/subscriptions']).toBe(10);
    expect(counts()['GET /v1/products']).toBe(1);
  });

  it('expires entries after cacheTtlMs', async () => {
    let clock = 1_000_000;
    const sync = createStripeSyncService(env.stripe, { ...fast, cacheTtlMs: 60_000, now: () => clock });
    await sync.getPlanDefaultsFromStripe(plans.enterprise.price.id);
    env.emu.resetRequestCounts();
    await sync.getPlanDefaultsFromStripe(plans.enterprise.price.id);
    expect(counts().total ?? 0).toBe(0);
    clock += 60_001;
    await sync.getPlanDefaultsFromStripe(plans.enterprise.price.id);
    expect(counts().total).toBeGreaterThan(0);
  });

  it('bounds the LRU: the least recently used entry is evicted first', () => {
    const cache = createTtlCache<number>({ ttlMs: 1000, maxEntries: 2 });
    cache.set('a', 1);
    cache.set('b', 2);
    cache.get('a');
    cache.set('c', 3);
    expect([cache.get('a'), cache.get('b'), cache.get('c')]).toEqual([1, undefined, 3]);
  });
});

describe('subscriptions', () => {
  async function customerWith(
    statuses: Array<'active' | 'trialing' | 'past_due' | 'canceled' | 'unpaid' | 'paused' | 'incomplete'>,
    metadata: Record<string, string> = {},
  ) {
    const customer = await env.stripe.customers.create({ metadata });
    const subs: Stripe.Subscription[] = [];
    for (const [i, status] of statuses.entries()) {
      const price = [plans.starter, plans.pro, plans.enterprise][i % 3]!.price.id;
      const sub = await env.stripe.subscriptions.create({ customer: customer.id, items: [{ price }] });
      if (status !== 'active') env.emu.setSubscriptionStatus(sub.id, status);
      subs.push(sub);
    }
    return { customer, subs };
  }

  it('grants access for active, trialing and past_due; not for canceled, unpaid, incomplete, paused', async () => {
    const sync = createStripeSyncService(env.stripe, fast);
    for (const status of ['active', 'trialing', 'past_due'] as const) {
      const { customer, subs } = await customerWith([status]);
      const active = await sync.getActiveSubscription(customer.id);
      expect(active).toMatchObject({
        customerId: customer.id,
        status,
        priceId: plans.starter.price.id,
        productId: plans.starter.product.id,
      });
      expect(active?.subscription.id).toBe(subs[0]!.id);
      expect(active?.plan.bundle).toBe('starter');
    }
    for (const status of ['canceled', 'unpaid', 'incomplete', 'paused'] as const) {
      const { customer } = await customerWith([status]);
      expect(await sync.getActiveSubscription(customer.id)).toBeNull();
    }
    const nobody = await env.stripe.customers.create({});
    expect(await sync.getActiveSubscription(nobody.id)).toBeNull();
  });

  it('prefers active over trialing over past_due regardless of order', async () => {
    const sync = createStripeSyncService(env.stripe, fast);
    const { customer, subs } = await customerWith(['past_due', 'trialing', 'active', 'canceled']);
    const chosen = await sync.getActiveSubscription(customer.id);
    expect(chosen?.subscription.id).toBe(subs[2]!.id);
    expect(chosen?.plan.bundle).toBe('enterprise');
  });

  it('breaks ties by newest created, then by id', () => {
    const sub = (id: string, status: Stripe.Subscription.Status, created: number) =>
      ({ id, status, created }) as Stripe.Subscription;
    expect(chooseSubscription([sub('sub_a', 'active', 100), sub('sub_b', 'active', 200)])?.id).toBe('sub_b');
    expect(chooseSubscription([sub('sub_b', 'active', 100), sub('sub_a', 'active', 100)])?.id).toBe('sub_a');
    expect(chooseSubscription([sub('sub_a', 'trialing', 300), sub('sub_b', 'active', 100)])?.id).toBe(
      'sub_b',
    );
    expect(chooseSubscription([])).toBeNull();
  });
});

describe('getCustomersWithSubscriptions', () => {
  let sync: StripeSyncService;
  let isolated: TestStripe;

  beforeAll(async () => {
    // Its own emulator: exact request counts need a known set of objects.
    isolated = await startTestStripe();
    sync = createStripeSyncService(isolated.stripe, fast);
  });
  afterAll(async () => {
    await isolated?.close();
  });

  it('walks 250 customers in ≤ 4 Stripe requests, choosing per customer and reporting bad metadata per entry', async () => {
    const seeded = await seedPlans(isolated.stripe);
    const broken = await isolated.stripe.products.create({
      name: 'Broken',
      // Malformed (a reader without a catalog accepts any well-formed key, so the key must be malformed).
      metadata: { features: 'not a feature' },
    });
    const brokenPrice = await isolated.stripe.prices.create({
      product: broken.id,
      currency: 'usd',
      unit_amount: 1,
      recurring: { interval: 'month' },
    });
    const customers = await mapConcurrent(250, 16, async (i) => {
      const customer = await isolated.stripe.customers.create({
        metadata: i % 10 === 0 ? {} : { tenantId: `t${i}` },
      });
      const price =
        i === 7 ? brokenPrice.id : [seeded.starter, seeded.pro, seeded.enterprise][i % 3]!.price.id;
      await isolated.stripe.subscriptions.create({
        customer: customer.id,
        items: [{ price }],
        metadata: { tenantId: `sub-t${i}` },
      });
      return customer;
    });
    // One customer with two subscriptions: the active one wins over the canceled newer one.
    const twoSubs = customers[1]!;
    const second = await isolated.stripe.subscriptions.create({
      customer: twoSubs.id,
      items: [{ price: seeded.enterprise.price.id }],
    });
    isolated.emu.setSubscriptionStatus(second.id, 'canceled');
    sync.invalidatePlan();
    isolated.emu.resetRequestCounts();

    const entries = await sync.getCustomersWithSubscriptions();
    const c = isolated.emu.requestCounts();
    expect(c.total).toBeLessThanOrEqual(4);
    expect(c['GET /v1/subscriptions']).toBe(3);
    expect(entries).toHaveLength(250);

    const byCustomer = new Map(entries.map((e) => [e.customer.id, e]));
    const multi = byCustomer.get(twoSubs.id)!;
    expect(multi.status).toBe('active');
    expect(multi.plan?.bundle).toBe('pro');
    expect(byCustomer.get(customers[3]!.id)!.tenantIdHint).toBe('t3');
    // No customer metadata → the subscription's metadata.
    expect(byCustomer.get(customers[10]!.id)!.tenantIdHint).toBe('sub-t10');
    const bad = byCustomer.get(customers[7]!.id)!;
    expect(bad.plan).toBeNull();
    expect(bad.error).toBeInstanceOf(MetadataError);
    expect(entries.filter((e) => e.error)).toHaveLength(1);

    // The walk filled the plan cache: resolving a plan now costs nothing.
    isolated.emu.resetRequestCounts();
    await sync.getPlanDefaultsFromStripe(seeded.pro.price.id);
    expect(isolated.emu.requestCounts().total ?? 0).toBe(0);

    const limited = await sync.getCustomersWithSubscriptions(50);
    expect(limited).toHaveLength(50);
  });

  it('reads a long walk with several pages in flight (disjoint created ranges): the same entries as one cursor walk', async () => {
    const walk = await startTestStripe();
    try {
      const seeded = await seedPlans(walk.stripe);
      const prices = [seeded.starter, seeded.pro, seeded.enterprise].map((p) => p.price.id);
      // 600 subscriptions over ~30 seconds of the emulator's clock, in bursts as an import makes them;
      // every 25th customer also has a newer canceled one, in another range than its live one.
      const customers: string[] = [];
      for (let burst = 0; burst < 20; burst += 1) {
        walk.emu.advanceClock(burst % 7 === 0 ? 5 : 1);
        const made = await mapConcurrent(30, 16, async (i) => {
          const customer = await walk.stripe.customers.create({ metadata: { tenantId: `w${burst}-${i}` } });
          await walk.stripe.subscriptions.create({
            customer: customer.id,
            items: [{ price: prices[(burst + i) % 3]! }],
          });
          return customer.id;
        });
        customers.push(...made);
      }
      for (const [i, customer] of customers.entries()) {
        if (i % 25 !== 0 || i > 300) continue;
        const sub = await walk.stripe.subscriptions.create({ customer, items: [{ price: prices[0]! }] });
        walk.emu.setSubscriptionStatus(sub.id, 'canceled');
      }
      let inFlight = 0;
      let peak = 0;
      const metrics = {
        ...noopMetrics,
        rateLimiterWait: () => void (peak = Math.max(peak, ++inFlight)),
        stripeRequest: () => void (inFlight -= 1),
      };
      walk.emu.injectLatency(20, { path: '/v1/subscriptions' });
      const sequential = await createStripeSyncService(walk.stripe, {
        ...fast,
        listConcurrency: 1,
      }).getCustomersWithSubscriptions();
      walk.emu.resetRequestCounts();
      const parallel = await createStripeSyncService(walk.stripe, {
        ...fast,
        listConcurrency: 6,
        metrics,
      }).getCustomersWithSubscriptions();
      const listed = walk.emu.requestCounts()['GET /v1/subscriptions']!;

      expect(parallel).toHaveLength(600);
      expect(parallel).toEqual(sequential);
      expect(peak).toBeGreaterThanOrEqual(2);
      expect(peak).toBeLessThanOrEqual(6);
      // 613 subscriptions = 7 pages; each range ends on a partial page.
      expect(listed).toBeGreaterThanOrEqual(7);
      expect(listed).toBeLessThanOrEqual(7 + 6);
    } finally {
      await walk.close();
    }
  });

  it('reports plan statistics over paginated products and prices', async () => {
    const stats = await sync.getPlanStatistics();
    expect(stats).toMatchObject({
      totalProducts: 4,
      activeProducts: 4,
      productsWithFeatures: 3,
      customPlans: 0,
      totalPrices: 4,
      pricesWithLookupKey: 3,
    });
    expect(stats.bundles).toEqual({ starter: 1, pro: 1, enterprise: 1 });
    expect(stats.invalidProducts).toHaveLength(1);
    expect(stats.invalidProducts[0]!.error).toMatch(/not a feature/);
  });
});

describe('rate limiting, retries and error mapping', () => {
  it('holds 40 calls at 20 rps to at least ~1.5 s', async () => {
    const sync = createStripeSyncService(env.stripe, { requestsPerSecond: 20 });
    const started = performance.now();
    await Promise.all(
      Array.from({ length: 40 }, () =>
        sync.call('products.list', () => env.stripe.products.list({ limit: 1 })),
      ),
    );
    const elapsed = performance.now() - started;
    expect(elapsed).toBeGreaterThanOrEqual(1500);
    expect(elapsed).toBeLessThan(10_000);
    expect(sync.stats.stripeRequests).toBe(40);
  });

  it('retries a 429 honouring Retry-After, then succeeds', async () => {
    // No SDK retries, so the 429 reaches our wrapper.
    const stripe = env.newStripeClient({ maxNetworkRetries: 0 });
    const sync = createStripeSyncService(stripe, fast);
    env.emu.injectFault({ status: 429, count: 1, retryAfterSeconds: 1, path: '/v1/prices/:id' });
    const started = performance.now();
    const plan = await sync.getPlanDefaultsFromStripe(plans.pro.price.id);
    expect(performance.now() - started).toBeGreaterThanOrEqual(950);
    expect(plan.bundle).toBe('pro');
    expect(sync.stats).toMatchObject({ retries: 1, rateLimited: 1 });
  });

  it('retries 500s with backoff and gives up after maxRetries with a typed error', async () => {
    const stripe = env.newStripeClient({ maxNetworkRetries: 0 });
    const sync = createStripeSyncService(stripe, { ...fast, maxRetries: 3 });
    env.emu.injectFault({ status: 500, count: 2, path: '/v1/products/:id' });
    expect((await sync.getPlanDefaultsFromStripe(plans.starter.product.id)).bundle).toBe('starter');
    expect(sync.stats.retries).toBe(2);

    env.emu.injectFault({ status: 500, count: 10, path: '/v1/products/:id' });
    sync.invalidatePlan();
    const error = await sync.getPlanDefaultsFromStripe(plans.starter.product.id).catch((e: unknown) => e);
    env.emu.clearFaults();
    expect(error).toBeInstanceOf(StripeServerError);
    expect(error).toMatchObject({ statusCode: 500, requestId: expect.stringMatching(/^req_/) });
    expect(sync.stats.retries).toBe(5);
  });

  it('maps a bad API key to StripeAuthenticationError with the request id, without retrying', async () => {
    const sync = createStripeSyncService(env.newStripeClient({ apiKey: 'sk_test_wrong' }), fast);
    const error = await sync.getPlanDefaultsFromStripe(plans.pro.price.id).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(StripeAuthenticationError);
    expect(error).toMatchObject({
      statusCode: 401,
      requestId: expect.stringMatching(/^req_/),
      code: 'stripe_authentication_failed',
    });
    expect(sync.stats.retries).toBe(0);
  });

  it('maps resource_missing to StripeNotFoundError through call()', async () => {
    const sync = createStripeSyncService(env.stripe, fast);
    const error = await sync
      .call('customers.retrieve', () => env.stripe.customers.retrieve('cus_missing'))
      .catch((e: unknown) => e);
    expect(error).toBeInstanceOf(StripeNotFoundError);
    expect(mapStripeError(new Error('plain'), 'x')).toBeInstanceOf(Error);
  });

  it('treats idempotency_key_in_use (a concurrent request with the same key still running) as retryable', () => {
    const inUse = new StripeSdk.errors.StripeIdempotencyError({
      type: 'idempotency_error',
      code: 'idempotency_key_in_use',
      statusCode: 409,
      message: 'There is currently another in-progress request using this Idempotent Key',
    });
    const mapped = mapStripeError(inUse, 'prices.create');
    expect(mapped).toMatchObject({ code: 'stripe_idempotency_key_in_use', statusCode: 409 });
    expect(isRetryable(mapped)).toBe(true);
    const reused = new StripeSdk.errors.StripeIdempotencyError({
      type: 'idempotency_error',
      statusCode: 400,
      message: 'Keys for idempotent requests can only be used with the same parameters',
    });
    expect(isRetryable(mapStripeError(reused, 'prices.create'))).toBe(false);
  });
});
