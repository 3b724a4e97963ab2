import type { FastifyInstance, FastifyPluginAsync, FastifyRequest } from 'fastify';
import { z } from 'zod';
import { USAGE_OVERAGE_POLICIES, USAGE_METER_REPORTS, USAGE_RESETS } from '../../core/index.js';
import { parseOrThrow } from '../../flows/custom-plans/validation.js';
import {
  addFeature,
  clearFeatureOverride,
  createTenant,
  deleteTenant,
  deprecateFeature,
  describeFeature,
  setFeatureRules,
  getTenant,
  linkStripeCustomer,
  listFeatures,
  listTenants,
  listTenantsOptions,
  LIST_TENANTS_MAX_LIMIT,
  renameTenant,
  setFeatureOverride,
  setFeatureUsage,
  unlinkStripeCustomer,
  type TenantManagementOptions,
} from '../../flows/management/index.js';
import { databaseCatalog } from '../../io/catalog/registry.js';
import { listOverLimits } from '../../flows/features/over-limit.js';
import type { OverLimitPolicy } from '../../core/types.js';
import { authenticated, forbidden, requireAdmin, type AdminRouteDeps } from './admin-access.js';
import { canReadTenant } from '../../io/http/auth.js';
import {
  bundleSchema,
  featureKeyParamSchema,
  planRefSchema,
  tenantCursorSchema,
  tenantIdSchema,
} from '../../io/identifiers.js';
import { documented } from '../../io/http/openapi.js';

/**
 * Admin API over the management library: tenants, manual overrides and the feature catalog.
 * Admin tokens only, except reading a tenant, which its own tenant token may do. Validation of
 * values lives in the library; the routes check shapes and pass the caller as the audit actor.
 */

const tenantParam = z.object({ tenantId: tenantIdSchema }).strict();
const overrideParam = z.object({ tenantId: tenantIdSchema, key: featureKeyParamSchema }).strict();
const keyParam = z.object({ key: featureKeyParamSchema }).strict();

const boolText = z.enum(['true', 'false']).transform((v) => v === 'true');
const listQuery = z
  .object({
    cursor: tenantCursorSchema.optional(),
    limit: z.coerce.number().int().min(1).max(LIST_TENANTS_MAX_LIMIT).optional(),
    bundle: bundleSchema.optional(),
    plan: planRefSchema.optional(),
    access: boolText.optional(),
    customPlan: boolText.optional(),
    updatedSince: z.iso
      .datetime({ offset: true })
      .transform((text) => new Date(text))
      .optional(),
  })
  .strict();

const createTenantBody = z
  .object({ id: z.string(), name: z.string(), stripeCustomerId: z.string().nullable().optional() })
  .strict();
const renameBody = z.object({ name: z.string() }).strict();
const linkBody = z.object({ stripeCustomerId: z.string() }).strict();
const overrideBody = z.object({ value: z.union([z.boolean(), z.number()]) }).strict();
// The combine rule and over-limit policy are checked by the management functions, which say why a value is refused.
const rules = { combine: z.enum(['max', 'sum']).optional(), overLimit: z.string().optional() };
const usageRules = z
  .object({
    reset: z.enum(USAGE_RESETS),
    overage: z.enum(USAGE_OVERAGE_POLICIES),
    thresholds: z.array(z.number().int()).optional(),
    stripeMeter: z.string().optional(),
    stripeMeterReport: z.enum(USAGE_METER_REPORTS).optional(),
  })
  .strict();
const addFeatureBody = z
  .object({
    key: z.string(),
    type: z.enum(['boolean', 'number']),
    description: z.string(),
    usage: usageRules.nullable().optional(),
    ...rules,
  })
  .strict();
const changeFeatureBody = z
  .object({ description: z.string().optional(), usage: usageRules.nullable().optional(), ...rules })
  .strict()
  .refine(
    (b) =>
      b.description !== undefined ||
      b.usage !== undefined ||
      b.combine !== undefined ||
      b.overLimit !== undefined,
    { message: 'give description, usage, combine or overLimit' },
  );
const overLimitQuery = z.object({ tenantId: z.string().optional() }).strict();

export const managementRoutes: FastifyPluginAsync<AdminRouteDeps> = async (app, deps) => {
  const who = (request: FastifyRequest): TenantManagementOptions => ({
    actor: `admin:${requireAdmin(request).name}`,
    source: 'admin',
    ...(deps.featureSync ? { featureReader: deps.featureSync.reader } : {}),
  });
  const tenantOf = (request: FastifyRequest) => parseOrThrow(tenantParam, request.params, 'path parameters');
  tenantManagementRoutes(app, deps, who, tenantOf);
  overrideManagementRoutes(app, deps, who);
  catalogManagementRoutes(app, deps, who);
};

/** The management options of a request: the caller as the audit actor (managementRoutes). */
type Who = (request: FastifyRequest) => TenantManagementOptions;

/** Tenants: list, create, read, rename, delete, link a Stripe customer. */
function tenantManagementRoutes(
  app: FastifyInstance,
  deps: AdminRouteDeps,
  who: Who,
  tenantOf: (request: FastifyRequest) => z.output<typeof tenantParam>,
): void {
  const { prisma } = deps;
  app.get(
    '/api/admin/tenants',
    documented({
      summary: 'List tenants (filters, keyset pages)',
      tag: 'tenants',
      auth: 'admin',
      query: listQuery,
    }),
    async (request) => {
      requireAdmin(request);
      const q = parseOrThrow(listQuery, request.query ?? {}, 'query');
      return listTenants(prisma, listTenantsOptions(q));
    },
  );

  app.post(
    '/api/admin/tenants',
    documented({
      summary: 'Create a tenant',
      tag: 'tenants',
      auth: 'admin',
      body: createTenantBody,
      ok: { status: 201, description: 'The tenant' },
      errors: [409],
    }),
    async (request, reply) => {
      const options = who(request);
      const body = parseOrThrow(createTenantBody, request.body ?? {}, 'request body');
      return reply.code(201).send(await createTenant(prisma, body, options));
    },
  );

  app.get(
    '/api/admin/tenants/:tenantId',
    documented({ summary: 'A tenant', tag: 'tenants', auth: 'token', params: tenantParam, errors: [404] }),
    async (request) => {
      const principal = authenticated(request);
      const { tenantId } = tenantOf(request);
      if (!canReadTenant(principal, tenantId))
        throw forbidden(`This token may not read tenant "${tenantId}"`);
      return getTenant(prisma, tenantId);
    },
  );

  app.patch(
    '/api/admin/tenants/:tenantId',
    documented({
      summary: 'Rename a tenant',
      tag: 'tenants',
      auth: 'admin',
      params: tenantParam,
      body: renameBody,
      errors: [404],
    }),
    async (request) => {
      const options = who(request);
      const { tenantId } = tenantOf(request);
      const body = parseOrThrow(renameBody, request.body ?? {}, 'request body');
      return renameTenant(prisma, tenantId, body.name, options);
    },
  );

  app.delete(
    '/api/admin/tenants/:tenantId',
    documented({
      summary: 'Delete a tenant',
      tag: 'tenants',
      auth: 'admin',
      params: tenantParam,
      errors: [404],
    }),
    async (request) => {
      const options = who(request);
      return deleteTenant(prisma, tenantOf(request).tenantId, options);
    },
  );

  app.put(
    '/api/admin/tenants/:tenantId/stripe-customer',
    documented({
      summary: "Link the tenant's Stripe customer",
      tag: 'tenants',
      auth: 'admin',
      params: tenantParam,
      body: linkBody,
      errors: [404, 409],
    }),
    async (request) => {
      const options = who(request);
      const { tenantId } = tenantOf(request);
      const body = parseOrThrow(linkBody, request.body ?? {}, 'request body');
      return linkStripeCustomer(prisma, tenantId, body.stripeCustomerId, options);
    },
  );

  app.delete(
    '/api/admin/tenants/:tenantId/stripe-customer',
    documented({
      summary: "Unlink the tenant's Stripe customer",
      tag: 'tenants',
      auth: 'admin',
      params: tenantParam,
      errors: [404],
    }),
    async (request) => {
      const options = who(request);
      return unlinkStripeCustomer(prisma, tenantOf(request).tenantId, options);
    },
  );
}

/** A tenant's manual overrides of a feature: set and clear. */
function overrideManagementRoutes(app: FastifyInstance, deps: AdminRouteDeps, who: Who): void {
  const { prisma } = deps;
  app.put(
    '/api/admin/tenants/:tenantId/overrides/:key',
    documented({
      summary: 'Set a manual override of a feature',
      tag: 'overrides',
      auth: 'admin',
      params: overrideParam,
      body: overrideBody,
      errors: [404, 409],
    }),
    async (request) => {
      const options = who(request);
      const { tenantId, key } = parseOrThrow(overrideParam, request.params, 'path parameters');
      const body = parseOrThrow(overrideBody, request.body ?? {}, 'request body');
      return setFeatureOverride(prisma, tenantId, key, body.value, options);
    },
  );

  app.delete(
    '/api/admin/tenants/:tenantId/overrides/:key',
    documented({
      summary: 'Clear a manual override',
      tag: 'overrides',
      auth: 'admin',
      params: overrideParam,
      errors: [404, 409],
    }),
    async (request) => {
      const options = who(request);
      const { tenantId, key } = parseOrThrow(overrideParam, request.params, 'path parameters');
      return clearFeatureOverride(prisma, tenantId, key, options);
    },
  );
}

/** The feature catalog and the tenants over a lowered limit. */
function catalogManagementRoutes(app: FastifyInstance, deps: AdminRouteDeps, who: Who): void {
  const { prisma } = deps;
  app.get(
    '/api/admin/features',
    documented({ summary: 'The feature catalog', tag: 'catalog', auth: 'admin' }),
    async (request) => {
      requireAdmin(request);
      return { features: await listFeatures(prisma) };
    },
  );

  app.post(
    '/api/admin/features',
    documented({
      summary: 'Register a feature key',
      tag: 'catalog',
      auth: 'admin',
      body: addFeatureBody,
      ok: { status: 201, description: 'The catalog entry' },
      errors: [409],
    }),
    async (request, reply) => {
      const options = who(request);
      const body = parseOrThrow(addFeatureBody, request.body ?? {}, 'request body');
      return reply
        .code(201)
        .send(await addFeature(prisma, { ...body, overLimit: body.overLimit as OverLimitPolicy }, options));
    },
  );

  app.patch(
    '/api/admin/features/:key',
    documented({
      summary: 'Describe a feature, or change its usage rules, combine rule or over-limit policy',
      tag: 'catalog',
      auth: 'admin',
      params: keyParam,
      body: changeFeatureBody,
      errors: [404],
    }),
    async (request) => {
      const options = who(request);
      const { key } = parseOrThrow(keyParam, request.params, 'path parameters');
      const body = parseOrThrow(changeFeatureBody, request.body ?? {}, 'request body');
      // Each change is its own audited step.
      let entry =
        body.description !== undefined ? await describeFeature(prisma, key, body.description, options) : null;
      if (body.usage !== undefined) entry = await setFeatureUsage(prisma, key, body.usage, options);
      if (body.combine !== undefined || body.overLimit !== undefined) {
        const rules = { combine: body.combine, overLimit: body.overLimit as OverLimitPolicy | undefined };
        entry = await setFeatureRules(prisma, key, rules, options);
      }
      return entry;
    },
  );

  // Tenants whose reported usage is above their current limit (a downgrade), with each key's policy.
  app.get(
    '/api/admin/over-limits',
    documented({
      summary: "Tenants whose reported usage is above their current limit, with each key's policy",
      tag: 'usage',
      auth: 'admin',
      query: overLimitQuery,
    }),
    async (request) => {
      requireAdmin(request);
      const { tenantId } = parseOrThrow(overLimitQuery, request.query ?? {}, 'query');
      return { overLimits: await listOverLimits(prisma, databaseCatalog(prisma), { tenantId }) };
    },
  );

  app.post(
    '/api/admin/features/:key/deprecate',
    documented({
      summary: 'Deprecate a feature key',
      tag: 'catalog',
      auth: 'admin',
      params: keyParam,
      errors: [404],
    }),
    async (request) => {
      const options = who(request);
      const { key } = parseOrThrow(keyParam, request.params, 'path parameters');
      return deprecateFeature(prisma, key, options);
    },
  );
}
