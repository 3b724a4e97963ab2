// A shared cache that never holds anything: every lookup through it is a database read.
export { createNoCache as noCache } from '../../src/io/cache/index.js';
