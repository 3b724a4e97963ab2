export { inTransaction, type Tx } from './transaction.js';
export { auditSnapshot, toRowData, toState } from './state-row.js';
export { CONFIG_UPSERT_COLUMNS, SET_CONFIG_FROM_EXCLUDED } from './config-upsert.js';
export {
  AUDITED_FIELDS,
  lockTenant,
  updateTenantFeatures,
  wroteVersion,
  type AuditContext,
  type TenantRow,
  type UpdateOutcome,
} from './write.js';
export {
  applyDecision,
  raiseReadTicket,
  readForTicketedWrite,
  readTenantState,
  stateFromJson,
  takeReadTicket,
  writeTicketed,
  writeTicketedMany,
  type FoldStep,
  type LedgerFinish,
  type TicketedWrite,
  type TicketedWriteResult,
} from './ticketed-write.js';
