import { beforeAll, describe, expect, it } from 'vitest';
import { createBillingContext } from '../src/entry/context.js';
import {
  EXIT_DRIFT,
  EXIT_OK,
  EXIT_USAGE,
  runReconcileCli,
  type ReconcileCliContext,
} from '../src/entry/cli/reconcile.js';
import { restrictFeatures } from '../src/core/index.js';
import { reconcileTenants, type ReconcileOptions } from '../src/flows/reconcile/index.js';
import { captureStream } from './admin-helpers.js';
import {
  PLAN_FIXTURES,
  seedPlan,
  seedPlans,
  seedTenantsWithSubscriptions,
  type SeededPlans,
  type SeededTenant,
} from './helpers/fixtures.js';
import { useAdminTestEnv } from './helpers/use-env.js';

const env = await useAdminTestEnv();
let plans: SeededPlans;
let tenants: SeededTenant[];
let metaTenant: SeededTenant;
let context: ReconcileCliContext;

const reconcile = (options: ReconcileOptions = {}) =>
  reconcileTenants({ prisma: env.prisma, featureSync: env.featureSync }, options);
const config = (tenantId: string) =>
  env.prisma.tenantFeatureConfig.findUniqueOrThrow({ where: { tenantId } });
const auditCount = () => env.prisma.featureAuditLog.count();
const versions = async () =>
  (await env.prisma.tenantFeatureConfig.findMany({ orderBy: { tenantId: 'asc' } })).map((c) => [
    c.tenantId,
    c.version,
  ]);

async function cli(argv: string[], io: Partial<Parameters<typeof runReconcileCli>[1]> = {}) {
  const stdout = captureStream();
  const stderr = captureStream();
  const code = await runReconcileCli(argv, { context, stdout, stderr, ...io });
  return { code, stdout: stdout.text, stderr: stderr.text };
}

beforeAll(async () => {
  plans = await seedPlans(env.stripe);
  // Round robin: rc_0 starter, rc_1 pro, rc_2 enterprise, rc_3 starter, ...
  tenants = await seedTenantsWithSubscriptions(env.stripe, env.prisma, 6, { plans, prefix: 'rc' });
  [metaTenant] = (await seedTenantsWithSubscriptions(env.stripe, env.prisma, 1, {
    plans,
    prefix: 'rcmeta',
    link: 'metadata',
  })) as [SeededTenant];
  const { summary } = await env.featureSync.syncAllTenantsFromStripe();
  expect(summary.updated).toBe(7);
  context = { prisma: env.prisma, featureSync: env.featureSync };
});

describe('reconcileTenants', () => {
  it('finds every tenant in sync right after a sync, in one walk of Stripe', async () => {
    env.emu.resetRequestCounts();
    const result = await reconcile();
    expect(result).toMatchObject({ checked: 7, inSync: 7, drift: [], fixed: 0, failed: [] });
    expect(env.emu.requestCounts()['GET /v1/subscriptions']).toBe(1);
  });

  it('detects tampered features, a missed plan change and a missed cancellation, and writes nothing', async () => {
    const [t0, t1, t2] = tenants as [SeededTenant, SeededTenant, SeededTenant];
    const { webhooks: _dropped, ...rest } = PLAN_FIXTURES.starter.features;
    await env.prisma.tenantFeatureConfig.update({
      where: { tenantId: t0.tenantId },
      data: { features: { ...rest, max_users: 999, sso: true } },
    });
    const sub1 = await env.stripe.subscriptions.retrieve(t1.subscriptionId);
    await env.stripe.subscriptions.update(t1.subscriptionId, {
      items: [{ id: sub1.items.data[0]!.id, price: plans.enterprise.price.id }],
    });
    await env.stripe.subscriptions.cancel(t2.subscriptionId);
    const before = { versions: await versions(), audits: await auditCount() };

    const result = await reconcile();

    expect(result).toMatchObject({ checked: 7, inSync: 4, fixed: 0, failed: [] });
    const byTenant = new Map(result.drift.map((d) => [d.tenantId, d]));
    expect([...byTenant.keys()].sort()).toEqual([t0.tenantId, t1.tenantId, t2.tenantId]);
    expect(byTenant.get(t0.tenantId)).toMatchObject({
      customerId: t0.customerId,
      expected: {
        features: PLAN_FIXTURES.starter.features,
        accessActive: true,
        bundle: 'starter',
        priceId: plans.starter.price.id,
        subscriptionStatus: 'active',
      },
      actual: { features: { ...rest, max_users: 999, sso: true }, accessActive: true },
      // The tenant gained sso and lost webhooks relative to what Stripe implies.
      diff: { added: ['webhooks'], removed: ['sso'], changed: ['max_users'], fields: [] },
    });
    expect(byTenant.get(t1.tenantId)).toMatchObject({
      expected: {
        features: PLAN_FIXTURES.enterprise.features,
        bundle: 'enterprise',
        priceId: plans.enterprise.price.id,
      },
      actual: { features: PLAN_FIXTURES.pro.features, bundle: 'pro', priceId: plans.pro.price.id },
      diff: { fields: ['bundle', 'priceId', 'scrapeIntervalHours'] },
    });
    expect(byTenant.get(t2.tenantId)).toMatchObject({
      expected: {
        features: restrictFeatures(PLAN_FIXTURES.enterprise.features),
        accessActive: false,
        subscriptionStatus: 'canceled',
        bundle: 'enterprise',
      },
      actual: {
        features: PLAN_FIXTURES.enterprise.features,
        accessActive: true,
        subscriptionStatus: 'active',
      },
      diff: { fields: ['accessActive', 'subscriptionStatus'] },
    });
    expect(byTenant.get(t2.tenantId)!.diff.changed).toEqual(
      Object.keys(PLAN_FIXTURES.enterprise.features).sort(),
    );
    expect(result.drift.every((d) => d.fix === undefined)).toBe(true);
    expect({ versions: await versions(), audits: await auditCount() }).toEqual(before);
  });

  it('fix writes the expected state with one audit row per tenant, publishes it, and a second run is clean', async () => {
    const [t0, t1, t2] = tenants as [SeededTenant, SeededTenant, SeededTenant];
    const audits = await auditCount();
    const result = await reconcile({ fix: true, actor: 'ops@example.test' });
    expect(result).toMatchObject({ checked: 7, inSync: 4, fixed: 3, failed: [] });
    expect(result.drift.map((d) => d.fix)).toEqual(['applied', 'applied', 'applied']);

    expect(await auditCount()).toBe(audits + 3);
    for (const t of [t0, t1, t2]) {
      const rows = await env.prisma.featureAuditLog.findMany({
        where: { tenantId: t.tenantId, action: 'reconcile' },
      });
      expect(rows).toHaveLength(1);
      expect(rows[0]).toMatchObject({ source: 'sync', actor: 'ops@example.test', stripeEventId: null });
    }
    expect(await config(t0.tenantId)).toMatchObject({ features: PLAN_FIXTURES.starter.features });
    expect(await config(t1.tenantId)).toMatchObject({
      features: PLAN_FIXTURES.enterprise.features,
      stripePriceId: plans.enterprise.price.id,
      bundle: 'enterprise',
    });
    expect(await config(t2.tenantId)).toMatchObject({
      accessActive: false,
      subscriptionStatus: 'canceled',
      features: restrictFeatures(PLAN_FIXTURES.enterprise.features),
    });
    // Through the reader (cache first): the committed versions were published.
    expect(await env.featureSync.isFeatureEnabled(t0.tenantId, 'sso')).toBe(false);
    expect(await env.featureSync.isFeatureEnabled(t1.tenantId, 'sso')).toBe(true);
    expect(await env.featureSync.isFeatureEnabled(t2.tenantId, 'api_access')).toBe(false);

    const again = await reconcile({ fix: true });
    expect(again).toMatchObject({ checked: 7, inSync: 7, drift: [], fixed: 0 });
    expect(await auditCount()).toBe(audits + 3);
  });

  it('restricts a linked tenant whose customer has no subscription at all, and leaves an unlinked manual config alone', async () => {
    const customer = await env.stripe.customers.create({ name: 'lapsed' });
    await env.prisma.tenant.create({
      data: { id: 'rc_lapsed', name: 'lapsed', stripeCustomerId: customer.id },
    });
    await env.prisma.tenantFeatureConfig.create({
      data: {
        tenantId: 'rc_lapsed',
        features: { sso: true, max_users: 10 },
        planFeatures: { sso: true, max_users: 10 },
      },
    });
    await env.prisma.tenant.create({ data: { id: 'rc_internal', name: 'internal' } });
    await env.prisma.tenantFeatureConfig.create({
      data: { tenantId: 'rc_internal', source: 'manual', features: { sso: true } },
    });

    const result = await reconcile({ fix: true });
    expect(result.drift.map((d) => d.tenantId)).toEqual(['rc_lapsed']);
    expect(result.drift[0]).toMatchObject({
      expected: {
        accessActive: false,
        subscriptionStatus: 'canceled',
        features: { sso: false, max_users: 0 },
      },
      fix: 'applied',
    });
    expect(result.skipped).toContainEqual({ tenantId: 'rc_internal', customerId: null, reason: 'unlinked' });
    expect(await config('rc_internal')).toMatchObject({
      features: { sso: true },
      accessActive: true,
      version: 0,
    });
    expect(await config('rc_lapsed')).toMatchObject({
      accessActive: false,
      features: { sso: false, max_users: 0 },
    });
  });

  it('links a tenant found through customer metadata when it fixes it', async () => {
    await env.prisma.tenant.update({ where: { id: metaTenant.tenantId }, data: { stripeCustomerId: null } });
    await env.prisma.tenantFeatureConfig.update({
      where: { tenantId: metaTenant.tenantId },
      data: { features: {} },
    });
    const result = await reconcile({ fix: true });
    expect(result.drift.map((d) => [d.tenantId, d.customerId, d.fix])).toEqual([
      [metaTenant.tenantId, metaTenant.customerId, 'applied'],
    ]);
    expect(
      (await env.prisma.tenant.findUniqueOrThrow({ where: { id: metaTenant.tenantId } })).stripeCustomerId,
    ).toBe(metaTenant.customerId);
  });

  it('a fix re-reads Stripe before it writes, so a change after the walk is not overwritten with the walk’s picture', async () => {
    const t3 = tenants[3]!;
    await env.prisma.tenantFeatureConfig.update({
      where: { tenantId: t3.tenantId },
      data: { features: { sso: true } },
    });
    let flipped = false;
    const result = await reconcile({
      fix: true,
      onProgress: ({ phase, tenantId }) => {
        // Runs after the walk: the check phase still believes the subscription is active.
        if (phase === 'check' && tenantId === t3.tenantId && !flipped) {
          flipped = true;
          env.emu.setSubscriptionStatus(t3.subscriptionId, 'unpaid');
        }
      },
    });
    const drift = result.drift.find((d) => d.tenantId === t3.tenantId)!;
    expect(drift.expected.accessActive).toBe(true);
    expect(drift.fix).toBe('applied');
    expect(await config(t3.tenantId)).toMatchObject({
      accessActive: false,
      subscriptionStatus: 'unpaid',
      features: restrictFeatures(PLAN_FIXTURES.starter.features),
    });
    expect((await reconcile()).drift).toEqual([]);
  });

  it('a fix holds no transaction or row lock while it reads Stripe, and keeps a write that committed after that read began', async () => {
    const t5 = tenants[5]!;
    await env.prisma.tenantFeatureConfig.update({
      where: { tenantId: t5.tenantId },
      data: { features: { sso: true } },
    });
    // rc_5 is on enterprise: a picture that differs from what the fix would write.
    const webhookFeatures = { ...PLAN_FIXTURES.starter.features };
    let lockFree: boolean | undefined;
    const stripeSync = env.featureSync.stripeSync;
    const racing = {
      ...stripeSync,
      async getSubscriptionState(customerId: string) {
        const state = await stripeSync.getSubscriptionState(customerId);
        if (customerId === t5.customerId && lockFree === undefined) {
          // Were the fix holding the tenant's lock (or the only embedded connection), this would fail or hang.
          const probe = env.prisma.$transaction(
            (tx) => tx.$queryRaw`SELECT id FROM tenants WHERE id = ${t5.tenantId} FOR UPDATE NOWAIT`,
          );
          lockFree = await Promise.race([
            probe.then(() => true),
            new Promise<boolean>((resolve) => setTimeout(() => resolve(false), 3_000)),
          ]).catch(() => false);
          // A webhook commits a newer picture after the fix's read began.
          await env.prisma.tenantFeatureConfig.update({
            where: { tenantId: t5.tenantId },
            data: { features: webhookFeatures },
          });
        }
        return state;
      },
    };
    const result = await reconcileTenants(
      { prisma: env.prisma, featureSync: { stripeSync: racing, reader: env.featureSync.reader } },
      { fix: true },
    );
    expect(lockFree).toBe(true);
    expect(result.drift.find((d) => d.tenantId === t5.tenantId)?.fix).toBe('skipped');
    expect((await config(t5.tenantId)).features).toEqual(webhookFeatures);
    // Put the tenant back for the tests below.
    await reconcile({ fix: true });
    expect((await reconcile()).drift).toEqual([]);
  });

  it('reports a tenant on a product with broken metadata as failed with the MetadataError, and never changes it', async () => {
    const broken = await seedPlan(env.stripe, 'broken', {
      ...PLAN_FIXTURES.starter,
      lookupKey: 'rc_broken',
      productMetadata: { bundle: 'broken', featuresJson: '{"max_users":"lots"}' },
    });
    const t4 = tenants[4]!;
    const sub = await env.stripe.subscriptions.retrieve(t4.subscriptionId);
    await env.stripe.subscriptions.update(t4.subscriptionId, {
      items: [{ id: sub.items.data[0]!.id, price: broken.price.id }],
    });
    const before = await config(t4.tenantId);

    const result = await reconcile({ fix: true });
    expect(result.failed).toEqual([
      {
        tenantId: t4.tenantId,
        customerId: t4.customerId,
        phase: 'check',
        code: 'invalid_metadata',
        error: expect.stringMatching(new RegExp(`${broken.product.id}.*featuresJson.*max_users`)),
      },
    ]);
    expect(result.drift).toEqual([]);
    expect(await config(t4.tenantId)).toEqual(before);
    // Once the subscription is on a sound plan again the tenant is reconciled like any other.
    await env.stripe.subscriptions.update(t4.subscriptionId, {
      items: [{ id: sub.items.data[0]!.id, price: plans.starter.price.id }],
    });
    expect(await reconcile({ fix: true })).toMatchObject({ fixed: 1, failed: [] });
  });

  it('--tenant-id checks one tenant through its customer; limit checks only the customers it reaches', async () => {
    const t5 = tenants[5]!;
    await env.prisma.tenantFeatureConfig.update({
      where: { tenantId: t5.tenantId },
      data: { bundle: 'hacked' },
    });
    env.emu.resetRequestCounts();
    const one = await reconcile({ tenantId: t5.tenantId });
    expect(one).toMatchObject({ checked: 1, inSync: 0, failed: [] });
    expect(one.drift[0]).toMatchObject({
      tenantId: t5.tenantId,
      diff: { fields: ['bundle'] },
      expected: { bundle: 'enterprise' },
    });
    expect(env.emu.requestCounts()['GET /v1/subscriptions']).toBe(1);

    expect((await reconcile({ tenantId: tenants[0]!.tenantId })).drift).toEqual([]);
    expect((await reconcile({ tenantId: 'rc_internal' })).skipped).toEqual([
      { tenantId: 'rc_internal', customerId: null, reason: 'unlinked' },
    ]);
    expect((await reconcile({ tenantId: 'nope' })).failed).toMatchObject([
      { tenantId: 'nope', code: 'tenant_not_found' },
    ]);

    const limited = await reconcile({ limit: 2 });
    expect(limited.checked).toBe(2);
    // The unreached linked tenants are not declared lost, and the unlinked one is not even looked at.
    expect(limited.skipped.filter((s) => s.reason === 'unlinked')).toEqual([]);
    await reconcile({ tenantId: t5.tenantId, fix: true });
  });
});

describe('reconcile CLI', () => {
  it('exit 0 and a summary when nothing drifted', async () => {
    const { code, stdout } = await cli([]);
    expect(code).toBe(EXIT_OK);
    expect(stdout).toMatch(/checked: 8\n\s+in sync: 8\n\s+drift: 0/);
  });

  it('exit 1 with the per-tenant diff when drift remains; --json is one parseable document', async () => {
    const t0 = tenants[0]!;
    await env.prisma.tenantFeatureConfig.update({
      where: { tenantId: t0.tenantId },
      data: { features: { ...PLAN_FIXTURES.starter.features, sso: true, max_users: 6 } },
    });
    const text = await cli([]);
    expect(text.code).toBe(EXIT_DRIFT);
    expect(text.stdout).toContain(`drift: tenant ${t0.tenantId} (${t0.customerId})`);
    expect(text.stdout).toContain('max_users: 6 → 5');
    expect(text.stdout).toContain('- sso: true');

    const json = await cli(['--json']);
    expect(json.code).toBe(EXIT_DRIFT);
    const report = JSON.parse(json.stdout);
    expect(report).toMatchObject({
      exitCode: 1,
      options: { fix: false, tenantId: null, limit: null },
      checked: 8,
      inSync: 7,
      fixed: 0,
    });
    expect(report.drift).toMatchObject([
      { tenantId: t0.tenantId, diff: { removed: ['sso'], changed: ['max_users'] } },
    ]);
    expect(report.overLimits).toEqual([]);
  });

  it('lists usage above a limit (informational: the exit code stays the drift one)', async () => {
    const t0 = tenants[0]!;
    await env.prisma.tenantLimitUsage.create({
      data: { tenantId: t0.tenantId, key: 'max_users', used: 9, limit: 25 },
    });
    try {
      const json = await cli(['--json', '--tenant-id', t0.tenantId]);
      expect(JSON.parse(json.stdout).overLimits).toMatchObject([
        { tenantId: t0.tenantId, key: 'max_users', used: 9, limit: 6, overLimit: true, allowed: false },
      ]);
      expect((await cli(['--tenant-id', t0.tenantId])).stdout).toContain(
        `over limit: tenant ${t0.tenantId} max_users 9 used of 6 (block_new)`,
      );
    } finally {
      await env.prisma.tenantLimitUsage.deleteMany({ where: { tenantId: t0.tenantId } });
    }
  });

  it('--fix corrects the drift, exits 0, and audits with actor cli', async () => {
    const t0 = tenants[0]!;
    const { code, stdout } = await cli(['--fix', '--tenant-id', t0.tenantId]);
    expect(code).toBe(EXIT_OK);
    expect(stdout).toMatch(/fix: applied/);
    expect(stdout).toMatch(/fixed: 1/);
    const audit = await env.prisma.featureAuditLog.findFirstOrThrow({
      where: { tenantId: t0.tenantId, actor: 'cli' },
    });
    expect(audit).toMatchObject({ source: 'sync', action: 'reconcile' });
    expect((await cli(['--limit', '3', '--json'])).code).toBe(EXIT_OK);
  });

  it('exit 1 when a tenant cannot be checked', async () => {
    const { code, stdout } = await cli(['--tenant-id', 'ghost']);
    expect(code).toBe(EXIT_DRIFT);
    expect(stdout).toMatch(/tenant ghost .*tenant_not_found/);
  });

  it('exit 2 on bad usage and on a broken configuration; --help is exit 0', async () => {
    for (const argv of [
      ['--limit', 'abc'],
      ['--limit', '0'],
      ['--bogus'],
      ['--tenant-id', 'a', '--limit', '2'],
      ['stray'],
      ['--tenant-id', '  '],
    ]) {
      const { code, stderr } = await cli(argv);
      expect({ argv, code }).toEqual({ argv, code: EXIT_USAGE });
      expect(stderr).not.toBe('');
    }
    expect((await cli(['--help'])).code).toBe(EXIT_OK);
    const noKey = await cli([], { context: undefined, env: {} });
    expect(noKey.code).toBe(EXIT_USAGE);
    expect(noKey.stderr).toMatch(/Configuration error: .*STRIPE_SECRET_KEY/);
  });

  it('runs on a context from createBillingContext (the wiring `npm run reconcile` uses) and closes it', async () => {
    let closed = false;
    const { code, stdout } = await cli(['--json'], {
      context: undefined,
      createContext: async () => {
        const ctx = await createBillingContext({
          env: {
            STRIPE_SECRET_KEY: env.emu.apiKey,
            STRIPE_API_BASE: env.emu.url,
            PAYMENT_GRACE_PERIOD_DAYS: '3',
          },
          database: env.db,
        });
        return {
          ...ctx,
          close: async () => {
            closed = true;
            await ctx.close();
          },
        };
      },
    });
    expect(code).toBe(EXIT_OK);
    expect(JSON.parse(stdout)).toMatchObject({ checked: 8, inSync: 8, drift: [] });
    expect(closed).toBe(true);
  });
});
