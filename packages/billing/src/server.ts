// '@packages/billing/server': our Fastify server (admin API, webhook route, console, probes,
// /metrics) and the two process entry points the CLI's `serve` and `worker` run.
export { buildServer, buildMetricsServer, type ServerDeps, type ServerOptions } from './entry/server/app.js';
export { loggerOptions, REDACT_PATHS } from './entry/server/logging.js';
export { main as serve } from './entry/server/main.js';
export { workerMain as worker } from './entry/server/worker-main.js';
