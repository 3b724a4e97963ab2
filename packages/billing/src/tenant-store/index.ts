export { inTransaction, type Tx } from './transaction.js';
export { auditSnapshot, toRowData, toState } from './state-row.js';
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
  type FoldStep,
  type LedgerFinish,
  type TicketedWrite,
  type TicketedWriteResult,
} from './ticketed-write.js';
