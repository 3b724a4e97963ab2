import { beforeAll, describe, expect, it } from 'vitest';
import { setFeatureOverride } from '../src/flows/management/index.js';
import { seedTenantsWithSubscriptions, type SeededTenant } from './helpers/fixtures.js';
import { useFeatureSyncEnv } from './helpers/use-env.js';

/**
 * A sync that finds nothing to do: each written or up-to-date tenant stores a hash of what Stripe
 * implied and the config version it holds; the next sync sends each customer's hash with its
 * loading statement, and a tenant whose hash and version both still match is reported up to date
 * without its config being read back or decided (its result carries no `before`). Anything that
 * changed (Stripe's side: the hash; ours: the version) is read and decided as before.
 */
const { env, plans, sync } = await useFeatureSyncEnv({ batchSize: 20, concurrency: 2 });
let seeded: SeededTenant[];

const auditCount = () => env.prisma.featureAuditLog.count();
const versions = async () =>
  new Map(
    (await env.prisma.tenantFeatureConfig.findMany({ select: { tenantId: true, version: true } })).map(
      (r) => [r.tenantId, r.version],
    ),
  );
const hashes = () =>
  env.prisma.$queryRawUnsafe<Array<{ tenant_id: string; sync_hash: string | null; current: boolean }>>(
    `SELECT tenant_id, sync_hash, sync_hash_version = version AS current FROM tenant_feature_configs`,
  );

beforeAll(async () => {
  seeded = await seedTenantsWithSubscriptions(env.stripe, env.prisma, 40, { plans, prefix: 'hash' });
  const first = await sync.syncAllTenantsFromStripe();
  expect(first.summary.updated).toBe(40);
});

describe('a sync that finds nothing to do', () => {
  it('writes nothing, records no audit row and reads no config back', async () => {
    const audits = await auditCount();
    const before = await versions();
    const { results, summary } = await sync.syncAllTenantsFromStripe();
    expect(summary).toMatchObject({ processed: 40, updated: 0, unchanged: 40, failed: [] });
    expect(await auditCount()).toBe(audits);
    expect(await versions()).toEqual(before);
    // Recognised by the stored hash: the config was not read, so there is no `before` to show.
    expect(results.every((r) => r.reason === 'up_to_date' && r.before === undefined)).toBe(true);
    const stored = await hashes();
    expect(stored).toHaveLength(40);
    expect(stored.every((r) => r.sync_hash !== null && r.current)).toBe(true);
  });

  it('a changed plan is written, audited and published; the other tenants stay untouched', async () => {
    const moved = seeded.find((t) => t.priceId !== plans.enterprise.price.id)!;
    const sub = await env.stripe.subscriptions.retrieve(moved.subscriptionId);
    await env.stripe.subscriptions.update(sub.id, {
      items: [{ id: sub.items.data[0]!.id, price: plans.enterprise.price.id }],
    });
    const hashBefore = (await hashes()).find((r) => r.tenant_id === moved.tenantId)!.sync_hash;
    const audits = await auditCount();
    const { results, summary } = await sync.syncAllTenantsFromStripe();
    expect(summary).toMatchObject({ updated: 1, unchanged: 39 });
    expect(results.filter((r) => r.changed)).toMatchObject([{ tenantId: moved.tenantId, success: true }]);
    expect(await auditCount()).toBe(audits + 1);
    const config = await env.prisma.tenantFeatureConfig.findUnique({ where: { tenantId: moved.tenantId } });
    expect(config?.stripePriceId).toBe(plans.enterprise.price.id);
    expect(config?.features).toEqual(plans.enterprise.fixture.features);
    // Published to the cache with the write.
    expect((await sync.getTenantFeatures(moved.tenantId))?.features).toEqual(
      plans.enterprise.fixture.features,
    );
    const after = (await hashes()).find((r) => r.tenant_id === moved.tenantId)!;
    expect(after.sync_hash).not.toBe(hashBefore);
    expect(after.current).toBe(true);
    // And the next sync knows it unchanged again.
    const again = await sync.syncAllTenantsFromStripe();
    expect(again.summary).toMatchObject({ updated: 0, unchanged: 40 });
    expect(again.results.every((r) => r.before === undefined)).toBe(true);
  });

  it('a tenant written since its hash was stored (an override) is read and decided again, and its override kept', async () => {
    const tenant = seeded[3]!;
    await setFeatureOverride(env.prisma, tenant.tenantId, 'max_users', 999, {
      featureReader: sync.reader,
    });
    const audits = await auditCount();
    const { results, summary } = await sync.syncAllTenantsFromStripe();
    expect(summary).toMatchObject({ updated: 0, unchanged: 40 });
    const result = results.find((r) => r.tenantId === tenant.tenantId)!;
    expect(result.reason).toBe('up_to_date');
    // Read back and decided: the override's version no longer matches the stored hash's.
    expect(result.before).toMatchObject({ max_users: 999 });
    expect(await auditCount()).toBe(audits);
    const config = await env.prisma.tenantFeatureConfig.findUnique({ where: { tenantId: tenant.tenantId } });
    expect(config?.overrides).toEqual({ max_users: 999 });
    expect((config?.features as Record<string, unknown>).max_users).toBe(999);
    // Stamped at its new version: the sync after that reads it no more.
    const again = await sync.syncAllTenantsFromStripe();
    expect(again.results.find((r) => r.tenantId === tenant.tenantId)!.before).toBeUndefined();
  });

  it('a hand edit that leaves the version alone forgets the hash: the tenant is read and decided again', async () => {
    const tenant = seeded[7]!;
    await env.prisma.tenantFeatureConfig.update({
      where: { tenantId: tenant.tenantId },
      data: { source: 'manual', features: { sso: true } },
    });
    const stored = (await hashes()).find((r) => r.tenant_id === tenant.tenantId)!;
    expect(stored.sync_hash).toBeNull();
    const { results } = await sync.syncAllTenantsFromStripe();
    expect(results.find((r) => r.tenantId === tenant.tenantId)).toMatchObject({ reason: 'custom_config' });
    const config = await env.prisma.tenantFeatureConfig.findUnique({ where: { tenantId: tenant.tenantId } });
    expect(config).toMatchObject({ source: 'manual', features: { sso: true } });
  });

  it('rows without a hash (from before hashes were stored) count as changed: read, decided, stamped, not rewritten', async () => {
    const old = seeded.slice(10, 20).map((t) => t.tenantId);
    await env.prisma.$executeRawUnsafe(
      `UPDATE tenant_feature_configs SET sync_hash = NULL, sync_hash_version = NULL WHERE tenant_id = ANY($1::text[])`,
      old,
    );
    const audits = await auditCount();
    const before = await versions();
    const { results, summary } = await sync.syncAllTenantsFromStripe();
    // The hand-edited tenant of the test before stays skipped (custom_config).
    expect(summary).toMatchObject({ updated: 0, unchanged: 39 });
    const read = results
      .filter((r) => r.before !== undefined && r.reason === 'up_to_date')
      .map((r) => r.tenantId);
    expect(read.sort()).toEqual([...old].sort());
    expect(await auditCount()).toBe(audits);
    expect(await versions()).toEqual(before);
    const stored = await hashes();
    expect(stored.filter((r) => old.includes(r.tenant_id)).every((r) => r.sync_hash && r.current)).toBe(true);
  });

  it('a hash that does not match (Stripe implies something else) is decided afresh even when the version matches', async () => {
    // A forged hash at the current version: were the hash not compared, this tenant would be skipped.
    const tenant = seeded[5]!;
    await env.prisma.$executeRawUnsafe(
      `UPDATE tenant_feature_configs SET sync_hash = 'not-what-stripe-implies', plan_features = '{}', features = '{}'
        WHERE tenant_id = $1`,
      tenant.tenantId,
    );
    const { summary, results } = await sync.syncAllTenantsFromStripe();
    expect(summary).toMatchObject({ updated: 1, unchanged: 38 });
    expect(results.find((r) => r.changed)?.tenantId).toBe(tenant.tenantId);
    const config = await env.prisma.tenantFeatureConfig.findUnique({ where: { tenantId: tenant.tenantId } });
    expect(config?.planFeatures).not.toEqual({});
  });

  it('keepResults: N keeps at most N results of tenants that need a look and counts the rest', async () => {
    const changed = seeded.slice(20, 24).map((t) => t.tenantId);
    await env.prisma.$executeRawUnsafe(
      `UPDATE tenant_feature_configs SET plan_features = '{}', features = '{}' WHERE tenant_id = ANY($1::text[])`,
      changed,
    );
    const { results, summary } = await sync.syncAllTenantsFromStripe({ keepResults: 2 });
    expect(summary).toMatchObject({ processed: 40, updated: 4, resultsOmitted: 38 });
    expect(results).toHaveLength(2);
    expect(results.every((r) => r.reason !== 'up_to_date')).toBe(true);
    // Nothing to look at: nothing kept, every tenant counted.
    const quiet = await sync.syncAllTenantsFromStripe({ keepResults: 1000 });
    expect(quiet.summary).toMatchObject({ processed: 40, updated: 0, resultsOmitted: 39 });
    expect(quiet.results).toMatchObject([{ reason: 'custom_config' }]);
  });

  it('force decides every tenant afresh', async () => {
    const { results } = await sync.syncAllTenantsFromStripe({ force: true });
    expect(results).toHaveLength(40);
    expect(results.every((r) => r.before !== undefined)).toBe(true);
  });
});
