import type { FastifyInstance, FastifyPluginAsync, FastifyRequest } from 'fastify';
import type { PrismaClient } from '@packages/db';
import { z } from 'zod';
import { parseOrThrow } from '../../flows/custom-plans/validation.js';
import { featureKeyParamSchema, tenantIdSchema } from '../../io/identifiers.js';
import type { UsageService } from '../../flows/usage/index.js';
import { HttpError } from '../../io/http/error-response.js';
import { authenticated, forbidden, requireAdmin } from './admin-access.js';
import { canReadTenant } from '../../io/http/auth.js';
import { UsageAlertNotFoundError } from '../../core/errors.js';
import {
  listUsageAlerts,
  listUsageMeterReports,
  replayUsageAlert,
  USAGE_ALERT_STATUSES,
} from '../../flows/usage/index.js';
import { documented } from '../../io/http/openapi.js';

/**
 * Usage of metered features (docs/usage.md) over the admin API. A tenant's own token may track,
 * check and read its usage; setting and resetting it is for admin tokens (audited as `admin:<name>`).
 */

const tenantParam = z.object({ tenantId: tenantIdSchema }).strict();
const keyParam = z.object({ tenantId: tenantIdSchema, key: featureKeyParamSchema }).strict();
const amount = z.number().int().min(0).max(Number.MAX_SAFE_INTEGER);
const trackBody = z
  .object({
    key: featureKeyParamSchema,
    amount: amount.optional(),
    idempotencyKey: z.string().min(1).max(255).optional(),
  })
  .strict();
const checkBody = z.object({ key: featureKeyParamSchema, amount: amount.optional() }).strict();
const setBody = z.object({ used: amount }).strict();
const reserveBody = z
  .object({
    key: featureKeyParamSchema,
    amount,
    ttlMs: z
      .number()
      .int()
      .min(1)
      .max(30 * 86_400_000),
    idempotencyKey: z.string().min(1).max(255).optional(),
  })
  .strict();
const finalizeBody = z.object({ amount }).strict();
const reservationParam = z.object({ tenantId: tenantIdSchema, id: z.string().min(1).max(255) }).strict();
const listLimit = z.coerce.number().int().min(1).max(500).optional();
const alertsQuery = z
  .object({
    tenantId: tenantIdSchema.optional(),
    status: z.enum(USAGE_ALERT_STATUSES).optional(),
    limit: listLimit,
  })
  .strict();
const alertParam = z.object({ id: z.coerce.number().int().min(1) }).strict();
const meterReportsQuery = z
  .object({
    tenantId: tenantIdSchema.optional(),
    pending: z.enum(['true', 'false']).optional(),
    limit: listLimit,
  })
  .strict();

export interface UsageRouteDeps {
  prisma: PrismaClient;
  usage?: UsageService;
}

export const usageRoutes: FastifyPluginAsync<UsageRouteDeps> = async (app, deps) => {
  const service = (): UsageService => {
    if (!deps.usage)
      throw new HttpError(503, 'not_configured', 'The usage service is not configured on this server');
    return deps.usage;
  };
  /** The path's tenant, when the caller may use it. */
  const ownTenant = (request: FastifyRequest): string => {
    const principal = authenticated(request);
    const { tenantId } = parseOrThrow(
      tenantParam,
      { tenantId: (request.params as { tenantId?: unknown }).tenantId },
      'path parameters',
    );
    if (!canReadTenant(principal, tenantId)) throw forbidden(`This token may not use tenant "${tenantId}"`);
    return tenantId;
  };
  const who = (request: FastifyRequest) => ({
    actor: `admin:${requireAdmin(request).name}`,
    source: 'admin' as const,
  });
  const shared = { service, ownTenant, who };
  counterRoutes(app, deps, shared);
  outboxRoutes(app, deps, shared);
};

/** What the usage route groups share: the service (503 without it), the path's tenant, the acting admin. */
interface UsageRouteKit {
  service: () => UsageService;
  ownTenant: (request: FastifyRequest) => string;
  who: (request: FastifyRequest) => { actor: string; source: 'admin' };
}

/** A tenant's counters: read, track, check, reserve / finalize / release, set and reset. */
function counterRoutes(app: FastifyInstance, deps: UsageRouteDeps, kit: UsageRouteKit): void {
  const { service, ownTenant, who } = kit;
  app.get(
    '/api/admin/tenants/:tenantId/usage',
    documented({
      summary: 'Every metered key of the tenant this period',
      tag: 'usage',
      auth: 'token',
      params: tenantParam,
      errors: [404, 503],
    }),
    async (request) => service().getUsage(ownTenant(request)),
  );

  app.post(
    '/api/admin/tenants/:tenantId/usage/track',
    documented({
      summary: 'Count usage of a metered key',
      tag: 'usage',
      auth: 'token',
      params: tenantParam,
      body: trackBody,
      errors: [404, 409, 503],
    }),
    async (request) => {
      const tenantId = ownTenant(request);
      const body = parseOrThrow(trackBody, request.body ?? {}, 'request body');
      return service().track(tenantId, body.key, body.amount ?? 1, {
        ...(body.idempotencyKey !== undefined ? { idempotencyKey: body.idempotencyKey } : {}),
      });
    },
  );

  app.post(
    '/api/admin/tenants/:tenantId/usage/check',
    documented({
      summary: 'Would this amount be allowed (nothing counted)',
      tag: 'usage',
      auth: 'token',
      params: tenantParam,
      body: checkBody,
      errors: [404, 503],
    }),
    async (request) => {
      const tenantId = ownTenant(request);
      const body = parseOrThrow(checkBody, request.body ?? {}, 'request body');
      return service().check(tenantId, body.key, body.amount ?? 1);
    },
  );

  // Reservations: hold an amount now, charge what was used later (docs/usage.md, The service).
  app.post(
    '/api/admin/tenants/:tenantId/usage/reserve',
    documented({
      summary: 'Reserve an amount of a metered key, held until finalized, released or expired',
      tag: 'usage',
      auth: 'token',
      params: tenantParam,
      body: reserveBody,
      errors: [404, 409, 503],
    }),
    async (request) => {
      const tenantId = ownTenant(request);
      const body = parseOrThrow(reserveBody, request.body ?? {}, 'request body');
      return service().reserve(tenantId, body.key, body.amount, {
        ttlMs: body.ttlMs,
        ...(body.idempotencyKey !== undefined ? { idempotencyKey: body.idempotencyKey } : {}),
      });
    },
  );

  app.post(
    '/api/admin/tenants/:tenantId/usage/reservations/:id/finalize',
    documented({
      summary: 'Charge what a reservation actually used and end it',
      tag: 'usage',
      auth: 'token',
      params: reservationParam,
      body: finalizeBody,
      errors: [404, 409, 503],
    }),
    async (request) => {
      ownTenant(request);
      const { tenantId, id } = parseOrThrow(reservationParam, request.params, 'path parameters');
      const body = parseOrThrow(finalizeBody, request.body ?? {}, 'request body');
      return service().finalize(id, body.amount, { tenantId });
    },
  );

  app.post(
    '/api/admin/tenants/:tenantId/usage/reservations/:id/release',
    documented({
      summary: 'Release a reservation without charging it',
      tag: 'usage',
      auth: 'token',
      params: reservationParam,
      errors: [404, 409, 503],
    }),
    async (request) => {
      ownTenant(request);
      const { tenantId, id } = parseOrThrow(reservationParam, request.params, 'path parameters');
      return service().release(id, { tenantId });
    },
  );

  app.put(
    '/api/admin/tenants/:tenantId/usage/:key',
    documented({
      summary: "Set this period's usage of a key (audited)",
      tag: 'usage',
      auth: 'admin',
      params: keyParam,
      body: setBody,
      errors: [404, 503],
    }),
    async (request) => {
      const options = who(request);
      const { tenantId, key } = parseOrThrow(keyParam, request.params, 'path parameters');
      const body = parseOrThrow(setBody, request.body ?? {}, 'request body');
      return service().setUsage(tenantId, key, body.used, options);
    },
  );

  app.delete(
    '/api/admin/tenants/:tenantId/usage',
    documented({
      summary: 'Reset every metered key of the tenant (audited)',
      tag: 'usage',
      auth: 'admin',
      params: tenantParam,
      errors: [404, 503],
    }),
    async (request) => {
      const options = who(request);
      const { tenantId } = parseOrThrow(tenantParam, request.params, 'path parameters');
      return service().resetUsage(tenantId, undefined, options);
    },
  );
}

/** The alert outbox and the Stripe meter reporting, for operators. */
function outboxRoutes(app: FastifyInstance, deps: UsageRouteDeps, kit: UsageRouteKit): void {
  const { service, who } = kit;
  // The alert outbox (USAGE_WEBHOOK_URL): what was sent, what is waiting, what failed; replayable.
  app.get(
    '/api/admin/usage-alerts',
    documented({ summary: 'The usage alert outbox', tag: 'usage', auth: 'admin', query: alertsQuery }),
    async (request) => {
      requireAdmin(request);
      const q = parseOrThrow(alertsQuery, request.query ?? {}, 'query');
      return { alerts: await listUsageAlerts(deps.prisma, q) };
    },
  );

  app.post(
    '/api/admin/usage-alerts/:id/replay',
    documented({
      summary: 'Send a usage alert again (audited)',
      tag: 'usage',
      auth: 'admin',
      params: alertParam,
      errors: [404],
    }),
    async (request) => {
      const options = who(request);
      const { id } = parseOrThrow(alertParam, request.params, 'path parameters');
      const alert = await replayUsageAlert(deps.prisma, id, options);
      if (!alert) throw new UsageAlertNotFoundError(id);
      return alert;
    },
  );

  // Stripe meter reporting (usage.stripeMeter): per counter, what Stripe was sent, what is pending.
  app.get(
    '/api/admin/usage-meter-reports',
    documented({
      summary: 'Stripe meter reporting per counter: owed, sent, pending, last error',
      tag: 'usage',
      auth: 'admin',
      query: meterReportsQuery,
    }),
    async (request) => {
      requireAdmin(request);
      const q = parseOrThrow(meterReportsQuery, request.query ?? {}, 'query');
      return {
        reports: await listUsageMeterReports(deps.prisma, {
          ...(q.tenantId !== undefined ? { tenantId: q.tenantId } : {}),
          ...(q.limit !== undefined ? { limit: q.limit } : {}),
          pending: q.pending === 'true',
        }),
      };
    },
  );

  app.delete(
    '/api/admin/tenants/:tenantId/usage/:key',
    documented({
      summary: 'Reset one metered key of the tenant (audited)',
      tag: 'usage',
      auth: 'admin',
      params: keyParam,
      errors: [404, 503],
    }),
    async (request) => {
      const options = who(request);
      const { tenantId, key } = parseOrThrow(keyParam, request.params, 'path parameters');
      return service().resetUsage(tenantId, key, options);
    },
  );
}
