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
