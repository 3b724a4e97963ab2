import {
  FlagNotFoundError,
  OpenFeatureEventEmitter,
  ProviderEvents,
  TargetingKeyMissingError,
  TypeMismatchError,
  InvalidContextError,
  type EvaluationContext,
  type JsonValue,
  type Provider,
  type ResolutionDetails,
  type TrackingEventDetails,
} from '@openfeature/server-sdk';
import { isCatalogSource, type CatalogSource } from '../../io/catalog/registry.js';
import type { FeatureChange, FeatureReader, TenantFeatures } from '../../io/feature-cache/index.js';
import { isTenantId } from '../../io/identifiers.js';
import type { FeatureCatalog } from '../../core/types.js';
import type { UsageService } from '../../flows/usage/index.js';
import { evaluateFlag, isNotFound, type FlagEvaluation, type RemainingOf } from './evaluation.js';
import { remainingFromUsage } from './usage.js';

/**
 * An OpenFeature server provider over this library's cached feature reader: evaluation in
 * process (no HTTP hop), the same answers as the OFREP endpoints (one evaluation function), and
 * `PROVIDER_CONFIGURATION_CHANGED` with the changed keys when a tenant's features change here or,
 * with Redis, on any other instance.
 *
 *   await OpenFeature.setProviderAndWait(new BillingProvider({ reader: featureSync.reader, catalog }));
 *   const client = OpenFeature.getClient();
 *   await client.getBooleanValue('sso', false, { targetingKey: tenantId });
 */

export interface BillingProviderOptions {
  /** Usually `featureSync.reader` (or `context.featureSync.reader`). */
  reader: Pick<FeatureReader, 'getTenantFeatures' | 'onChange'>;
  /** Known keys: a known key the tenant lacks is off, an unknown one FLAG_NOT_FOUND. */
  catalog?: FeatureCatalog | CatalogSource;
  /**
   * Metered keys: they evaluate to the amount left, and `track(key, ctx, { value })` counts `value`
   * (default 1; `details.idempotencyKey` counts it once) of a metered key through the usage service.
   */
  usage?: Pick<UsageService, 'getUsage' | 'track'>;
  /** `client.track(name, { targetingKey }, details)` for events that are not metered keys (or without `usage`). */
  track?(tenantId: string, eventName: string, details: TrackingEventDetails): void;
  /** Told when counting a tracked usage failed (track() returns nothing; default: a line on stderr). */
  onTrackError?(error: unknown, tenantId: string, eventName: string): void;
  /** Tenants whose last evaluated features are remembered to name the changed keys (default 10,000). */
  rememberTenants?: number;
}

export class BillingProvider implements Provider {
  readonly metadata = { name: 'billing-entitlements' } as const;
  readonly runsOn = 'server' as const;
  readonly events = new OpenFeatureEventEmitter();
  private readonly seen = new Map<string, TenantFeatures>();
  private unsubscribe: (() => void) | undefined;

  private readonly remainingFor: ((tenantId: string) => Promise<RemainingOf | undefined>) | undefined;

  constructor(private readonly options: BillingProviderOptions) {
    this.remainingFor = options.usage ? remainingFromUsage(options.usage) : undefined;
  }

  async initialize(): Promise<void> {
    this.unsubscribe ??= this.options.reader.onChange?.((change) => this.changed(change));
  }

  async onClose(): Promise<void> {
    this.unsubscribe?.();
    this.unsubscribe = undefined;
    this.seen.clear();
  }

  resolveBooleanEvaluation(key: string, _default: boolean, context: EvaluationContext) {
    return this.resolve(key, context, 'boolean') as Promise<ResolutionDetails<boolean>>;
  }

  resolveNumberEvaluation(key: string, _default: number, context: EvaluationContext) {
    return this.resolve(key, context, 'number') as Promise<ResolutionDetails<number>>;
  }

  /** Entitlements are booleans and numbers: a string read of a known key is a type mismatch. */
  resolveStringEvaluation(key: string, _default: string, context: EvaluationContext) {
    return this.resolve(key, context, 'string') as Promise<ResolutionDetails<string>>;
  }

  resolveObjectEvaluation<T extends JsonValue>(key: string, _default: T, context: EvaluationContext) {
    return this.resolve(key, context, 'object') as Promise<ResolutionDetails<T>>;
  }

  track(eventName: string, context: EvaluationContext, details: TrackingEventDetails): void {
    const tenantId = context.targetingKey;
    if (typeof tenantId !== 'string' || !isTenantId(tenantId)) return;
    void this.trackUsage(tenantId, eventName, details).then((counted) => {
      if (!counted) this.options.track?.(tenantId, eventName, details);
    });
  }

  /** True when `eventName` is a metered key and its usage was handed to the usage service. */
  private async trackUsage(tenantId: string, eventName: string, details: TrackingEventDetails) {
    const { usage, catalog } = this.options;
    if (!usage) return false;
    try {
      const known = isCatalogSource(catalog) ? await catalog.current() : catalog;
      if (!known?.get(eventName)?.usage) return false;
      const amount = details.value ?? 1;
      const idempotencyKey = details.idempotencyKey;
      await usage.track(tenantId, eventName, amount, {
        ...(typeof idempotencyKey === 'string' ? { idempotencyKey } : {}),
      });
    } catch (error) {
      const report =
        this.options.onTrackError ??
        ((e: unknown) =>
          console.error(
            JSON.stringify({
              level: 'error',
              msg: 'OpenFeature track: usage not counted',
              tenantId,
              eventName,
              err: String(e),
            }),
          ));
      report(error, tenantId, eventName);
    }
    return true;
  }

  private async resolve(
    key: string,
    context: EvaluationContext,
    type: 'boolean' | 'number' | 'string' | 'object',
  ): Promise<ResolutionDetails<unknown>> {
    const tenantId = context.targetingKey;
    if (tenantId === undefined || tenantId === '') {
      throw new TargetingKeyMissingError('targetingKey (the tenant id) is required');
    }
    if (!isTenantId(tenantId)) throw new InvalidContextError('targetingKey must be a tenant id');
    const { catalog } = this.options;
    const [tenant, known, remaining] = await Promise.all([
      this.options.reader.getTenantFeatures(tenantId),
      isCatalogSource(catalog) ? catalog.current() : catalog,
      this.remainingFor?.(tenantId),
    ]);
    if (tenant) this.remember(tenant);
    const result = evaluateFlag(key, tenant, known, remaining);
    if (isNotFound(result)) throw new FlagNotFoundError(result.errorDetails);
    if (typeof result.value !== type) {
      throw new TypeMismatchError(`Flag '${key}' is a ${typeof result.value} flag, read as ${type}`);
    }
    return details(result);
  }

  private remember(tenant: TenantFeatures): void {
    const limit = this.options.rememberTenants ?? 10_000;
    const known = this.seen.get(tenant.tenantId);
    if (known && known.version >= tenant.version) return;
    this.seen.delete(tenant.tenantId);
    if (this.seen.size >= limit) this.seen.delete(this.seen.keys().next().value!);
    this.seen.set(tenant.tenantId, tenant);
  }

  /** One event per tenant change; a change already seen (our own message back from Redis) is none. */
  private changed(change: FeatureChange): void {
    if ('drop' in change) {
      for (const tenantId of change.drop) {
        this.seen.delete(tenantId);
        this.emit(tenantId, undefined);
      }
      return;
    }
    for (const next of change.put) {
      const before = this.seen.get(next.tenantId);
      if (before && before.version >= next.version) continue;
      this.remember(next);
      const keys = before ? changedKeys(before, next) : Object.keys(next.features).sort();
      if (keys.length > 0) this.emit(next.tenantId, keys, next.version);
    }
  }

  private emit(tenantId: string, flagsChanged: string[] | undefined, version?: number): void {
    this.events.emit(ProviderEvents.ConfigurationChanged, {
      ...(flagsChanged ? { flagsChanged } : {}),
      metadata: { tenantId, ...(version !== undefined ? { version } : {}) },
    });
  }
}

/** Keys whose value, or whose override or access state, differs between two versions. */
function changedKeys(before: TenantFeatures, after: TenantFeatures): string[] {
  const keys = new Set([...Object.keys(before.features), ...Object.keys(after.features)]);
  const overridden = (t: TenantFeatures, key: string) => t.overridden?.includes(key) ?? false;
  return [...keys]
    .filter(
      (key) =>
        before.features[key] !== after.features[key] ||
        before.accessActive !== after.accessActive ||
        overridden(before, key) !== overridden(after, key),
    )
    .sort();
}

function details(result: FlagEvaluation): ResolutionDetails<unknown> {
  return {
    value: result.value,
    reason: result.reason,
    variant: result.variant,
    flagMetadata: result.metadata,
  };
}
