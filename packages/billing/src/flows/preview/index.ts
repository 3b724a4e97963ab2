export {
  previewPlanChange,
  type PlanChangePreview,
  type PreviewPlanDeps,
  type PreviewPlanOptions,
  type ProposedPlan,
  type TenantPreview,
} from './plan-preview.js';
export type { KeyChange, OverLimit } from '../../core/index.js';
