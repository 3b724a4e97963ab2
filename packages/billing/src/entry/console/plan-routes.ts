import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import type Stripe from 'stripe';
import { z } from 'zod';
import { parseOrThrow } from '../../flows/custom-plans/validation.js';
import { PlanNotFoundError, StripeNotFoundError } from '../../core/errors.js';
import type { FeatureSyncService } from '../../flows/feature-sync/index.js';
import { previewPlanChange } from '../../flows/preview/index.js';
import { field, type FormBody } from './form.js';
import {
  metadataChanges,
  metadataDigest,
  metadataLines,
  parseMetadataLines,
  type Metadata,
} from './metadata-edit.js';
import { plansInUse } from '../../io/tenant-store/index.js';
import { requireFeatureSync, type ConsoleKit } from './kit.js';
import { planEditPage, planPreviewPage, type EditedObject } from './views/plans.js';
import { query, type Flash } from './views/layout.js';

/** Tenants listed on a preview page; the counts cover every tenant on the plan. */
const PREVIEW_LIMIT = 200;

const planId = z
  .string()
  .trim()
  .regex(/^(prod|price|plan)_[A-Za-z0-9_]{1,200}$/, {
    error: 'must be a product (prod_…) or price (price_…) id',
  });
const editQuery = z.object({ planId: planId.optional().or(z.literal('').transform(() => undefined)) });
const previewForm = z.object({ planId, metadata: z.string().max(50_000) });
const confirmForm = z.object({
  planId,
  // The metadata the preview showed, as JSON (a hidden field keeps no line breaks).
  metadata: z
    .string()
    .max(50_000)
    .transform((text, ctx) => {
      try {
        return JSON.parse(text) as unknown;
      } catch {
        ctx.addIssue({ code: 'custom', message: 'must come from the preview' });
        return z.NEVER;
      }
    })
    .pipe(z.record(z.string(), z.string())),
  seen: z.string().regex(/^[0-9a-f]{32}$/, { error: 'must come from the preview' }),
});

/**
 * Plan edits with a preview first: the operator edits a product's (or price's) metadata, sees what
 * the edit would do to the tenants on it (previewPlanChange: each key before → after, who would be
 * over a metered limit), and only then saves it to Stripe. Stripe's product.updated / price.updated
 * event then carries it to the tenants, as for an edit made in Stripe's dashboard.
 */
export async function planRoutes(app: FastifyInstance, kit: ConsoleKit): Promise<void> {
  const { deps } = kit;
  const read = deps.readPrisma ?? deps.prisma;
  const featureSync = () => requireFeatureSync(deps);

  /** The product or price as Stripe has it now (never the plan cache: an edit starts from today's metadata). */
  const retrieve = async (id: string): Promise<EditedObject> => {
    const { stripeSync } = featureSync();
    const { stripe, call } = stripeSync;
    try {
      const object: Stripe.Product | Stripe.Price = id.startsWith('prod_')
        ? await call('products.retrieve', () => stripe.products.retrieve(id))
        : await call('prices.retrieve', () => stripe.prices.retrieve(id));
      if ((object as { deleted?: boolean }).deleted) throw new PlanNotFoundError(id);
      return {
        id,
        kind: object.object === 'product' ? 'product' : 'price',
        name: object.object === 'product' ? object.name : (object.nickname ?? object.lookup_key ?? null),
        metadata: { ...object.metadata },
      };
    } catch (error) {
      throw error instanceof StripeNotFoundError ? new PlanNotFoundError(id) : error;
    }
  };

  app.get('/admin/plans', async (request, reply) => {
    kit.requireAdmin(request);
    const q = parseOrThrow(editQuery, request.query ?? {}, 'query');
    const [plans, object] = await Promise.all([
      plansInUse(read),
      q.planId ? retrieve(q.planId) : Promise.resolve(null),
    ]);
    return kit.send(
      reply,
      planEditPage(kit.ctx(request), {
        plans,
        object,
        lines: object ? metadataLines(object.metadata) : '',
      }),
    );
  });

  /** The preview of turning the object's metadata into `next` (no Stripe or database write). */
  const renderPreview = async (
    request: FastifyRequest,
    reply: FastifyReply,
    object: EditedObject,
    next: Metadata,
    flash?: Flash,
  ) => {
    const changes = metadataChanges(object.metadata, next);
    const preview =
      Object.keys(changes).length === 0
        ? null
        : await previewPlanChange(
            { prisma: read, stripeSync: featureSync().stripeSync },
            object.id,
            { metadata: changes },
            { limit: PREVIEW_LIMIT },
          );
    const ctx = kit.ctx(request);
    return kit.send(
      reply,
      planPreviewPage(flash ? { ...ctx, flash } : ctx, {
        object,
        next,
        changes,
        seen: metadataDigest(object.metadata),
        preview,
      }),
      flash ? 409 : 200,
    );
  };

  // A POST although it writes nothing: the metadata is lines of text, which a query string may not carry.
  app.post('/admin/plans/preview', async (request, reply) => {
    kit.requireAdmin(request);
    const body = request.body as FormBody;
    const f = parseOrThrow(
      previewForm,
      { planId: field(body, 'planId'), metadata: field(body, 'metadata') },
      'form',
    );
    const next = parseMetadataLines(f.metadata);
    return renderPreview(request, reply, await retrieve(f.planId), next);
  });

  app.post('/admin/plans/edit', async (request, reply) => {
    const principal = kit.requireAdmin(request);
    const body = request.body as FormBody;
    const f = parseOrThrow(
      confirmForm,
      { planId: field(body, 'planId'), metadata: field(body, 'metadata'), seen: field(body, 'seen') },
      'form',
    );
    const next = f.metadata;
    const object = await retrieve(f.planId);
    // The preview was of the metadata as it was then: an edit since (in Stripe, or by another
    // operator) would make it wrong, so the operator sees a fresh one instead of a blind write.
    if (metadataDigest(object.metadata) !== f.seen)
      return renderPreview(request, reply, object, next, {
        kind: 'error',
        text: `${f.planId} was changed in Stripe after your preview; nothing was saved. This is the preview against its metadata now.`,
      });
    const changes = metadataChanges(object.metadata, next);
    if (Object.keys(changes).length > 0) await update(featureSync(), f.planId, changes);
    request.log.info(
      { actor: `admin:${principal.name}`, planId: f.planId, metadata: changes },
      'plan metadata edited from the console',
    );
    return kit.redirect(reply, `/admin/plans${query({ planId: f.planId })}`, {
      kind: 'ok',
      text:
        Object.keys(changes).length === 0
          ? `${f.planId}: nothing to change.`
          : `${f.planId} saved in Stripe (${Object.keys(changes).sort().join(', ')}). Its tenants get the new plan when Stripe's ${object.kind}.updated event is processed (with reapplyOnPlanChange) or at the next sync.`,
    });
  });
}

async function update(featureSync: FeatureSyncService, id: string, metadata: Metadata): Promise<void> {
  const { stripe, call } = featureSync.stripeSync;
  if (id.startsWith('prod_')) await call('products.update', () => stripe.products.update(id, { metadata }));
  else await call('prices.update', () => stripe.prices.update(id, { metadata }));
  // This process reads the new plan at once; other instances when the event reaches them.
  featureSync.stripeSync.invalidatePlan(id);
}
