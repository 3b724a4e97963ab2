import type Stripe from 'stripe';
import { describe, expect, it } from 'vitest';
import { API_VERSION } from '../src/index.js';
import { makePlan, useEmulator } from './support.js';
import StripeSdk from 'stripe';

const { emu, stripe } = await useEmulator();

describe('products', () => {
  it('pins the API version of the installed SDK', () => {
    expect(API_VERSION).toBe(StripeSdk.API_VERSION);
  });

  it('creates, retrieves, updates and lists with Stripe object shapes', async () => {
    const created = await stripe.products.create({ name: 'Pro', metadata: { plan: 'pro', tier: '2' } });
    expect(created).toMatchObject({
      object: 'product',
      name: 'Pro',
      active: true,
      livemode: false,
      default_price: null,
    });
    expect(created.id).toMatch(/^prod_[A-Za-z0-9]{14}$/);
    expect(created.lastResponse.requestId).toMatch(/^req_/);
    expect(created.lastResponse.apiVersion).toBe(API_VERSION);

    const updated = await stripe.products.update(created.id, {
      name: 'Pro+',
      metadata: { tier: '', extra: 'x' },
    });
    expect(updated.name).toBe('Pro+');
    expect(updated.metadata).toEqual({ plan: 'pro', extra: 'x' });
    expect(await stripe.products.retrieve(created.id)).toMatchObject({ name: 'Pro+' });

    await stripe.products.update(created.id, { active: false });
    const active = await stripe.products.list({ active: true });
    expect(active.data).toHaveLength(0);
    const inactive = await stripe.products.list({ active: false });
    expect(inactive.data.map((p) => p.id)).toEqual([created.id]);
  });

  it('filters by ids[] and lists newest first', async () => {
    const a = await stripe.products.create({ name: 'A' });
    const b = await stripe.products.create({ name: 'B' });
    const c = await stripe.products.create({ name: 'C' });
    const all = await stripe.products.list();
    expect(all).toMatchObject({ object: 'list', url: '/v1/products', has_more: false });
    expect(all.data.map((p) => p.name)).toEqual(['C', 'B', 'A']);
    const some = await stripe.products.list({ ids: [a.id, c.id] });
    expect(some.data.map((p) => p.id)).toEqual([c.id, a.id]);
    expect(b.created).toBeGreaterThanOrEqual(a.created);
  });

  it('paginates 250 products with limit 100 and auto-pagination, both directions', async () => {
    const ids: string[] = [];
    for (let i = 0; i < 250; i++) ids.push((await stripe.products.create({ name: `P${i}` })).id);
    const newestFirst = [...ids].reverse();

    const page1 = await stripe.products.list({ limit: 100 });
    expect(page1.data).toHaveLength(100);
    expect(page1.has_more).toBe(true);
    const page3 = await stripe.products.list({ limit: 100, starting_after: newestFirst[199] });
    expect(page3.data).toHaveLength(50);
    expect(page3.has_more).toBe(false);

    emu.resetRequestCounts();
    const seen: string[] = [];
    for await (const p of stripe.products.list({ limit: 100 })) seen.push(p.id);
    expect(seen).toEqual(newestFirst);
    expect(emu.requestCounts()['GET /v1/products']).toBe(3);

    const arr = await stripe.products.list({ limit: 7 }).autoPagingToArray({ limit: 30 });
    expect(arr.map((p) => p.id)).toEqual(newestFirst.slice(0, 30));

    // ending_before: the page just newer than the cursor, still newest-first.
    const before = await stripe.products.list({ limit: 3, ending_before: newestFirst[10] });
    expect(before.data.map((p) => p.id)).toEqual(newestFirst.slice(7, 10));
    expect(before.has_more).toBe(true);
    const first = await stripe.products.list({ limit: 5, ending_before: newestFirst[2] });
    expect(first.data.map((p) => p.id)).toEqual(newestFirst.slice(0, 2));
    expect(first.has_more).toBe(false);

    // Auto-pagination with ending_before walks toward newer objects.
    const backwards: string[] = [];
    for await (const p of stripe.products.list({ limit: 4, ending_before: newestFirst[9] }))
      backwards.push(p.id);
    expect(backwards).toEqual(newestFirst.slice(0, 9).reverse());
  });

  it('refuses to delete a product with prices but deletes an empty one', async () => {
    const { product } = await makePlan(stripe, 'Basic', 500);
    await expect(stripe.products.del(product.id)).rejects.toMatchObject({ statusCode: 400 });
    const empty = await stripe.products.create({ name: 'Empty' });
    expect(await stripe.products.del(empty.id)).toMatchObject({ id: empty.id, deleted: true });
    await expect(stripe.products.retrieve(empty.id)).rejects.toMatchObject({ statusCode: 404 });
  });

  it('creates a default price from default_price_data and expands it', async () => {
    const product = await stripe.products.create({
      name: 'Team',
      default_price_data: { currency: 'eur', unit_amount: 900, recurring: { interval: 'year' } },
      expand: ['default_price'],
    });
    const price = product.default_price as Stripe.Price;
    expect(price).toMatchObject({ object: 'price', currency: 'eur', unit_amount: 900, product: product.id });
    expect(price.recurring).toMatchObject({ interval: 'year', interval_count: 1, usage_type: 'licensed' });
    const listed = await stripe.products.list({ expand: ['data.default_price'] });
    expect((listed.data[0]!.default_price as Stripe.Price).id).toBe(price.id);
  });
});

describe('prices', () => {
  it('creates with product_data, filters by product/active/type/lookup_keys', async () => {
    const { product, price: monthly } = await makePlan(stripe, 'Pro', 1000, 'pro_monthly');
    expect(monthly).toMatchObject({ type: 'recurring', lookup_key: 'pro_monthly' });
    // Sent as the decimal string "1000"; the SDK turns it into a Decimal.
    expect(String(monthly.unit_amount_decimal)).toBe('1000');
    const oneTime = await stripe.prices.create({ product: product.id, unit_amount: 5000, currency: 'usd' });
    expect(oneTime.type).toBe('one_time');
    const inline = await stripe.prices.create({
      product_data: { name: 'Addon' },
      unit_amount: 200,
      currency: 'usd',
      recurring: { interval: 'month' },
      metadata: { feature: 'addon' },
    });
    const addon = await stripe.products.retrieve(inline.product as string);
    expect(addon.name).toBe('Addon');

    expect((await stripe.prices.list({ product: product.id })).data.map((p) => p.id)).toEqual([
      oneTime.id,
      monthly.id,
    ]);
    expect((await stripe.prices.list({ type: 'one_time' })).data.map((p) => p.id)).toEqual([oneTime.id]);
    expect(
      (await stripe.prices.list({ lookup_keys: ['pro_monthly', 'nope'] })).data.map((p) => p.id),
    ).toEqual([monthly.id]);

    await stripe.prices.update(oneTime.id, { active: false, metadata: { retired: 'yes' } });
    expect((await stripe.prices.list({ active: true })).data.map((p) => p.id)).toEqual([
      inline.id,
      monthly.id,
    ]);

    const expanded = await stripe.prices.retrieve(monthly.id, { expand: ['product'] });
    expect((expanded.product as Stripe.Product).name).toBe('Pro');
  });

  it('enforces unique lookup keys unless transfer_lookup_key is set', async () => {
    const { product, price: v1 } = await makePlan(stripe, 'Pro', 1000, 'pro');
    await expect(
      stripe.prices.create({ product: product.id, unit_amount: 1200, currency: 'usd', lookup_key: 'pro' }),
    ).rejects.toMatchObject({ statusCode: 400, param: 'lookup_key' });
    const v2 = await stripe.prices.create({
      product: product.id,
      unit_amount: 1200,
      currency: 'usd',
      recurring: { interval: 'month' },
      lookup_key: 'pro',
      transfer_lookup_key: true,
    });
    expect((await stripe.prices.retrieve(v1.id)).lookup_key).toBeNull();
    expect((await stripe.prices.list({ lookup_keys: ['pro'] })).data.map((p) => p.id)).toEqual([v2.id]);
    const moved = emu.events().find((e) => e.type === 'price.updated');
    expect(moved?.data.previous_attributes).toEqual({ lookup_key: 'pro' });
  });
});

describe('customers', () => {
  it('creates, updates, filters by email, and deletes', async () => {
    const a = await stripe.customers.create({
      email: 'a@example.com',
      name: 'A',
      metadata: { tenant: 't1' },
    });
    await stripe.customers.create({ email: 'b@example.com' });
    expect(a.id).toMatch(/^cus_/);
    expect((await stripe.customers.list({ email: 'a@example.com' })).data.map((c) => c.id)).toEqual([a.id]);
    const updated = await stripe.customers.update(a.id, { name: 'A2' });
    expect(updated.name).toBe('A2');
    expect(emu.events().at(-1)).toMatchObject({
      type: 'customer.updated',
      data: { previous_attributes: { name: 'A' } },
    });

    expect(await stripe.customers.del(a.id)).toMatchObject({ id: a.id, object: 'customer', deleted: true });
    expect(await stripe.customers.retrieve(a.id)).toMatchObject({ id: a.id, deleted: true });
    expect((await stripe.customers.list()).data).toHaveLength(1);
    expect(emu.events().at(-1)).toMatchObject({
      type: 'customer.deleted',
      data: { object: { id: a.id, email: 'a@example.com' } },
    });
  });
});

describe('search', () => {
  it('supports metadata/field clauses with AND/OR and page tokens', async () => {
    for (let i = 0; i < 12; i++) {
      await stripe.customers.create({
        email: `u${i}@t.test`,
        metadata: { tenant_id: i % 2 ? 'odd' : 'even' },
      });
    }
    const even = await stripe.customers.search({ query: "metadata['tenant_id']:'even'", limit: 4 });
    expect(even).toMatchObject({ object: 'search_result', has_more: true });
    expect(even.data).toHaveLength(4);
    const all = await stripe.customers
      .search({ query: "metadata['tenant_id']:'even'", limit: 4 })
      .autoPagingToArray({ limit: 100 });
    expect(all.map((c) => c.email)).toEqual([
      'u10@t.test',
      'u8@t.test',
      'u6@t.test',
      'u4@t.test',
      'u2@t.test',
      'u0@t.test',
    ]);
    const either = await stripe.customers.search({ query: "email:'u1@t.test' OR email:'u2@t.test'" });
    expect(either.data.map((c) => c.email)).toEqual(['u2@t.test', 'u1@t.test']);
    const both = await stripe.customers.search({
      query: "email:'u1@t.test' AND metadata['tenant_id']:'even'",
    });
    expect(both.data).toHaveLength(0);
  });
});
