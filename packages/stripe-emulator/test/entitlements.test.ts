import type Stripe from 'stripe';
import { describe, expect, it } from 'vitest';
import { makePlan, useEmulator } from './support.js';

const { emu, stripe } = await useEmulator();

const SUMMARY = 'entitlements.active_entitlement_summary.updated';
const summaries = () => emu.events().filter((e) => e.type === SUMMARY);
const summaryOf = (e: Stripe.Event) => e.data.object as Stripe.Entitlements.ActiveEntitlementSummary;

describe('entitlements.features', () => {
  it('creates, retrieves, updates and lists features in Stripe wire format', async () => {
    const sso = await stripe.entitlements.features.create({
      lookup_key: 'sso',
      name: 'Single sign-on',
      metadata: { note: 'x' },
    });
    expect(sso.id).toMatch(/^feat_test_[A-Za-z0-9]{32}$/);
    expect(JSON.parse(JSON.stringify(sso))).toEqual({
      id: sso.id,
      object: 'entitlements.feature',
      active: true,
      livemode: false,
      lookup_key: 'sso',
      metadata: { note: 'x' },
      name: 'Single sign-on',
    });
    expect(await stripe.entitlements.features.retrieve(sso.id)).toMatchObject({ lookup_key: 'sso' });

    const updated = await stripe.entitlements.features.update(sso.id, {
      name: 'SSO',
      metadata: { note: '', value: '5' },
    });
    expect(updated).toMatchObject({ name: 'SSO', metadata: { value: '5' }, active: true });

    const users = await stripe.entitlements.features.create({ lookup_key: 'max_users', name: 'Users' });
    await stripe.entitlements.features.update(users.id, { active: false });
    const all = await stripe.entitlements.features.list();
    expect(all.url).toBe('/v1/entitlements/features');
    expect(all.data.map((f) => f.lookup_key)).toEqual(['max_users', 'sso']);
    expect((await stripe.entitlements.features.list({ archived: true })).data.map((f) => f.id)).toEqual([
      users.id,
    ]);
    expect((await stripe.entitlements.features.list({ archived: false })).data.map((f) => f.id)).toEqual([
      sso.id,
    ]);
    expect((await stripe.entitlements.features.list({ lookup_key: 'sso' })).data).toHaveLength(1);
  });

  it('paginates features with the SDK auto-pagination', async () => {
    const ids: string[] = [];
    for (let i = 0; i < 23; i++)
      ids.push((await stripe.entitlements.features.create({ lookup_key: `f${i}`, name: `F${i}` })).id);
    const page = await stripe.entitlements.features.list({ limit: 10 });
    expect(page.has_more).toBe(true);
    const seen = await stripe.entitlements.features.list({ limit: 10 }).autoPagingToArray({ limit: 100 });
    expect(seen.map((f) => f.id)).toEqual([...ids].reverse());
  });

  it('rejects a duplicate lookup_key, a missing name and an unknown id with Stripe errors', async () => {
    await stripe.entitlements.features.create({ lookup_key: 'sso', name: 'SSO' });
    await expect(
      stripe.entitlements.features.create({ lookup_key: 'sso', name: 'Again' }),
    ).rejects.toMatchObject({ statusCode: 400, code: 'resource_already_exists', param: 'lookup_key' });
    await expect(
      stripe.entitlements.features.create({ lookup_key: 'x' } as Stripe.Entitlements.FeatureCreateParams),
    ).rejects.toMatchObject({ statusCode: 400, code: 'parameter_missing', param: 'name' });
    await expect(stripe.entitlements.features.retrieve('feat_test_nope')).rejects.toMatchObject({
      statusCode: 404,
      code: 'resource_missing',
    });
  });
});

describe('product features', () => {
  it('attaches, lists, retrieves and detaches features of a product', async () => {
    const { product } = await makePlan(stripe, 'Pro', 1500);
    const sso = await stripe.entitlements.features.create({ lookup_key: 'sso', name: 'SSO' });
    const api = await stripe.entitlements.features.create({ lookup_key: 'api_access', name: 'API' });
    const a = await stripe.products.createFeature(product.id, { entitlement_feature: sso.id });
    expect(a.id).toMatch(/^prodft_/);
    expect(a).toMatchObject({
      object: 'product_feature',
      livemode: false,
      entitlement_feature: { id: sso.id, object: 'entitlements.feature', lookup_key: 'sso' },
    });
    const b = await stripe.products.createFeature(product.id, { entitlement_feature: api.id });
    const list = await stripe.products.listFeatures(product.id, { limit: 1 });
    expect(list).toMatchObject({
      object: 'list',
      url: `/v1/products/${product.id}/features`,
      has_more: true,
    });
    const all = await stripe.products.listFeatures(product.id).autoPagingToArray({ limit: 10 });
    expect(all.map((pf) => pf.id)).toEqual([b.id, a.id]);
    expect(await stripe.products.retrieveFeature(product.id, a.id)).toMatchObject({ id: a.id });

    const deleted = await stripe.products.deleteFeature(product.id, a.id);
    expect(deleted).toMatchObject({ id: a.id, object: 'product_feature', deleted: true });
    const left = await stripe.products.listFeatures(product.id);
    expect(left.data.map((pf) => pf.entitlement_feature.lookup_key)).toEqual(['api_access']);
  });

  it('refuses unknown products and features, archived features and double attachment', async () => {
    const { product } = await makePlan(stripe, 'Pro', 1500);
    const sso = await stripe.entitlements.features.create({ lookup_key: 'sso', name: 'SSO' });
    await expect(
      stripe.products.createFeature('prod_nope', { entitlement_feature: sso.id }),
    ).rejects.toMatchObject({ statusCode: 404, code: 'resource_missing' });
    await expect(
      stripe.products.createFeature(product.id, { entitlement_feature: 'feat_test_nope' }),
    ).rejects.toMatchObject({ statusCode: 400, param: 'entitlement_feature' });
    await stripe.products.createFeature(product.id, { entitlement_feature: sso.id });
    await expect(
      stripe.products.createFeature(product.id, { entitlement_feature: sso.id }),
    ).rejects.toMatchObject({ statusCode: 400, code: 'resource_already_exists' });
    const old = await stripe.entitlements.features.create({ lookup_key: 'old', name: 'Old' });
    await stripe.entitlements.features.update(old.id, { active: false });
    await expect(
      stripe.products.createFeature(product.id, { entitlement_feature: old.id }),
    ).rejects.toMatchObject({ statusCode: 400, message: expect.stringContaining('archived') });
    await expect(stripe.products.deleteFeature(product.id, 'prodft_nope')).rejects.toMatchObject({
      statusCode: 404,
    });
  });
});

describe('active entitlements and the summary event', () => {
  async function subscribedCustomer() {
    const { product, price } = await makePlan(stripe, 'Pro', 1500);
    const sso = await stripe.entitlements.features.create({ lookup_key: 'sso', name: 'SSO' });
    await stripe.products.createFeature(product.id, { entitlement_feature: sso.id });
    const customer = await stripe.customers.create({ email: 'a@b.test' });
    const sub = await stripe.subscriptions.create({ customer: customer.id, items: [{ price: price.id }] });
    return { product, price, sso, customer, sub };
  }

  it('derives active entitlements from subscriptions and announces each change once', async () => {
    const { product, sso, customer, sub } = await subscribedCustomer();
    const list = await stripe.entitlements.activeEntitlements.list({ customer: customer.id });
    expect(list.url).toBe('/v1/entitlements/active_entitlements');
    expect(list.data).toEqual([
      {
        id: expect.stringMatching(/^ent_test_/),
        object: 'entitlements.active_entitlement',
        feature: sso.id,
        livemode: false,
        lookup_key: 'sso',
      },
    ]);
    const one = await stripe.entitlements.activeEntitlements.retrieve(list.data[0]!.id, {
      expand: ['feature'],
    });
    expect(one.feature).toMatchObject({ id: sso.id, object: 'entitlements.feature' });

    const [created] = summaries();
    expect(summaryOf(created!)).toMatchObject({
      object: 'entitlements.active_entitlement_summary',
      customer: customer.id,
      livemode: false,
      entitlements: {
        object: 'list',
        has_more: false,
        data: [{ lookup_key: 'sso', feature: { id: sso.id } }],
      },
    });
    expect(created!.request?.id).toMatch(/^req_/);

    // Attaching a second feature changes the customer's set: one more summary, the old id kept.
    const api = await stripe.entitlements.features.create({ lookup_key: 'api_access', name: 'API' });
    await stripe.products.createFeature(product.id, { entitlement_feature: api.id });
    expect(summaries()).toHaveLength(2);
    const after = await stripe.entitlements.activeEntitlements.list({ customer: customer.id });
    expect(after.data.map((e) => e.lookup_key).sort()).toEqual(['api_access', 'sso']);
    expect(after.data.map((e) => e.id)).toContain(list.data[0]!.id);

    // A metadata-only change of a subscription changes no entitlement: no summary.
    await stripe.subscriptions.update(sub.id, { metadata: { a: 'b' } });
    expect(summaries()).toHaveLength(2);

    await stripe.subscriptions.cancel(sub.id);
    expect(summaries()).toHaveLength(3);
    expect(summaryOf(summaries()[2]!).entitlements.data).toEqual([]);
    expect((await stripe.entitlements.activeEntitlements.list({ customer: customer.id })).data).toEqual([]);
  });

  it('sends no summary on trial end or pause (Stripe does not), but does on an engine cancellation', async () => {
    const { price } = await subscribedCustomer();
    const customer = await stripe.customers.create({ email: 't@b.test' });
    const sub = await stripe.subscriptions.create({
      customer: customer.id,
      items: [{ price: price.id }],
      trial_period_days: 7,
    });
    const before = summaries().length;
    emu.setSubscriptionStatus(sub.id, 'active');
    emu.setSubscriptionStatus(sub.id, 'paused');
    expect(summaries()).toHaveLength(before);
    expect((await stripe.entitlements.activeEntitlements.list({ customer: customer.id })).data).toHaveLength(
      1,
    );
    emu.setSubscriptionStatus(sub.id, 'canceled');
    expect(summaries()).toHaveLength(before + 1);
  });

  it('truncates the summary at 10 entitlements while the list API pages through all of them', async () => {
    const { product, price } = await makePlan(stripe, 'Big', 1500);
    for (let i = 0; i < 12; i++) {
      const f = await stripe.entitlements.features.create({ lookup_key: `f${i}`, name: `F${i}` });
      await stripe.products.createFeature(product.id, { entitlement_feature: f.id });
    }
    const customer = await stripe.customers.create({ email: 'big@b.test' });
    await stripe.subscriptions.create({ customer: customer.id, items: [{ price: price.id }] });
    const summary = summaryOf(summaries().at(-1)!);
    expect(summary.entitlements.data).toHaveLength(10);
    expect(summary.entitlements.has_more).toBe(true);
    const all = await stripe.entitlements.activeEntitlements
      .list({ customer: customer.id, limit: 5 })
      .autoPagingToArray({ limit: 100 });
    expect(all).toHaveLength(12);
  });

  it('archiving a feature ends it for every customer; list needs a customer', async () => {
    const { sso, customer } = await subscribedCustomer();
    await stripe.entitlements.features.update(sso.id, { active: false });
    expect((await stripe.entitlements.activeEntitlements.list({ customer: customer.id })).data).toEqual([]);
    expect(summaryOf(summaries().at(-1)!).entitlements.data).toEqual([]);
    await expect(
      stripe.entitlements.activeEntitlements.list({} as Stripe.Entitlements.ActiveEntitlementListParams),
    ).rejects.toMatchObject({ statusCode: 400, param: 'customer' });
    await expect(stripe.entitlements.activeEntitlements.retrieve('ent_test_nope')).rejects.toMatchObject({
      statusCode: 404,
    });
  });
});
