import { describe, expect, it } from 'vitest';
import { makePlan, useEmulator } from './support.js';

const { emu, stripe } = await useEmulator();

/** The control endpoint other processes (the billing bench) seed through. */
async function seedOverHttp(
  body: unknown,
): Promise<{ status: number; json: { data?: unknown; error?: { message: string } } }> {
  const response = await fetch(`${emu.url}/_emulator/customers`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify(body),
  });
  return { status: response.status, json: (await response.json()) as { data?: unknown } };
}

describe('bulk seeding (seedCustomers, POST /_emulator/customers)', () => {
  it('creates what customers.create + subscriptions.create would, as the SDK reads them back', async () => {
    const basic = await makePlan(stripe, 'Basic', 500);
    const addon = await makePlan(stripe, 'Addon', 100);
    const [seeded] = emu.seedCustomers([
      {
        name: 'Tenant 1',
        email: 't1@example.test',
        metadata: { tenantId: 't1' },
        subscription: {
          items: [{ price: basic.price.id }, { price: addon.price.id, quantity: 3 }],
          metadata: { tenantId: 't1' },
        },
      },
    ]);
    const viaApi = await stripe.customers.create({ name: 'Tenant 2', metadata: { tenantId: 't2' } });
    const subViaApi = await stripe.subscriptions.create({
      customer: viaApi.id,
      items: [{ price: basic.price.id }, { price: addon.price.id, quantity: 3 }],
      metadata: { tenantId: 't2' },
    });

    const customer = await stripe.customers.retrieve(seeded!.customer);
    expect(customer).toMatchObject({
      name: 'Tenant 1',
      email: 't1@example.test',
      metadata: { tenantId: 't1' },
    });
    const sub = await stripe.subscriptions.retrieve(seeded!.subscription!);
    expect(sub).toMatchObject({ customer: seeded!.customer, status: 'active', metadata: { tenantId: 't1' } });
    expect(sub.items.data.map((i) => [i.price.id, i.quantity])).toEqual([
      [basic.price.id, 1],
      [addon.price.id, 3],
    ]);
    // Field for field the API's object, but for the ids and instants.
    const shape = (o: object) => Object.keys(o).sort();
    expect(shape(sub)).toEqual(shape(subViaApi));
    expect(shape(sub.items.data[0]!)).toEqual(shape(subViaApi.items.data[0]!));
    // Lists see seeded objects as any other, newest first.
    const listed = await stripe.subscriptions.list({ status: 'all', limit: 10 });
    expect(listed.data.map((s) => s.id)).toEqual([subViaApi.id, sub.id]);
    const ofCustomer = await stripe.subscriptions.list({ customer: seeded!.customer });
    expect(ofCustomer.data.map((s) => s.id)).toEqual([sub.id]);
  });

  it('keeps the events unless told not to', async () => {
    const basic = await makePlan(stripe, 'Basic', 500);
    const before = emu.events().length;
    emu.seedCustomers([{ name: 'Quiet', subscription: { items: [{ price: basic.price.id }] } }], {
      events: false,
    });
    expect(emu.events().length).toBe(before);
    const [loud] = emu.seedCustomers([
      { name: 'Loud', subscription: { items: [{ price: basic.price.id }] } },
    ]);
    expect(
      emu
        .events()
        .slice(before)
        .map((e) => [e.type, (e.data.object as { id: string }).id]),
    ).toEqual([
      ['customer.created', loud!.customer],
      ['customer.subscription.created', loud!.subscription],
    ]);
  });

  it('spreads created over seconds with perSecond, the clock staying in order', async () => {
    const basic = await makePlan(stripe, 'Basic', 500);
    const seeded = emu.seedCustomers(
      Array.from({ length: 5 }, () => ({ subscription: { items: [{ price: basic.price.id }] } })),
      { events: false, perSecond: 2 },
    );
    const created = await Promise.all(
      seeded.map(async (s) => (await stripe.subscriptions.retrieve(s.subscription!)).created),
    );
    expect(created[2]! - created[1]!).toBeGreaterThanOrEqual(1);
    expect(created[4]! - created[3]!).toBeGreaterThanOrEqual(1);
    expect([...created].sort((a, b) => a - b)).toEqual(created);
    const later = await stripe.subscriptions.create({
      customer: seeded[0]!.customer,
      items: [{ price: basic.price.id }],
    });
    expect(later.created).toBeGreaterThanOrEqual(created[4]!);
    const newest = await stripe.subscriptions.list({ created: { gte: created[4]! }, limit: 10 });
    expect(newest.data.map((s) => s.id)).toEqual([later.id, seeded[4]!.subscription]);
    expect(() => emu.seedCustomers([], { perSecond: 0 })).toThrow(/perSecond/);
  });

  it('over HTTP: seeds in one request, and names the first invalid entry', async () => {
    const basic = await makePlan(stripe, 'Basic', 500);
    const ok = await seedOverHttp({
      customers: [
        { name: 'A', subscription: { items: [{ price: basic.price.id }] } },
        { name: 'B (no subscription)' },
      ],
      events: false,
    });
    expect(ok.status).toBe(200);
    const data = ok.json.data as Array<{ customer: string; subscription: string | null }>;
    expect(data).toHaveLength(2);
    expect(data[1]!.subscription).toBeNull();
    expect((await stripe.subscriptions.retrieve(data[0]!.subscription!)).customer).toBe(data[0]!.customer);

    const bad = await seedOverHttp({
      customers: [
        { name: 'C', subscription: { items: [{ price: basic.price.id }] } },
        { name: 'D', subscription: { items: [{ price: 'price_missing' }] } },
      ],
    });
    expect(bad.status).toBe(400);
    expect(bad.json.error?.message).toBe("customers[1]: No such price: 'price_missing'");
    expect((await seedOverHttp({ customers: 'nope' })).status).toBe(400);
  });

  it('reports object counts and memory', async () => {
    const basic = await makePlan(stripe, 'Basic', 500);
    emu.seedCustomers([{ subscription: { items: [{ price: basic.price.id }] } }], { events: false });
    const stats = (await (await fetch(`${emu.url}/_emulator/stats`)).json()) as {
      objects: Record<string, number>;
      rssBytes: number;
      cpuMs: number;
    };
    expect(stats.objects).toMatchObject({ customers: 1, subscriptions: 1 });
    expect(stats.rssBytes).toBeGreaterThan(0);
    expect(stats.cpuMs).toBeGreaterThan(0);
  });
});
