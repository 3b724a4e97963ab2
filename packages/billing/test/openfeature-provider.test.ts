import {
  ErrorCode,
  MultiProvider,
  OpenFeature,
  ProviderEvents,
  TypedInMemoryProvider,
  type EventDetails,
  type TrackingEventDetails,
} from '@openfeature/server-sdk';
import { afterAll, describe, expect, it } from 'vitest';
import { createCacheFromEnv } from '../src/io/cache/index.js';
import { addFeature, createUsageService, databaseCatalog, setFeatureOverride } from '../src/index.js';
import { createFeatureReader } from '../src/io/feature-cache/index.js';
import { BillingProvider } from '../src/openfeature.js';
import { PLAN_FIXTURES, seedPlans, seedTenantsWithSubscriptions } from './helpers/fixtures.js';
import { useAdminTestEnv } from './helpers/use-env.js';

/**
 * The OpenFeature server provider through the real @openfeature/server-sdk: evaluation through
 * the cached reader, change events (from this instance and, with Redis, from another one), track,
 * and OpenFeature's multi-provider beside the SDK's in-memory provider.
 */
const env = await useAdminTestEnv();
const plans = await seedPlans(env.stripe);
const [a, b] = await seedTenantsWithSubscriptions(env.stripe, env.prisma, 2, {
  prefix: 'ofp',
  priceFor: (i) => [plans.starter, plans.pro][i]!.price.id,
});
const A = a!.tenantId;
const B = b!.tenantId;
await env.featureSync.syncAllTenantsFromStripe();
const catalog = databaseCatalog(env.prisma);
const tracked: { tenantId: string; name: string; details: TrackingEventDetails }[] = [];
const provider = new BillingProvider({
  reader: env.featureSync.reader,
  catalog,
  track: (tenantId, name, details) => tracked.push({ tenantId, name, details }),
});
await OpenFeature.setProviderAndWait('billing', provider);
const client = OpenFeature.getClient('billing');
afterAll(() => OpenFeature.close());

/** Resolves with the next configuration change for `tenantId`; rejects after `ms`. */
function nextChange(
  target: { addHandler: typeof client.addHandler; removeHandler: typeof client.removeHandler },
  tenantId: string,
  ms = 5_000,
) {
  return new Promise<EventDetails>((resolve, reject) => {
    const handler = (details?: EventDetails) => {
      if (details?.metadata?.tenantId !== tenantId) return;
      clearTimeout(timer);
      target.removeHandler(ProviderEvents.ConfigurationChanged, handler);
      resolve(details);
    };
    const timer = setTimeout(() => {
      target.removeHandler(ProviderEvents.ConfigurationChanged, handler);
      reject(new Error(`no configuration change for ${tenantId} within ${ms} ms`));
    }, ms);
    target.addHandler(ProviderEvents.ConfigurationChanged, handler);
  });
}

describe('BillingProvider', () => {
  it('evaluates boolean and number flags for the targeting key, with reason, variant and metadata', async () => {
    expect(await client.getBooleanValue('api_access', false, { targetingKey: A })).toBe(true);
    expect(await client.getNumberValue('max_projects', 0, { targetingKey: A })).toBe(
      PLAN_FIXTURES.starter.features.max_projects,
    );
    const details = await client.getNumberDetails('max_users', 0, { targetingKey: B });
    expect(details).toMatchObject({
      value: PLAN_FIXTURES.pro.features.max_users,
      reason: 'TARGETING_MATCH',
      variant: 'pro',
      flagMetadata: { source: 'plan', bundle: 'pro', accessActive: true },
    });
    expect(await client.getBooleanDetails('sso', true, { targetingKey: A })).toMatchObject({
      value: false,
      reason: 'STATIC',
      variant: 'not_in_plan',
    });
  });

  it('answers OpenFeature errors with the caller default', async () => {
    const cases = [
      [
        await client.getBooleanDetails('no_such_flag', true, { targetingKey: A }),
        ErrorCode.FLAG_NOT_FOUND,
        true,
      ],
      [
        await client.getBooleanDetails('max_projects', true, { targetingKey: A }),
        ErrorCode.TYPE_MISMATCH,
        true,
      ],
      [await client.getStringDetails('api_access', 'x', { targetingKey: A }), ErrorCode.TYPE_MISMATCH, 'x'],
      [await client.getBooleanDetails('api_access', true, {}), ErrorCode.TARGETING_KEY_MISSING, true],
      [
        await client.getBooleanDetails('api_access', true, { targetingKey: 'bad\u0000id' }),
        ErrorCode.INVALID_CONTEXT,
        true,
      ],
    ] as const;
    for (const [details, errorCode, value] of cases) {
      expect(details).toMatchObject({ errorCode, value, reason: 'ERROR' });
    }
  });

  it('emits PROVIDER_CONFIGURATION_CHANGED with the changed keys when a tenant changes', async () => {
    await client.getBooleanValue('sso', false, { targetingKey: A });
    const changed = nextChange(client, A);
    await setFeatureOverride(env.prisma, A, 'sso', true, { featureReader: env.featureSync.reader });
    const details = await changed;
    expect(details.flagsChanged).toEqual(['sso']);
    expect(details.metadata).toMatchObject({ tenantId: A });
    expect(await client.getBooleanDetails('sso', false, { targetingKey: A })).toMatchObject({
      value: true,
      variant: 'override',
      flagMetadata: { source: 'override' },
    });
  });

  it.skipIf(!process.env.REDIS_URL)(
    'a change made on another instance reaches this provider (Redis)',
    async () => {
      // Another process's reader: its own cache connection, the same namespace and database.
      const otherCache = createCacheFromEnv(process.env, { keyPrefix: `${env.namespace}:` });
      const otherReader = createFeatureReader(env.prisma, otherCache, { namespace: env.namespace });
      try {
        await client.getNumberValue('max_users', 0, { targetingKey: B });
        const changed = nextChange(client, B);
        await setFeatureOverride(env.prisma, B, 'max_users', 999, { featureReader: otherReader });
        expect((await changed).flagsChanged).toEqual(['max_users']);
        expect(await client.getNumberValue('max_users', 0, { targetingKey: B })).toBe(999);
      } finally {
        await otherCache.close();
      }
    },
  );

  it('track() hands the tenant, the event and its details to the configured recorder', async () => {
    client.track('api_call', { targetingKey: A }, { value: 3 });
    client.track('api_call', {}, { value: 1 });
    await expect.poll(() => tracked.length).toBe(1);
    expect(tracked).toEqual([{ tenantId: A, name: 'api_call', details: { value: 3 } }]);
  });

  it('a metered key reads as the amount left, and track() counts usage through the usage service', async () => {
    await addFeature(env.prisma, {
      key: 'api.calls',
      type: 'number',
      description: 'API calls',
      usage: { reset: 'never', overage: 'reject' },
    });
    await setFeatureOverride(env.prisma, A, 'api.calls', 100, { featureReader: env.featureSync.reader });
    const usage = createUsageService(env.prisma, { featureReader: env.featureSync.reader, catalog });
    try {
      const other: typeof tracked = [];
      await OpenFeature.setProviderAndWait(
        'metered',
        new BillingProvider({
          reader: env.featureSync.reader,
          catalog,
          usage,
          track: (tenantId, name, details) => other.push({ tenantId, name, details }),
        }),
      );
      const metered = OpenFeature.getClient('metered');
      const ctx = { targetingKey: A };
      expect(await metered.getNumberDetails('api.calls', 0, ctx)).toMatchObject({
        value: 100,
        flagMetadata: { limit: 100, metered: true, source: 'override' },
      });
      metered.track('api.calls', ctx, { value: 30 });
      await expect.poll(() => metered.getNumberValue('api.calls', 0, ctx)).toBe(70);
      expect((await usage.getUsage(A)).meters).toMatchObject([{ key: 'api.calls', used: 30, remaining: 70 }]);
      // An event that is not a metered key goes to the recorder, not the usage service.
      metered.track('signup', ctx, {});
      await expect.poll(() => other.map((t) => t.name)).toEqual(['signup']);
      // Unmetered keys read as before.
      expect(await metered.getBooleanValue('api_access', false, ctx)).toBe(true);
    } finally {
      usage.close();
    }
  });

  it("runs inside OpenFeature's multi-provider beside the SDK's in-memory provider", async () => {
    const flags = new TypedInMemoryProvider({
      'new-checkout': { variants: { on: true, off: false }, defaultVariant: 'on', disabled: false },
      api_access: { variants: { on: true, off: false }, defaultVariant: 'off', disabled: false },
    });
    const billingFirst = new MultiProvider([
      { provider: new BillingProvider({ reader: env.featureSync.reader, catalog }) },
      { provider: flags },
    ]);
    await OpenFeature.setProviderAndWait('multi', billingFirst);
    const multi = OpenFeature.getClient('multi');
    const ctx = { targetingKey: A };
    // Entitlements from us, the product flag (unknown to us) from the in-memory provider.
    expect(await multi.getBooleanValue('api_access', false, ctx)).toBe(true);
    expect(await multi.getBooleanValue('new-checkout', false, ctx)).toBe(true);
    expect(await multi.getNumberValue('max_projects', 0, ctx)).toBe(
      PLAN_FIXTURES.starter.features.max_projects,
    );
    // Our change events pass through the multi-provider.
    const changed = nextChange(multi, A);
    await setFeatureOverride(env.prisma, A, 'max_projects', 12, { featureReader: env.featureSync.reader });
    expect((await changed).flagsChanged).toEqual(['max_projects']);
    expect(await multi.getNumberValue('max_projects', 0, ctx)).toBe(12);
  });
});
