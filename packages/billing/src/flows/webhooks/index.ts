export {
  createStripeWebhookHandler,
  type ProcessedQueue,
  type StripeWebhookHandler,
  type StripeWebhookHandlerOptions,
  type StripeWebhookPipeline,
  type TrialWillEndInfo,
  type WebhookFeatureSync,
  type WebhookLog,
  type WebhookResult,
  type WebhookResultStatus,
  type WebhookStripeSync,
} from './handler.js';
export {
  enforcePaymentGrace,
  type EnforcePaymentGraceOptions,
  type EnforcePaymentGraceResult,
} from './grace.js';
export { listUnmatchedEvents, type UnmatchedEvent } from './ledger.js';
export { webhookFigures, type WebhookFigures } from './inbox-figures.js';
export {
  inboxStats,
  listWebhookEvents,
  replayWebhookEvent,
  replayWebhookEvents,
  type ClaimedQueue,
  type InboxEvent,
  type InboxPage,
  type InboxStats,
  type InboxStatus,
  type ListInboxOptions,
  type ReplayResult,
  type ReplaySelection,
  type RetryPolicy,
} from './inbox.js';
export { verifyEvent, type VerifiedEvent } from './event.js';
export { startWebhookWorkers, type WebhookWorkerOptions, type WebhookWorkers } from './worker.js';
export {
  schedulePaymentGrace,
  type PaymentGraceSchedule,
  type PaymentGraceScheduleOptions,
} from './grace-schedule.js';
