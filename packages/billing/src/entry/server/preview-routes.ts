import type { FastifyPluginAsync } from 'fastify';
import { z } from 'zod';
import { parseOrThrow } from '../../flows/custom-plans/validation.js';
import { HttpError } from '../../io/http/error-response.js';
import { stripeIdSchema } from '../../io/identifiers.js';
import { previewPlanChange, type ProposedPlan } from '../../flows/preview/index.js';
import { requireAdmin, type AdminRouteDeps } from './admin-access.js';
import { documented } from '../../io/http/openapi.js';

/** "What would this plan edit do?": registered inside adminRoutes (its token check and errors). */
const previewParams = z.object({ planId: stripeIdSchema }).strict();
const previewBody = z
  .object({
    /** Merged into the product's (or price's) metadata as Stripe's update would; "" removes a key. */
    metadata: z.record(z.string(), z.string()).optional(),
    /** The features the product (or price) grants, replaced by this map. */
    features: z.record(z.string(), z.union([z.boolean(), z.number()])).optional(),
    mergeStrategy: z.enum(['merge', 'replace', 'preserve']).optional(),
    limit: z.number().int().min(0).max(10_000).optional(),
  })
  .strict()
  .refine((b) => (b.metadata === undefined) !== (b.features === undefined), {
    message: 'give either metadata or features',
    path: ['metadata'],
  });

export const previewRoutes: FastifyPluginAsync<AdminRouteDeps> = async (app, deps) => {
  app.post(
    '/api/admin/plans/:planId/preview',
    documented({
      summary: 'What an edit of a product or price would do to its tenants (nothing written)',
      tag: 'explain',
      auth: 'admin',
      params: previewParams,
      body: previewBody,
      errors: [404, 502, 503],
    }),
    async (request) => {
      requireAdmin(request);
      const { planId } = parseOrThrow(previewParams, request.params, 'path parameters');
      const body = parseOrThrow(previewBody, request.body ?? {}, 'request body');
      if (!deps.featureSync)
        throw new HttpError(
          503,
          'not_configured',
          'The feature sync service is not configured on this server',
        );
      const proposed: ProposedPlan = body.metadata
        ? { metadata: body.metadata }
        : { features: body.features! };
      return previewPlanChange(
        { prisma: deps.readPrisma ?? deps.prisma, stripeSync: deps.featureSync.stripeSync },
        planId,
        proposed,
        {
          ...(body.mergeStrategy ? { mergeStrategy: body.mergeStrategy } : {}),
          ...(body.limit !== undefined ? { limit: body.limit } : {}),
        },
      );
    },
  );
};
