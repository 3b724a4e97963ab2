// The pure entitlement core: decisions over plain values, no database, Stripe client or cache.
// Every other folder imports from here; nothing here imports from them.
export { asFeatureMap, combineFeatures, copyFeatures, diffFeatures, featuresEqual } from './feature-map.js';
export { mergePlanIntoTenant, type FeatureLayers, type MergePlanInput } from './merge.js';
export { derivedFeatures, restrictedFeatures, restrictFeatures } from './restriction.js';
export { isHeldConfig } from './held-config.js';
export { planPatch } from './plan-patch.js';
export { sameValue } from './same-value.js';
export { AUDITED_FIELDS, applyDecision, type FoldStep } from './apply-decision.js';
export {
  emptyState,
  type ConfigSource,
  type Decision,
  type TenantFeaturePatch,
  type TenantFeatureState,
} from './tenant-state.js';
export { ACCESS_GRANTING_STATUSES, grantsAccess } from './subscription-status.js';
export { toDate } from './unix-time.js';
export {
  NO_SUBSCRIPTION,
  subscriptionTruthOf,
  truthFromCustomerEntry,
  type CustomerSubscriptionLike,
  type SubscriptionRef,
  type SubscriptionStateLike,
  type SubscriptionTruth,
} from './subscription-truth.js';
export { watermark, type EventFacts } from './event-facts.js';
export { DEFAULT_GRACE_PERIOD_DAYS, decideGraceEnforcement, graceExpired, gracePeriodMs } from './grace.js';
export { decideFromTruth, type TruthOptions } from './subscription-decision.js';
export { decidePaymentFailed, decidePaymentSucceeded } from './payment-decisions.js';
export { decideTrialWillEnd } from './trial-decision.js';
export { decidePlanReapply } from './plan-reapply-decision.js';
export {
  factReads,
  foldEvents,
  truthRead,
  type FactRead,
  type Fold,
  type FoldedEvent,
  type FoldEvent,
  type RuledEvent,
  type StripeFacts,
  type SubscriptionFact,
  type TenantEventRule,
  type TrialNotice,
} from './webhook-fold.js';
export { decidePlanChange, isNoOp, type PlanChangeOptions, type PlanChangeSkip } from './plan-change.js';
export {
  keyChanges,
  overLimitKeys,
  previewTenantPlan,
  type KeyChange,
  type OverLimit,
  type TenantPlanPreview,
} from './plan-preview.js';
export { matchCustomersToTenants, type CustomerMatch, type TenantRef } from './customer-match.js';
export {
  compareSnapshots,
  expectedPatch,
  reconcileFacts,
  snapshotOf,
  type ReconcileSnapshot,
  type SnapshotDiff,
} from './reconcile-decisions.js';
export {
  explainFeatures,
  type FeatureOrigin,
  type FeatureRow,
  type ProvenanceInput,
} from './feature-provenance.js';
export {
  crossedThresholds,
  decideGrant,
  DEFAULT_USAGE_THRESHOLDS,
  meteredLimit,
  remainingOf,
  usageRulesIssues,
  usageRulesOf,
  USAGE_OVERAGE_POLICIES,
  USAGE_RESETS,
  USAGE_METER_REPORTS,
  meterReportOf,
  type UsageMeterReport,
  type Grant,
  type GrantInput,
  type UsageOveragePolicy,
  type UsageReset,
  type UsageRules,
} from './usage.js';
export { DEFAULT_OVER_LIMIT_POLICY, decideLimit, graceDaysOf, type LimitDecision } from './over-limit.js';
