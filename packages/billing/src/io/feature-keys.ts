import type { LimitDecision } from '../core/index.js';

/**
 * Typed feature keys. `FeatureKeyTypes` is empty here; a host runs `npm run generate-feature-types`,
 * which writes a declaration file that adds one property per catalog key (its value type) to this
 * interface through declaration merging. From then on the feature-reading calls accept only known
 * keys written as literals, and `getLimit` / `checkLimit` only numeric ones. Without the file every
 * string is accepted, exactly as before.
 *
 * A key held in a `string` variable (read from a request, a config file) is always accepted: the
 * check is for literals, where a typo would otherwise mean "off" forever.
 */
// eslint-disable-next-line @typescript-eslint/no-empty-object-type -- augmented by the generated declaration
export interface FeatureKeyTypes {}

type KnownFeatureKey = keyof FeatureKeyTypes & string;
type Declared = [KnownFeatureKey] extends [never] ? false : true;

/** Every catalog key when the declaration is present, else any string. */
export type FeatureKey = Declared extends true ? KnownFeatureKey : string;

/** Catalog keys whose value is a number (limits), when the declaration is present, else any string. */
export type NumericFeatureKey = Declared extends true
  ? { [K in KnownFeatureKey]: FeatureKeyTypes[K] extends number ? K : never }[KnownFeatureKey]
  : string;

/**
 * Metered catalog keys (docs/usage.md): the generated declaration adds one property per metered
 * key. Without it (or from an older generator) every numeric key is accepted.
 */
// eslint-disable-next-line @typescript-eslint/no-empty-object-type -- augmented by the generated declaration
export interface MeteredFeatureKeyTypes {}

type KnownMeteredKey = keyof MeteredFeatureKeyTypes & string;

/** Keys the usage service accepts as literals: the metered ones when declared, else the numeric ones. */
export type MeteredFeatureKey = [KnownMeteredKey] extends [never] ? NumericFeatureKey : KnownMeteredKey;

/**
 * `K` itself when it is the wide `string` type or one of `Allowed`; `Allowed` otherwise, so a
 * mistyped literal fails with "not assignable to '<the known keys>'".
 */
export type CheckedKey<K extends string, Allowed extends string = FeatureKey> = string extends K
  ? K
  : K extends Allowed
    ? K
    : Allowed;

/** What `checkLimit` answers: whether `used` is still below the tenant's limit, and by how much. */
export type LimitCheck = LimitDecision;

/** The typed reading calls, shared by the feature-sync service and the adapters' checks. */
export interface FeatureChecks {
  isFeatureEnabled<K extends string>(tenantId: string, key: CheckedKey<K>): Promise<boolean>;
  /** A numeric feature's value, or null when the tenant has none (unknown tenant, or not in its plan). */
  getLimit<K extends string>(tenantId: string, key: CheckedKey<K, NumericFeatureKey>): Promise<number | null>;
  /** Whether one more unit fits: `used < limit`. A tenant without the feature gets `limit: 0`. */
  checkLimit<K extends string>(
    tenantId: string,
    key: CheckedKey<K, NumericFeatureKey>,
    used: number,
  ): Promise<LimitCheck>;
}
