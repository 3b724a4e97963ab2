export {
  reconcileTenants,
  type ReconcileDeps,
  type ReconcileFailure,
  type ReconcileOptions,
  type ReconcileProgress,
  type ReconcileResult,
  type ReconcileSkip,
  type ReconcileSnapshot,
  type TenantDrift,
} from './reconcile-tenants.js';
