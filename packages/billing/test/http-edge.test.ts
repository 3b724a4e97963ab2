import { connect } from 'node:net';
import { describe, expect, it } from 'vitest';
import { createPrismaClient } from '@packages/db';
import { createRedisCache } from '../src/io/cache/index.js';
import { buildServer } from '../src/entry/server/app.js';
import { createStripeWebhookHandler } from '../src/flows/webhooks/index.js';
import { ADMIN_TOKEN, bearer } from './admin-helpers.js';
import { useAdminApp, useAdminTestEnv } from './helpers/use-env.js';

/** What the server answers at its edges: identifiers, unknown routes, bad URLs, health. */

const admin = bearer(ADMIN_TOKEN);
const env = await useAdminTestEnv();
await env.prisma.tenant.create({ data: { id: 'edge-tenant', name: 'Edge' } });
const app = await useAdminApp(env, 'edge-tenant', 'other');

/** Exactly the documented shape: `{ error: { code, message } }` and nothing else. */
function expectErrorShape(res: { json(): unknown }, code: string) {
  expect(res.json()).toEqual({ error: { code, message: expect.any(String) } });
}

describe('identifiers are validated at the edge (400, never a 500 from PostgreSQL)', () => {
  const nul = '%00';
  it.each([
    ['GET', `/api/admin/tenants/${nul}/features`, undefined],
    ['GET', `/api/admin/tenants/a${nul}b/audit-log`, undefined],
    ['POST', `/api/admin/tenants/${nul}/apply-plan`, { planId: 'pro_monthly' }],
    ['POST', `/api/admin/tenants/${nul}/custom-plans`, { basePlanId: 'x' }],
    ['GET', `/api/admin/tenants/${nul}`, undefined],
    ['PATCH', `/api/admin/tenants/${nul}`, { name: 'x' }],
    ['DELETE', `/api/admin/tenants/${nul}`, undefined],
    ['PUT', `/api/admin/tenants/${nul}/overrides/sso`, { value: true }],
    ['GET', `/api/admin/tenants/%1F/features`, undefined],
  ] as const)('%s %s → 400 naming tenantId', async (method, url, payload) => {
    const res = await app.inject({ method, url, headers: admin, ...(payload ? { payload } : {}) });
    expect(res.statusCode).toBe(400);
    expect(res.json().error.code).toBe('validation_error');
    expect(res.json().error.issues).toEqual([
      { path: 'tenantId', message: expect.stringMatching(/control/) },
    ]);
  });

  it.each([
    ['the sync body tenantId', 'POST', '/api/admin/sync', { tenantId: 'a\u0000b', dryRun: true }, 'tenantId'],
    [
      'an apply-plan planId',
      'POST',
      '/api/admin/tenants/edge-tenant/apply-plan',
      { planId: 'p\u0000' },
      'planId',
    ],
    ['a tenant list cursor', 'GET', '/api/admin/tenants?cursor=%00', undefined, 'cursor'],
    ['a tenant list bundle', 'GET', '/api/admin/tenants?bundle=%07', undefined, 'bundle'],
  ] as const)('%s with a control character → 400 naming it', async (_name, method, url, payload, path) => {
    const res = await app.inject({ method, url, headers: admin, ...(payload ? { payload } : {}) });
    expect(res.statusCode).toBe(400);
    expect(res.json().error.issues).toEqual([{ path, message: expect.any(String) }]);
  });

  it('a long (255-character) tenant id reaches the route: 404 for an unknown tenant, not 414', async () => {
    const res = await app.inject({
      method: 'GET',
      url: `/api/admin/tenants/${'t'.repeat(255)}/features`,
      headers: admin,
    });
    expect(res.statusCode).toBe(404);
    expect(res.json().error.code).toBe('tenant_not_found');
  });

  it('an audit cursor beyond bigint is one issue, not two', async () => {
    const res = await app.inject({
      method: 'GET',
      url: '/api/admin/tenants/edge-tenant/audit-log?before=99999999999999999999',
      headers: admin,
    });
    expect(res.statusCode).toBe(400);
    expect(res.json().error.issues).toEqual([
      { path: 'before', message: 'must be an audit entry id from nextCursor' },
    ]);
  });
});

describe('one error shape for every response', () => {
  it('unknown route → 404', async () => {
    const res = await app.inject({ method: 'GET', url: '/no/such/route' });
    expect(res.statusCode).toBe(404);
    expectErrorShape(res, 'not_found');
  });

  it('known path, other method → 405 with Allow', async () => {
    const res = await app.inject({
      method: 'DELETE',
      url: '/api/admin/tenants/edge-tenant/features',
      headers: admin,
    });
    expect(res.statusCode).toBe(405);
    expect(res.headers.allow).toBe('GET, HEAD');
    expectErrorShape(res, 'method_not_allowed');
    const webhook = await app.inject({ method: 'GET', url: '/api/stripe/webhook' });
    expect(webhook.statusCode).toBe(405);
    expect(webhook.headers.allow).toBe('POST');
  });

  it('an over-long path segment → 414 without echoing the path', async () => {
    const long = 'x'.repeat(5000);
    const res = await app.inject({
      method: 'GET',
      url: `/api/admin/tenants/${long}/features`,
      headers: admin,
    });
    expect(res.statusCode).toBe(414);
    expectErrorShape(res, 'uri_too_long');
    expect(res.body).not.toContain('xxxxxxxxxx');
  });

  it('malformed percent-encoding → 400 bad_url', async () => {
    const res = await app.inject({
      method: 'GET',
      url: '/api/admin/tenants/%E0%A4%A/features',
      headers: admin,
    });
    expect(res.statusCode).toBe(400);
    expectErrorShape(res, 'bad_url');
  });

  it('unparsable request on the socket → 400 in the same shape', async () => {
    const address = await app.listen({ port: 0, host: '127.0.0.1' });
    const { port } = new URL(address);
    const raw = await new Promise<string>((resolve, reject) => {
      const socket = connect(Number(port), '127.0.0.1', () => socket.write('NOT A REQUEST\r\n\r\n'));
      let data = '';
      socket.on('data', (d: Buffer) => (data += d.toString()));
      socket.on('close', () => resolve(data));
      socket.on('error', reject);
    });
    expect(raw).toMatch(/^HTTP\/1\.1 400 /);
    expect(JSON.parse(raw.slice(raw.indexOf('\r\n\r\n') + 4))).toEqual({
      error: { code: 'bad_request', message: 'Bad Request' },
    });
  });
});

describe('health', () => {
  it('/health/live answers without checking anything', async () => {
    const res = await app.inject({ method: 'GET', url: '/health/live' });
    expect(res.statusCode).toBe(200);
    expect(res.json()).toEqual({ status: 'ok' });
  });

  it('/health/ready and /health: database reachable, migrations applied', async () => {
    for (const url of ['/health/ready', '/health']) {
      const res = await app.inject({ method: 'GET', url });
      expect(res.statusCode).toBe(200);
      expect(res.json()).toEqual({
        status: 'ready',
        checks: { database: 'ok', migrations: 'ok', redis: 'not_configured' },
      });
    }
  });

  it('a migration not applied → 503 not_ready', async () => {
    const [last] = await env.prisma.$queryRawUnsafe<{ id: string; migration_name: string }[]>(
      'SELECT id, migration_name FROM "_prisma_migrations" ORDER BY migration_name DESC LIMIT 1',
    );
    await env.prisma.$executeRawUnsafe(
      'UPDATE "_prisma_migrations" SET rolled_back_at = now() WHERE id = $1',
      last!.id,
    );
    try {
      const res = await app.inject({ method: 'GET', url: '/health/ready' });
      expect(res.statusCode).toBe(503);
      expect(res.json()).toEqual({
        error: {
          code: 'not_ready',
          message: 'Not ready: 1 migration(s) not applied',
          checks: { database: 'ok', migrations: 'failed', redis: 'not_configured' },
        },
      });
    } finally {
      await env.prisma.$executeRawUnsafe(
        'UPDATE "_prisma_migrations" SET rolled_back_at = NULL WHERE id = $1',
        last!.id,
      );
    }
  });

  it('database unreachable → 503 within the check timeout (Redis reported, not the cause); liveness stays 200', async () => {
    const deadDb = createPrismaClient({
      connectionString: 'postgresql://nobody@127.0.0.1:1/none',
      poolMax: 1,
    });
    const deadRedis = createRedisCache('redis://127.0.0.1:1', { commandTimeoutMs: 200 });
    const down = await buildServer({
      prisma: deadDb.prisma,
      stripe: env.stripe,
      cache: deadRedis,
      healthCheckTimeoutMs: 1000,
      webhookHandler: { handleWebhook: async () => ({}) },
    } as unknown as Parameters<typeof buildServer>[0]);
    try {
      const res = await down.inject({ method: 'GET', url: '/health/ready' });
      expect(res.statusCode).toBe(503);
      expect(res.json().error).toMatchObject({
        code: 'not_ready',
        message: 'Not ready: database unreachable',
        checks: { database: 'failed', migrations: 'failed', redis: 'failed' },
      });
      expect((await down.inject({ method: 'GET', url: '/health/live' })).statusCode).toBe(200);
    } finally {
      await down.close();
      await deadRedis.close();
      await deadDb.close().catch(() => {});
    }
  });

  it('Redis unreachable alone → still ready (200), reported as degraded: a shared Redis outage must not empty the load balancer', async () => {
    const deadRedis = createRedisCache('redis://127.0.0.1:1', { commandTimeoutMs: 200 });
    const degraded = await buildServer({
      prisma: env.prisma,
      stripe: env.stripe,
      cache: deadRedis,
      healthCheckTimeoutMs: 1000,
      webhookHandler: { handleWebhook: async () => ({}) },
    } as unknown as Parameters<typeof buildServer>[0]);
    try {
      for (const url of ['/health/ready', '/health']) {
        const res = await degraded.inject({ method: 'GET', url });
        expect(res.statusCode).toBe(200);
        expect(res.json()).toEqual({
          status: 'ready',
          checks: { database: 'ok', migrations: 'ok', redis: 'failed' },
          degraded: ['redis unreachable'],
        });
      }
    } finally {
      await degraded.close();
      await deadRedis.close();
    }
  });

  it.skipIf(!process.env.REDIS_URL)('reports Redis ok when it answers', async () => {
    const up = await buildServer({
      prisma: env.prisma,
      stripe: env.stripe,
      cache: env.cache,
      webhookHandler: { handleWebhook: async () => ({}) },
    } as unknown as Parameters<typeof buildServer>[0]);
    try {
      const res = await up.inject({ method: 'GET', url: '/health/ready' });
      expect(res.json()).toEqual({
        status: 'ready',
        checks: { database: 'ok', migrations: 'ok', redis: 'ok' },
      });
    } finally {
      await up.close();
    }
  });
});

describe('webhook signature timestamps', () => {
  it('a signature dated beyond the tolerance in the future is rejected like a stale one', async () => {
    const secret = 'whsec_edge_test';
    const handler = createStripeWebhookHandler(env.stripe, env.prisma, env.featureSync, secret);
    const hooks = await buildServer({
      prisma: env.prisma,
      stripe: env.stripe,
      webhookHandler: handler,
    });
    try {
      const payload = JSON.stringify({
        id: 'evt_edge_future',
        object: 'event',
        type: 'invoice.payment_succeeded',
        created: Math.floor(Date.now() / 1000),
        data: { object: { id: 'in_x', object: 'invoice', customer: 'cus_nobody' } },
      });
      const send = (offsetSeconds: number) =>
        hooks.inject({
          method: 'POST',
          url: '/api/stripe/webhook',
          headers: {
            'content-type': 'application/json',
            'stripe-signature': env.stripe.webhooks.generateTestHeaderString({
              payload,
              secret,
              timestamp: Math.floor(Date.now() / 1000) + offsetSeconds,
            }),
          },
          payload,
        });
      const future = await send(3600);
      expect(future.statusCode).toBe(400);
      expect(future.json().error.message).toMatch(/in the future/);
      const skewed = await send(60);
      expect(skewed.statusCode).toBe(200);
    } finally {
      await hooks.close();
    }
  });
});
