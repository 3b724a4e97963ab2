// Types for long-functions.mjs, so the unit test that binds it to the suite type-checks.
export interface FunctionSpan {
  /** The function's name, or the name it is bound to. */
  name: string;
  /** Relative to the repository root. */
  file: string;
  /** 1-based line of its first token. */
  line: number;
  /** From its first line to its last, both included. */
  lines: number;
}
export const REPO_ROOT: string;
export const SOURCE_ROOTS: string[];
export const LINE_LIMIT: number;
export function functionsIn(file: string): FunctionSpan[];
export function longFunctions(options?: { limit?: number; roots?: string[] }): FunctionSpan[];
export function describeFunction(fn: FunctionSpan): string;
