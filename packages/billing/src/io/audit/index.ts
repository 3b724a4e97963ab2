export { recordAudit, type AuditRow } from './write.js';
export {
  AUDIT_SOURCES,
  listAuditEntries,
  listTenantAuditEntries,
  type AuditEntry,
  type AuditPage,
  type AuditQuery,
} from './list.js';
