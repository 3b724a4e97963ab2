import type { PrismaClient } from '@packages/db';
import { priceChooser, type SeedTenantsOptions, type SeededTenant } from '../test/helpers/fixtures.js';
import type { EmulatorProcess } from './emulator-process.js';

/**
 * The tenants seedTenantsWithSubscriptions makes (same ids, names, customers and subscriptions,
 * plans round-robin, database rows linked by column or metadata), created through the emulator's
 * bulk endpoint, `chunk` customers per request instead of two SDK calls each, with no events kept:
 * 100,000 tenants in seconds rather than minutes, so the sync rows can run at 100k and beyond.
 * `created` advances one second per `perSecond` tenants (default 1,000, about the pace of SDK
 * seeding), so the walk's created ranges split as they would over an account's history.
 */
export async function seedTenantsInBulk(
  emu: EmulatorProcess,
  prisma: PrismaClient,
  n: number,
  options: Omit<SeedTenantsOptions, 'concurrency'> & { chunk?: number; perSecond?: number } = {},
): Promise<SeededTenant[]> {
  const prefix = options.prefix ?? 'tenant';
  const priceFor = priceChooser(options, 'seedTenantsInBulk');
  const chunk = options.chunk ?? 5000;
  const perSecond = options.perSecond ?? 1000;
  const link = options.link ?? 'column';
  const seeded: SeededTenant[] = [];
  for (let from = 0; from < n; from += chunk) {
    const part = Array.from({ length: Math.min(chunk, n - from) }, (_, k) => {
      const i = from + k;
      const tenantId = `${prefix}_${String(i).padStart(6, '0')}`;
      return { i, tenantId, priceId: priceFor(i) };
    });
    const created = await emu.seedCustomers(
      part.map(({ i, tenantId, priceId }) => ({
        name: `Tenant ${i}`,
        email: `${tenantId}@example.test`,
        metadata: { tenantId },
        subscription: {
          items: [{ price: priceId }, ...(options.extraItemsFor?.(i) ?? [])],
          metadata: { tenantId },
        },
      })),
      { events: false, perSecond },
    );
    const tenants = part.map(({ tenantId, priceId }, k) => ({
      tenantId,
      customerId: created[k]!.customer,
      subscriptionId: created[k]!.subscription!,
      priceId,
    }));
    await prisma.tenant.createMany({
      data: tenants.map((t) => ({
        id: t.tenantId,
        name: t.tenantId,
        stripeCustomerId: link === 'column' ? t.customerId : null,
      })),
    });
    seeded.push(...tenants);
  }
  return seeded;
}
