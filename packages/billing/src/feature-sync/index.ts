export {
  applyPlanInTransaction,
  type ApplyInTransactionOptions,
  type ApplyPlanDefaultsOptions,
  type ApplyPlanResult,
} from './apply.js';
export type { SyncAllOptions, SyncResult, SyncSummary } from './sync-all.js';
export { type FeatureSyncOptions, type FeatureSyncService, createFeatureSyncService } from './service.js';
