import { Validator } from '@seriousme/openapi-schema-validator';
import { describe, expect, it } from 'vitest';
import { errorStatuses, isApiRoute, openApiPath } from '../src/io/http/openapi.js';
import { createPrometheusMetrics, createUsageService } from '../src/index.js';
import { buildServer, OPENAPI_PATH } from '../src/entry/server/app.js';
import { ADMIN_TOKEN, testAuthConfig } from './admin-helpers.js';
import { closeAfterAll, useAdminTestEnv } from './helpers/use-env.js';

/**
 * GET /api/openapi.json: an OpenAPI 3.1 document generated from the route declarations. Checked
 * by a real validator (the OpenAPI Initiative's 3.1 JSON Schema, @seriousme/openapi-schema-validator),
 * and against the server's own router: every route it registers (read from Fastify's route tree,
 * not from the declarations) is in the document, declared, with the error responses its
 * authentication and input imply.
 */
const env = await useAdminTestEnv();
const usage = createUsageService(env.prisma, { featureReader: env.featureSync.reader });
const app = closeAfterAll(
  await buildServer({
    prisma: env.prisma,
    stripe: env.stripe,
    featureSync: env.featureSync,
    customPlans: env.customPlans,
    usage,
    webhookHandler: { handleWebhook: async () => ({}) as never },
    prometheus: createPrometheusMetrics(),
    auth: testAuthConfig(env, 'a', 'b'),
  }),
);
await app.ready();
const response = await app.inject({ method: 'GET', url: OPENAPI_PATH });
type Operation = {
  summary: string;
  parameters?: { name: string; in: string }[];
  responses: Record<string, unknown>;
  security?: unknown[];
  requestBody?: unknown;
};
const document = response.json<{ openapi: string; paths: Record<string, Record<string, Operation>> }>();

/** Every method + path Fastify's router holds, from its printed tree (full paths, one node a line). */
function registeredRoutes(): { method: string; url: string }[] {
  const out: { method: string; url: string }[] = [];
  const stack: string[] = [];
  for (const line of app.printRoutes({ commonPrefix: false }).split('\n')) {
    const m = /^([│ ]*)[├└]── (\S+)(?: \(([A-Z, -]+)\))?$/.exec(line);
    if (!m) continue;
    const depth = m[1]!.length / 4;
    stack.length = depth;
    const url = (stack[depth - 1] ?? '') + m[2]!;
    stack[depth] = url;
    for (const method of (m[3] ?? '').split(', ').filter((x) => /^[A-Z]+$/.test(x)))
      out.push({ method, url });
  }
  return out;
}

describe('the OpenAPI document', () => {
  it('is served without a token and is a valid OpenAPI 3.1 document', async () => {
    expect(response.statusCode).toBe(200);
    expect(document.openapi).toBe('3.1.0');
    const result = await new Validator().validate(document);
    expect(result.errors ?? []).toEqual([]);
    expect(result.valid).toBe(true);
  });

  it('a broken document is refused by the same validator (the check can fail)', async () => {
    const broken = structuredClone(document) as { paths: Record<string, Record<string, unknown>> };
    delete (broken.paths['/health']!.get as { responses?: unknown }).responses;
    broken.paths['/health']!.get = {
      ...(broken.paths['/health']!.get as object),
      parameters: [{ in: 'body' }],
    };
    expect((await new Validator().validate(broken as Record<string, unknown>)).valid).toBe(false);
  });

  it('has every route the server registers, declared, with the error responses it implies', () => {
    const routes = registeredRoutes().filter(isApiRoute);
    // The route groups the issue names, so a broken tree parse cannot pass with a handful of routes.
    for (const url of [
      '/api/stripe/webhook',
      '/health/ready',
      '/metrics',
      '/ofrep/v1/evaluate/flags',
      '/ofrep/v1/evaluate/flags/:key',
      '/api/admin/tenants/:tenantId/usage/track',
      '/api/admin/features',
      '/api/admin/tenants/:tenantId/features/:key/explain',
      '/api/admin/plans/:planId/preview',
      '/api/admin/tenants/:tenantId/usage/reserve',
      '/api/admin/tenants/:tenantId/usage/reservations/:id/finalize',
      '/api/admin/tenants/:tenantId/usage/reservations/:id/release',
      '/api/admin/over-limits',
      OPENAPI_PATH,
    ])
      expect(routes.map((r) => r.url)).toContain(url);
    expect(routes.length).toBeGreaterThan(40);
    for (const route of routes) {
      const operation = document.paths[openApiPath(route.url)]?.[route.method.toLowerCase()];
      expect(operation, `${route.method} ${route.url}`).toBeDefined();
      expect(operation!.summary, `${route.method} ${route.url} has no declaration`).not.toBe('Undocumented');
      const statuses = Object.keys(operation!.responses);
      expect(
        statuses.some((s) => /^2\d\d$/.test(s)),
        `${route.method} ${route.url}`,
      ).toBe(true);
      expect(statuses, `${route.method} ${route.url}`).toContain('500');
      // Every path parameter is declared.
      for (const [, name] of route.url.matchAll(/:([A-Za-z0-9_]+)/g))
        expect(operation!.parameters?.some((p) => p.in === 'path' && p.name === name)).toBe(true);
    }
    // Nothing documented that the server does not have.
    const documented = Object.entries(document.paths).flatMap(([path, ops]) =>
      Object.keys(ops).map((method) => `${method.toUpperCase()} ${path}`),
    );
    expect(documented.sort()).toEqual(routes.map((r) => `${r.method} ${openApiPath(r.url)}`).sort());
  });

  it('the error responses are what the routes answer', async () => {
    const admin = { authorization: `Bearer ${ADMIN_TOKEN}` };
    // Each documented 4xx is produced by a real request, so the statuses are not merely listed.
    const cases: [string, string, string, Record<string, string>, unknown, number][] = [
      ['get', '/api/admin/tenants/{tenantId}', '/api/admin/tenants/nobody', admin, undefined, 404],
      ['get', '/api/admin/tenants/{tenantId}', '/api/admin/tenants/nobody', {}, undefined, 401],
      ['post', '/api/admin/features', '/api/admin/features', admin, { key: 1 }, 400],
      ['post', '/api/admin/plans/{planId}/preview', '/api/admin/plans/prod_x/preview', admin, {}, 400],
      ['post', '/ofrep/v1/evaluate/flags/{key}', '/ofrep/v1/evaluate/flags/sso', {}, {}, 401],
      [
        'post',
        '/api/admin/tenants/{tenantId}/usage/reservations/{id}/release',
        '/api/admin/tenants/nobody/usage/reservations/res_missing/release',
        admin,
        undefined,
        404,
      ],
      ['get', '/api/admin/over-limits', '/api/admin/over-limits?tenant=x', admin, undefined, 400],
    ];
    for (const [method, path, url, headers, payload, status] of cases) {
      const answer = await app.inject({
        method: method.toUpperCase() as 'GET',
        url,
        headers,
        ...(payload !== undefined ? { payload: payload as object } : {}),
      });
      expect(answer.statusCode, `${method} ${url}`).toBe(status);
      expect(Object.keys(document.paths[path]![method]!.responses)).toContain(String(status));
    }
    expect(errorStatuses({ summary: '', tag: '', auth: 'admin', body: undefined, errors: [404] })).toEqual([
      401, 403, 404, 500,
    ]);
  });

  it('request schemas come from the zod schemas the handlers parse with', () => {
    const override = document.paths['/api/admin/tenants/{tenantId}/overrides/{key}']!.put!;
    expect(override.requestBody).toMatchObject({
      content: {
        'application/json': {
          schema: {
            type: 'object',
            properties: { value: { type: ['boolean', 'number'] } },
            required: ['value'],
            additionalProperties: false,
          },
        },
      },
    });
    expect(override.security).toEqual([{ bearer: [] }]);
    expect(document.paths['/api/stripe/webhook']!.post!.parameters).toContainEqual(
      expect.objectContaining({ name: 'Stripe-Signature', in: 'header', required: true }),
    );
  });
});
