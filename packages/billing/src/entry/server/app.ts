import { readFileSync } from 'node:fs';
import Fastify, { type FastifyInstance } from 'fastify';
import type Stripe from 'stripe';
import type { PrismaClient } from '@packages/db';
import { billingPlugin } from '../adapters/fastify.js';
import type { KeyValueCache } from '../../io/cache/index.js';
import { consoleErrorPages, consolePlugin, type ConsoleDeps } from '../console/index.js';
import { databaseCatalog } from '../../io/catalog/registry.js';
import { uncachedFeatureReader, type FeatureReader } from '../../io/feature-cache/index.js';
import { documented, openApiDocument, type RegisteredRoute } from '../../io/http/openapi.js';
import { noopMetrics, type BillingMetrics, type PrometheusMetrics } from '../../io/metrics/index.js';
import { ofrepRoutes } from '../openfeature/fastify-routes.js';
import { tokenAuthorizer } from '../openfeature/http.js';
import type { StripeWebhookHandler } from '../../flows/webhooks/index.js';
import { adminRoutes, type AdminRouteDeps } from './admin-routes.js';
import { refuseControlCharacters } from './control-characters.js';
import { errorShapeOptions, installErrorShape } from './error-shape.js';
import { healthRoutes } from './health.js';
import { loggerOptions, type LoggerSetting } from './logging.js';
import { metricsRoutes } from './metrics-routes.js';

export interface ServerDeps extends AdminRouteDeps, ConsoleDeps {
  prisma: PrismaClient;
  stripe: Stripe;
  webhookHandler: StripeWebhookHandler;
  /** Readiness pings it when it is Redis. */
  cache?: KeyValueCache;
  /** What OFREP evaluates through (default: featureSync's reader, else an uncached one). */
  featureReader?: FeatureReader;
  /** Longest a readiness check may take (default 2000 ms). */
  healthCheckTimeoutMs?: number;
  /** Counts HTTP requests and webhook outcomes; without it nothing is counted. */
  metrics?: BillingMetrics;
  /** The registry behind `metrics`; when given, `GET /metrics` serves it (see `metricsRoute`). */
  prometheus?: PrometheusMetrics;
}

export interface ServerOptions {
  /** Largest request body accepted, in bytes (Stripe events are well under 1 MiB). */
  bodyLimit?: number;
  /** false (default) = no logs; true = info; a level; or pino options (tests pass a stream). */
  logger?: LoggerSetting;
  /**
   * `admin` (default): `GET /metrics` on this server, admin bearer token required. `off`: not on
   * this server (main.ts serves it on METRICS_PORT instead).
   */
  metricsRoute?: 'admin' | 'off';
}

/** The HTTP layer: thin routes over the services, assembled here so tests can inject() without a port. */
export async function buildServer(deps: ServerDeps, options: ServerOptions = {}): Promise<FastifyInstance> {
  const app = Fastify({
    ...loggerOptions(options.logger ?? false),
    bodyLimit: options.bodyLimit ?? 1024 * 1024,
    ...errorShapeOptions(),
  });
  // Before any route: every plugin registered below inherits the one error shape.
  installErrorShape(app, consoleErrorPages);
  // Before any route too: every route registered, with its declaration, for GET /api/openapi.json.
  const routes = recordRoutes(app);
  const metrics = deps.metrics ?? noopMetrics;
  app.addHook('onResponse', async (request, reply) => {
    // The route pattern, never the raw URL: tenant ids in paths would make the label unbounded.
    const route = request.routeOptions.url ?? 'unmatched';
    metrics.httpRequest(request.method, route, reply.statusCode, reply.elapsedTime);
  });
  // Every route below inherits it: NUL, ESC and other control characters are a 400 at the edge.
  app.addHook('preValidation', refuseControlCharacters);
  await app.register(healthRoutes, deps);
  // The route exists even when a caller built the server without a handler (admin-only tests):
  // Stripe then gets a 500 and retries, instead of a 404 that looks like a wrong endpoint URL.
  await app.register(billingPlugin, { webhookHandler: deps.webhookHandler ?? unconfiguredWebhooks, metrics });
  await app.register(adminRoutes, deps);
  // OFREP: the admin API's tokens (admin = any tenant, tenant = its own), the cached reader. A server
  // built without a database (a webhook-only stub) has no features to evaluate, so no OFREP routes.
  const reader =
    deps.featureReader ??
    deps.featureSync?.reader ??
    (deps.prisma ? uncachedFeatureReader(deps.readPrisma ?? deps.prisma) : undefined);
  if (reader) {
    await app.register(ofrepRoutes, {
      features: reader,
      ...(deps.prisma ? { catalog: databaseCatalog(deps.prisma) } : {}),
      authorize: tokenAuthorizer(deps.auth),
    });
  }
  await app.register(consolePlugin, deps);
  if (deps.prometheus && (options.metricsRoute ?? 'admin') === 'admin') {
    await app.register(metricsRoutes, { prometheus: deps.prometheus, auth: deps.auth ?? { tokens: [] } });
  }
  let document: unknown;
  app.get(
    OPENAPI_PATH,
    documented({
      summary: 'This document: every route of this server, generated from the route schemas',
      tag: 'meta',
      auth: 'none',
      ok: { description: 'An OpenAPI 3.1 document' },
    }),
    // Built once, on the first request: every route is registered by then.
    async () => (document ??= openApiDocument(routes, { title: 'stripe-entitlements', version: VERSION })),
  );
  return app;
}

export const OPENAPI_PATH = '/api/openapi.json';

const VERSION = (
  JSON.parse(readFileSync(new URL('../../../package.json', import.meta.url), 'utf8')) as { version: string }
).version;

/** Every route registered on `app` (and its plugins) from now on, as Fastify registers it. */
export function recordRoutes(app: FastifyInstance): RegisteredRoute[] {
  const routes: RegisteredRoute[] = [];
  app.addHook('onRoute', (route) => {
    const methods = Array.isArray(route.method) ? route.method : [route.method];
    for (const method of methods) routes.push({ method, url: route.url, doc: route.config?.openapi });
  });
  return routes;
}

const unconfiguredWebhooks: StripeWebhookHandler = {
  async handleWebhook() {
    throw new Error('This server was built without a webhook handler');
  },
};

/** A listener of its own for `GET /metrics` (METRICS_PORT): no token, the network keeps it private. */
export async function buildMetricsServer(
  prometheus: PrometheusMetrics,
  options: { logger?: LoggerSetting } = {},
): Promise<FastifyInstance> {
  const app = Fastify({ ...loggerOptions(options.logger ?? false), ...errorShapeOptions() });
  installErrorShape(app);
  await app.register(metricsRoutes, { prometheus });
  return app;
}
