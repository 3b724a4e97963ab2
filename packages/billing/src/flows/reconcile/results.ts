import type { ReconcileSkipReason } from '../../core/error-codes.js';
import { createIdMap } from '../../io/id-map.js';
import type { ReconcileOptions, ReconcileResult, ReconcileVerdict } from './types.js';

type ListName = 'drift' | 'failed' | 'skipped';

/** How a customer's verdict was counted: one small number per customer for the run. */
const IN_SYNC = 0;
const DRIFT = 1;
/** A drift whose fix was attempted: the fix read the customer whole, a later page adds nothing. */
const DRIFT_FIX_TRIED = 2;
const FAILED = 3;
const SKIPPED = 4;

const listOf = (v: ReconcileVerdict): ListName | null =>
  v.status === 'drift'
    ? 'drift'
    : v.status === 'failed'
      ? 'failed'
      : v.status === 'skipped'
        ? 'skipped'
        : null;

const entryOf = (v: ReconcileVerdict, list: ListName) =>
  list === 'drift'
    ? v.drift!
    : list === 'failed'
      ? v.failure!
      : { tenantId: v.tenantId, customerId: v.customerId, reason: v.reason! };

const listOfCode = (code: number): ListName | null =>
  code === IN_SYNC ? null : code === FAILED ? 'failed' : code >= SKIPPED ? 'skipped' : 'drift';

/**
 * A reconcile's results as verdicts come in: counted, kept up to `keepResults` per list (in the
 * order found), streamed to `onResult`. A customer handed out again by the walk (a better-ranked
 * subscription on a later page) replaces its earlier verdict, counted once; that takes one small
 * record per customer (its verdict's code), plus the kept entries' places.
 */
export function createReconcileResults(options: ReconcileOptions) {
  const keep = options.keepResults ?? true;
  const cap = keep === true ? Infinity : keep === false ? 0 : Math.max(0, Math.floor(keep));
  const result: ReconcileResult = {
    checked: 0,
    inSync: 0,
    drift: [],
    drifting: 0,
    driftLeft: 0,
    fixed: 0,
    failed: [],
    skipped: [],
    skippedByReason: {},
    ...(keep === true ? {} : { omitted: { drift: 0, failed: 0, skipped: 0 } }),
    stripeRequests: 0,
    durationMs: 0,
    stripeMs: 0,
    interrupted: false,
  };
  const reasons: ReconcileSkipReason[] = [];
  // Outside the collected heap: ~45 bytes a customer (io/id-map.ts).
  const codes = createIdMap();
  // Kept entries by customer, so a replaced verdict is replaced in place (or taken out).
  const keptAt: Record<ListName, Map<string, number>> = {
    drift: new Map(),
    failed: new Map(),
    skipped: new Map(),
  };
  const removed: Record<ListName, Set<number>> = { drift: new Set(), failed: new Set(), skipped: new Set() };

  const codeOf = (v: ReconcileVerdict): number => {
    if (v.status === 'in_sync') return IN_SYNC;
    if (v.status === 'drift') return v.drift!.fix === undefined ? DRIFT : DRIFT_FIX_TRIED;
    if (v.status === 'failed') return FAILED;
    let at = reasons.indexOf(v.reason!);
    if (at < 0) at = reasons.push(v.reason!) - 1;
    return SKIPPED + at;
  };

  const count = (code: number, v: ReconcileVerdict | null, sign: 1 | -1) => {
    if (code === IN_SYNC) result.inSync += sign;
    if (code <= FAILED) result.checked += sign;
    if (code === DRIFT || code === DRIFT_FIX_TRIED) {
      result.drifting += sign;
      const fix = v?.drift?.fix;
      // Only a drift with no fix tried is ever replaced (see accepts): it was left as it was.
      if (fix !== 'applied' && fix !== 'already_in_sync') result.driftLeft += sign;
      if (fix === 'applied') result.fixed += sign;
    }
    if (code >= SKIPPED) {
      const reason = reasons[code - SKIPPED]!;
      const n = (result.skippedByReason[reason] ?? 0) + sign;
      if (n > 0) result.skippedByReason[reason] = n;
      else delete result.skippedByReason[reason];
    }
  };

  const keepEntry = (list: ListName, entry: unknown, customerId: string | null) => {
    const target = result[list] as unknown[];
    if (target.length - removed[list].size < cap) {
      if (customerId !== null) keptAt[list].set(customerId, target.length);
      target.push(entry);
    } else if (result.omitted) result.omitted[list] += 1;
  };

  /** Takes a customer's earlier verdict back out of the counts and the lists. */
  const retract = (customerId: string, code: number, next: ListName | null, entry: unknown) => {
    count(code, null, -1);
    const list = listOfCode(code);
    if (list === null) return false;
    const at = keptAt[list].get(customerId);
    keptAt[list].delete(customerId);
    if (at === undefined) {
      if (result.omitted) result.omitted[list] -= 1;
      return false;
    }
    if (next === list) {
      (result[list] as unknown[])[at] = entry;
      keptAt[list].set(customerId, at);
      return true;
    }
    removed[list].add(at);
    return false;
  };

  return {
    result,
    /**
     * Whether a customer's entry is to be judged: its first, or a later page's better picture (not
     * when the earlier verdict's fix read the customer whole already). An entry that comes after
     * the customer's superseding one (pages are handed out concurrently) is the older picture.
     */
    accepts(customerId: string, supersedes: boolean): boolean {
      const code = codes.get(customerId);
      if (code === undefined) return true;
      return supersedes && code !== DRIFT_FIX_TRIED;
    },

    /** Whether the walk's customer has a verdict in this run. */
    judged: (customerId: string): boolean => codes.get(customerId) !== undefined,

    report(v: ReconcileVerdict): void {
      const code = codeOf(v);
      const list = listOf(v);
      const entry = list === null ? null : entryOf(v, list);
      const customerId = v.customerId;
      let replaced = false;
      let placed = false;
      if (customerId !== null && v.replaces) {
        const previous = codes.get(customerId);
        if (previous !== undefined) {
          replaced = true;
          placed = retract(customerId, previous, list, entry);
        }
      }
      if (customerId !== null && (v.replaces || codes.get(customerId) === undefined))
        codes.set(customerId, code);
      count(code, v, 1);
      if (list !== null && !placed) keepEntry(list, entry, customerId);
      // A fix's failure is listed beside its drift.
      if (v.status === 'drift' && v.failure) keepEntry('failed', v.failure, null);
      const { replaces: _replaces, ...verdict } = v;
      options.onResult?.(replaced ? { ...verdict, replaces: true } : verdict);
    },

    /** The result with the lists compacted (entries taken out by a later verdict dropped). */
    finish(): ReconcileResult {
      for (const list of ['drift', 'failed', 'skipped'] as const) {
        if (removed[list].size === 0) continue;
        (result[list] as unknown[]) = (result[list] as unknown[]).filter((_, i) => !removed[list].has(i));
      }
      return result;
    },
  };
}

export type ReconcileResults = ReturnType<typeof createReconcileResults>;
