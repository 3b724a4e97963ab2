import type { AddressInfo } from 'node:net';
import express from 'express';
import { Hono } from 'hono';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createExpressAdapter } from '../src/express.js';
import { createPrometheusMetrics, createWebAdapter, type WebAdapter } from '../src/index.js';
import { setupWebhookTestEnv, type WebhookTestEnv } from './webhook-helpers.js';

/**
 * The web-standard and Express adapters against the real handler, database and emulator: real
 * `Request` objects, Hono's own request routing, and an Express app listening on a port.
 */
describe('host adapters', () => {
  let env: WebhookTestEnv;
  let web: WebAdapter;
  const prometheus = createPrometheusMetrics();

  beforeAll(async () => {
    env = await setupWebhookTestEnv({ handler: { metrics: prometheus.metrics } });
    web = createWebAdapter({
      webhookHandler: env.handler,
      features: env.featureSync.reader,
      resolveTenant: (request) => request.headers.get('x-tenant-id'),
      metrics: prometheus.metrics,
    });
  });
  afterAll(async () => {
    await env?.close();
  });

  /** A subscription created in the emulator; its created event, signed as Stripe would sign it. */
  async function signedSubscriptionEvent(tenantId: string, plan: 'starter' | 'pro') {
    const customerId = await env.createCustomer(tenantId);
    const sub = await env.subscribe(customerId, plan);
    const payload = JSON.stringify(env.lastEvent('customer.subscription.created', sub.id));
    const signature = env.stripe.webhooks.generateTestHeaderString({
      payload,
      secret: env.emu.webhookSecret,
    });
    return { payload, signature };
  }

  function webhookRequest(payload: string, headers: Record<string, string> = {}): Request {
    return new Request('http://host.test/api/stripe/webhook', {
      method: 'POST',
      headers: { 'content-type': 'application/json', ...headers },
      body: payload,
    });
  }

  describe('web-standard handlers (Request → Response)', () => {
    it('verifies the raw body, applies the event, and the tenant reads its features', async () => {
      const { payload, signature } = await signedSubscriptionEvent('web_acme', 'starter');
      const res = await web.webhook(webhookRequest(payload, { 'stripe-signature': signature }));
      expect(res.status).toBe(200);
      expect(await res.json()).toMatchObject({ status: 'processed', tenantId: 'web_acme' });

      const again = await web.webhook(webhookRequest(payload, { 'stripe-signature': signature }));
      expect(await again.json()).toMatchObject({ status: 'duplicate' });

      const read = await web.features(
        new Request('http://host.test/api/billing/features', { headers: { 'x-tenant-id': 'web_acme' } }),
      );
      expect(read.status).toBe(200);
      expect(await read.json()).toMatchObject({
        tenantId: 'web_acme',
        bundle: 'starter',
        features: { api_access: true, max_projects: 3 },
      });

      const text = await prometheus.render();
      expect(text).toMatch(
        /billing_webhooks_total\{type="customer.subscription.created",outcome="processed"\} 1/,
      );
      expect(text).toMatch(
        /billing_webhooks_total\{type="customer.subscription.created",outcome="duplicate"\} 1/,
      );
      expect(text).toMatch(
        /billing_webhook_processing_lag_seconds_count\{type="customer.subscription.created"\} 1/,
      );
      expect(text).toMatch(
        /billing_http_request_duration_seconds_count\{method="POST",route="stripe_webhook",status="200"\} 2/,
      );
    });

    it('answers bad requests with the server’s statuses and error shape', async () => {
      const { payload, signature } = await signedSubscriptionEvent('web_bad', 'starter');
      const missing = await web.webhook(webhookRequest(payload));
      expect(missing.status).toBe(400);
      expect(await missing.json()).toEqual({
        error: { code: 'invalid_signature', message: 'Missing Stripe-Signature header' },
      });

      // One byte more than Stripe signed: the JSON means the same, the signature no longer matches.
      const forged = await web.webhook(
        webhookRequest(payload.replace('{', '{ '), { 'stripe-signature': signature }),
      );
      expect(forged.status).toBe(400);
      expect((await forged.json()) as object).toMatchObject({ error: { code: 'invalid_signature' } });

      const text = await web.webhook(
        webhookRequest(payload, { 'stripe-signature': signature, 'content-type': 'text/plain' }),
      );
      expect(text.status).toBe(415);
      expect(await text.json()).toMatchObject({ error: { code: 'unsupported_media_type' } });

      const used = webhookRequest(payload, { 'stripe-signature': signature });
      await used.json();
      const consumed = await web.webhook(used);
      expect(consumed.status).toBe(400);
      const body = (await consumed.json()) as { error: { code: string; message: string } };
      expect(body.error.code).toBe('body_already_read');
      expect(body.error.message).toMatch(/request\.clone\(\)/);

      const huge = await createWebAdapter({ webhookHandler: env.handler, bodyLimit: 64 }).webhook(
        webhookRequest(payload, { 'stripe-signature': signature }),
      );
      expect(huge.status).toBe(413);
      expect(await huge.json()).toMatchObject({ error: { code: 'payload_too_large' } });

      // Nothing of the rejected deliveries was applied.
      expect(await env.state('web_bad')).toBeNull();
    });

    it('a 500 keeps the cause in the log, not in the body Stripe shows', async () => {
      const errors: unknown[] = [];
      const failing = createWebAdapter({
        webhookHandler: {
          handleWebhook: async () => {
            throw new Error('connection terminated: secret internals');
          },
        },
        logger: { info() {}, warn() {}, error: (fields) => void errors.push(fields) },
      });
      const res = await failing.webhook(webhookRequest('{}', { 'stripe-signature': 't=1,v1=x' }));
      expect(res.status).toBe(500);
      expect(await res.text()).not.toContain('secret internals');
      expect(errors).toHaveLength(1);
    });

    it('requireFeature runs the handler only for tenants with the feature, else 403 naming it', async () => {
      const { payload, signature } = await signedSubscriptionEvent('web_guard', 'starter');
      expect((await web.webhook(webhookRequest(payload, { 'stripe-signature': signature }))).status).toBe(
        200,
      );
      const reports = web.requireFeature('api_access')(async () => Response.json({ ok: true }));
      const sso = web.requireFeature('sso')(async () => Response.json({ ok: true }));
      const as = (tenant?: string) =>
        new Request('http://host.test/x', { headers: tenant ? { 'x-tenant-id': tenant } : {} });

      const allowed = await reports(as('web_guard'));
      expect(allowed.status).toBe(200);
      expect(await allowed.json()).toEqual({ ok: true });

      const denied = await sso(as('web_guard'));
      expect(denied.status).toBe(403);
      expect(await denied.json()).toEqual({
        error: {
          code: 'feature_not_enabled',
          message: 'Feature "sso" is not enabled for tenant "web_guard"',
          feature: 'sso',
        },
      });

      const unknown = await reports(as('nobody'));
      expect(unknown.status).toBe(404);
      expect(await unknown.json()).toMatchObject({ error: { code: 'tenant_not_found' } });
      const anonymous = await reports(as());
      expect(anonymous.status).toBe(401);
      expect(await anonymous.json()).toMatchObject({ error: { code: 'tenant_not_resolved' } });

      // getLimit / checkLimit read the same cached reader as isFeatureEnabled.
      expect(await env.featureSync.getLimit('web_guard', 'max_projects')).toBe(3);
      expect(await env.featureSync.checkLimit('web_guard', 'max_projects', 2)).toEqual({
        allowed: true,
        limit: 3,
        remaining: 1,
      });
      expect(await env.featureSync.checkLimit('web_guard', 'max_projects', 3)).toEqual({
        allowed: false,
        limit: 3,
        remaining: 0,
      });
      expect(await env.featureSync.getLimit('web_guard', 'data_retention_days')).toBeNull();
      expect(await env.featureSync.checkLimit('nobody', 'max_projects', 0)).toEqual({
        allowed: false,
        limit: 0,
        remaining: 0,
      });
      await expect(env.featureSync.getLimit('web_guard', 'api_access')).rejects.toThrow(/boolean feature/);
    });

    it('works as Hono route handlers and middleware', async () => {
      const app = new Hono();
      app.post('/api/stripe/webhook', (c) => web.webhook(c.req.raw));
      app.get('/api/billing/features', (c) => web.features(c.req.raw));
      app.use('/reports/*', async (c, next) => {
        const denied = await web.featureDenied(c.req.raw, 'advanced_analytics');
        if (denied) return denied;
        await next();
      });
      app.get('/reports/weekly', (c) => c.json({ report: 'weekly' }));
      // A route whose own code parsed the body first: the webhook handler says so.
      app.post('/parsed-first', async (c) => {
        await c.req.json();
        return web.webhook(c.req.raw);
      });

      const starter = await signedSubscriptionEvent('hono_starter', 'starter');
      const pro = await signedSubscriptionEvent('hono_pro', 'pro');
      for (const { payload, signature } of [starter, pro]) {
        const res = await app.request('/api/stripe/webhook', {
          method: 'POST',
          headers: { 'content-type': 'application/json', 'stripe-signature': signature },
          body: payload,
        });
        expect(res.status).toBe(200);
      }
      const features = await app.request('/api/billing/features', { headers: { 'x-tenant-id': 'hono_pro' } });
      expect(await features.json()).toMatchObject({ bundle: 'pro', features: { advanced_analytics: true } });

      expect((await app.request('/reports/weekly', { headers: { 'x-tenant-id': 'hono_pro' } })).status).toBe(
        200,
      );
      const denied = await app.request('/reports/weekly', { headers: { 'x-tenant-id': 'hono_starter' } });
      expect(denied.status).toBe(403);
      expect(await denied.json()).toMatchObject({
        error: { code: 'feature_not_enabled', feature: 'advanced_analytics' },
      });

      const parsed = await app.request('/parsed-first', {
        method: 'POST',
        headers: { 'content-type': 'application/json', 'stripe-signature': starter.signature },
        body: starter.payload,
      });
      expect(parsed.status).toBe(400);
      expect(await parsed.json()).toMatchObject({ error: { code: 'body_already_read' } });
    });
  });

  describe('Express middleware (a real Express app on a port)', () => {
    async function listen(app: express.Express) {
      const server = app.listen(0, '127.0.0.1');
      await new Promise<void>((resolve) => server.once('listening', resolve));
      const { port } = server.address() as AddressInfo;
      return {
        base: `http://127.0.0.1:${port}`,
        close: () => new Promise<void>((r) => server.close(() => r())),
      };
    }

    function adapter() {
      return createExpressAdapter({
        webhookHandler: env.handler,
        features: env.featureSync.reader,
        resolveTenant: (req) => req.get('x-tenant-id'),
        metrics: prometheus.metrics,
      });
    }

    const post = (url: string, payload: string, signature?: string) =>
      fetch(url, {
        method: 'POST',
        headers: {
          'content-type': 'application/json',
          ...(signature ? { 'stripe-signature': signature } : {}),
        },
        body: payload,
      });

    it('reads the raw body itself when mounted before express.json(), and guards routes', async () => {
      const billing = adapter();
      const app = express();
      app.post('/api/stripe/webhook', billing.webhook);
      app.use(express.json());
      app.get('/api/billing/features', billing.features);
      app.get('/exports', billing.requireFeature('bulk_export'), (_req, res) => void res.json({ ok: true }));
      app.get('/api', billing.requireFeature('api_access'), (_req, res) => void res.json({ ok: true }));
      app.post('/echo', (req, res) => void res.json(req.body));
      const server = await listen(app);
      try {
        const { payload, signature } = await signedSubscriptionEvent('ex_acme', 'starter');
        const res = await post(`${server.base}/api/stripe/webhook`, payload, signature);
        expect(res.status).toBe(200);
        expect(await res.json()).toMatchObject({ status: 'processed', tenantId: 'ex_acme' });

        const missing = await post(`${server.base}/api/stripe/webhook`, payload);
        expect(missing.status).toBe(400);
        expect(await missing.json()).toMatchObject({ error: { code: 'invalid_signature' } });

        const headers = { 'x-tenant-id': 'ex_acme' };
        expect(await (await fetch(`${server.base}/api/billing/features`, { headers })).json()).toMatchObject({
          features: { api_access: true },
        });
        expect((await fetch(`${server.base}/api`, { headers })).status).toBe(200);
        const denied = await fetch(`${server.base}/exports`, { headers });
        expect(denied.status).toBe(403);
        expect(await denied.json()).toMatchObject({
          error: { code: 'feature_not_enabled', feature: 'bulk_export' },
        });
        const unknown = await fetch(`${server.base}/api`, { headers: { 'x-tenant-id': 'nobody' } });
        expect(unknown.status).toBe(404);
        // Other routes keep their JSON bodies.
        expect(await (await post(`${server.base}/echo`, '{"a":1}')).json()).toEqual({ a: 1 });
      } finally {
        await server.close();
      }
    });

    it('uses the Buffer of express.raw() for the route', async () => {
      const billing = adapter();
      const app = express();
      app.post('/api/stripe/webhook', express.raw({ type: 'application/json' }), billing.webhook);
      const server = await listen(app);
      try {
        const { payload, signature } = await signedSubscriptionEvent('ex_raw', 'starter');
        const res = await post(`${server.base}/api/stripe/webhook`, payload, signature);
        expect(res.status).toBe(200);
        expect(await env.state('ex_raw')).toMatchObject({ bundle: 'starter' });
      } finally {
        await server.close();
      }
    });

    it('tells a host that parsed the body with express.json() how to mount the route', async () => {
      const billing = adapter();
      const app = express();
      app.use(express.json());
      app.post('/api/stripe/webhook', billing.webhook);
      const server = await listen(app);
      try {
        const { payload, signature } = await signedSubscriptionEvent('ex_parsed', 'starter');
        const res = await post(`${server.base}/api/stripe/webhook`, payload, signature);
        expect(res.status).toBe(400);
        const body = (await res.json()) as { error: { code: string; message: string } };
        expect(body.error.code).toBe('body_already_parsed');
        expect(body.error.message).toMatch(/before app\.use\(express\.json\(\)\)/);
        expect(await env.state('ex_parsed')).toBeNull();
      } finally {
        await server.close();
      }
    });
  });
});
