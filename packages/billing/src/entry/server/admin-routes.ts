import type { FastifyInstance, FastifyPluginAsync, FastifyReply, FastifyRequest } from 'fastify';
import { z } from 'zod';
import { emptyState } from '../../core/index.js';
import type { CustomPlanService } from '../../flows/custom-plans/index.js';
import { parseOrThrow } from '../../flows/custom-plans/validation.js';
import { TenantNotFoundError, ValidationError } from '../../core/errors.js';
import { errorResponse, HttpError } from '../../io/http/error-response.js';
import { listTenantAuditEntries } from '../../io/audit/index.js';
import { readTenantWithFeatures, toTenantFeatures } from '../../io/feature-cache/index.js';
import { auditCursorSchema, planRefSchema, tenantIdSchema } from '../../io/identifiers.js';
import { explainRoutes } from './explain-routes.js';
import { managementRoutes } from './management-routes.js';
import { previewRoutes } from './preview-routes.js';
import { usageRoutes } from './usage-routes.js';
import { webhookAdminRoutes } from './webhook-admin-routes.js';
import { syncRunRoutes } from './sync-run-routes.js';
import { authenticateToken, bearerToken, canReadTenant } from '../../io/http/auth.js';
import { authenticated, forbidden, requireAdmin, unauthorized, type AdminRouteDeps } from './admin-access.js';

export type { AdminRouteDeps } from './admin-access.js';
import { documented } from '../../io/http/openapi.js';

const tenantIdParam = z.object({ tenantId: tenantIdSchema });
const mergeStrategy = z.enum(['merge', 'replace', 'preserve']);

const applyPlanBody = z
  .object({
    planId: planRefSchema,
    force: z.boolean().optional(),
    mergeStrategy: mergeStrategy.optional(),
    dryRun: z.boolean().optional(),
  })
  .strict();

/** The service validates the plan itself; the route only needs an object to hand over. */
const customPlanBody = z.record(z.string(), z.unknown());

export const AUDIT_LOG_MAX_LIMIT = 200;
const auditLogQuery = z
  .object({
    limit: z.coerce.number().int().min(1).max(AUDIT_LOG_MAX_LIMIT).optional().default(50),
    // The cursor is the id of the last entry of the previous page (ids grow with insertion order).
    before: auditCursorSchema.optional(),
  })
  .strict();

export const adminRoutes: FastifyPluginAsync<AdminRouteDeps> = async (app, deps) => {
  // onRequest runs before the body is parsed: an unauthenticated caller costs no parsing at all.
  app.addHook('onRequest', async (request) => {
    const token = bearerToken(request.headers.authorization);
    if (token === null) throw unauthorized('Missing bearer token');
    const principal = await authenticateToken(deps.auth, token);
    if (!principal) throw unauthorized('Invalid or revoked token');
    request.principal = principal;
  });

  app.setErrorHandler((error, request, reply) => sendError(error, request, reply));
  // Registered inside this plugin so they share its auth hook and error handler.
  await app.register(managementRoutes, deps);
  await app.register(usageRoutes, deps);
  await app.register(webhookAdminRoutes, deps);
  await app.register(explainRoutes, deps);
  await app.register(previewRoutes, deps);
  await app.register(syncRunRoutes, deps);
  planRoutes(app, deps);
  tenantReadRoutes(app, deps);
};

/** Plans: a custom enterprise plan, a plan's features applied to a tenant (the sync: sync-run-routes.ts). */
function planRoutes(app: FastifyInstance, deps: AdminRouteDeps): void {
  app.post(
    '/api/admin/tenants/:tenantId/custom-plans',
    documented({
      summary: 'Create a custom enterprise plan for the tenant',
      tag: 'plans',
      auth: 'admin',
      params: tenantIdParam,
      body: customPlanBody,
      ok: { status: 201, description: 'The plan, its Stripe objects and checkout link' },
      errors: [404, 409, 502, 503],
    }),
    async (request, reply) => {
      const principal = requireAdmin(request);
      const { tenantId } = params(request);
      const body = parseOrThrow(customPlanBody, request.body ?? {}, 'request body');
      const service = required(deps.customPlans, 'custom plan service');
      const headerKey = request.headers['idempotency-key'];
      if (headerKey !== undefined && body.idempotencyKey !== undefined && body.idempotencyKey !== headerKey) {
        throw new ValidationError('Idempotency-Key header and body idempotencyKey differ', [
          { path: 'idempotencyKey', message: 'differs from the Idempotency-Key header' },
        ]);
      }
      if ('tenantId' in body && body.tenantId !== tenantId) {
        throw new ValidationError('tenantId in the body differs from the URL', [
          { path: 'tenantId', message: 'must match the URL' },
        ]);
      }
      const result = await service.createCustomEnterprisePlan({
        ...(body as object),
        ...(typeof headerKey === 'string' ? { idempotencyKey: headerKey } : {}),
        tenantId,
        actor: `admin:${principal.name}`,
      } as Parameters<CustomPlanService['createCustomEnterprisePlan']>[0]);
      return reply.code(201).send(result);
    },
  );

  app.post(
    '/api/admin/tenants/:tenantId/apply-plan',
    documented({
      summary: "Apply a plan's features to the tenant",
      tag: 'plans',
      auth: 'admin',
      params: tenantIdParam,
      body: applyPlanBody,
      errors: [404, 502, 503],
    }),
    async (request) => {
      const principal = requireAdmin(request);
      const { tenantId } = params(request);
      const body = parseOrThrow(applyPlanBody, request.body ?? {}, 'request body');
      const featureSync = required(deps.featureSync, 'feature sync service');
      // The throwing variant, so an unknown tenant or plan is a 404 rather than a 200 with a reason.
      return featureSync.applyPlanDefaultsToTenantOrThrow(tenantId, body.planId, {
        ...(body.force !== undefined ? { force: body.force } : {}),
        ...(body.mergeStrategy !== undefined ? { mergeStrategy: body.mergeStrategy } : {}),
        ...(body.dryRun !== undefined ? { dryRun: body.dryRun } : {}),
        actor: `admin:${principal.name}`,
        source: 'admin',
      });
    },
  );
}

/** A tenant's features (its own token may read them) and its audit log. */
function tenantReadRoutes(app: FastifyInstance, deps: AdminRouteDeps): void {
  const { prisma } = deps;
  app.get(
    '/api/admin/tenants/:tenantId/features',
    documented({
      summary: "The tenant's features (admins also see plan and overrides)",
      tag: 'tenants',
      auth: 'token',
      params: tenantIdParam,
      errors: [404],
    }),
    async (request) => {
      const principal = authenticated(request);
      const { tenantId } = params(request);
      if (!canReadTenant(principal, tenantId))
        throw forbidden(`This token may not read tenant "${tenantId}"`);
      // Read from the database, not the cache: after an admin change this must show what was committed.
      // One statement on the read pool, so it never waits behind webhook or sync transactions.
      const tenant = await readTenantWithFeatures(deps.readPrisma ?? prisma, tenantId);
      if (!tenant) throw new TenantNotFoundError(tenantId);
      const state = tenant.state ?? emptyState(tenantId);
      const view = { ...toTenantFeatures(state), configured: tenant.state !== null };
      if (principal.role !== 'admin') return view;
      // Admins also get what the effective map was computed from, to explain it.
      return {
        ...view,
        planFeatures: state.planFeatures,
        overrides: state.overrides,
        stripeCustomerId: tenant.stripeCustomerId,
        stripeProductId: state.stripeProductId,
        stripePriceId: state.stripePriceId,
        stripeSubscriptionId: state.stripeSubscriptionId,
        updatedAt: state.updatedAt?.toISOString() ?? null,
      };
    },
  );

  app.get(
    '/api/admin/tenants/:tenantId/audit-log',
    documented({
      summary: "The tenant's audit log, newest first",
      tag: 'tenants',
      auth: 'admin',
      params: tenantIdParam,
      query: auditLogQuery,
      errors: [404],
    }),
    async (request) => {
      requireAdmin(request);
      const { tenantId } = params(request);
      const query = parseOrThrow(auditLogQuery, request.query ?? {}, 'query');
      // A deleted tenant's history stays readable; 404 only for an id with neither tenant nor history.
      const page = await listTenantAuditEntries(prisma, tenantId, {
        limit: query.limit,
        ...(query.before !== undefined ? { before: query.before } : {}),
      });
      // The tenant is the URL's; each entry need not repeat it.
      return {
        tenantId,
        entries: page.entries.map(({ tenantId: _tenant, ...entry }) => entry),
        nextCursor: page.nextCursor,
      };
    },
  );
}

function params(request: FastifyRequest): { tenantId: string } {
  return parseOrThrow(tenantIdParam, request.params, 'path parameters');
}

function required<T>(service: T | undefined, what: string): T {
  if (!service) throw new HttpError(503, 'not_configured', `The ${what} is not configured on this server`);
  return service;
}

function sendError(error: unknown, request: FastifyRequest, reply: FastifyReply) {
  const { status, body, headers } = errorResponse(error);
  if (status >= 500) request.log.error({ err: error }, 'admin API request failed');
  return reply.code(status).headers(headers).send(body);
}
