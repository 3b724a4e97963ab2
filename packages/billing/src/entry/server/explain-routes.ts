import type { FastifyPluginAsync } from 'fastify';
import type Stripe from 'stripe';
import { z } from 'zod';
import { parseOrThrow } from '../../flows/custom-plans/validation.js';
import { explainFeature } from '../../flows/explain/index.js';
import { featureKeyParamSchema, tenantIdSchema } from '../../io/identifiers.js';
import { requireAdmin, type AdminRouteDeps } from './admin-access.js';
import { documented } from '../../io/http/openapi.js';

/** "Why does this tenant have this value?": registered inside adminRoutes (its token check and errors). */
export interface ExplainRouteDeps extends AdminRouteDeps {
  /** With it the answer names the Stripe object and field that set the plan value. */
  stripe?: Stripe;
  gracePeriodDays?: number;
}

const explainParams = z.object({ tenantId: tenantIdSchema, key: featureKeyParamSchema }).strict();
const explainQuery = z
  .object({
    at: z.iso
      .datetime({ offset: true })
      .transform((text) => new Date(text))
      .optional(),
  })
  .strict();

export const explainRoutes: FastifyPluginAsync<ExplainRouteDeps> = async (app, deps) => {
  app.get(
    '/api/admin/tenants/:tenantId/features/:key/explain',
    documented({
      summary: 'Why the tenant has its value of a feature, now or at a past instant',
      tag: 'explain',
      auth: 'admin',
      params: explainParams,
      query: explainQuery,
      errors: [404],
    }),
    async (request) => {
      requireAdmin(request);
      const { tenantId, key } = parseOrThrow(explainParams, request.params, 'path parameters');
      const { at } = parseOrThrow(explainQuery, request.query ?? {}, 'query');
      return explainFeature(deps.readPrisma ?? deps.prisma, tenantId, key, {
        ...(at ? { at } : {}),
        ...(deps.stripe ? { stripe: deps.stripe } : {}),
        ...(deps.gracePeriodDays !== undefined ? { gracePeriodDays: deps.gracePeriodDays } : {}),
      });
    },
  );
};
