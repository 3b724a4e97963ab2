import type { FastifyError, FastifyPluginAsync } from 'fastify';
import { WebhookPayloadError, WebhookSignatureError } from '../errors.js';
import type { StripeWebhookHandler } from '../webhooks/index.js';

// Owned by the webhooks work: POST /api/stripe/webhook.
export interface WebhookRouteDeps {
  webhookHandler: StripeWebhookHandler;
}

export const WEBHOOK_PATH = '/api/stripe/webhook';

/**
 * Stripe signs the exact bytes it sent, so this route must see the body before any JSON parsing.
 * The buffer parser is registered inside this plugin: Fastify scopes content-type parsers to the
 * plugin that adds them, so every other route keeps ordinary JSON bodies.
 *
 * Status codes are what Stripe acts on: 2xx = done (including duplicates), 4xx = the request can
 * never succeed (bad signature, bad body, too large), 5xx = try again later.
 */
export const webhookRoutes: FastifyPluginAsync<WebhookRouteDeps> = async (app, deps) => {
  app.addContentTypeParser('application/json', { parseAs: 'buffer' }, (_request, body, done) => {
    done(null, body);
  });

  app.setErrorHandler((error: FastifyError, request, reply) => {
    if (error instanceof WebhookSignatureError || error instanceof WebhookPayloadError) {
      request.log.warn({ code: error.code, err: error.message }, 'stripe webhook rejected');
      return reply.code(400).send({ error: { code: error.code, message: error.message } });
    }
    // Fastify's own client errors (413 body too large, 415 content type, 400 unreadable body).
    const status = error.statusCode;
    if (status !== undefined && status >= 400 && status < 500) {
      return reply
        .code(status)
        .send({ error: { code: clientErrorCode(status, error.code), message: error.message } });
    }
    request.log.error({ err: error }, 'stripe webhook failed; Stripe will retry');
    // The detail stays in our log: Stripe shows response bodies in its dashboard.
    return reply
      .code(500)
      .send({ error: { code: 'internal_error', message: 'Webhook processing failed; it will be retried' } });
  });

  app.post(WEBHOOK_PATH, async (request, reply) => {
    const header = request.headers['stripe-signature'];
    const signature = Array.isArray(header) ? header[0] : header;
    // Only our buffer parser produces a Buffer; a body decoded by another parser (text/plain,
    // a missing content type) is not the byte-exact payload Stripe signed.
    if (!Buffer.isBuffer(request.body)) {
      return reply.code(415).send({
        error: { code: 'unsupported_media_type', message: 'Stripe webhooks are sent as application/json' },
      });
    }
    return deps.webhookHandler.handleWebhook(request.body, signature);
  });
};

function clientErrorCode(status: number, fastifyCode: string | undefined): string {
  if (status === 413) return 'payload_too_large';
  if (status === 415) return 'unsupported_media_type';
  return fastifyCode?.toLowerCase() ?? 'bad_request';
}
