import type { FastifyPluginAsync } from 'fastify';
import { z } from 'zod';
import { parseOrThrow } from '../../flows/custom-plans/validation.js';
import { stripeIdSchema } from '../../io/identifiers.js';
import { listWebhookEvents, replayWebhookEvent, replayWebhookEvents } from '../../flows/webhooks/index.js';
import { requireAdmin, type AdminRouteDeps } from './admin-access.js';
import { documented } from '../../io/http/openapi.js';

/** The webhook inbox over HTTP: list pending / failed / processed events, replay them. Admin only. */

const STATUSES = ['pending', 'processing', 'processed', 'ignored', 'failed'] as const;
export const WEBHOOK_EVENTS_MAX_LIMIT = 500;

const listQuery = z
  .object({
    status: z.enum(STATUSES).optional(),
    limit: z.coerce.number().int().min(1).max(WEBHOOK_EVENTS_MAX_LIMIT).optional().default(50),
    cursor: z.string().min(1).max(2000).optional(),
  })
  .strict();

const eventParam = z.object({ eventId: stripeIdSchema });

const MAX_REPLAY_IDS = 1000;
const replayBody = z.union([
  z.object({ eventIds: z.array(stripeIdSchema).min(1).max(MAX_REPLAY_IDS) }).strict(),
  z.object({ status: z.literal('failed') }).strict(),
]);

/** At most this many claims are processed inside a replay request when no worker runs in this process. */
const INLINE_REPLAY_CLAIMS = 100;

export const webhookAdminRoutes: FastifyPluginAsync<AdminRouteDeps> = async (app, deps) => {
  const read = deps.readPrisma ?? deps.prisma;

  app.get(
    '/api/admin/webhooks/events',
    documented({
      summary: 'The webhook inbox: events by status, keyset pages',
      tag: 'webhooks',
      auth: 'admin',
      query: listQuery,
    }),
    async (request) => {
      requireAdmin(request);
      const query = parseOrThrow(listQuery, request.query ?? {}, 'query');
      // One statement on the read pool (keyset page on received_at, event_id).
      return listWebhookEvents(read, {
        limit: query.limit,
        ...(query.status ? { status: query.status } : {}),
        ...(query.cursor ? { cursor: query.cursor } : {}),
      });
    },
  );

  app.post(
    '/api/admin/webhooks/events/:eventId/replay',
    documented({
      summary: 'Replay one webhook event',
      tag: 'webhooks',
      auth: 'admin',
      params: eventParam,
      errors: [404],
    }),
    async (request) => {
      const principal = requireAdmin(request);
      const { eventId } = parseOrThrow(eventParam, request.params, 'path parameters');
      const result = await replayWebhookEvent(deps.prisma, eventId);
      request.log.info({ actor: `admin:${principal.name}`, ...result }, 'webhook events replayed');
      await deps.webhooks?.dispatch({ maxClaims: INLINE_REPLAY_CLAIMS });
      return result;
    },
  );

  app.post(
    '/api/admin/webhooks/replay',
    documented({
      summary: 'Replay events by id, or every failed one',
      tag: 'webhooks',
      auth: 'admin',
      body: replayBody,
    }),
    async (request) => {
      const principal = requireAdmin(request);
      const body = parseOrThrow(replayBody, request.body ?? {}, 'request body');
      const result = await replayWebhookEvents(deps.prisma, body);
      request.log.info({ actor: `admin:${principal.name}`, ...result }, 'webhook events replayed');
      await deps.webhooks?.dispatch({ maxClaims: INLINE_REPLAY_CLAIMS });
      return result;
    },
  );
};
