export { AUDIT_SOURCES, listAuditEntries, type AuditEntry, type AuditPage, type AuditQuery } from './list.js';
