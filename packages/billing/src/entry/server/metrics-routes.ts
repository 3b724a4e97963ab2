import type { FastifyPluginAsync } from 'fastify';
import type { PrometheusMetrics } from '../../io/metrics/index.js';
import { authenticateToken, bearerToken, type AuthConfig } from '../../io/http/auth.js';
import { documented } from '../../io/http/openapi.js';

export interface MetricsRouteOptions {
  prometheus: PrometheusMetrics;
  /**
   * When given, `GET /metrics` needs an admin bearer token (the same tokens as /api/admin). Left
   * out only on a listener of its own (METRICS_PORT), which the network keeps private.
   */
  auth?: AuthConfig;
}

/** `GET /metrics` in the Prometheus text format. */
export const metricsRoutes: FastifyPluginAsync<MetricsRouteOptions> = async (app, options) => {
  const { prometheus, auth } = options;
  app.get(
    '/metrics',
    documented({
      summary: 'Prometheus metrics (admin token on the main listener)',
      tag: 'metrics',
      auth: 'admin',
      ok: { description: 'Prometheus text format', contentType: 'text/plain' },
    }),
    async (request, reply) => {
      if (auth) {
        const principal = await authenticateToken(auth, bearerToken(request.headers.authorization));
        if (!principal || principal.role !== 'admin') {
          return reply
            .code(401)
            .header('www-authenticate', 'Bearer realm="metrics"')
            .send({ error: { code: 'unauthorized', message: 'GET /metrics needs an admin bearer token' } });
        }
      }
      return reply.header('content-type', prometheus.contentType).send(await prometheus.render());
    },
  );
};
