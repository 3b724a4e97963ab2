import { z } from 'zod';
import { ValidationError } from '../../core/errors.js';

export type Issue = { path: string; message: string };

/** zod issues in the `{ path, message }` shape every ValidationError (and 400 body) uses. */
export function toIssues(error: z.ZodError, prefix = ''): Issue[] {
  return error.issues.map((issue) => {
    const path = issue.path
      .map((part) => (typeof part === 'symbol' ? part.toString() : String(part)))
      .join('.');
    return { path: prefix && path ? `${prefix}.${path}` : prefix || path, message: issue.message };
  });
}

/** Parses with `schema` or throws one ValidationError listing every problem. */
export function parseOrThrow<S extends z.ZodType>(
  schema: S,
  input: unknown,
  what: string,
  prefix = '',
): z.output<S> {
  const result = schema.safeParse(input);
  if (result.success) return result.data;
  const issues = toIssues(result.error, prefix);
  throw new ValidationError(
    `Invalid ${what}: ${issues.map((i) => (i.path ? `${i.path}: ${i.message}` : i.message)).join('; ')}`,
    issues,
  );
}
