import type { Prisma, PrismaClient, TenantFeatureConfig } from '@packages/db';
import { recordAudit } from '../../io/audit/index.js';
import {
  CustomerAlreadyLinkedError,
  TenantAlreadyExistsError,
  TenantNotFoundError,
} from '../../core/errors.js';
import { auditSnapshot, inTransaction, toState, type Tx } from '../../io/tenant-store/index.js';
import type { AuditSourceName, FeatureMap } from '../../core/types.js';
import {
  auditOf,
  isUniqueViolation,
  rejectIssues,
  type ManagementOptions,
  type TenantManagementOptions,
} from './common.js';

/**
 * Tenant lifecycle: create, rename, link/unlink a Stripe customer, delete, list. Each change writes
 * an audit row (feature_audit_logs, the same log as feature changes) in its own transaction.
 * Deleting a tenant deletes its config and custom plans with it; its audit rows stay (the log has
 * no foreign key to tenants), the last one being `tenant_deleted` with what was removed.
 */

export const TENANT_ID_PATTERN = /^[A-Za-z0-9][A-Za-z0-9_.:@-]{0,254}$/;
const CUSTOMER_ID_PATTERN = /^cus_[A-Za-z0-9]{1,250}$/;

export interface TenantSummary {
  id: string;
  name: string;
  stripeCustomerId: string | null;
  createdAt: Date;
  updatedAt: Date;
  /** Null until a plan, sync or override gave the tenant a feature config. */
  config: {
    bundle: string | null;
    features: FeatureMap;
    overrides: FeatureMap;
    source: 'plan' | 'custom' | 'manual';
    accessActive: boolean;
    subscriptionStatus: string | null;
    stripeProductId: string | null;
    stripePriceId: string | null;
    version: number;
    updatedAt: Date | null;
  } | null;
}

type TenantRecord = { id: string; name: string; stripeCustomerId: string | null };

function nameIssues(name: unknown): { path: string; message: string }[] {
  if (typeof name !== 'string' || name.trim() === '')
    return [{ path: 'name', message: 'must be a non-empty string' }];
  if (name.trim().length > 200) return [{ path: 'name', message: 'must be at most 200 characters' }];
  return [];
}

function customerIssues(customerId: unknown): { path: string; message: string }[] {
  return typeof customerId === 'string' && CUSTOMER_ID_PATTERN.test(customerId)
    ? []
    : [{ path: 'stripeCustomerId', message: 'must be a Stripe customer id (cus_…)' }];
}

async function writeAudit(
  tx: Tx,
  tenantId: string,
  who: { actor: string; source: AuditSourceName },
  action: string,
  before: object | null,
  after: object | null,
): Promise<void> {
  await recordAudit(tx, { tenantId, actor: who.actor, source: who.source, action, before, after });
}

async function lockTenantRow(tx: Tx, tenantId: string): Promise<TenantRecord> {
  const rows = await tx.$queryRaw<TenantRecord[]>`
    SELECT id, name, stripe_customer_id AS "stripeCustomerId" FROM tenants WHERE id = ${tenantId} FOR UPDATE`;
  if (!rows[0]) throw new TenantNotFoundError(tenantId);
  return rows[0];
}

async function assertCustomerFree(tx: Tx, customerId: string, tenantId: string): Promise<void> {
  const owner = await tx.tenant.findUnique({ where: { stripeCustomerId: customerId }, select: { id: true } });
  if (owner && owner.id !== tenantId) throw new CustomerAlreadyLinkedError(customerId, owner.id);
}

/** Turns the unique-index race (two links of one customer at once) into the same typed error. */
async function customerRace<T>(
  prisma: PrismaClient,
  customerId: string | null | undefined,
  run: () => Promise<T>,
) {
  try {
    return await run();
  } catch (error) {
    if (customerId && isUniqueViolation(error)) {
      const owner = await prisma.tenant.findUnique({
        where: { stripeCustomerId: customerId },
        select: { id: true },
      });
      if (owner) throw new CustomerAlreadyLinkedError(customerId, owner.id);
    }
    throw error;
  }
}

const record = (t: TenantRecord) => ({ name: t.name, stripeCustomerId: t.stripeCustomerId });

export async function createTenant(
  prisma: PrismaClient,
  input: { id: string; name: string; stripeCustomerId?: string | null },
  options: ManagementOptions = {},
): Promise<TenantRecord> {
  rejectIssues('tenant', [
    ...(typeof input?.id === 'string' && TENANT_ID_PATTERN.test(input.id)
      ? []
      : [{ path: 'id', message: `must match ${TENANT_ID_PATTERN}` }]),
    ...nameIssues(input?.name),
    ...(input?.stripeCustomerId == null ? [] : customerIssues(input.stripeCustomerId)),
  ]);
  const who = auditOf(options);
  const customerId = input.stripeCustomerId ?? null;
  try {
    return await customerRace(prisma, customerId, () =>
      inTransaction(prisma, async (tx) => {
        if (await tx.tenant.findUnique({ where: { id: input.id }, select: { id: true } }))
          throw new TenantAlreadyExistsError(input.id);
        if (customerId) await assertCustomerFree(tx, customerId, input.id);
        const created = await tx.tenant.create({
          data: { id: input.id, name: input.name.trim(), stripeCustomerId: customerId },
          select: { id: true, name: true, stripeCustomerId: true },
        });
        await writeAudit(tx, created.id, who, 'tenant_created', null, record(created));
        return created;
      }),
    );
  } catch (error) {
    if (!(error instanceof CustomerAlreadyLinkedError) && isUniqueViolation(error))
      throw new TenantAlreadyExistsError(input.id);
    throw error;
  }
}

async function changeTenant(
  prisma: PrismaClient,
  tenantId: string,
  action: string,
  options: ManagementOptions,
  change: (tx: Tx, before: TenantRecord) => Promise<TenantRecord | null>,
  customerId?: string | null,
): Promise<TenantRecord> {
  const who = auditOf(options);
  return customerRace(prisma, customerId, () =>
    inTransaction(prisma, async (tx) => {
      const before = await lockTenantRow(tx, tenantId);
      const after = await change(tx, before);
      if (!after) return before;
      await writeAudit(tx, tenantId, who, action, record(before), record(after));
      return after;
    }),
  );
}

export async function renameTenant(
  prisma: PrismaClient,
  tenantId: string,
  name: string,
  options: ManagementOptions = {},
): Promise<TenantRecord> {
  rejectIssues('tenant', nameIssues(name));
  return changeTenant(prisma, tenantId, 'tenant_renamed', options, async (tx, before) =>
    before.name === name.trim()
      ? null
      : tx.tenant.update({
          where: { id: tenantId },
          data: { name: name.trim() },
          select: { id: true, name: true, stripeCustomerId: true },
        }),
  );
}

/**
 * Links the tenant to a Stripe customer (replacing a previous link). A customer already linked to
 * another tenant → CustomerAlreadyLinkedError (HTTP 409): one customer's subscription must never
 * grant features to two tenants.
 */
export async function linkStripeCustomer(
  prisma: PrismaClient,
  tenantId: string,
  customerId: string,
  options: ManagementOptions = {},
): Promise<TenantRecord> {
  rejectIssues('link', customerIssues(customerId));
  return changeTenant(
    prisma,
    tenantId,
    'stripe_customer_linked',
    options,
    async (tx, before) => {
      if (before.stripeCustomerId === customerId) return null;
      await assertCustomerFree(tx, customerId, tenantId);
      return tx.tenant.update({
        where: { id: tenantId },
        data: { stripeCustomerId: customerId },
        select: { id: true, name: true, stripeCustomerId: true },
      });
    },
    customerId,
  );
}

/** Removes the link; the tenant's features stay as they are until something else changes them. */
export async function unlinkStripeCustomer(
  prisma: PrismaClient,
  tenantId: string,
  options: ManagementOptions = {},
): Promise<TenantRecord> {
  return changeTenant(prisma, tenantId, 'stripe_customer_unlinked', options, async (tx, before) =>
    before.stripeCustomerId === null
      ? null
      : tx.tenant.update({
          where: { id: tenantId },
          data: { stripeCustomerId: null },
          select: { id: true, name: true, stripeCustomerId: true },
        }),
  );
}

/**
 * Deletes the tenant with its feature config and custom plans (foreign-key cascade) in one
 * transaction that first writes a `tenant_deleted` audit row holding what is removed. Audit rows
 * are not tied to the tenant row, so the tenant's history, deletion included, survives the cascade.
 * Stripe is not touched (the customer and its subscriptions are the account owner's business).
 */
export async function deleteTenant(
  prisma: PrismaClient,
  tenantId: string,
  options: TenantManagementOptions = {},
): Promise<{ tenantId: string; deleted: true }> {
  const who = auditOf(options);
  await inTransaction(prisma, async (tx) => {
    const before = await lockTenantRow(tx, tenantId);
    const config = await tx.tenantFeatureConfig.findUnique({ where: { tenantId } });
    const customPlans = await tx.customPlan.count({ where: { tenantId } });
    await writeAudit(
      tx,
      tenantId,
      who,
      'tenant_deleted',
      { ...record(before), customPlans, ...(config ? auditSnapshot(toState(config)) : {}) },
      null,
    );
    await tx.tenant.delete({ where: { id: tenantId } });
  });
  await options.featureReader?.invalidate(tenantId);
  return { tenantId, deleted: true };
}

/** One tenant with its config summary; TenantNotFoundError when it does not exist. */
export async function getTenant(prisma: PrismaClient, tenantId: string): Promise<TenantSummary> {
  const row = await prisma.tenant.findUnique({ where: { id: tenantId }, include: { featureConfig: true } });
  if (!row) throw new TenantNotFoundError(tenantId);
  return toSummary(row);
}

export interface ListTenantsOptions {
  /** The `nextCursor` of the previous page. */
  cursor?: string;
  /** 1–200, default 50. */
  limit?: number;
  /** Plan tier (`bundle` metadata). */
  bundle?: string;
  /** Stripe price or product id the tenant is on. */
  plan?: string;
  /** Whether the subscription currently grants access. */
  accessActive?: boolean;
  /** Tenants on (true) or not on (false) a custom plan. */
  customPlan?: boolean;
  /** Tenants whose record or feature config changed at or after this instant. */
  updatedSince?: Date;
  /** A substring of the id or name (case-insensitive; `%`, `_` and `\\` literal), or an exact Stripe customer id. */
  search?: string;
  /** Only these tenants (e.g. the drifting ones a reconcile check found). */
  ids?: readonly string[];
}

export const LIST_TENANTS_MAX_LIMIT = 200;

/** Sorted by id; `nextCursor` is null on the last page. Config filters match only configured tenants. */
export async function listTenants(
  prisma: PrismaClient,
  options: ListTenantsOptions = {},
): Promise<{ tenants: TenantSummary[]; nextCursor: string | null }> {
  const limit = options.limit ?? 50;
  rejectIssues('tenant list options', [
    ...(Number.isInteger(limit) && limit >= 1 && limit <= LIST_TENANTS_MAX_LIMIT
      ? []
      : [{ path: 'limit', message: `must be an integer from 1 to ${LIST_TENANTS_MAX_LIMIT}` }]),
    ...(options.updatedSince === undefined || !Number.isNaN(options.updatedSince.getTime())
      ? []
      : [{ path: 'updatedSince', message: 'must be a valid date' }]),
  ]);
  const config: Prisma.TenantFeatureConfigWhereInput = {
    ...(options.bundle !== undefined ? { bundle: options.bundle } : {}),
    ...(options.plan !== undefined
      ? { OR: [{ stripePriceId: options.plan }, { stripeProductId: options.plan }] }
      : {}),
    ...(options.accessActive !== undefined ? { accessActive: options.accessActive } : {}),
    ...(options.customPlan !== undefined
      ? options.customPlan
        ? { source: 'custom' as const }
        : { source: { not: 'custom' as const } }
      : {}),
  };
  // Matched literally: Prisma's `contains` hands % and _ to LIKE as wildcards (`q=_` matched every tenant).
  const search = options.search?.trim();
  const pattern = search?.replace(/[\\%_]/g, (c) => `\\${c}`);
  const where: Prisma.TenantWhereInput = {
    ...(options.cursor !== undefined ? { id: { gt: options.cursor } } : {}),
    ...(Object.keys(config).length > 0 ? { featureConfig: { is: config } } : {}),
    AND: [
      options.updatedSince
        ? {
            OR: [
              { updatedAt: { gte: options.updatedSince } },
              { featureConfig: { is: { updatedAt: { gte: options.updatedSince } } } },
            ],
          }
        : {},
      search
        ? {
            OR: [
              { id: { contains: pattern, mode: 'insensitive' as const } },
              { name: { contains: pattern, mode: 'insensitive' as const } },
              { stripeCustomerId: search },
            ],
          }
        : {},
      options.ids !== undefined ? { id: { in: [...options.ids] } } : {},
    ],
  };
  const rows = await prisma.tenant.findMany({
    where,
    orderBy: { id: 'asc' },
    take: limit + 1,
    include: { featureConfig: true },
  });
  const page = rows.slice(0, limit);
  return {
    tenants: page.map(toSummary),
    nextCursor: rows.length > limit ? (page.at(-1)?.id ?? null) : null,
  };
}

function toSummary(
  row: TenantRecord & { createdAt: Date; updatedAt: Date; featureConfig: TenantFeatureConfig | null },
): TenantSummary {
  const state = row.featureConfig ? toState(row.featureConfig) : null;
  return {
    id: row.id,
    name: row.name,
    stripeCustomerId: row.stripeCustomerId,
    createdAt: row.createdAt,
    updatedAt: row.updatedAt,
    config: state && {
      bundle: state.bundle,
      features: state.features,
      overrides: state.overrides,
      source: state.source,
      accessActive: state.accessActive,
      subscriptionStatus: state.subscriptionStatus,
      stripeProductId: state.stripeProductId,
      stripePriceId: state.stripePriceId,
      version: state.version,
      updatedAt: state.updatedAt,
    },
  };
}
