import { describe, expect, it } from 'vitest';
import {
  addFeature,
  clearFeatureOverride,
  createTenant,
  CustomerAlreadyLinkedError,
  deleteTenant,
  deprecateFeature,
  DeprecatedFeatureError,
  describeFeature,
  FeatureAlreadyExistsError,
  FeatureNotFoundError,
  linkStripeCustomer,
  listFeatures,
  listTenants,
  renameTenant,
  setFeatureOverride,
  setFeatureRules,
  TenantAlreadyExistsError,
  TenantNotFoundError,
  UnknownFeatureError,
  unlinkStripeCustomer,
  ValidationError,
} from '../src/index.js';
import { ADMIN_TOKEN, bearer, TENANT_A_TOKEN } from './admin-helpers.js';
import { seedPlans } from './helpers/fixtures.js';
import { useAdminApp, useAdminTestEnv } from './helpers/use-env.js';

const env = await useAdminTestEnv();
const plans = await seedPlans(env.stripe);
await createTenant(env.prisma, { id: 'mg-a', name: 'A' });
await createTenant(env.prisma, { id: 'mg-b', name: 'B' });
const app = await useAdminApp(env, 'mg-a', 'mg-b');

const auditRows = (tenantId: string) =>
  env.prisma.featureAuditLog.findMany({ where: { tenantId }, orderBy: { id: 'asc' } });

/** Runs `fn`, expects it to throw `type`, and checks no tenant, config, audit or catalog row changed. */
async function refusesWithoutWriting(fn: () => Promise<unknown>, type: new (...a: never[]) => Error) {
  const count = async () =>
    Promise.all([
      env.prisma.tenant.count(),
      env.prisma.featureAuditLog.count(),
      env.prisma.featureCatalog.count(),
      env.prisma.featureCatalogAuditLog.count(),
      env.prisma.tenantFeatureConfig.findMany({ orderBy: { tenantId: 'asc' } }),
    ]);
  const before = await count();
  await expect(fn()).rejects.toBeInstanceOf(type);
  expect(await count()).toEqual(before);
}

describe('feature catalog management', () => {
  it('adds namespaced camelCase and snake_case keys, audited', async () => {
    const added = await addFeature(
      env.prisma,
      { key: 'platform.whiteLabel', type: 'boolean', description: 'Remove our branding' },
      { actor: 'test' },
    );
    expect(added).toMatchObject({ key: 'platform.whiteLabel', type: 'boolean', deprecatedAt: null });
    await addFeature(env.prisma, { key: 'google.max_locations', type: 'number', description: 'Locations' });
    const keys = (await listFeatures(env.prisma)).map((f) => f.key);
    expect(keys).toContain('platform.whiteLabel');
    expect(keys).toContain('max_users');
    const audit = await env.prisma.featureCatalogAuditLog.findMany({ where: { key: 'platform.whiteLabel' } });
    expect(audit).toMatchObject([{ actor: 'test', source: 'admin', action: 'feature_added', before: null }]);
  });

  it('refuses malformed keys, types and descriptions, and duplicates (also by case), writing nothing', async () => {
    for (const key of ['platform..x', '.x', 'x.', '1abc', 'a-b', 'a.1b', 'constructor', 'a'.repeat(65), ''])
      await refusesWithoutWriting(
        () => addFeature(env.prisma, { key, type: 'boolean', description: 'd' }),
        ValidationError,
      );
    await refusesWithoutWriting(
      () => addFeature(env.prisma, { key: 'ok.key', type: 'string' as never, description: 'd' }),
      ValidationError,
    );
    await refusesWithoutWriting(
      () => addFeature(env.prisma, { key: 'ok.key', type: 'boolean', description: '  ' }),
      ValidationError,
    );
    await refusesWithoutWriting(
      () => addFeature(env.prisma, { key: 'platform.whiteLabel', type: 'boolean', description: 'd' }),
      FeatureAlreadyExistsError,
    );
    await refusesWithoutWriting(
      () => addFeature(env.prisma, { key: 'platform.whitelabel', type: 'boolean', description: 'd' }),
      FeatureAlreadyExistsError,
    );
  });

  it('changes descriptions and deprecates; unknown keys are FeatureNotFoundError', async () => {
    const described = await describeFeature(env.prisma, 'google.max_locations', 'Google locations');
    expect(described.description).toBe('Google locations');
    await refusesWithoutWriting(() => describeFeature(env.prisma, 'nope.key', 'x'), FeatureNotFoundError);
    await refusesWithoutWriting(() => deprecateFeature(env.prisma, 'nope.key'), FeatureNotFoundError);
    const actions = await env.prisma.featureCatalogAuditLog.findMany({
      where: { key: 'google.max_locations' },
    });
    expect(actions.map((a) => a.action)).toEqual(['feature_added', 'feature_described']);
  });
});

describe('feature catalog rules (combine, over limit)', () => {
  it('adds a number key with its rules; changes them later, audited; defaults are max and block_new', async () => {
    const added = await addFeature(
      env.prisma,
      {
        key: 'addon.projects',
        type: 'number',
        description: 'Projects',
        combine: 'sum',
        overLimit: 'grace:7',
      },
      { actor: 'test' },
    );
    expect(added).toMatchObject({ combine: 'sum', overLimit: 'grace:7' });
    const plain = await addFeature(env.prisma, { key: 'addon.plain', type: 'number', description: 'P' });
    expect(plain).toMatchObject({ combine: 'max', overLimit: 'block_new' });
    const changed = await setFeatureRules(env.prisma, 'addon.projects', { overLimit: 'allow' });
    expect(changed).toMatchObject({ combine: 'sum', overLimit: 'allow' });
    // The same rules again change nothing and leave no audit row.
    await setFeatureRules(env.prisma, 'addon.projects', { combine: 'sum' });
    const audit = await env.prisma.featureCatalogAuditLog.findMany({
      where: { key: 'addon.projects' },
      orderBy: { id: 'asc' },
    });
    expect(audit.map((a) => [a.action, (a.after as { overLimit: string }).overLimit])).toEqual([
      ['feature_added', 'grace:7'],
      ['feature_rules_changed', 'allow'],
    ]);
  });

  it('refuses bad rules and rules on boolean keys, writing nothing', async () => {
    for (const overLimit of ['grace:0', 'grace:366', 'grace:x', 'block', ''])
      await refusesWithoutWriting(
        () =>
          addFeature(env.prisma, {
            key: 'addon.bad',
            type: 'number',
            description: 'd',
            overLimit: overLimit as never,
          }),
        ValidationError,
      );
    await refusesWithoutWriting(
      () =>
        addFeature(env.prisma, {
          key: 'addon.bad',
          type: 'number',
          description: 'd',
          combine: 'min' as never,
        }),
      ValidationError,
    );
    await refusesWithoutWriting(
      () => addFeature(env.prisma, { key: 'addon.flag', type: 'boolean', description: 'd', combine: 'sum' }),
      ValidationError,
    );
    await refusesWithoutWriting(
      () => setFeatureRules(env.prisma, 'sso', { overLimit: 'allow' }),
      ValidationError,
    );
    await refusesWithoutWriting(
      () => setFeatureRules(env.prisma, 'nope.key', { combine: 'sum' }),
      FeatureNotFoundError,
    );
  });
});

describe('tenant management', () => {
  it('creates, renames, links and unlinks, each audited', async () => {
    const customer = await env.stripe.customers.create({ name: 'c1' });
    await createTenant(env.prisma, { id: 'mg-t1', name: 'T1' }, { actor: 'ops' });
    await renameTenant(env.prisma, 'mg-t1', 'T1 renamed', { actor: 'ops' });
    await linkStripeCustomer(env.prisma, 'mg-t1', customer.id, { actor: 'ops' });
    await unlinkStripeCustomer(env.prisma, 'mg-t1', { actor: 'ops' });
    const rows = await auditRows('mg-t1');
    expect(rows.map((r) => [r.action, r.before, r.after])).toEqual([
      ['tenant_created', null, { name: 'T1', stripeCustomerId: null }],
      [
        'tenant_renamed',
        { name: 'T1', stripeCustomerId: null },
        { name: 'T1 renamed', stripeCustomerId: null },
      ],
      [
        'stripe_customer_linked',
        { name: 'T1 renamed', stripeCustomerId: null },
        { name: 'T1 renamed', stripeCustomerId: customer.id },
      ],
      [
        'stripe_customer_unlinked',
        { name: 'T1 renamed', stripeCustomerId: customer.id },
        { name: 'T1 renamed', stripeCustomerId: null },
      ],
    ]);
  });

  it('refuses duplicates, a customer linked elsewhere, bad ids and missing tenants, writing nothing', async () => {
    const customer = await env.stripe.customers.create({ name: 'c2' });
    await createTenant(env.prisma, { id: 'mg-t2', name: 'T2', stripeCustomerId: customer.id });
    await refusesWithoutWriting(
      () => createTenant(env.prisma, { id: 'mg-t2', name: 'again' }),
      TenantAlreadyExistsError,
    );
    await refusesWithoutWriting(
      () => linkStripeCustomer(env.prisma, 'mg-a', customer.id),
      CustomerAlreadyLinkedError,
    );
    await refusesWithoutWriting(
      () => createTenant(env.prisma, { id: 'mg-t3', name: 'T3', stripeCustomerId: customer.id }),
      CustomerAlreadyLinkedError,
    );
    await refusesWithoutWriting(() => createTenant(env.prisma, { id: 'bad id', name: 'x' }), ValidationError);
    await refusesWithoutWriting(() => linkStripeCustomer(env.prisma, 'mg-a', 'nope'), ValidationError);
    await refusesWithoutWriting(() => deleteTenant(env.prisma, 'mg-missing'), TenantNotFoundError);
    await refusesWithoutWriting(() => renameTenant(env.prisma, 'mg-missing', 'x'), TenantNotFoundError);
  });

  it('deletes a tenant with its config and custom plans; the audit of the deletion survives', async () => {
    await createTenant(env.prisma, { id: 'mg-del', name: 'Doomed' });
    await setFeatureOverride(env.prisma, 'mg-del', 'sso', true);
    expect(await env.featureSync.isFeatureEnabled('mg-del', 'sso')).toBe(true);
    await deleteTenant(env.prisma, 'mg-del', { actor: 'ops', featureReader: env.featureSync.reader });
    expect(await env.prisma.tenant.findUnique({ where: { id: 'mg-del' } })).toBeNull();
    expect(await env.prisma.tenantFeatureConfig.findUnique({ where: { tenantId: 'mg-del' } })).toBeNull();
    expect(await env.featureSync.isFeatureEnabled('mg-del', 'sso')).toBe(false);
    const last = (await auditRows('mg-del')).at(-1)!;
    expect(last).toMatchObject({ action: 'tenant_deleted', actor: 'ops', after: null });
    expect(last.before).toMatchObject({ name: 'Doomed', features: { sso: true }, overrides: { sso: true } });
  });

  it('lists with cursor pagination and filters', async () => {
    for (const i of [1, 2, 3]) await createTenant(env.prisma, { id: `mg-list-${i}`, name: `L${i}` });
    await env.featureSync.applyPlanDefaultsToTenant('mg-list-1', plans.pro.price.id);
    await env.featureSync.applyPlanDefaultsToTenant('mg-list-2', plans.starter.price.id);
    const seen: string[] = [];
    let cursor: string | undefined;
    do {
      const page = await listTenants(env.prisma, { limit: 2, ...(cursor ? { cursor } : {}) });
      expect(page.tenants.length).toBeLessThanOrEqual(2);
      seen.push(...page.tenants.map((t) => t.id));
      cursor = page.nextCursor ?? undefined;
    } while (cursor);
    expect(seen).toEqual([...seen].sort());
    expect(seen).toEqual(expect.arrayContaining(['mg-list-1', 'mg-list-2', 'mg-list-3']));
    const pro = await listTenants(env.prisma, { bundle: 'pro' });
    expect(pro.tenants.map((t) => t.id)).toEqual(['mg-list-1']);
    expect(
      (await listTenants(env.prisma, { plan: plans.starter.price.id })).tenants.map((t) => t.id),
    ).toEqual(['mg-list-2']);
    expect((await listTenants(env.prisma, { customPlan: true })).tenants).toEqual([]);
    expect((await listTenants(env.prisma, { accessActive: false })).tenants).toEqual([]);
    const future = new Date(Date.now() + 60_000);
    expect((await listTenants(env.prisma, { updatedSince: future })).tenants).toEqual([]);
    await expect(listTenants(env.prisma, { limit: 0 })).rejects.toBeInstanceOf(ValidationError);
  });
});

describe('tenant search', () => {
  it('matches %, _ and \\ literally, not as LIKE wildcards', async () => {
    await createTenant(env.prisma, { id: 'mg-like-a', name: '100% plain' });
    await createTenant(env.prisma, { id: 'mg-like-b', name: 'under_score' });
    await createTenant(env.prisma, { id: 'mg-like-c', name: 'underXscore' });
    await createTenant(env.prisma, { id: 'mg-like-d', name: 'back\\slash' });
    const found = async (search: string) =>
      (await listTenants(env.prisma, { search, limit: 100 })).tenants.map((t) => t.id);
    expect(await found('under_s')).toEqual(['mg-like-b']);
    expect(await found('0% P')).toEqual(['mg-like-a']);
    expect(await found('1%n')).toEqual([]);
    expect(await found('k\\s')).toEqual(['mg-like-d']);
    expect(await found('underxscore')).toEqual(['mg-like-c']);
  });
});

describe('manual overrides', () => {
  it('set and clear one feature; overrides survive plan changes as the merge strategies say', async () => {
    await createTenant(env.prisma, { id: 'mg-ov', name: 'Ov' });
    await env.featureSync.applyPlanDefaultsToTenant('mg-ov', plans.starter.price.id);
    const set = await setFeatureOverride(env.prisma, 'mg-ov', 'max_users', 77, {
      actor: 'ops',
      featureReader: env.featureSync.reader,
    });
    expect(set).toMatchObject({ changed: true, overrides: { max_users: 77 } });
    expect(set.features.max_users).toBe(77);
    expect((await env.featureSync.getTenantFeatures('mg-ov'))?.features.max_users).toBe(77);
    // merge keeps the override on top of the new plan
    await env.featureSync.applyPlanDefaultsToTenant('mg-ov', plans.pro.price.id, { mergeStrategy: 'merge' });
    expect((await env.featureSync.getTenantFeatures('mg-ov'))?.features).toMatchObject({
      max_users: 77,
      advanced_analytics: true,
    });
    // clearing falls back to the plan's value
    const cleared = await clearFeatureOverride(env.prisma, 'mg-ov', 'max_users', {
      featureReader: env.featureSync.reader,
    });
    expect(cleared.overrides).toEqual({});
    expect(cleared.features.max_users).toBe(PLAN_MAX_USERS_PRO);
    expect((await clearFeatureOverride(env.prisma, 'mg-ov', 'max_users')).changed).toBe(false);
    // replace drops overrides
    await setFeatureOverride(env.prisma, 'mg-ov', 'white_label', true);
    await env.featureSync.applyPlanDefaultsToTenant('mg-ov', plans.pro.price.id, {
      mergeStrategy: 'replace',
      force: true,
    });
    const after = await env.prisma.tenantFeatureConfig.findUnique({ where: { tenantId: 'mg-ov' } });
    expect(after?.overrides).toEqual({});
    const actions = (await auditRows('mg-ov')).map((r) => r.action);
    expect(actions).toEqual(expect.arrayContaining(['override_set', 'override_cleared']));
  });

  it('refuses malformed, unknown and deprecated keys, wrong value types and missing tenants, writing nothing', async () => {
    await refusesWithoutWriting(
      () => setFeatureOverride(env.prisma, 'mg-a', 'bad..key', true),
      ValidationError,
    );
    await refusesWithoutWriting(
      () => setFeatureOverride(env.prisma, 'mg-a', 'sso_typo', true),
      UnknownFeatureError,
    );
    await refusesWithoutWriting(() => setFeatureOverride(env.prisma, 'mg-a', 'sso', 1), ValidationError);
    await refusesWithoutWriting(
      () => setFeatureOverride(env.prisma, 'mg-a', 'max_users', true),
      ValidationError,
    );
    await refusesWithoutWriting(
      () => setFeatureOverride(env.prisma, 'mg-missing', 'sso', true),
      TenantNotFoundError,
    );
    await addFeature(env.prisma, { key: 'legacy.flag', type: 'boolean', description: 'Old' });
    await setFeatureOverride(env.prisma, 'mg-a', 'legacy.flag', true);
    await deprecateFeature(env.prisma, 'legacy.flag');
    await refusesWithoutWriting(
      () => setFeatureOverride(env.prisma, 'mg-b', 'legacy.flag', true),
      DeprecatedFeatureError,
    );
    // Existing values stay readable, and clearing a deprecated override is allowed.
    expect(await env.featureSync.isFeatureEnabled('mg-a', 'legacy.flag')).toBe(true);
    expect(
      (await listFeatures(env.prisma)).find((f) => f.key === 'legacy.flag')?.deprecatedAt,
    ).toBeInstanceOf(Date);
    expect((await clearFeatureOverride(env.prisma, 'mg-a', 'legacy.flag')).changed).toBe(true);
  });
});

const PLAN_MAX_USERS_PRO = 30;

describe('admin API', () => {
  const admin = bearer(ADMIN_TOKEN);

  it('manages tenants, overrides and the catalog with an admin token; errors are typed', async () => {
    let res = await app.inject({
      method: 'POST',
      url: '/api/admin/features',
      headers: admin,
      payload: { key: 'google.reviews', type: 'boolean', description: 'Google reviews' },
    });
    expect(res.statusCode).toBe(201);
    res = await app.inject({
      method: 'POST',
      url: '/api/admin/features',
      headers: admin,
      payload: { key: 'google.reviews', type: 'boolean', description: 'again' },
    });
    expect([res.statusCode, res.json().error.code]).toEqual([409, 'feature_exists']);
    res = await app.inject({
      method: 'PATCH',
      url: '/api/admin/features/google.reviews',
      headers: admin,
      payload: { description: 'Reviews from Google' },
    });
    expect(res.json()).toMatchObject({ key: 'google.reviews', description: 'Reviews from Google' });
    res = await app.inject({
      method: 'PATCH',
      url: '/api/admin/features/nope.nope',
      headers: admin,
      payload: { description: 'x' },
    });
    expect([res.statusCode, res.json().error.code]).toEqual([404, 'feature_not_found']);
    res = await app.inject({
      method: 'POST',
      url: '/api/admin/features',
      headers: admin,
      payload: { key: 'google.locations', type: 'number', description: 'Locations', combine: 'sum' },
    });
    expect(res.json()).toMatchObject({ combine: 'sum', overLimit: 'block_new' });
    res = await app.inject({
      method: 'PATCH',
      url: '/api/admin/features/google.locations',
      headers: admin,
      payload: { overLimit: 'grace:14' },
    });
    expect(res.json()).toMatchObject({ description: 'Locations', combine: 'sum', overLimit: 'grace:14' });
    res = await app.inject({
      method: 'PATCH',
      url: '/api/admin/features/google.locations',
      headers: admin,
      payload: { overLimit: 'sometimes' },
    });
    expect([res.statusCode, res.json().error.code]).toEqual([400, 'validation_error']);
    res = await app.inject({ method: 'GET', url: '/api/admin/over-limits?tenantId=mg-a', headers: admin });
    expect([res.statusCode, res.json()]).toEqual([200, { overLimits: [] }]);
    res = await app.inject({ method: 'GET', url: '/api/admin/over-limits', headers: bearer(TENANT_A_TOKEN) });
    expect(res.statusCode).toBe(403);
    res = await app.inject({ method: 'GET', url: '/api/admin/features', headers: admin });
    expect(res.json().features.find((f: { key: string }) => f.key === 'google.locations')).toMatchObject({
      combine: 'sum',
      overLimit: 'grace:14',
    });

    res = await app.inject({
      method: 'POST',
      url: '/api/admin/tenants',
      headers: admin,
      payload: { id: 'mg-api', name: 'Api' },
    });
    expect(res.statusCode).toBe(201);
    res = await app.inject({
      method: 'POST',
      url: '/api/admin/tenants',
      headers: admin,
      payload: { id: 'mg-api', name: 'Api' },
    });
    expect([res.statusCode, res.json().error.code]).toEqual([409, 'tenant_exists']);
    res = await app.inject({
      method: 'PUT',
      url: '/api/admin/tenants/mg-api/overrides/google.reviews',
      headers: admin,
      payload: { value: true },
    });
    expect(res.json()).toMatchObject({ changed: true, features: { 'google.reviews': true } });
    expect(await env.featureSync.isFeatureEnabled('mg-api', 'google.reviews')).toBe(true);
    res = await app.inject({
      method: 'PUT',
      url: '/api/admin/tenants/mg-api/overrides/google.typo',
      headers: admin,
      payload: { value: true },
    });
    expect([res.statusCode, res.json().error.code]).toEqual([400, 'unknown_feature']);
    res = await app.inject({
      method: 'DELETE',
      url: '/api/admin/tenants/mg-api/overrides/google.reviews',
      headers: admin,
    });
    expect(res.json()).toMatchObject({ changed: true, overrides: {} });

    const customer = await env.stripe.customers.create({ name: 'api' });
    res = await app.inject({
      method: 'PUT',
      url: '/api/admin/tenants/mg-api/stripe-customer',
      headers: admin,
      payload: { stripeCustomerId: customer.id },
    });
    expect(res.json()).toMatchObject({ stripeCustomerId: customer.id });
    res = await app.inject({
      method: 'PUT',
      url: '/api/admin/tenants/mg-b/stripe-customer',
      headers: admin,
      payload: { stripeCustomerId: customer.id },
    });
    expect([res.statusCode, res.json().error.code]).toEqual([409, 'customer_already_linked']);
    res = await app.inject({ method: 'GET', url: '/api/admin/tenants?limit=1&cursor=mg-ap', headers: admin });
    expect(res.json().tenants.map((t: { id: string }) => t.id)).toEqual(['mg-api']);
    res = await app.inject({ method: 'GET', url: '/api/admin/tenants?access=maybe', headers: admin });
    expect(res.statusCode).toBe(400);
    res = await app.inject({ method: 'DELETE', url: '/api/admin/tenants/mg-api', headers: admin });
    expect(res.json()).toEqual({ tenantId: 'mg-api', deleted: true });
    res = await app.inject({ method: 'DELETE', url: '/api/admin/tenants/mg-api', headers: admin });
    expect([res.statusCode, res.json().error.code]).toEqual([404, 'tenant_not_found']);
    const last = (await auditRows('mg-api')).at(-1);
    expect(last).toMatchObject({ action: 'tenant_deleted', actor: 'admin:ops', source: 'admin' });
  });

  it('tenant tokens read only their own tenant and change nothing', async () => {
    const tenant = bearer(TENANT_A_TOKEN);
    expect(
      (await app.inject({ method: 'GET', url: '/api/admin/tenants/mg-a', headers: tenant })).statusCode,
    ).toBe(200);
    expect(
      (await app.inject({ method: 'GET', url: '/api/admin/tenants/mg-b', headers: tenant })).statusCode,
    ).toBe(403);
    for (const [method, url, payload] of [
      ['GET', '/api/admin/tenants', undefined],
      ['POST', '/api/admin/tenants', { id: 'x', name: 'x' }],
      ['PATCH', '/api/admin/tenants/mg-a', { name: 'x' }],
      ['DELETE', '/api/admin/tenants/mg-a', undefined],
      ['PUT', '/api/admin/tenants/mg-a/overrides/sso', { value: true }],
      ['GET', '/api/admin/features', undefined],
      ['POST', '/api/admin/features', { key: 'a.b', type: 'boolean', description: 'x' }],
    ] as const) {
      const res = await app.inject({ method, url, headers: tenant, ...(payload ? { payload } : {}) });
      expect([url, res.statusCode]).toEqual([url, 403]);
    }
    expect((await app.inject({ method: 'GET', url: '/api/admin/features' })).statusCode).toBe(401);
  });
});
