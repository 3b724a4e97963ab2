/** The OpenFeature parts with no OpenFeature SDK behind them: evaluation and OFREP. */
export {
  evaluateFlag,
  evaluateAll,
  type FlagEvaluation,
  type FlagMetadata,
  type FlagNotFound,
  type FlagReason,
  type FlagSource,
  type RemainingOf,
} from './evaluation.js';
export {
  answerOfrepBulk,
  answerOfrepFlag,
  tokenAuthorizer,
  hostAuthorizer,
  ofrepEndpoint,
  presentedToken,
  OFREP_BULK_PATH,
  OFREP_ERROR_CODES,
  OFREP_FLAG_PATH,
  type HeaderOf,
  type OfrepAnswer,
  type OfrepCaller,
  type OfrepErrorCode,
  type OfrepOptions,
  type OfrepRequest,
} from './ofrep.js';
export { remainingFromUsage } from './usage.js';
