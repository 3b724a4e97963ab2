/** Stripe timestamps (Unix seconds) as Dates; absent → null. */
export function toDate(seconds: number | null | undefined): Date | null {
  return typeof seconds === 'number' ? new Date(seconds * 1000) : null;
}
