export { consoleErrorPages, consolePlugin, type ConsoleDeps } from './plugin.js';
export { createSessionKeys, MIN_SECRET_LENGTH, type ConsoleSession, type SessionKeys } from './session.js';
