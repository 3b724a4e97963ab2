/** Custom enterprise plans: per-tenant Stripe product + price from a base plan plus overrides. */
export { createCustomPlanService, DEFAULT_IN_PROGRESS_WINDOW_MS } from './service.js';
export { customPlansOf, type CustomPlanRow } from './recent.js';
export { mergeFeatures } from './tenant-update.js';
export { parseOrThrow, toIssues, type Issue } from './validation.js';
export {
  MAX_PRICE_CENTS,
  RECURRING_INTERVALS,
  type CreateCustomPlanInput,
  type CustomPlanResult,
  type CustomPlanService,
  type CustomPlanServiceOptions,
  type CustomPlanStatus,
  type CustomPlanStep,
  type CustomPlanStripeSync,
  type RecurringInterval,
} from './types.js';
