// '@packages/billing/web': web-standard Request → Response handlers for Next.js route handlers,
// Hono, Bun and Deno (also exported by the core, which they need anyway).
export {
  createWebAdapter,
  type WebAdapter,
  type WebAdapterOptions,
  type WebHandler,
} from './entry/adapters/web.js';
export { createFeatureChecks, type TenantFeatureSource } from './flows/features/checks.js';
export type { AdapterLogger, HostAdapterOptions, HttpAnswer, TenantResolver } from './entry/adapters/core.js';
