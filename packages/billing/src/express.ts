// '@packages/billing/express': the Express adapter (webhook route, feature routes, requireFeature).
// Express is an optional peer dependency; this module only names its types.
export {
  createExpressAdapter,
  EXPRESS_PARSED_BODY_HINT,
  type ExpressAdapter,
  type ExpressAdapterOptions,
} from './entry/adapters/express.js';
export type { AdapterLogger, HostAdapterOptions, HttpAnswer, TenantResolver } from './entry/adapters/core.js';
