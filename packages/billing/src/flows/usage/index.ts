export { createUsageService, type UsageServiceOptions } from './service.js';
export {
  type CountedUsage,
  type Reservation,
  type SettleOptions,
  type TenantUsage,
  type TrackOptions,
  type UsageAnswer,
  type UsageAuditOptions,
  type UsageMeter,
  type UsageService,
  type OverLimitFields,
} from './service-types.js';
export {
  alertEvent,
  createUsageAlertDispatcher,
  listUsageAlerts,
  replayUsageAlert,
  signUsagePayload,
  USAGE_ALERT_STATUSES,
  type UsageAlertDispatcher,
  type UsageAlertOptions,
  type UsageAlertRow,
} from './alerts.js';
export {
  createUsageMeterReporter,
  listUsageMeterReports,
  meterEventIdentifier,
  type UsageMeterReporter,
  type UsageMeterReporterOptions,
  type UsageMeterReportState,
} from './stripe-meters.js';
