import type { FeatureReader } from '../../io/feature-cache/index.js';
import type { AuditSourceName } from '../../core/types.js';
import { ValidationError } from '../../core/errors.js';

/** Who makes a management change; lands in the audit row. */
export interface ManagementOptions {
  /** Default `system`; the admin API passes `admin:<token name>`, the CLI `cli`. */
  actor?: string;
  /** Default `admin`. */
  source?: AuditSourceName;
}

export interface TenantManagementOptions extends ManagementOptions {
  /** The reader to refresh after a change (default: the one registered for this database). */
  featureReader?: FeatureReader;
}

export function auditOf(options: ManagementOptions): { actor: string; source: AuditSourceName } {
  return { actor: options.actor ?? 'system', source: options.source ?? 'admin' };
}

/** Throws one ValidationError listing every problem, before anything is written. */
export function rejectIssues(what: string, issues: { path: string; message: string }[]): void {
  if (issues.length > 0)
    throw new ValidationError(
      `Invalid ${what}: ${issues.map((i) => `${i.path} ${i.message}`).join('; ')}`,
      issues,
    );
}

/** True for PostgreSQL unique violations as Prisma reports them. */
export function isUniqueViolation(error: unknown): boolean {
  const e = error as { code?: unknown; message?: unknown };
  return (
    e?.code === 'P2002' || (typeof e?.message === 'string' && /unique constraint|23505/i.test(e.message))
  );
}
