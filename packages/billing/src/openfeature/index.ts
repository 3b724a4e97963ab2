/** Everything OpenFeature: the OFREP endpoints and the flag evaluation they share. */
export * from './http.js';
