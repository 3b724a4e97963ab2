// '@packages/billing/server': our Fastify server (admin API, webhook route, console, probes,
// /metrics) and the two process entry points the CLI's `serve` and `worker` run.
export { buildServer, buildMetricsServer, type ServerDeps, type ServerOptions } from './server/app.js';
export { loggerOptions, REDACT_PATHS } from './server/logging.js';
export { main as serve } from './server/main.js';
export { workerMain as worker } from './server/worker-main.js';
