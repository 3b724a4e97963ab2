export { consoleErrorPages, consolePlugin } from './plugin.js';
export type { ConsoleDeps } from './kit.js';
export { createSessionKeys, MIN_SECRET_LENGTH, type ConsoleSession, type SessionKeys } from './session.js';
