import { invalidRequest, missingParam } from './errors.js';

/** Parsed form/query parameters: qs gives strings, arrays and nested objects. */
export type Params = Record<string, unknown>;

export function str(params: Params, key: string, param = key): string | undefined {
  const v = params[key];
  if (v === undefined) return undefined;
  if (typeof v !== 'string') throw invalidRequest(`Invalid string: ${JSON.stringify(v)}`, param);
  return v;
}

export function requireStr(params: Params, key: string, param = key): string {
  const v = str(params, key, param);
  if (v === undefined || v === '') throw missingParam(param);
  return v;
}

/** Stripe treats an empty string as "unset" for nullable fields. */
export function nullableStr(params: Params, key: string, param = key): string | null | undefined {
  const v = str(params, key, param);
  if (v === undefined) return undefined;
  return v === '' ? null : v;
}

export function int(params: Params, key: string, param = key): number | undefined {
  const v = params[key];
  if (v === undefined || v === '') return undefined;
  if (typeof v !== 'string' || !/^-?\d+$/.test(v))
    throw invalidRequest(`Invalid integer: ${String(v)}`, param);
  return Number(v);
}

export function bool(params: Params, key: string, param = key): boolean | undefined {
  const v = params[key];
  if (v === undefined || v === '') return undefined;
  if (v === 'true') return true;
  if (v === 'false') return false;
  throw invalidRequest(`Invalid boolean: ${String(v)}`, param);
}

export function obj(params: Params, key: string, param = key): Params | undefined {
  const v = params[key];
  if (v === undefined || v === '') return undefined;
  if (typeof v !== 'object' || v === null || Array.isArray(v)) throw invalidRequest(`Invalid hash`, param);
  return v as Params;
}

/**
 * qs yields an array for `a[0]=x&a[1]=y`, but an object keyed by index when
 * indices are sparse or exceed arrayLimit; accept both.
 */
export function arr(params: Params, key: string, param = key): unknown[] | undefined {
  const v = params[key];
  if (v === undefined || v === '') return undefined;
  if (Array.isArray(v)) return v;
  if (typeof v === 'object' && v !== null) {
    return Object.keys(v)
      .sort((a, b) => Number(a) - Number(b))
      .map((k) => (v as Params)[k]);
  }
  if (typeof v === 'string') return [v];
  throw invalidRequest(`Invalid array`, param);
}

export function strArray(params: Params, key: string): string[] | undefined {
  const a = arr(params, key);
  return a?.map((x, i) => {
    if (typeof x !== 'string') throw invalidRequest(`Invalid string: ${JSON.stringify(x)}`, `${key}[${i}]`);
    return x;
  });
}

export function oneOf<T extends string>(
  params: Params,
  key: string,
  allowed: readonly T[],
  param = key,
): T | undefined {
  const v = str(params, key, param);
  if (v === undefined || v === '') return undefined;
  if (!(allowed as readonly string[]).includes(v)) {
    throw invalidRequest(`Invalid ${param}: must be one of ${allowed.join(', ')}`, param);
  }
  return v as T;
}

export type Metadata = Record<string, string>;

/**
 * Metadata updates merge key by key; an empty value deletes a key and an empty
 * string for the whole hash clears it, as in Stripe.
 */
export function applyMetadata(current: Metadata, params: Params, key = 'metadata'): Metadata {
  const v = params[key];
  if (v === undefined) return current;
  if (v === '') return {};
  if (typeof v !== 'object' || v === null || Array.isArray(v)) throw invalidRequest('Invalid hash', key);
  const next = { ...current };
  for (const [k, raw] of Object.entries(v as Params)) {
    if (typeof raw !== 'string')
      throw invalidRequest(`Invalid string: ${JSON.stringify(raw)}`, `${key}[${k}]`);
    if (k.length > 40)
      throw invalidRequest('Metadata keys can have a maximum length of 40 characters.', `${key}[${k}]`);
    if (raw.length > 500)
      throw invalidRequest('Metadata values can have a maximum length of 500 characters.', `${key}[${k}]`);
    if (raw === '') delete next[k];
    else next[k] = raw;
  }
  if (Object.keys(next).length > 50) throw invalidRequest('Metadata can have a maximum of 50 keys.', key);
  return next;
}
