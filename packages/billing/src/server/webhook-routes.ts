import type { FastifyPluginAsync } from 'fastify';

// Owned by the webhooks work: POST /api/stripe/webhook.
export interface WebhookRouteDeps {}

export const webhookRoutes: FastifyPluginAsync<WebhookRouteDeps> = async () => {};
