import type { FastifyPluginAsync, FastifyReply, FastifyRequest, preHandlerAsyncHookHandler } from 'fastify';
import { z } from 'zod';
import type { CheckedKey } from '../../io/feature-keys.js';
import type { TenantFeatureSource } from '../../flows/features/checks.js';
import { noopMetrics, type BillingMetrics } from '../../io/metrics/index.js';
import { documented } from '../../io/http/openapi.js';
import { ofrepRoutes } from '../openfeature/fastify-routes.js';
import type { StripeWebhookHandler } from '../../flows/webhooks/index.js';
import {
  answerError,
  answerFeatureGuard,
  answerFeatureRead,
  answerUsageRead,
  answerUsageReserve,
  answerUsageSettle,
  answerUsageTrack,
  answerWebhook,
  errorAnswer,
  hostOfrepOptions,
  type HostOfrepSettings,
  type HttpAnswer,
  type TenantResolver,
  type UsageSource,
} from './core.js';

export const WEBHOOK_PATH = '/api/stripe/webhook';
export const FEATURES_PATH = '/api/billing/features';
export const USAGE_PATH = '/api/billing/usage';

export interface BillingPluginOptions {
  /** Registers `POST webhookPath` when given. */
  webhookHandler?: StripeWebhookHandler;
  /** With `resolveTenant`, registers `GET featuresPath` (the resolved tenant's features). */
  features?: TenantFeatureSource;
  resolveTenant?: TenantResolver<FastifyRequest>;
  metrics?: BillingMetrics;
  /** Default `/api/stripe/webhook`. */
  webhookPath?: string;
  /** Default `/api/billing/features`. */
  featuresPath?: string;
  /**
   * With `features`, registers the OFREP endpoints (`POST /ofrep/v1/evaluate/flags[/:key]`): the
   * caller is the resolved tenant, or a token from `ofrep.auth` (see HostOfrepSettings).
   */
  ofrep?: HostOfrepSettings;
  /**
   * With `resolveTenant`, registers for the resolved tenant (metered features): `GET usagePath`,
   * `POST usagePath/track`, `POST usagePath/reserve`, `POST usagePath/reservations/:id/finalize` and
   * `POST usagePath/reservations/:id/release`.
   */
  usage?: UsageSource;
  /** Default `/api/billing/usage`. */
  usagePath?: string;
}

/**
 * `fastify.register(billingPlugin, { webhookHandler, features, resolveTenant })`. Encapsulated on
 * purpose (no fastify-plugin): the buffer body parser it adds for the webhook route stays inside,
 * so the host's other routes keep their JSON bodies. It sets no error handler: Fastify's own client
 * errors (413 body too large, 415) go to the handler the host set on its root instance, as every
 * other route's do; the route outcomes themselves are answered here, in our error shape.
 */
export const billingPlugin: FastifyPluginAsync<BillingPluginOptions> = async (app, options) => {
  const metrics = options.metrics ?? noopMetrics;

  if (options.webhookHandler) {
    const handler = options.webhookHandler;
    // Stripe signs the exact bytes it sent, so this route must see the body before any JSON parsing.
    app.addContentTypeParser('application/json', { parseAs: 'buffer' }, (_request, body, done) => {
      done(null, body);
    });

    const webhookDoc = documented({
      summary: 'Stripe webhook: a signed event, stored then processed',
      tag: 'webhook',
      auth: 'stripe-signature',
      ok: { description: 'Received (queued) or processed: the event id, type and outcome' },
      errors: [413, 415, 503],
    });
    app.post(options.webhookPath ?? WEBHOOK_PATH, webhookDoc, async (request, reply) => {
      // Only our buffer parser produces a Buffer; a body decoded by another parser (text/plain,
      // no content type) is not the byte-exact payload Stripe signed.
      if (!Buffer.isBuffer(request.body)) {
        metrics.webhookRejected('unsupported_media_type');
        return send(
          reply,
          errorAnswer(415, 'unsupported_media_type', 'Stripe webhooks are sent as application/json'),
        );
      }
      const answer = await answerWebhook(handler, request.body, request.headers['stripe-signature'], {
        metrics,
        logger: request.log,
      });
      if (answer.result) {
        request.log.info(
          {
            stripeEventId: answer.result.eventId,
            eventType: answer.result.type,
            tenantId: answer.result.tenantId ?? undefined,
            status: answer.result.status,
            action: answer.result.action,
          },
          'stripe webhook handled',
        );
      }
      return send(reply, answer);
    });
  }

  if (options.features && options.ofrep) {
    await app.register(ofrepRoutes, hostOfrepOptions(options, options.features));
  }

  if (options.features && options.resolveTenant) {
    const source = options.features;
    const resolve = options.resolveTenant;
    const featuresDoc = documented({
      summary: "The request's tenant's features (the host resolves the tenant)",
      tag: 'features',
      auth: 'none',
      errors: [401, 404],
    });
    app.get(options.featuresPath ?? FEATURES_PATH, featuresDoc, async (request, reply) => {
      try {
        const tenantId = await resolve(request);
        if (tenantId) request.log.info({ tenantId }, 'tenant features read');
        return send(reply, await answerFeatureRead(source, tenantId));
      } catch (error) {
        return send(reply, answerError(error, request.log));
      }
    });
  }

  if (options.usage && options.resolveTenant) {
    const usage = options.usage;
    const resolve = options.resolveTenant;
    const path = options.usagePath ?? USAGE_PATH;
    const usageDoc = { tag: 'usage', auth: 'none', errors: [401, 404] } as const;
    app.get(
      path,
      documented({ ...usageDoc, summary: "The request's tenant's metered keys" }),
      async (request, reply) => {
        try {
          return send(reply, await answerUsageRead(usage, await resolve(request)));
        } catch (error) {
          return send(reply, answerError(error, request.log));
        }
      },
    );
    const trackDoc = documented({
      ...usageDoc,
      summary: "Count usage for the request's tenant",
      errors: [400, 401, 404, 409],
    });
    app.post(`${path}/track`, trackDoc, async (request, reply) => {
      try {
        return send(reply, await answerUsageTrack(usage, await resolve(request), request.body));
      } catch (error) {
        return send(reply, answerError(error, request.log));
      }
    });
    const reserveDoc = documented({
      ...usageDoc,
      summary: "Hold an amount for the request's tenant",
      errors: [400, 401, 404, 409],
    });
    app.post(`${path}/reserve`, reserveDoc, async (request, reply) => {
      try {
        return send(reply, await answerUsageReserve(usage, await resolve(request), request.body));
      } catch (error) {
        return send(reply, answerError(error, request.log));
      }
    });
    const reservation = z.object({ id: z.string().min(1) });
    const finalizeDoc = documented({
      ...usageDoc,
      summary: "Charge what was used of one of the request's tenant's holds, return the rest",
      params: reservation,
      errors: [400, 401, 404, 409],
    });
    const releaseDoc = documented({
      ...usageDoc,
      summary: "Return one of the request's tenant's holds",
      params: reservation,
      errors: [400, 401, 404],
    });
    const settle = `${path}/reservations/:id`;
    app.post<{ Params: { id: string } }>(`${settle}/finalize`, finalizeDoc, async (request, reply) => {
      try {
        const settle = { op: 'finalize' as const, id: request.params.id, body: request.body };
        return send(reply, await answerUsageSettle(usage, await resolve(request), settle));
      } catch (error) {
        return send(reply, answerError(error, request.log));
      }
    });
    app.post<{ Params: { id: string } }>(`${settle}/release`, releaseDoc, async (request, reply) => {
      try {
        const settle = { op: 'release' as const, id: request.params.id };
        return send(reply, await answerUsageSettle(usage, await resolve(request), settle));
      } catch (error) {
        return send(reply, answerError(error, request.log));
      }
    });
  }
};

export interface FastifyGuardOptions {
  /** Usually `featureSync.reader`, the cached reader behind isFeatureEnabled. */
  features: TenantFeatureSource;
  resolveTenant: TenantResolver<FastifyRequest>;
}

export interface FastifyGuards {
  /** A preHandler: `app.get('/reports', { preHandler: guards.requireFeature('advanced_analytics') }, handler)`. */
  requireFeature<K extends string>(key: CheckedKey<K>): preHandlerAsyncHookHandler;
}

export function createFastifyGuards(options: FastifyGuardOptions): FastifyGuards {
  return {
    requireFeature(key) {
      return async function requireFeature(request, reply) {
        let answer: HttpAnswer | null;
        try {
          const tenantId = await options.resolveTenant(request);
          answer = await answerFeatureGuard(options.features, tenantId, key);
          if (answer)
            request.log.info({ tenantId, feature: key, status: answer.status }, 'feature guard refused');
        } catch (error) {
          answer = answerError(error, request.log);
        }
        if (answer) return send(reply, answer);
      };
    },
  };
}

function send(reply: FastifyReply, answer: HttpAnswer): FastifyReply {
  return reply.code(answer.status).headers(answer.headers).send(answer.body);
}
