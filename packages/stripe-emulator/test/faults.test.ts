import Stripe from 'stripe';
import { describe, expect, it, vi } from 'vitest';
import { client, useEmulator } from './support.js';

const { emu, stripe } = await useEmulator();

describe('fault injection', () => {
  it('429 surfaces as StripeRateLimitError with Retry-After when retries are off', async () => {
    emu.injectFault({ status: 429, retryAfterSeconds: 7 });
    const err = (await stripe.products.list().catch((e: unknown) => e)) as Stripe.errors.StripeError;
    expect(err).toBeInstanceOf(Stripe.errors.StripeRateLimitError);
    expect(err).toMatchObject({ statusCode: 429, code: 'rate_limit' });
    expect(err.headers?.['retry-after']).toBe('7');
    // The fault is used up.
    expect((await stripe.products.list()).data).toEqual([]);
  });

  it('the SDK retries 429 (Stripe-Should-Retry) and 500 when maxNetworkRetries > 0', async () => {
    const retrying = client(emu, { maxNetworkRetries: 2 });
    emu.injectFault({ status: 429, count: 2, method: 'POST', path: '/v1/products' });
    const product = await retrying.products.create({ name: 'Eventually' });
    expect(product.name).toBe('Eventually');
    expect(emu.requestCounts()['POST /v1/products']).toBe(3);
    // Faulted attempts changed nothing: one product, one event.
    expect((await stripe.products.list()).data).toHaveLength(1);
    expect(emu.events()).toHaveLength(1);

    emu.injectFault({ status: 500, path: /^\/v1\/products\/[^/]+$/ });
    expect((await retrying.products.retrieve(product.id)).id).toBe(product.id);
    expect(emu.requestCounts()['GET /v1/products/:id']).toBe(2);

    emu.injectFault({ status: 503, count: 5 });
    await expect(retrying.customers.list()).rejects.toBeInstanceOf(Stripe.errors.StripeAPIError);
    expect(emu.requestCounts()['GET /v1/customers']).toBe(3);
  });

  it('500 is a StripeAPIError and is not retried with maxNetworkRetries 0', async () => {
    emu.injectFault({ status: 500, method: 'GET', path: '/v1/customers/:id' });
    const customer = await stripe.customers.create({ email: 'x@y.z' });
    const err = await stripe.customers.retrieve(customer.id).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(Stripe.errors.StripeAPIError);
    expect(err).toMatchObject({ statusCode: 500, type: 'StripeAPIError' });
    expect((await stripe.customers.retrieve(customer.id)).id).toBe(customer.id);
  });

  it('a retried POST keeps its idempotency key, so a fault never duplicates', async () => {
    const retrying = client(emu, { maxNetworkRetries: 1 });
    emu.injectFault({ status: 503, method: 'POST' });
    await retrying.customers.create({ email: 'once@y.z' });
    expect((await stripe.customers.list()).data).toHaveLength(1);
  });

  it('adds latency to matching requests', async () => {
    emu.injectLatency(600, { method: 'GET', path: '/v1/products' });
    const t = Date.now();
    const order: string[] = [];
    const slow = stripe.products.list().then(() => void order.push('products'));
    // Started later, unmatched: it does not wait out the latency (however slow this machine is).
    await stripe.customers.list();
    order.push('customers');
    await slow;
    expect(Date.now() - t).toBeGreaterThanOrEqual(590);
    expect(order).toEqual(['customers', 'products']);
    emu.clearFaults();
    // Cleared: a products list no longer waits behind a request that takes 600 ms.
    emu.injectLatency(600, { method: 'GET', path: '/v1/customers' });
    const after: string[] = [];
    const customers = stripe.customers.list().then(() => void after.push('customers'));
    await stripe.products.list();
    after.push('products');
    await customers;
    expect(after).toEqual(['products', 'customers']);
  });

  it('eachRequest: every distinct request meets the fault once, however many are in flight', async () => {
    emu.injectFault({ status: 429, eachRequest: true, path: '/v1/customers' });
    emu.injectFault({ status: 500, eachRequest: true, path: '/v1/customers' });
    const attempt = (limit: number) =>
      stripe.customers.list({ limit }).then(
        () => 200,
        (error: Stripe.errors.StripeError) => error.statusCode,
      );
    // Both first attempts reach the emulator together: each meets the 429 (a count of faults would
    // hand one the 429 and the other the 500).
    const hold = emu.holdRequests({ path: '/v1/customers' });
    const first = [attempt(1), attempt(2)];
    await vi.waitFor(() => expect(hold.held).toBe(2), { timeout: 10_000 });
    hold.release();
    expect(await Promise.all(first)).toEqual([429, 429]);
    expect(await Promise.all([attempt(1), attempt(2)])).toEqual([500, 500]);
    expect(await Promise.all([attempt(1), attempt(2)])).toEqual([200, 200]);
    // Another query is another request: it meets both again.
    expect(await attempt(3)).toBe(429);
    expect(emu.requestCounts()['GET /v1/customers']).toBe(7);
  });

  it('holds matching requests until released, counted on arrival', async () => {
    const hold = emu.holdRequests({ method: 'POST', path: '/v1/products' });
    let created = false;
    const creating = stripe.products.create({ name: 'Held' }).then((p) => {
      created = true;
      return p;
    });
    await expect.poll(() => hold.held, { timeout: 10_000 }).toBe(1);
    // Other requests pass while it waits.
    expect((await stripe.products.list()).data.map((p) => p.name)).not.toContain('Held');
    expect(created).toBe(false);
    expect(emu.requestCounts()['POST /v1/products']).toBe(1);
    hold.release();
    expect((await creating).name).toBe('Held');
    // Released: later requests are not held.
    expect((await stripe.products.create({ name: 'Free' })).name).toBe('Free');
    // clearFaults lets held requests go too.
    const again = emu.holdRequests({ method: 'POST', path: '/v1/products' });
    const late = stripe.products.create({ name: 'Late' });
    await expect.poll(() => again.held, { timeout: 10_000 }).toBe(1);
    emu.clearFaults();
    expect((await late).name).toBe('Late');
  });
});

describe('request counts', () => {
  it('counts per normalised endpoint, including faulted requests', async () => {
    const p = await stripe.products.create({ name: 'A' });
    await stripe.products.update(p.id, { name: 'B' });
    await stripe.products.retrieve(p.id);
    emu.injectFault({ status: 500 });
    await stripe.products.retrieve(p.id).catch(() => undefined);
    await stripe.checkout.sessions.retrieve('cs_test_missing').catch(() => undefined);
    expect(emu.requestCounts()).toEqual({
      total: 5,
      'POST /v1/products': 1,
      'POST /v1/products/:id': 1,
      'GET /v1/products/:id': 2,
      'GET /v1/checkout/sessions/:id': 1,
    });
    emu.resetRequestCounts();
    expect(emu.requestCounts()).toEqual({ total: 0 });
  });
});

describe('control endpoints', () => {
  it('exposes counts, faults, events and reset over HTTP', async () => {
    const control = (path: string, init: RequestInit = {}) =>
      fetch(`${emu.url}/_emulator${path}`, {
        ...init,
        headers: { 'Content-Type': 'application/json' },
      }).then(async (r) => ({ status: r.status, body: (await r.json()) as Record<string, unknown> }));

    await stripe.customers.create({ email: 'a@b.c' });
    expect((await control('/requests')).body).toMatchObject({ total: 1, 'POST /v1/customers': 1 });
    expect(((await control('/events')).body.data as unknown[]).length).toBe(1);

    await control('/faults', {
      method: 'POST',
      body: JSON.stringify({ status: 429, path: '/v1/customers', method: 'GET' }),
    });
    await expect(stripe.customers.list()).rejects.toBeInstanceOf(Stripe.errors.StripeRateLimitError);

    const sub = await control('/subscriptions/sub_missing/status', {
      method: 'POST',
      body: JSON.stringify({ status: 'active' }),
    });
    expect(sub.status).toBe(400);

    await control('/reset', { method: 'POST' });
    expect((await stripe.customers.list()).data).toHaveLength(0);
    expect((await control('/requests')).body).toEqual({ total: 1, 'GET /v1/customers': 1 });
  });
});
