export {
  answerWebhook,
  answerFeatureRead,
  answerFeatureGuard,
  answerUsageRead,
  answerUsageReserve,
  answerUsageSettle,
  answerUsageTrack,
  type AdapterLogger,
  type UsageSource,
  type HostAdapterOptions,
  type HostOfrepSettings,
  type HttpAnswer,
  type TenantResolver,
} from './core.js';
export { createFeatureChecks, type TenantFeatureSource } from '../../flows/features/checks.js';
export { createWebAdapter, type WebAdapter, type WebAdapterOptions, type WebHandler } from './web.js';
export {
  createExpressAdapter,
  EXPRESS_PARSED_BODY_HINT,
  type ExpressAdapter,
  type ExpressAdapterOptions,
} from './express.js';
export {
  billingPlugin,
  createFastifyGuards,
  FEATURES_PATH,
  USAGE_PATH,
  WEBHOOK_PATH,
  type BillingPluginOptions,
  type FastifyGuardOptions,
  type FastifyGuards,
} from './fastify.js';
