export { noopMetrics, type BillingMetrics } from './types.js';
export {
  createPrometheusMetrics,
  type InboxDepth,
  type PrometheusMetrics,
  type PrometheusMetricsOptions,
} from './prometheus.js';
