import Fastify, { type FastifyInstance } from 'fastify';
import type Stripe from 'stripe';
import type { PrismaClient } from '@packages/db';
import type { KeyValueCache } from '../cache/index.js';
import { consolePlugin, type ConsoleDeps } from '../console/index.js';
import { adminRoutes, type AdminRouteDeps } from './admin-routes.js';
import { errorShapeOptions, installErrorShape } from './error-shape.js';
import { healthRoutes } from './health.js';
import { webhookRoutes, type WebhookRouteDeps } from './webhook-routes.js';

export interface ServerDeps extends WebhookRouteDeps, AdminRouteDeps, ConsoleDeps {
  prisma: PrismaClient;
  stripe: Stripe;
  /** Readiness pings it when it is Redis. */
  cache?: KeyValueCache;
  /** Longest a readiness check may take (default 2000 ms). */
  healthCheckTimeoutMs?: number;
}

export interface ServerOptions {
  /** Largest request body accepted, in bytes (Stripe events are well under 1 MiB). */
  bodyLimit?: number;
  /** false, true (level info) or pino options such as `{ level: 'warn' }`. */
  logger?: boolean | { level: string };
}

/** The HTTP layer: thin routes over the services, assembled here so tests can inject() without a port. */
export async function buildServer(deps: ServerDeps, options: ServerOptions = {}): Promise<FastifyInstance> {
  const app = Fastify({
    logger: options.logger ?? false,
    bodyLimit: options.bodyLimit ?? 1024 * 1024,
    ...errorShapeOptions(),
  });
  // Before any route: every plugin registered below inherits the one error shape.
  installErrorShape(app);
  await app.register(healthRoutes, deps);
  await app.register(webhookRoutes, deps);
  await app.register(adminRoutes, deps);
  await app.register(consolePlugin, deps);
  return app;
}
