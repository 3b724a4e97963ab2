// '@packages/billing/fastify': the plugin and guards for the host's own Fastify app.
// Fastify is the host's; this module only names its types.
export {
  billingPlugin,
  createFastifyGuards,
  FEATURES_PATH,
  WEBHOOK_PATH,
  type BillingPluginOptions,
  type FastifyGuardOptions,
  type FastifyGuards,
} from './entry/adapters/fastify.js';
export type { AdapterLogger, HostAdapterOptions, HttpAnswer, TenantResolver } from './entry/adapters/core.js';
// OFREP routes as a Fastify plugin (the host adapter above registers them too).
export { ofrepRoutes } from './entry/openfeature/fastify-routes.js';
