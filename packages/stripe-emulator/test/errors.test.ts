import Stripe from 'stripe';
import { describe, expect, it } from 'vitest';
import { client, useEmulator } from './support.js';

const { emu, stripe } = await useEmulator({ apiKey: 'sk_test_errors_suite_key' });

async function raw(path: string, init: RequestInit = {}) {
  const res = await fetch(`${emu.url}${path}`, init);
  return {
    status: res.status,
    headers: res.headers,
    body: (await res.json()) as { error: Record<string, unknown> },
  };
}

describe('errors', () => {
  it('401 for a wrong or missing API key, in Stripe shape', async () => {
    const bad = client(emu, { apiKey: 'sk_test_wrongwrongwrong1234' });
    const err = await bad.products.list().catch((e: unknown) => e);
    expect(err).toBeInstanceOf(Stripe.errors.StripeAuthenticationError);
    expect(err).toMatchObject({ statusCode: 401, type: 'StripeAuthenticationError' });
    expect((err as Stripe.errors.StripeError).message).toMatch(/^Invalid API Key provided: sk_test_\*+1234$/);

    const missing = await raw('/v1/products');
    expect(missing.status).toBe(401);
    expect(missing.body.error).toMatchObject({ type: 'invalid_request_error' });
    expect(String(missing.body.error.message)).toContain('You did not provide an API key');
  });

  it('404 resource_missing with param id for unknown objects', async () => {
    for (const call of [
      () => stripe.products.retrieve('prod_missing'),
      () => stripe.prices.retrieve('price_missing'),
      () => stripe.customers.retrieve('cus_missing'),
      () => stripe.subscriptions.retrieve('sub_missing'),
      () => stripe.subscriptions.cancel('sub_missing'),
      () => stripe.checkout.sessions.retrieve('cs_test_missing'),
      () => stripe.events.retrieve('evt_missing'),
      () => stripe.invoices.retrieve('in_missing'),
    ]) {
      const err = (await call().catch((e: unknown) => e)) as Stripe.errors.StripeError;
      expect(err).toBeInstanceOf(Stripe.errors.StripeInvalidRequestError);
      expect(err).toMatchObject({ statusCode: 404, code: 'resource_missing', param: 'id' });
      expect(err.message).toMatch(/^No such [a-z. ]+: '[a-z_]+missing'$/);
      expect(err.requestId).toMatch(/^req_/);
    }
  });

  it('400 with the offending param', async () => {
    const product = await stripe.products.create({ name: 'X' });
    const cases: Array<[() => Promise<unknown>, string]> = [
      [() => stripe.products.create({} as Stripe.ProductCreateParams), 'name'],
      [
        () => stripe.prices.create({ product: product.id, unit_amount: 1 } as Stripe.PriceCreateParams),
        'currency',
      ],
      [() => stripe.prices.create({ currency: 'usd', unit_amount: 1 }), 'product'],
      [() => stripe.prices.create({ currency: 'usd', unit_amount: 1, product: 'prod_nope' }), 'product'],
      [
        () =>
          stripe.prices.create({
            currency: 'usd',
            unit_amount: 1,
            product: product.id,
            recurring: { interval: 'fortnight' as 'week' },
          }),
        'recurring[interval]',
      ],
      [() => stripe.products.list({ limit: 101 }), 'limit'],
      [() => stripe.products.list({ limit: 0 }), 'limit'],
      [() => stripe.products.list({ starting_after: 'prod_nope' }), 'starting_after'],
      [() => stripe.subscriptions.list({ status: 'bogus' as 'active' }), 'status'],
    ];
    for (const [call, param] of cases) {
      const err = (await call().catch((e: unknown) => e)) as Stripe.errors.StripeError;
      expect(err, param).toBeInstanceOf(Stripe.errors.StripeInvalidRequestError);
      expect(err, param).toMatchObject({ statusCode: 400, param });
    }
    const raw400 = await raw('/v1/prices', {
      method: 'POST',
      headers: { Authorization: `Bearer ${emu.apiKey}`, 'Content-Type': 'application/x-www-form-urlencoded' },
      body: `product=${product.id}&unit_amount=1`,
    });
    expect(raw400.body).toEqual({
      error: {
        type: 'invalid_request_error',
        code: 'parameter_missing',
        doc_url: 'https://stripe.com/docs/error-codes/parameter-missing',
        message: 'Missing required param: currency.',
        param: 'currency',
      },
    });
  });

  it('404 for unknown endpoints', async () => {
    const res = await raw('/v1/nonsense', { headers: { Authorization: `Bearer ${emu.apiKey}` } });
    expect(res.status).toBe(404);
    expect(String(res.body.error.message)).toContain('Unrecognized request URL (GET: /v1/nonsense)');
  });
});

describe('idempotency', () => {
  it('replays the stored response for the same key and params, creating nothing', async () => {
    const first = await stripe.customers.create({ email: 'x@y.z' }, { idempotencyKey: 'key-1' });
    const second = await stripe.customers.create({ email: 'x@y.z' }, { idempotencyKey: 'key-1' });
    expect(second.id).toBe(first.id);
    expect(second.lastResponse.headers['idempotent-replayed']).toBe('true');
    expect(first.lastResponse.headers['idempotent-replayed']).toBeUndefined();
    expect((await stripe.customers.list()).data).toHaveLength(1);
    expect(emu.events().filter((e) => e.type === 'customer.created')).toHaveLength(1);
  });

  it('rejects the same key with different params or endpoint', async () => {
    await stripe.customers.create({ email: 'x@y.z' }, { idempotencyKey: 'key-2' });
    const err = (await stripe.customers
      .create({ email: 'other@y.z' }, { idempotencyKey: 'key-2' })
      .catch((e: unknown) => e)) as Stripe.errors.StripeError;
    expect(err).toBeInstanceOf(Stripe.errors.StripeIdempotencyError);
    expect(err.statusCode).toBe(400);
    expect(err.message).toBe(
      "Keys for idempotent requests can only be used with the same parameters they were first used with. Try using a key other than 'key-2' if you meant to execute a different request.",
    );
    await expect(stripe.products.create({ name: 'P' }, { idempotencyKey: 'key-2' })).rejects.toBeInstanceOf(
      Stripe.errors.StripeIdempotencyError,
    );
    expect((await stripe.customers.list()).data).toHaveLength(1);
  });

  it('scopes keys per API key and does not store failures', async () => {
    await expect(
      stripe.products.create({} as Stripe.ProductCreateParams, { idempotencyKey: 'key-3' }),
    ).rejects.toThrow();
    const ok = await stripe.products.create({ name: 'Now valid' }, { idempotencyKey: 'key-3' });
    expect(ok.name).toBe('Now valid');
  });
});
