// '@packages/billing/web': web-standard Request → Response handlers for Next.js route handlers,
// Hono, Bun and Deno (also exported by the core, which they need anyway).
export {
  createWebAdapter,
  type WebAdapter,
  type WebAdapterOptions,
  type WebHandler,
} from './adapters/web.js';
export { createFeatureChecks, type TenantFeatureSource } from './features/checks.js';
export type { AdapterLogger, HostAdapterOptions, HttpAnswer, TenantResolver } from './adapters/core.js';
