import { Writable } from 'node:stream';
import Fastify from 'fastify';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parseBillingEnv } from '../src/entry/context.js';
import { billingPlugin, createFastifyGuards } from '../src/fastify.js';
import { createPrometheusMetrics } from '../src/index.js';
import { buildMetricsServer, buildServer } from '../src/server.js';
import { setupWebhookTestEnv, type WebhookTestEnv } from './webhook-helpers.js';

const ADMIN_TOKEN = 'admin-token-0123456789abcdef';
const TENANT_TOKEN = 'tenant-token-0123456789abcdef';

/** Fastify's pino writes JSON lines here, so the test reads exactly what an operator would. */
function logCapture() {
  const lines: Record<string, unknown>[] = [];
  const raw: string[] = [];
  const stream = new Writable({
    write(chunk: Buffer, _encoding, done) {
      for (const line of chunk.toString().split('\n').filter(Boolean)) {
        raw.push(line);
        lines.push(JSON.parse(line) as Record<string, unknown>);
      }
      done();
    },
  });
  return { lines, raw, stream };
}

describe('Fastify plugin, /metrics and logs', () => {
  let env: WebhookTestEnv;
  const prometheus = createPrometheusMetrics();

  beforeAll(async () => {
    env = await setupWebhookTestEnv({ handler: { metrics: prometheus.metrics } });
  });
  afterAll(async () => {
    await env?.close();
  });

  async function signedSubscriptionEvent(tenantId: string, plan: 'starter' | 'pro') {
    const customerId = await env.createCustomer(tenantId);
    const sub = await env.subscribe(customerId, plan);
    const event = env.lastEvent('customer.subscription.created', sub.id);
    const payload = JSON.stringify(event);
    const signature = env.stripe.webhooks.generateTestHeaderString({
      payload,
      secret: env.emu.webhookSecret,
    });
    return { payload, signature, eventId: event.id };
  }

  it('registers encapsulated in a host app: raw webhook body, JSON elsewhere, a feature route and guards', async () => {
    const app = Fastify();
    const resolveTenant = (request: { headers: Record<string, unknown> }) =>
      request.headers['x-tenant-id'] as string | undefined;
    await app.register(billingPlugin, {
      webhookHandler: env.handler,
      features: env.featureSync.reader,
      resolveTenant,
    });
    const guards = createFastifyGuards({ features: env.featureSync.reader, resolveTenant });
    app.post('/echo', async (request) => ({ body: request.body }));
    app.get('/sso', { preHandler: guards.requireFeature('sso') }, async () => ({ ok: true }));
    app.get('/api', { preHandler: guards.requireFeature('api_access') }, async () => ({ ok: true }));
    try {
      const { payload, signature } = await signedSubscriptionEvent('fy_acme', 'starter');
      const res = await app.inject({
        method: 'POST',
        url: '/api/stripe/webhook',
        headers: { 'content-type': 'application/json', 'stripe-signature': signature },
        payload,
      });
      expect(res.statusCode).toBe(200);
      expect(res.json()).toMatchObject({ status: 'processed', tenantId: 'fy_acme' });

      const missing = await app.inject({
        method: 'POST',
        url: '/api/stripe/webhook',
        headers: { 'content-type': 'application/json' },
        payload,
      });
      expect(missing.statusCode).toBe(400);
      expect(missing.json()).toEqual({
        error: { code: 'invalid_signature', message: 'Missing Stripe-Signature header' },
      });

      // The buffer parser stayed inside the plugin.
      const echo = await app.inject({ method: 'POST', url: '/echo', payload: { a: 1 } });
      expect(echo.json()).toEqual({ body: { a: 1 } });

      const headers = { 'x-tenant-id': 'fy_acme' };
      const features = await app.inject({ method: 'GET', url: '/api/billing/features', headers });
      expect(features.json()).toMatchObject({ tenantId: 'fy_acme', features: { api_access: true } });
      expect((await app.inject({ method: 'GET', url: '/api', headers })).statusCode).toBe(200);
      const denied = await app.inject({ method: 'GET', url: '/sso', headers });
      expect(denied.statusCode).toBe(403);
      expect(denied.json()).toEqual({
        error: {
          code: 'feature_not_enabled',
          message: 'Feature "sso" is not enabled for tenant "fy_acme"',
          feature: 'sso',
        },
      });
      const unknown = await app.inject({ method: 'GET', url: '/api', headers: { 'x-tenant-id': 'nobody' } });
      expect(unknown.statusCode).toBe(404);
      expect(unknown.json()).toMatchObject({ error: { code: 'tenant_not_found' } });
      const anonymous = await app.inject({ method: 'GET', url: '/api' });
      expect(anonymous.statusCode).toBe(401);
      expect(anonymous.json()).toMatchObject({ error: { code: 'tenant_not_resolved' } });
    } finally {
      await app.close();
    }
  });

  it('our server logs JSON with request id, Stripe event id and tenant id, and never a secret', async () => {
    const capture = logCapture();
    const app = await buildServer(
      { prisma: env.prisma, stripe: env.stripe, webhookHandler: env.handler, featureSync: env.featureSync },
      { logger: { level: 'info', stream: capture.stream } },
    );
    try {
      const { payload, signature, eventId } = await signedSubscriptionEvent('log_acme', 'starter');
      const res = await app.inject({
        method: 'POST',
        url: '/api/stripe/webhook',
        headers: {
          'content-type': 'application/json',
          'stripe-signature': signature,
          'x-request-id': 'req-from-proxy-1',
          authorization: `Bearer ${ADMIN_TOKEN}`,
        },
        payload,
      });
      expect(res.statusCode).toBe(200);
      const handled = capture.lines.find((l) => l.msg === 'stripe webhook handled');
      expect(handled).toMatchObject({
        reqId: 'req-from-proxy-1',
        stripeEventId: eventId,
        tenantId: 'log_acme',
        eventType: 'customer.subscription.created',
      });
      // A line that carries credentials the way a careless caller might.
      app.log.info(
        { headers: { authorization: `Bearer ${ADMIN_TOKEN}` }, token: { token: TENANT_TOKEN } },
        'careless',
      );
      const all = capture.raw.join('\n');
      expect(all).not.toContain(ADMIN_TOKEN);
      expect(all).not.toContain(TENANT_TOKEN);
      expect(all).not.toContain(signature);
      expect(capture.lines.find((l) => l.msg === 'careless')).toMatchObject({
        headers: { authorization: '[redacted]' },
      });
    } finally {
      await app.close();
    }
  });

  it('GET /metrics needs an admin token on the main server, none on a listener of its own', async () => {
    const auth = {
      tokens: [
        { name: 'ops', role: 'admin' as const, token: ADMIN_TOKEN },
        { name: 'acme', role: 'tenant' as const, tenantId: 'acme', token: TENANT_TOKEN },
      ],
    };
    const app = await buildServer({
      prisma: env.prisma,
      stripe: env.stripe,
      webhookHandler: env.handler,
      featureSync: env.featureSync,
      auth,
      metrics: prometheus.metrics,
      prometheus,
    });
    const separate = await buildMetricsServer(prometheus);
    try {
      const { payload, signature } = await signedSubscriptionEvent('metrics_acme', 'starter');
      await app.inject({
        method: 'POST',
        url: '/api/stripe/webhook',
        headers: { 'content-type': 'application/json', 'stripe-signature': signature },
        payload,
      });
      const anonymous = await app.inject({ method: 'GET', url: '/metrics' });
      expect(anonymous.statusCode).toBe(401);
      expect(anonymous.json()).toMatchObject({ error: { code: 'unauthorized' } });
      const tenant = await app.inject({
        method: 'GET',
        url: '/metrics',
        headers: { authorization: `Bearer ${TENANT_TOKEN}` },
      });
      expect(tenant.statusCode).toBe(401);
      const admin = await app.inject({
        method: 'GET',
        url: '/metrics',
        headers: { authorization: `Bearer ${ADMIN_TOKEN}` },
      });
      expect(admin.statusCode).toBe(200);
      expect(admin.headers['content-type']).toMatch(/^text\/plain/);
      expect(admin.body).toMatch(
        /billing_http_request_duration_seconds_count\{method="POST",route="\/api\/stripe\/webhook",status="200"\} 1/,
      );
      expect(admin.body).toMatch(
        /billing_webhooks_total\{type="customer.subscription.created",outcome="processed"\}/,
      );

      const open = await separate.inject({ method: 'GET', url: '/metrics' });
      expect(open.statusCode).toBe(200);
      expect(open.body).toContain('billing_webhooks_total');

      const off = await buildServer(
        { prisma: env.prisma, stripe: env.stripe, webhookHandler: env.handler, prometheus },
        { metricsRoute: 'off' },
      );
      expect((await off.inject({ method: 'GET', url: '/metrics' })).statusCode).toBe(404);
      await off.close();
    } finally {
      await Promise.all([app.close(), separate.close()]);
    }
  });

  it('LOG_LEVEL and METRICS_PORT are validated with the rest of the configuration', () => {
    const base = { STRIPE_SECRET_KEY: 'sk_test_x' };
    expect(parseBillingEnv(base)).toMatchObject({ LOG_LEVEL: 'info' });
    expect(parseBillingEnv({ ...base, LOG_LEVEL: 'debug', METRICS_PORT: '9464' })).toMatchObject({
      LOG_LEVEL: 'debug',
      METRICS_PORT: 9464,
    });
    expect(() => parseBillingEnv({ ...base, LOG_LEVEL: 'loud' })).toThrow(/LOG_LEVEL must be one of/);
    expect(() => parseBillingEnv({ ...base, METRICS_PORT: '70000' })).toThrow(/METRICS_PORT/);
  });
});
