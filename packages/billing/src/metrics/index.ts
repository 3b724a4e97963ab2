export { noopMetrics, type BillingMetrics } from './types.js';
export {
  createPrometheusMetrics,
  type PrometheusMetrics,
  type PrometheusMetricsOptions,
} from './prometheus.js';
