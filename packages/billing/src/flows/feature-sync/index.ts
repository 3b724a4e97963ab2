export {
  applyPlanInTransaction,
  type ApplyInTransactionOptions,
  type ApplyPlanDefaultsOptions,
  type ApplyPlanResult,
} from './apply.js';
export { LISTED_SYNC_RESULTS, type SyncAllOptions, type SyncResult, type SyncSummary } from './sync-all.js';
export { type FeatureSyncOptions, type FeatureSyncService, createFeatureSyncService } from './service.js';
export {
  createSyncRuns,
  type FinishedSyncRun,
  type SyncRunPage,
  type SyncRunRequest,
  type SyncRuns,
  type SyncRunsOptions,
} from './sync-runs.js';
