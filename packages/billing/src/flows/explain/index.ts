export { explainFeature, type ExplainOptions } from './explain.js';
export {
  explainChain,
  locatePlanField,
  type AuditRef,
  type ExplainOrigin,
  type FeatureExplanation,
  type PlanField,
} from './chain.js';
