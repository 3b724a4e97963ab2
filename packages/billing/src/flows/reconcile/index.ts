export {
  LISTED_RECONCILE_RESULTS,
  reconcileTenants,
  type ReconcileDeps,
  type ReconcileFailure,
  type ReconcileOptions,
  type ReconcileProgress,
  type ReconcileResult,
  type ReconcileSkip,
  type ReconcileSnapshot,
  type ReconcileVerdict,
  type TenantDrift,
} from './reconcile-tenants.js';
