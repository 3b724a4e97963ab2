import type { FeatureValue, UsageMeterReport, UsageOveragePolicy, UsageReset, UsageRules } from './types.js';

export type { UsageMeterReport, UsageOveragePolicy, UsageReset, UsageRules };

/*
 * The rules of metered features (docs/usage.md), as plain functions: which catalog settings are
 * valid, what a tenant's feature value means as a limit, and how much of a request is granted. The
 * SQL function usage_apply (migration usage_metering) applies the same grant rule under the
 * counter's row lock; `decideGrant` is the rule `check` answers with, and the one the docs' table
 * is tested against.
 */

/** When a metered key's counter starts again from zero. */
export const USAGE_RESETS = [
  'billing_period',
  'month',
  'day',
  'never',
] as const satisfies readonly UsageReset[];

/** What a request beyond the limit does. */
export const USAGE_OVERAGE_POLICIES = [
  'reject',
  'cap',
  'allow',
] as const satisfies readonly UsageOveragePolicy[];

/** What a metered key reports to its Stripe meter. */
export const USAGE_METER_REPORTS = ['usage', 'overage'] as const satisfies readonly UsageMeterReport[];

/** What a key's counters report to Stripe (`used` or `overage`), or null when it has no Stripe meter. */
export function meterReportOf(rules: UsageRules): UsageMeterReport | null {
  return rules.stripeMeter ? (rules.stripeMeterReport ?? 'usage') : null;
}

/** Where alerts fire when a key names none. */
export const DEFAULT_USAGE_THRESHOLDS: readonly number[] = [80, 100];

/** Each problem with a `usage` setting, as `{ path, message }` (empty when valid). */
export function usageRulesIssues(
  usage: unknown,
  type: unknown,
  path = 'usage',
): { path: string; message: string }[] {
  if (usage === undefined || usage === null) return [];
  if (typeof usage !== 'object' || Array.isArray(usage))
    return [{ path, message: 'must be an object { reset, overage }' }];
  const issues: { path: string; message: string }[] = [];
  if (type !== 'number') issues.push({ path, message: 'only a number feature can be metered' });
  const u = usage as Record<string, unknown>;
  if (!USAGE_RESETS.includes(u.reset as UsageReset))
    issues.push({ path: `${path}.reset`, message: `must be one of ${USAGE_RESETS.join(', ')}` });
  if (!USAGE_OVERAGE_POLICIES.includes(u.overage as UsageOveragePolicy))
    issues.push({
      path: `${path}.overage`,
      message: `must be one of ${USAGE_OVERAGE_POLICIES.join(', ')}`,
    });
  if (
    u.thresholds !== undefined &&
    !(
      Array.isArray(u.thresholds) &&
      u.thresholds.length <= 10 &&
      u.thresholds.every((t) => Number.isInteger(t) && t >= 1 && t <= 1000)
    )
  )
    issues.push({ path: `${path}.thresholds`, message: 'must be up to 10 whole percentages from 1 to 1000' });
  if (
    u.stripeMeter !== undefined &&
    !(typeof u.stripeMeter === 'string' && /^[A-Za-z0-9_.:-]{1,100}$/.test(u.stripeMeter))
  )
    issues.push({
      path: `${path}.stripeMeter`,
      message: 'must be a Stripe meter event_name (1 to 100 letters, digits, _ . : -)',
    });
  if (u.stripeMeterReport !== undefined) {
    if (!USAGE_METER_REPORTS.includes(u.stripeMeterReport as UsageMeterReport))
      issues.push({
        path: `${path}.stripeMeterReport`,
        message: `must be one of ${USAGE_METER_REPORTS.join(', ')}`,
      });
    else if (u.stripeMeter === undefined)
      issues.push({ path: `${path}.stripeMeterReport`, message: 'needs stripeMeter' });
  }
  const known = ['reset', 'overage', 'thresholds', 'stripeMeter', 'stripeMeterReport'];
  const extra = Object.keys(u).filter((k) => !known.includes(k));
  if (extra.length > 0) issues.push({ path, message: `unknown field(s): ${extra.join(', ')}` });
  return issues;
}

/** A valid `usage` setting as stored (only its known fields), or null when absent. */
export function usageRulesOf(usage: unknown): UsageRules | null {
  if (!usage || typeof usage !== 'object') return null;
  const u = usage as Record<string, unknown>;
  if (!USAGE_RESETS.includes(u.reset as UsageReset)) return null;
  if (!USAGE_OVERAGE_POLICIES.includes(u.overage as UsageOveragePolicy)) return null;
  const rules: UsageRules = { reset: u.reset as UsageReset, overage: u.overage as UsageOveragePolicy };
  if (Array.isArray(u.thresholds))
    rules.thresholds = [...new Set(u.thresholds as number[])].sort((a, b) => a - b);
  if (typeof u.stripeMeter === 'string') {
    rules.stripeMeter = u.stripeMeter;
    if (USAGE_METER_REPORTS.includes(u.stripeMeterReport as UsageMeterReport))
      rules.stripeMeterReport = u.stripeMeterReport as UsageMeterReport;
  }
  return rules;
}

/**
 * A tenant's value for a metered key as a limit: a number is the limit (below zero counts as 0),
 * `true` is unlimited but counted (`limit: null`), `false` or no value is not entitled.
 */
export function meteredLimit(value: FeatureValue | undefined): { entitled: boolean; limit: number | null } {
  if (value === true) return { entitled: true, limit: null };
  if (typeof value === 'number' && Number.isFinite(value))
    return { entitled: true, limit: Math.max(0, Math.floor(value)) };
  return { entitled: false, limit: 0 };
}

/** What is left under the limit (never below 0), or null when unlimited. */
export function remainingOf(limit: number | null, used: number, reserved = 0): number | null {
  return limit === null ? null : Math.max(0, limit - used - reserved);
}

export interface GrantInput {
  /** null: unlimited. */
  limit: number | null;
  used: number;
  reserved: number;
  amount: number;
  policy: UsageOveragePolicy;
  /** A finalize's held amount, always granted (it was counted against the limit when reserved). */
  held?: number;
}

export interface Grant {
  allowed: boolean;
  /** How much of `amount` is consumed. */
  granted: number;
  /** Of `granted`, what lies beyond the limit. */
  overage: number;
}

/**
 * How much of a request is granted: `reject` all or nothing, `cap` up to the limit, `allow` all of
 * it with the excess as overage. Reservations (`reserved`) count as used.
 */
export function decideGrant(input: GrantInput): Grant {
  const held = input.held ?? 0;
  const avail = input.limit === null ? Infinity : input.limit - input.used - input.reserved;
  let granted: number;
  if (input.policy === 'allow' || input.amount <= Math.max(avail, held)) granted = input.amount;
  else if (input.policy === 'cap') granted = Math.max(Math.min(input.amount, avail), held);
  else granted = held;
  granted = Math.max(0, granted);
  const allowed = granted === input.amount || (input.policy === 'cap' && granted > 0);
  return { allowed, granted, overage: Math.max(0, granted - Math.max(avail, 0)) };
}

/**
 * Alert thresholds crossed by moving from `before` to `after` used units (percent of the limit).
 * None for an unlimited or zero limit.
 */
export function crossedThresholds(
  limit: number | null,
  before: number,
  after: number,
  thresholds: readonly number[],
): number[] {
  if (limit === null || limit <= 0 || after <= before) return [];
  return thresholds.filter((t) => before < (limit * t) / 100 && after >= (limit * t) / 100);
}
