export { inTransaction, type Tx } from './transaction.js';
export { knownBundles, plansInUse, tenantCounts, type PlanInUse, type TenantCounts } from './figures.js';
export { auditSnapshot, toRowData, toState } from './state-row.js';
export { CONFIG_UPSERT_COLUMNS, SET_CONFIG_FROM_EXCLUDED } from './config-upsert.js';
// The pure step every writer applies lives in the core; re-exported for the writers that import the store.
export { AUDITED_FIELDS, applyDecision, type FoldStep } from '../../core/index.js';
export {
  lockTenant,
  updateTenantFeatures,
  wroteVersion,
  type AuditContext,
  type TenantRow,
  type UpdateOutcome,
} from './write.js';
export {
  raiseReadTicket,
  readForTicketedWrite,
  readTenantState,
  stateFromJson,
  takeReadTicket,
  writeTicketed,
  writeTicketedMany,
  type LedgerFinish,
  type TicketedWrite,
  type TicketedWriteResult,
} from './ticketed-write.js';
export {
  writeInBatches,
  type BatchWriteItem,
  type BatchWriteOutcome,
  type BatchWriteOptions,
} from './batch-write.js';
export { readTenantsForSync, stampSyncHashes, type SyncLoadedTenant } from './sync-hash.js';
export {
  pageConfiguredTenants,
  readConfiguredTenants,
  type ConfiguredTenantRef,
} from './configured-pages.js';
