import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import express from 'express';
import Fastify from 'fastify';
import { describe, expect, it } from 'vitest';
import { createExpressAdapter } from '../src/express.js';
import { billingPlugin } from '../src/fastify.js';
import { createWebAdapter, databaseCatalog, setFeatureOverride } from '../src/index.js';
import { restrictedFeatures } from '../src/core/index.js';
import { inTransaction, updateTenantFeatures } from '../src/io/tenant-store/index.js';
import { ADMIN_TOKEN, TENANT_A_TOKEN, testAuthConfig } from './admin-helpers.js';
import { PLAN_FIXTURES, seedPlans, seedTenantsWithSubscriptions } from './helpers/fixtures.js';
import { useAdminApp, useAdminTestEnv } from './helpers/use-env.js';

/**
 * OFREP (open-feature/protocol service/openapi.yaml) over real HTTP: our server listening on a
 * port, and the web, Express and Fastify adapters, against the real database and the emulator.
 */
const env = await useAdminTestEnv();
const plans = await seedPlans(env.stripe);
const [a, b, c] = await seedTenantsWithSubscriptions(env.stripe, env.prisma, 3, {
  prefix: 'ofrep',
  priceFor: (i) => [plans.starter, plans.pro, plans.starter][i]!.price.id,
});
const A = a!.tenantId;
const B = b!.tenantId;
const C = c!.tenantId;
await env.featureSync.syncAllTenantsFromStripe();
const app = await useAdminApp(env, A, B);
await app.listen({ port: 0, host: '127.0.0.1' });
const base = `http://127.0.0.1:${(app.server.address() as AddressInfo).port}`;
const catalog = await databaseCatalog(env.prisma).current();

function post(path: string, body: unknown, headers: Record<string, string> = {}) {
  return fetch(`${base}${path}`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', ...headers },
    body: typeof body === 'string' ? body : JSON.stringify(body),
  });
}
const admin = { authorization: `Bearer ${ADMIN_TOKEN}` };
const flag = (key: string, tenantId: string, headers: Record<string, string> = admin) =>
  post(
    `/ofrep/v1/evaluate/flags/${encodeURIComponent(key)}`,
    { context: { targetingKey: tenantId } },
    headers,
  );
const bulk = (tenantId: string, headers: Record<string, string> = admin) =>
  post('/ofrep/v1/evaluate/flags', { context: { targetingKey: tenantId } }, headers);

describe('OFREP single flag', () => {
  it('answers a boolean and an integer flag with reason, variant and metadata', async () => {
    const on = await flag('api_access', A);
    expect(on.status).toBe(200);
    expect(await on.json()).toEqual({
      key: 'api_access',
      value: true,
      reason: 'TARGETING_MATCH',
      variant: 'starter',
      metadata: {
        source: 'plan',
        bundle: 'starter',
        configured: true,
        accessActive: true,
        subscriptionStatus: 'active',
        version: 1,
      },
    });
    const limit = await (await flag('max_projects', A)).json();
    expect(limit).toMatchObject({ key: 'max_projects', value: 3, reason: 'TARGETING_MATCH' });
    expect(Number.isInteger(limit.value)).toBe(true);
  });

  it('a catalog key the plan lacks is off (STATIC); an unknown key is FLAG_NOT_FOUND (404)', async () => {
    const sso = await flag('sso', A);
    expect(await sso.json()).toMatchObject({
      key: 'sso',
      value: false,
      reason: 'STATIC',
      variant: 'not_in_plan',
    });
    const missing = await flag('no_such_flag', A);
    expect(missing.status).toBe(404);
    expect(await missing.json()).toEqual({
      key: 'no_such_flag',
      errorCode: 'FLAG_NOT_FOUND',
      errorDetails: "Flag 'no_such_flag' was not found",
    });
  });

  it('an override is reported as such; a tenant without access is DISABLED with values off', async () => {
    await setFeatureOverride(env.prisma, B, 'max_projects', 77, { featureReader: env.featureSync.reader });
    expect(await (await flag('max_projects', B)).json()).toMatchObject({
      value: 77,
      variant: 'override',
      metadata: { source: 'override', bundle: 'pro' },
    });
    const outcome = await inTransaction(env.prisma, (tx) =>
      updateTenantFeatures(
        tx,
        C,
        (current) => ({
          patch: { accessActive: false, features: restrictedFeatures(current!) },
          action: 'test_access_lost',
        }),
        { actor: 'test', source: 'admin' },
      ),
    );
    if (outcome.status === 'updated') await env.featureSync.reader.publish([outcome.after]);
    for (const [key, value] of [
      ['api_access', false],
      ['max_projects', 0],
    ] as const) {
      expect(await (await flag(key, C)).json()).toMatchObject({
        value,
        reason: 'DISABLED',
        variant: 'restricted',
        metadata: { source: 'restricted', accessActive: false },
      });
    }
  });
});

describe('OFREP bulk evaluation', () => {
  it('answers every catalog flag with an ETag; If-None-Match gives 304 until the tenant changes', async () => {
    const first = await bulk(A);
    expect(first.status).toBe(200);
    const etag = first.headers.get('etag')!;
    expect(etag).toMatch(/^W\/".+"$/);
    // The kept answer is sent as serialised JSON: still JSON to the client.
    expect(first.headers.get('content-type')).toMatch(/^application\/json/);
    const body = await first.json();
    expect(body.flags.map((f: { key: string }) => f.key)).toEqual([...catalog.keys()].sort());
    const byKey = Object.fromEntries(
      body.flags.map((f: { key: string; value: unknown }) => [f.key, f.value]),
    );
    for (const [key, value] of Object.entries(PLAN_FIXTURES.starter.features)) expect(byKey[key]).toBe(value);

    const unchanged = await bulk(A, { ...admin, 'if-none-match': etag });
    expect(unchanged.status).toBe(304);
    expect(await unchanged.text()).toBe('');
    expect(unchanged.headers.get('etag')).toBe(etag);
    // Another tenant at the same version never matches A's tag.
    expect((await bulk(B, { ...admin, 'if-none-match': etag })).status).toBe(200);

    await setFeatureOverride(env.prisma, A, 'sso', true, { featureReader: env.featureSync.reader });
    const changed = await bulk(A, { ...admin, 'if-none-match': etag });
    expect(changed.status).toBe(200);
    expect(changed.headers.get('etag')).not.toBe(etag);
    const sso = (await changed.json()).flags.find((f: { key: string }) => f.key === 'sso');
    expect(sso).toMatchObject({ value: true, variant: 'override', metadata: { source: 'override' } });
  });
});

describe('OFREP errors and authentication', () => {
  it('answers the protocol error codes for a bad body or context', async () => {
    const cases: [unknown, string][] = [
      ['{"context": ', 'PARSE_ERROR'],
      [{ nothing: true }, 'INVALID_CONTEXT'],
      [{ context: 'acme' }, 'INVALID_CONTEXT'],
      [{ context: {} }, 'TARGETING_KEY_MISSING'],
      [{ context: { targetingKey: '' } }, 'TARGETING_KEY_MISSING'],
      [{ context: { targetingKey: 42 } }, 'INVALID_CONTEXT'],
      [{ context: { targetingKey: 'bad\u0000id' } }, 'INVALID_CONTEXT'],
    ];
    for (const [body, errorCode] of cases) {
      const one = await post('/ofrep/v1/evaluate/flags/api_access', body, admin);
      expect(one.status, JSON.stringify(body)).toBe(400);
      expect(await one.json()).toEqual({ key: 'api_access', errorCode, errorDetails: expect.any(String) });
      const all = await post('/ofrep/v1/evaluate/flags', body, admin);
      expect(all.status).toBe(400);
      expect(await all.json()).toEqual({ errorCode, errorDetails: expect.any(String) });
    }
  });

  it('401 without a valid token, 403 for a tenant key naming another tenant; X-API-Key works too', async () => {
    const refused: Record<string, string>[] = [
      {},
      { authorization: 'Bearer not-a-real-token-0000000' },
      { 'x-api-key': 'nope' },
    ];
    for (const headers of refused) {
      const res = await bulk(A, headers);
      expect(res.status).toBe(401);
      expect(res.headers.get('www-authenticate')).toMatch(/^Bearer/);
    }
    const own = await flag('api_access', A, { authorization: `Bearer ${TENANT_A_TOKEN}` });
    expect(await own.json()).toMatchObject({ value: true });
    const other = await flag('api_access', B, { authorization: `Bearer ${TENANT_A_TOKEN}` });
    expect(other.status).toBe(403);
    expect(await other.json()).toEqual({ errorDetails: expect.any(String) });
    expect((await bulk(A, { 'x-api-key': TENANT_A_TOKEN })).status).toBe(200);
    expect((await bulk(B, { 'x-api-key': TENANT_A_TOKEN })).status).toBe(403);
  });
});

describe('OFREP in host apps', () => {
  const auth = testAuthConfig(env, A, B);
  const options = {
    features: env.featureSync.reader,
    ofrep: { catalog: databaseCatalog(env.prisma), auth },
  };

  /** The same checks through any host: own tenant by session, a token, 403, 304. */
  async function check(baseUrl: string) {
    const call = (path: string, tenantId: string, headers: Record<string, string>) =>
      fetch(`${baseUrl}${path}`, {
        method: 'POST',
        headers: { 'content-type': 'application/json', ...headers },
        body: JSON.stringify({ context: { targetingKey: tenantId } }),
      });
    const session = { 'x-tenant-id': B };
    const one = await call('/ofrep/v1/evaluate/flags/max_users', B, session);
    expect(await one.json()).toMatchObject({ key: 'max_users', value: PLAN_FIXTURES.pro.features.max_users });
    expect((await call('/ofrep/v1/evaluate/flags/max_users', A, session)).status).toBe(403);
    expect((await call('/ofrep/v1/evaluate/flags', A, {})).status).toBe(401);
    const all = await call('/ofrep/v1/evaluate/flags', A, admin);
    expect(all.status).toBe(200);
    // Each host sends the kept, already serialised answer as JSON.
    expect(all.headers.get('content-type')).toMatch(/^application\/json/);
    const flags = ((await all.json()) as { flags: { key: string; value: unknown }[] }).flags;
    expect(flags.find((f) => f.key === 'max_users')?.value).toBe(PLAN_FIXTURES.starter.features.max_users);
    const etag = all.headers.get('etag')!;
    const again = await call('/ofrep/v1/evaluate/flags', A, { ...admin, 'if-none-match': etag });
    expect(again.status).toBe(304);
    expect(await again.text()).toBe('');
    const missing = await call('/ofrep/v1/evaluate/flags/nope', B, session);
    expect(missing.status).toBe(404);
    expect(await missing.json()).toMatchObject({ errorCode: 'FLAG_NOT_FOUND' });
  }

  it('web-standard handler (Request → Response), served by node:http', async () => {
    const web = createWebAdapter({
      ...options,
      resolveTenant: (request) => request.headers.get('x-tenant-id'),
    });
    const serve = async (req: IncomingMessage, res: ServerResponse) => {
      const chunks: Buffer[] = [];
      for await (const chunk of req) chunks.push(chunk as Buffer);
      const request = new Request(`http://host.test${req.url}`, {
        method: req.method,
        headers: req.headers as Record<string, string>,
        ...(req.method === 'POST' ? { body: Buffer.concat(chunks) } : {}),
      });
      const response = await web.ofrep(request);
      res.writeHead(response.status, Object.fromEntries(response.headers));
      res.end(Buffer.from(await response.arrayBuffer()));
    };
    const server = createServer((req, res) => void serve(req, res));
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    try {
      await check(`http://127.0.0.1:${(server.address() as AddressInfo).port}`);
    } finally {
      await new Promise<void>((resolve) => server.close(() => resolve()));
    }
  });

  it('Express middleware, with and without express.json() before it', async () => {
    for (const withJson of [false, true]) {
      const host = express();
      if (withJson) host.use(express.json());
      host.use(createExpressAdapter({ ...options, resolveTenant: (req) => req.get('x-tenant-id') }).ofrep);
      host.post('/other', (_req, res) => void res.json({ passed: true }));
      const server = host.listen(0, '127.0.0.1');
      await new Promise<void>((resolve) => server.once('listening', () => resolve()));
      try {
        const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
        await check(url);
        const other = await fetch(`${url}/other`, { method: 'POST' });
        expect(await other.json()).toEqual({ passed: true });
      } finally {
        await new Promise<void>((resolve) => server.close(() => resolve()));
      }
    }
  });

  it('Fastify plugin', async () => {
    const host = Fastify();
    await host.register(billingPlugin, {
      ...options,
      resolveTenant: (request) => request.headers['x-tenant-id'] as string | undefined,
    });
    await host.listen({ port: 0, host: '127.0.0.1' });
    try {
      await check(`http://127.0.0.1:${(host.server.address() as AddressInfo).port}`);
    } finally {
      await host.close();
    }
  });
});
