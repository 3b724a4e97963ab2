import { describe, expect, it } from 'vitest';
import { PLAN_FIXTURES } from './helpers/fixtures.js';
import { useWebhookTestEnv } from './helpers/use-env.js';

const env = await useWebhookTestEnv();

async function nothingWritten(eventId: string, tenantId: string) {
  expect(await env.ledger(eventId)).toBeNull();
  expect(await env.state(tenantId)).toBeNull();
  expect(await env.audits(tenantId)).toEqual([]);
}

/** A created event for a new tenant, not delivered yet. */
async function pendingCreated(tenantId: string, link: 'column' | 'metadata' = 'column') {
  const customerId = await env.createCustomer(tenantId, { link });
  const sub = await env.subscribe(customerId, 'pro');
  return { customerId, sub, event: env.lastEvent('customer.subscription.created', sub.id) };
}

describe('signature and body checks', () => {
  it('rejects a signature made with another secret', async () => {
    const { event } = await pendingCreated('t_badsig');
    const res = await env.deliver(event, { secret: 'whsec_wrong' });
    expect(res.status).toBe(400);
    expect(res.json).toEqual({
      error: { code: 'invalid_signature', message: expect.stringContaining('signature') },
    });
    await nothingWritten(event.id, 't_badsig');
  });

  it('rejects a signature older than the tolerance', async () => {
    const { event } = await pendingCreated('t_expired');
    const res = await env.deliver(event, { timestamp: Math.floor(Date.now() / 1000) - 301 });
    expect(res.status).toBe(400);
    expect(res.json).toMatchObject({ error: { code: 'invalid_signature' } });
    await nothingWritten(event.id, 't_expired');
    // The same event, freshly signed, still goes through: nothing was claimed.
    expect((await env.deliver(event)).json).toMatchObject({ status: 'processed' });
  });

  it('rejects a missing signature header', async () => {
    const { event } = await pendingCreated('t_nosig');
    const res = await env.post(JSON.stringify(event));
    expect(res.status).toBe(400);
    expect(res.json).toMatchObject({
      error: { code: 'invalid_signature', message: expect.stringContaining('Missing') },
    });
    await nothingWritten(event.id, 't_nosig');
  });

  it('rejects a body that differs from what was signed', async () => {
    const { event } = await pendingCreated('t_tampered');
    const signed = JSON.stringify(event);
    const tampered = signed.replace(event.id, 'evt_forged');
    const res = await env.post(tampered, { 'stripe-signature': env.emu.signPayload(signed) });
    expect(res.status).toBe(400);
    expect(res.json).toMatchObject({ error: { code: 'invalid_signature' } });
    await nothingWritten(event.id, 't_tampered');
    expect(await env.ledger('evt_forged')).toBeNull();
  });

  it('rejects a correctly signed body that is not JSON', async () => {
    const body = '{"id": "evt_broken", "type": ';
    const res = await env.post(body, { 'stripe-signature': env.emu.signPayload(body) });
    expect(res.status).toBe(400);
    expect(res.json).toMatchObject({ error: { code: 'invalid_payload' } });
    expect(await env.prisma.processedStripeEvent.count({ where: { eventId: 'evt_broken' } })).toBe(0);
  });

  it('rejects a correctly signed JSON body that is not an event', async () => {
    const body = JSON.stringify({ id: 'evt_shapeless', object: 'event', data: {} });
    const res = await env.post(body, { 'stripe-signature': env.emu.signPayload(body) });
    expect(res.status).toBe(400);
    expect(res.json).toMatchObject({
      error: { code: 'invalid_payload', message: expect.stringContaining('type') },
    });
    expect(await env.ledger('evt_shapeless')).toBeNull();
  });
});

describe('failures while processing', () => {
  it('a Stripe 500 during the re-read writes nothing (500), keeps the event with its reason, and the retry applies once', async () => {
    // Linked through metadata, so the transaction has already claimed the event and written the
    // customer id onto the tenant when the re-read fails.
    const { customerId, event } = await pendingCreated('t_stripe_down', 'metadata');
    env.emu.injectFault({ status: 500, method: 'GET', path: '/v1/subscriptions', count: 1 });
    const failed = await env.deliver(event);
    expect(failed.status).toBe(500);
    expect(failed.json).toEqual({ error: { code: 'internal_error', message: expect.any(String) } });
    // Never lost: the inbox keeps the event, pending with a backoff and the reason.
    expect(await env.ledger(event.id)).toMatchObject({
      status: 'pending',
      processingAttempts: 1,
      lastError: expect.stringContaining('subscriptions.list'),
    });
    expect(await env.state('t_stripe_down')).toBeNull();
    expect(
      (await env.prisma.tenant.findUnique({ where: { id: 't_stripe_down' } }))?.stripeCustomerId,
    ).toBeNull();

    const retried = await env.deliver(event);
    expect(retried.json).toMatchObject({ status: 'processed', action: 'plan_applied' });
    expect((await env.prisma.tenant.findUnique({ where: { id: 't_stripe_down' } }))?.stripeCustomerId).toBe(
      customerId,
    );
    expect(await env.audits('t_stripe_down')).toHaveLength(1);
    // Two deliveries, two tries, applied once.
    expect(await env.ledger(event.id)).toMatchObject({
      status: 'processed',
      attempts: 2,
      processingAttempts: 2,
      lastError: null,
    });
    expect((await env.deliver(event)).json).toMatchObject({ status: 'duplicate' });
  });

  it('a database error in the write rolls back config, audit and the event’s outcome together', async () => {
    const customerId = await env.createCustomer('t_db_fail');
    const sub = await env.subscribe(customerId, 'starter');
    await env.deliver(env.lastEvent('customer.subscription.created', sub.id));
    const before = await env.state('t_db_fail');
    await env.stripe.subscriptions.update(sub.id, {
      items: [{ id: sub.items.data[0]!.id, price: env.plans.enterprise.price.id }],
    });
    const upgrade = env.lastEvent('customer.subscription.updated', sub.id);

    // A real constraint violation on the audit insert: it runs after the config row was updated.
    await env.prisma.$executeRawUnsafe(
      `ALTER TABLE feature_audit_logs ADD CONSTRAINT webhook_test_no_plan_change CHECK (action <> 'plan_changed') NOT VALID`,
    );
    try {
      const failed = await env.deliver(upgrade);
      expect(failed.status).toBe(500);
    } finally {
      await env.prisma.$executeRawUnsafe(
        `ALTER TABLE feature_audit_logs DROP CONSTRAINT webhook_test_no_plan_change`,
      );
    }
    expect(await env.state('t_db_fail')).toEqual(before);
    expect(await env.ledger(upgrade.id)).toMatchObject({
      status: 'pending',
      action: null,
      lastError: expect.stringContaining('webhook_test_no_plan_change'),
    });
    expect(env.logs.some((l) => l.line.includes('handled') && l.fields.eventId === upgrade.id)).toBe(false);

    const retried = await env.deliver(upgrade);
    expect(retried.json).toMatchObject({ status: 'processed', action: 'plan_changed' });
    expect(await env.state('t_db_fail')).toMatchObject({
      stripePriceId: env.plans.enterprise.price.id,
      features: PLAN_FIXTURES.enterprise.features,
      version: before!.version + 1,
    });
    expect((await env.audits('t_db_fail')).map((a) => a.action)).toEqual(['plan_applied', 'plan_changed']);
  });

  it('the emulator retries a 500 like Stripe does, and the event lands once', async () => {
    env.emu.setWebhookEndpoint(env.webhookUrl, { autoDeliver: true });
    try {
      env.emu.injectFault({ status: 503, method: 'GET', path: '/v1/subscriptions', count: 1 });
      const customerId = await env.createCustomer('t_auto_retry');
      const sub = await env.subscribe(customerId, 'enterprise');
      await env.emu.waitForDeliveries();
      const event = env.lastEvent('customer.subscription.created', sub.id);
      expect(await env.ledger(event.id)).toMatchObject({ status: 'processed', attempts: 2 });
      expect(await env.state('t_auto_retry')).toMatchObject({ features: PLAN_FIXTURES.enterprise.features });
      expect(await env.audits('t_auto_retry')).toHaveLength(1);
    } finally {
      env.emu.setWebhookEndpoint(env.webhookUrl, { autoDeliver: false });
      env.emu.clearFaults();
    }
  });
});
