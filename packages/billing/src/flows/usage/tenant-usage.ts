import { meterReportOf, meteredLimit, remainingOf } from '../../core/index.js';
import { TenantNotFoundError } from '../../core/errors.js';
import {
  overLimitFields,
  type UsageAuditOptions,
  type UsageMeter,
  type UsageService,
} from './service-types.js';
import { checkAmount, checkText } from './arguments.js';
import type { UsageLimits, UsageParts } from './limits.js';
import { readCounters, releaseExpired, writeUsage } from './store.js';

/** A tenant's usage of every metered key: read it, set it, reset it (audited). */
export function tenantUsageOperations(
  parts: UsageParts,
  limits: UsageLimits,
): Pick<UsageService, 'getUsage' | 'setUsage' | 'resetUsage'> {
  const { prisma, sql, reader, now, known } = parts;
  const { catalog, rulesOf, overLimitOf } = limits;

  async function meters(tenantId: string, only?: string): Promise<UsageMeter[]> {
    const [cat, features] = await Promise.all([catalog(), reader.getTenantFeatures(tenantId)]);
    if (!features) throw new TenantNotFoundError(tenantId);
    const keys = [...cat.values()]
      .filter((d) => d.usage && (only === undefined || d.key === only))
      .map((d) => ({ key: d.key, reset: d.usage!.reset, policy: d.usage!.overage }));
    const rows = await readCounters(sql, tenantId, keys, now());
    return Promise.all(
      rows.map(async (row, i) => {
        const { entitled, limit } = meteredLimit(features.features[row.key]);
        const over = await overLimitOf(
          tenantId,
          row.key,
          { rules: cat.get(row.key)!.usage!, entitled, limit },
          row.used,
        );
        return {
          key: row.key,
          reset: keys[i]!.reset,
          policy: keys[i]!.policy,
          used: row.used,
          reserved: row.reserved,
          limit,
          remaining: remainingOf(limit, row.used, row.reserved),
          overage: row.overage,
          entitled,
          overLimit: limit !== null && row.used > limit,
          ...overLimitFields(over),
          periodStart: row.periodStart,
          periodEnd: row.periodEnd,
        };
      }),
    );
  }

  async function write(tenantId: string, changes: { key: string; used: number }[], o: UsageAuditOptions) {
    const cat = await catalog();
    const rows = changes.map((c) => ({
      ...c,
      reset: cat.get(c.key)!.usage!.reset,
      stripe: meterReportOf(cat.get(c.key)!.usage!),
    }));
    const written = await writeUsage(
      prisma,
      tenantId,
      rows,
      { actor: o.actor ?? 'system', source: o.source ?? 'admin' },
      now(),
    );
    if (!written) throw new TenantNotFoundError(tenantId);
    for (const c of changes) known.delete(`${tenantId}\u0000${c.key}`);
  }

  return {
    async getUsage(tenantId) {
      checkText(tenantId, 'tenantId');
      await releaseExpired(sql, now(), tenantId);
      return { tenantId, meters: await meters(tenantId) };
    },

    async setUsage(tenantId, key, used, o = {}) {
      checkAmount(used, 'used');
      checkText(tenantId, 'tenantId');
      await rulesOf(key);
      await write(tenantId, [{ key, used }], o);
      return (await meters(tenantId, key))[0]!;
    },

    async resetUsage(tenantId, key, o = {}) {
      checkText(tenantId, 'tenantId');
      if (key !== undefined) await rulesOf(key);
      const keys =
        key !== undefined ? [key] : [...(await catalog()).values()].filter((d) => d.usage).map((d) => d.key);
      await write(
        tenantId,
        keys.map((k) => ({ key: k, used: 0 })),
        o,
      );
      return { tenantId, meters: await meters(tenantId) };
    },
  };
}
