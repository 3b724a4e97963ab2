import type { AddressInfo } from 'node:net';
import express from 'express';
import Fastify from 'fastify';
import { Hono } from 'hono';
import { createIsolatedDatabase } from '@packages/db';
import { afterAll, describe, expect, it } from 'vitest';
import { runManageCli } from '../src/entry/cli/manage.js';
import { createMemoryCache } from '../src/io/cache/index.js';
import { createFeatureReader } from '../src/io/feature-cache/index.js';
import { createExpressAdapter } from '../src/express.js';
import { billingPlugin } from '../src/fastify.js';
import {
  addFeature,
  createPrometheusMetrics,
  createTenant,
  createUsageService,
  createWebAdapter,
  setFeatureOverride,
} from '../src/index.js';
import { buildServer } from '../src/server.js';
import { ADMIN_TOKEN, bearer, captureStream, TENANT_A_TOKEN } from './admin-helpers.js';

/** Usage over HTTP (admin API, the adapters), the CLI and the Prometheus counters (docs/usage.md). */

const db = await createIsolatedDatabase();
afterAll(() => db.close());
const { prisma } = db;
const prometheus = createPrometheusMetrics();
const usage = createUsageService(prisma, { metrics: prometheus.metrics, checkCacheMs: 0 });
afterAll(() => usage.close());
await addFeature(prisma, {
  key: 'api.calls',
  type: 'number',
  description: 'API calls',
  usage: { reset: 'month', overage: 'reject' },
});
for (const id of ['h-a', 'h-b', 'h-c']) {
  await createTenant(prisma, { id, name: id });
  await setFeatureOverride(prisma, id, 'api.calls', 3);
}
const app = await buildServer({
  prisma,
  usage,
  auth: {
    tokens: [
      { name: 'ops', role: 'admin', token: ADMIN_TOKEN },
      { name: 'tenant-a', role: 'tenant', tenantId: 'h-a', token: TENANT_A_TOKEN },
    ],
    prisma,
  },
} as unknown as Parameters<typeof buildServer>[0]);
afterAll(() => app.close());

describe('admin API', () => {
  it('registers and changes a metered key', async () => {
    const added = await app.inject({
      method: 'POST',
      url: '/api/admin/features',
      headers: bearer(ADMIN_TOKEN),
      payload: {
        key: 'ai.tokens',
        type: 'number',
        description: 'Tokens',
        usage: { reset: 'day', overage: 'cap' },
      },
    });
    expect(added.statusCode).toBe(201);
    expect(added.json()).toMatchObject({ usage: { reset: 'day', overage: 'cap' } });
    const changed = await app.inject({
      method: 'PATCH',
      url: '/api/admin/features/ai.tokens',
      headers: bearer(ADMIN_TOKEN),
      payload: { usage: { reset: 'never', overage: 'allow' } },
    });
    expect(changed.json()).toMatchObject({ usage: { reset: 'never', overage: 'allow' } });
    const bad = await app.inject({
      method: 'PATCH',
      url: '/api/admin/features/ai.tokens',
      headers: bearer(ADMIN_TOKEN),
      payload: { usage: { reset: 'hourly', overage: 'allow' } },
    });
    expect(bad.json()).toMatchObject({ error: { code: 'validation_error' } });
  });

  it('a tenant token tracks and reads its own usage only; setting it is for admins', async () => {
    const track = (tenant: string, token: string, payload: object) =>
      app.inject({
        method: 'POST',
        url: `/api/admin/tenants/${tenant}/usage/track`,
        headers: bearer(token),
        payload,
      });
    const first = await track('h-a', TENANT_A_TOKEN, { key: 'api.calls', amount: 2, idempotencyKey: 'x1' });
    expect(first.statusCode).toBe(200);
    expect(first.json()).toMatchObject({ allowed: true, used: 2, limit: 3, remaining: 1 });
    expect((await track('h-a', TENANT_A_TOKEN, { key: 'api.calls', amount: 2 })).json()).toMatchObject({
      allowed: false,
      used: 2,
    });
    expect((await track('h-b', TENANT_A_TOKEN, { key: 'api.calls' })).statusCode).toBe(403);
    expect((await track('h-a', TENANT_A_TOKEN, { key: 'seatz' })).json()).toMatchObject({
      error: { code: 'unknown_feature' },
    });
    const read = await app.inject({
      method: 'GET',
      url: '/api/admin/tenants/h-a/usage',
      headers: bearer(TENANT_A_TOKEN),
    });
    expect(read.json().meters.find((m: { key: string }) => m.key === 'api.calls')).toMatchObject({ used: 2 });
    const set = (token: string) =>
      app.inject({
        method: 'PUT',
        url: '/api/admin/tenants/h-a/usage/api.calls',
        headers: bearer(token),
        payload: { used: 1 },
      });
    expect((await set(TENANT_A_TOKEN)).statusCode).toBe(403);
    expect((await set(ADMIN_TOKEN)).json()).toMatchObject({ key: 'api.calls', used: 1, remaining: 2 });
    const reset = await app.inject({
      method: 'DELETE',
      url: '/api/admin/tenants/h-a/usage/api.calls',
      headers: bearer(ADMIN_TOKEN),
    });
    expect(reset.json().meters.find((m: { key: string }) => m.key === 'api.calls')).toMatchObject({
      used: 0,
    });
    const audit = await prisma.featureAuditLog.findMany({ where: { tenantId: 'h-a', action: 'usage_set' } });
    expect(audit.map((a) => a.actor)).toEqual(['admin:ops', 'admin:ops']);
  });
});

describe('reservations over the admin API', () => {
  const call = (url: string, token: string, payload: object = {}) =>
    app.inject({ method: 'POST', url, headers: bearer(token), payload });

  it('reserve, finalize below the hold, release; only the own tenant’s reservations', async () => {
    // h-a has used 0 of 3 since the admin test reset it.
    const held = await call('/api/admin/tenants/h-a/usage/reserve', TENANT_A_TOKEN, {
      key: 'api.calls',
      amount: 2,
      ttlMs: 60_000,
    });
    expect(held.statusCode).toBe(200);
    const reservation = held.json();
    expect(reservation).toMatchObject({ allowed: true, reserved: 2, remaining: 1, id: expect.any(String) });
    const tooMuch = await call('/api/admin/tenants/h-a/usage/reserve', TENANT_A_TOKEN, {
      key: 'api.calls',
      amount: 2,
      ttlMs: 60_000,
    });
    expect(tooMuch.json()).toMatchObject({ allowed: false, id: null });
    // Another tenant's path (admin token: allowed on h-b) does not reach h-a's reservation.
    const foreign = await call(
      `/api/admin/tenants/h-b/usage/reservations/${reservation.id}/finalize`,
      ADMIN_TOKEN,
      { amount: 1 },
    );
    expect(foreign.statusCode).toBe(404);
    expect(foreign.json()).toMatchObject({ error: { code: 'reservation_not_found' } });
    const final = await call(
      `/api/admin/tenants/h-a/usage/reservations/${reservation.id}/finalize`,
      TENANT_A_TOKEN,
      { amount: 1 },
    );
    expect(final.json()).toMatchObject({ allowed: true, used: 1, reserved: 0, remaining: 2 });
    const again = await call(
      `/api/admin/tenants/h-a/usage/reservations/${reservation.id}/release`,
      TENANT_A_TOKEN,
    );
    expect(again.json()).toMatchObject({ error: { code: 'reservation_not_found' } });

    const second = (
      await call('/api/admin/tenants/h-a/usage/reserve', TENANT_A_TOKEN, {
        key: 'api.calls',
        amount: 2,
        ttlMs: 60_000,
        idempotencyKey: 'r-1',
      })
    ).json();
    const released = await call(
      `/api/admin/tenants/h-a/usage/reservations/${second.id}/release`,
      TENANT_A_TOKEN,
    );
    expect(released.json()).toMatchObject({ used: 1, reserved: 0, remaining: 2 });
    const badTtl = await call('/api/admin/tenants/h-a/usage/reserve', TENANT_A_TOKEN, {
      key: 'api.calls',
      amount: 1,
      ttlMs: 0,
    });
    expect(badTtl.json()).toMatchObject({ error: { code: 'validation_error' } });
    const meters = (await usage.getUsage('h-a')).meters;
    expect(meters.find((m) => m.key === 'api.calls')).toMatchObject({ used: 1, reserved: 0 });
  });
});

describe('adapters for the host-resolved tenant', () => {
  it('Express: usageTrack and usage, with and without express.json()', async () => {
    const billing = createExpressAdapter({
      usage,
      resolveTenant: (req) => req.get('x-tenant'),
      metrics: prometheus.metrics,
    });
    const host = express();
    host.post('/raw/usage/track', billing.usageTrack);
    host.use(express.json());
    host.post('/api/billing/usage/track', billing.usageTrack);
    host.get('/api/billing/usage', billing.usage);
    const server = host.listen(0, '127.0.0.1');
    await new Promise<void>((resolve) => server.once('listening', resolve));
    const base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
    const post = (path: string, body: string, tenant?: string) =>
      fetch(`${base}${path}`, {
        method: 'POST',
        headers: { 'content-type': 'application/json', ...(tenant ? { 'x-tenant': tenant } : {}) },
        body,
      });
    try {
      const parsed = await post('/api/billing/usage/track', JSON.stringify({ key: 'api.calls' }), 'h-c');
      expect(await parsed.json()).toMatchObject({ tenantId: 'h-c', allowed: true, used: 1 });
      const raw = await post('/raw/usage/track', JSON.stringify({ key: 'api.calls', amount: 2 }), 'h-c');
      expect(await raw.json()).toMatchObject({ allowed: true, used: 3, remaining: 0 });
      const refused = await post('/raw/usage/track', JSON.stringify({ key: 'api.calls' }), 'h-c');
      expect(await refused.json()).toMatchObject({ allowed: false, used: 3 });
      expect((await post('/raw/usage/track', '{', 'h-c')).status).toBe(400);
      const anonymous = await post('/api/billing/usage/track', JSON.stringify({ key: 'api.calls' }));
      expect(anonymous.status).toBe(401);
      const unknown = await post('/api/billing/usage/track', JSON.stringify({ key: 'nope' }), 'h-c');
      expect(await unknown.json()).toMatchObject({ error: { code: 'unknown_feature' } });
      const read = await fetch(`${base}/api/billing/usage`, { headers: { 'x-tenant': 'h-c' } });
      const meters = ((await read.json()) as { meters: { key: string }[] }).meters;
      expect(meters.find((m) => m.key === 'api.calls')).toMatchObject({ used: 3, remaining: 0 });
    } finally {
      await new Promise<void>((r) => server.close(() => r()));
    }
  });

  it('Fastify: POST /api/billing/usage/track and GET /api/billing/usage', async () => {
    const host = Fastify();
    await host.register(billingPlugin, {
      usage,
      resolveTenant: (request) => request.headers['x-tenant'] as string | undefined,
    });
    try {
      const tracked = await host.inject({
        method: 'POST',
        url: '/api/billing/usage/track',
        headers: { 'x-tenant': 'h-b' },
        payload: { key: 'api.calls' },
      });
      expect(tracked.json()).toMatchObject({ tenantId: 'h-b', allowed: true, used: 1 });
      const read = await host.inject({
        method: 'GET',
        url: '/api/billing/usage',
        headers: { 'x-tenant': 'h-b' },
      });
      expect(read.json()).toMatchObject({ tenantId: 'h-b' });
      const anonymous = await host.inject({ method: 'GET', url: '/api/billing/usage' });
      expect(anonymous.statusCode).toBe(401);
      expect(anonymous.json()).toMatchObject({ error: { code: 'tenant_not_resolved' } });
    } finally {
      await host.close();
    }
  });

  it('web-standard: usageTrack and usage', async () => {
    const web = createWebAdapter({ usage, resolveTenant: (request) => request.headers.get('x-tenant') });
    const tracked = await web.usageTrack(
      new Request('http://host/usage/track', {
        method: 'POST',
        headers: { 'x-tenant': 'h-b', 'content-type': 'application/json' },
        body: JSON.stringify({ key: 'api.calls', amount: 2 }),
      }),
    );
    expect(await tracked.json()).toMatchObject({ allowed: true, used: 3, remaining: 0 });
    const broken = await web.usageTrack(
      new Request('http://host/usage/track', { method: 'POST', headers: { 'x-tenant': 'h-b' }, body: '{' }),
    );
    expect(broken.status).toBe(400);
    const read = await web.usage(new Request('http://host/usage', { headers: { 'x-tenant': 'h-b' } }));
    const meters = ((await read.json()) as { meters: { key: string }[] }).meters;
    expect(meters.find((m) => m.key === 'api.calls')).toMatchObject({ used: 3, overLimit: false });
  });
});

describe('reservations through the adapters, for the host-resolved tenant', () => {
  /** A tenant with 10 api.calls; the other one of the pair owns a reservation the first must not settle. */
  async function tenants(prefix: string) {
    for (const id of [`${prefix}-1`, `${prefix}-2`]) {
      await createTenant(prisma, { id, name: id });
      await setFeatureOverride(prisma, id, 'api.calls', 10);
    }
    const foreign = await usage.reserve(`${prefix}-2`, 'api.calls', 1, { ttlMs: 60_000 });
    return { tenant: `${prefix}-1`, other: `${prefix}-2`, foreign: foreign.id! };
  }
  const meterOf = async (tenant: string) =>
    (await usage.getUsage(tenant)).meters.find((m) => m.key === 'api.calls');

  /** The same story through each adapter: `send(path, body?, tenant?)` is a POST through its real HTTP path. */
  async function story(
    send: (path: string, body: string | null, tenant?: string) => Promise<{ status: number; json: unknown }>,
    { tenant, other, foreign }: { tenant: string; other: string; foreign: string },
  ) {
    const held = await send(
      '/reserve',
      JSON.stringify({ key: 'api.calls', amount: 4, ttlMs: 60_000 }),
      tenant,
    );
    expect(held).toMatchObject({ status: 200, json: { allowed: true, reserved: 4, remaining: 6 } });
    const id = (held.json as { id: string }).id;
    const refused = await send(
      '/reserve',
      JSON.stringify({ key: 'api.calls', amount: 7, ttlMs: 60_000 }),
      tenant,
    );
    expect(refused).toMatchObject({ status: 200, json: { allowed: false, id: null } });
    // Used 3 of the 4 held: 3 charged, 1 returned.
    const finalized = await send(`/reservations/${id}/finalize`, JSON.stringify({ amount: 3 }), tenant);
    expect(finalized).toMatchObject({ status: 200, json: { used: 3, reserved: 0, remaining: 7 } });
    const again = await send(`/reservations/${id}/finalize`, JSON.stringify({ amount: 3 }), tenant);
    expect(again).toMatchObject({ status: 404, json: { error: { code: 'reservation_not_found' } } });
    const second = await send(
      '/reserve',
      JSON.stringify({ key: 'api.calls', amount: 2, ttlMs: 60_000 }),
      tenant,
    );
    const released = await send(`/reservations/${(second.json as { id: string }).id}/release`, null, tenant);
    expect(released).toMatchObject({ status: 200, json: { used: 3, reserved: 0, remaining: 7 } });
    // Another tenant's hold is not found, for both; it stays held.
    const theirs = await send(`/reservations/${foreign}/release`, null, tenant);
    expect(theirs).toMatchObject({ status: 404, json: { error: { code: 'reservation_not_found' } } });
    const theirsToo = await send(`/reservations/${foreign}/finalize`, JSON.stringify({ amount: 1 }), tenant);
    expect(theirsToo.status).toBe(404);
    expect(await meterOf(other)).toMatchObject({ used: 0, reserved: 1 });
    const anonymous = await send('/reserve', JSON.stringify({ key: 'api.calls', amount: 1, ttlMs: 1 }));
    expect(anonymous).toMatchObject({ status: 401, json: { error: { code: 'tenant_not_resolved' } } });
    const noTtl = await send('/reserve', JSON.stringify({ key: 'api.calls', amount: 1 }), tenant);
    expect(noTtl).toMatchObject({ status: 400, json: { error: { code: 'validation_error' } } });
    const noAmount = await send(`/reservations/${foreign}/finalize`, JSON.stringify({}), tenant);
    expect(noAmount).toMatchObject({ status: 400, json: { error: { code: 'validation_error' } } });
    expect(await meterOf(tenant)).toMatchObject({ used: 3, reserved: 0 });
  }

  it('Express: usageReserve, usageFinalize and usageRelease on a port', async () => {
    const billing = createExpressAdapter({ usage, resolveTenant: (req) => req.get('x-tenant') });
    const host = express();
    host.use(express.json());
    host.post('/api/billing/usage/reserve', billing.usageReserve);
    host.post('/api/billing/usage/reservations/:id/finalize', billing.usageFinalize);
    host.post('/api/billing/usage/reservations/:id/release', billing.usageRelease);
    const server = host.listen(0, '127.0.0.1');
    await new Promise<void>((resolve) => server.once('listening', resolve));
    const base = `http://127.0.0.1:${(server.address() as AddressInfo).port}/api/billing/usage`;
    try {
      await story(
        async (path, body, tenant) => {
          const res = await fetch(`${base}${path}`, {
            method: 'POST',
            headers: {
              ...(body !== null ? { 'content-type': 'application/json' } : {}),
              ...(tenant ? { 'x-tenant': tenant } : {}),
            },
            ...(body !== null ? { body } : {}),
          });
          return { status: res.status, json: await res.json() };
        },
        await tenants('hr-x'),
      );
    } finally {
      await new Promise<void>((r) => server.close(() => r()));
    }
  });

  it('Fastify: POST /api/billing/usage/reserve and /reservations/:id/finalize|release', async () => {
    const host = Fastify();
    await host.register(billingPlugin, {
      usage,
      resolveTenant: (request) => request.headers['x-tenant'] as string | undefined,
    });
    try {
      await story(
        async (path, body, tenant) => {
          const res = await host.inject({
            method: 'POST',
            url: `/api/billing/usage${path}`,
            headers: {
              ...(body !== null ? { 'content-type': 'application/json' } : {}),
              ...(tenant ? { 'x-tenant': tenant } : {}),
            },
            ...(body !== null ? { payload: body } : {}),
          });
          return { status: res.statusCode, json: res.json() };
        },
        await tenants('hr-f'),
      );
    } finally {
      await host.close();
    }
  });

  it('web-standard: usageReserve, usageFinalize and usageRelease routed by Hono', async () => {
    const web = createWebAdapter({ usage, resolveTenant: (request) => request.headers.get('x-tenant') });
    const hono = new Hono();
    hono.post('/api/billing/usage/reserve', (c) => web.usageReserve(c.req.raw));
    hono.post('/api/billing/usage/reservations/:id/finalize', (c) =>
      web.usageFinalize(c.req.raw, c.req.param('id')),
    );
    hono.post('/api/billing/usage/reservations/:id/release', (c) =>
      web.usageRelease(c.req.raw, c.req.param('id')),
    );
    await story(
      async (path, body, tenant) => {
        const res = await hono.request(`http://host/api/billing/usage${path}`, {
          method: 'POST',
          headers: {
            ...(body !== null ? { 'content-type': 'application/json' } : {}),
            ...(tenant ? { 'x-tenant': tenant } : {}),
          },
          ...(body !== null ? { body } : {}),
        });
        return { status: res.status, json: await res.json() };
      },
      await tenants('hr-w'),
    );
  });
});

describe('npm run manage -- usage …', () => {
  async function manage(argv: string[]) {
    const stdout = captureStream();
    const stderr = captureStream();
    const code = await runManageCli(argv, {
      context: { prisma, featureReader: createFeatureReader(prisma, createMemoryCache()) },
      env: {},
      stdout,
      stderr,
    });
    return { code, out: stdout.text, err: stderr.text };
  }

  it('shows, sets and resets, audited as cli', async () => {
    expect((await manage(['usage', 'set', 'h-b', 'api.calls', '2'])).code).toBe(0);
    const shown = await manage(['usage', 'show', 'h-b']);
    expect(JSON.parse(shown.out).meters.find((m: { key: string }) => m.key === 'api.calls')).toMatchObject({
      used: 2,
    });
    const reset = await manage(['usage', 'reset', 'h-b']);
    expect(JSON.parse(reset.out).meters.every((m: { used: number }) => m.used === 0)).toBe(true);
    const missing = await manage(['usage', 'show', 'nobody']);
    expect(missing.code).toBe(1);
    expect(missing.err).toContain('tenant_not_found');
    const audit = await prisma.featureAuditLog.findMany({ where: { tenantId: 'h-b', action: 'usage_set' } });
    expect(audit.every((a) => a.actor === 'cli' && a.source === 'cli')).toBe(true);
  });

  it('features add and meter take the usage rules', async () => {
    const added = await manage([
      'features',
      'add',
      'exports',
      '--type',
      'number',
      '--description',
      'Exports',
      '--reset',
      'month',
      '--overage',
      'allow',
    ]);
    expect(JSON.parse(added.out)).toMatchObject({ usage: { reset: 'month', overage: 'allow' } });
    expect((await manage(['features', 'meter', 'exports', '--off'])).out).toContain('"usage": null');
    const metered = await manage([
      'features',
      'meter',
      'exports',
      '--reset',
      'month',
      '--overage',
      'allow',
      '--stripe-meter',
      'exports_made',
      '--stripe-meter-report',
      'overage',
    ]);
    expect(JSON.parse(metered.out)).toMatchObject({
      usage: { reset: 'month', overage: 'allow', stripeMeter: 'exports_made', stripeMeterReport: 'overage' },
    });
    const half = await manage(['features', 'meter', 'exports', '--reset', 'day']);
    expect(half.code).toBe(1);
    expect(half.err).toContain('validation_error');
  });
});

describe('Prometheus counters', () => {
  it('counts tracks by outcome, reservations, and the adapters’ requests', async () => {
    const text = await prometheus.registry.metrics();
    expect(text).toMatch(/billing_usage_tracks_total\{outcome="allowed"\} [1-9]/);
    expect(text).toMatch(/billing_usage_tracks_total\{outcome="refused"\} [1-9]/);
    for (const outcome of ['reserved', 'refused', 'finalize', 'release'])
      expect(text).toMatch(new RegExp(`billing_usage_reservations_total\\{outcome="${outcome}"\\} [1-9]`));
    expect(text).toMatch(
      /billing_http_request_duration_seconds_count\{[^}]*route="usage_track"[^}]*\} [1-9]/,
    );
  });
});
