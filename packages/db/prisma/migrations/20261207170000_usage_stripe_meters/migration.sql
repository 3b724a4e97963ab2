-- Stripe Billing Meters (packages/billing/docs/usage.md, Stripe meters). A counter of a key with a
-- `stripeMeter` reports its increase to Stripe: `stripe_reported` is what Stripe has been sent (of
-- `used`, or of `overage` for keys that report only the overage); `stripe_due` is set by usage_apply in
-- the same UPDATE that counts, so the reporter finds the counters with something to send through a
-- partial index and the hot path writes no extra row. `stripe_sending_to` is the range's end claimed
-- for the send in flight: a retry after a crash sends the same range under the same identifier, which
-- Stripe deduplicates.
ALTER TABLE "usage_counters"
  ADD COLUMN "stripe_due" BOOLEAN NOT NULL DEFAULT false,
  ADD COLUMN "stripe_reported" BIGINT NOT NULL DEFAULT 0,
  ADD COLUMN "stripe_sending_to" BIGINT,
  ADD COLUMN "stripe_attempts" INTEGER NOT NULL DEFAULT 0,
  ADD COLUMN "stripe_next_at" TIMESTAMPTZ(3),
  ADD COLUMN "stripe_error" TEXT;
CREATE INDEX "usage_counters_stripe_due_idx" ON "usage_counters"("stripe_next_at") WHERE "stripe_due";

-- usage_apply as before, plus: a request's `stripe` ('usage' | 'overage' | null) marks the counter due
-- for reporting when the grant (or, for 'overage', the overage it added) is above zero.
CREATE OR REPLACE FUNCTION usage_apply(p_requests JSONB, p_now TIMESTAMPTZ)
RETURNS TABLE (i INT, status TEXT, allowed BOOLEAN, granted FLOAT8, overage_added FLOAT8, used FLOAT8,
               reserved FLOAT8, overage FLOAT8, period_start TIMESTAMPTZ, period_end TIMESTAMPTZ,
               reservation_id TEXT, tenant_id TEXT, key TEXT)
LANGUAGE plpgsql VOLATILE AS $$
#variable_conflict use_variable
DECLARE
  r RECORD;
  c RECORD;
  l RECORD;
  res RECORD;
  v_ps TIMESTAMPTZ;
  v_pe TIMESTAMPTZ;
  v_avail FLOAT8;
  v_grant BIGINT;
  v_held BIGINT;
  v_freed BIGINT;
  v_n INT;
BEGIN
  FOR r IN
    SELECT * FROM jsonb_to_recordset(p_requests) AS x(i INT, op TEXT, tenant_id TEXT, key TEXT, reset TEXT,
      policy TEXT, lim BIGINT, amount BIGINT, at TIMESTAMPTZ, idem TEXT, reservation_id TEXT, expires_at TIMESTAMPTZ,
      thresholds TEXT, stripe TEXT)
  LOOP
    i := r.i; tenant_id := r.tenant_id; key := r.key; reservation_id := r.reservation_id;
    granted := 0; overage_added := 0; allowed := false; status := 'ok';
    v_held := 0;
    IF r.op IN ('finalize', 'release') THEN
      SELECT * INTO res FROM usage_reservations u WHERE u.id = r.reservation_id FOR UPDATE;
      IF NOT FOUND THEN
        status := 'not_found'; used := NULL; reserved := NULL; overage := NULL; period_start := NULL;
        period_end := NULL; RETURN NEXT; CONTINUE;
      END IF;
      tenant_id := res.tenant_id; key := res.key; v_ps := res.period_start; v_held := res.amount;
      SELECT uc.period_end INTO v_pe FROM usage_counters uc
        WHERE uc.tenant_id = res.tenant_id AND uc.key = res.key AND uc.period_start = res.period_start;
    ELSE
      SELECT p.ps, p.pe INTO v_ps, v_pe FROM usage_period(r.tenant_id, r.reset, COALESCE(r.at, p_now)) p;
    END IF;
    -- The counter row, created on first use, locked until commit; returns its latest committed values.
    INSERT INTO usage_counters AS uc (tenant_id, key, period_start, period_end, updated_at)
      VALUES (tenant_id, key, v_ps, v_pe, p_now)
      ON CONFLICT ON CONSTRAINT usage_counters_pkey
      DO UPDATE SET period_end = COALESCE(EXCLUDED.period_end, uc.period_end)
      RETURNING uc.used, uc.reserved, uc.overage, uc.period_end INTO c;
    period_start := v_ps; period_end := c.period_end;
    used := c.used; reserved := c.reserved; overage := c.overage;

    IF r.op IN ('finalize', 'release') THEN
      DELETE FROM usage_reservations u WHERE u.id = r.reservation_id;
      UPDATE usage_counters uc SET reserved = uc.reserved - v_held, updated_at = p_now
        WHERE uc.tenant_id = res.tenant_id AND uc.key = res.key AND uc.period_start = v_ps;
      reserved := reserved - v_held;
      IF res.expires_at <= p_now THEN
        status := 'expired'; RETURN NEXT; CONTINUE;
      END IF;
      IF r.op = 'release' THEN allowed := true; RETURN NEXT; CONTINUE; END IF;
    END IF;

    IF r.idem IS NOT NULL THEN
      INSERT INTO usage_ledger AS ul (tenant_id, idempotency_key, key, op, requested, created_at)
        VALUES (r.tenant_id, r.idem, r.key, r.op, r.amount, p_now)
        ON CONFLICT ON CONSTRAINT usage_ledger_pkey DO NOTHING;
      GET DIAGNOSTICS v_n = ROW_COUNT;
      IF v_n = 0 THEN
        -- Seen before (committed: the insert waited for it): the first answer again.
        SELECT * INTO l FROM usage_ledger ul WHERE ul.tenant_id = r.tenant_id AND ul.idempotency_key = r.idem;
        IF l.key <> r.key OR l.op <> r.op OR l.requested <> r.amount THEN status := 'conflict';
        ELSE status := 'duplicate'; allowed := l.allowed; granted := l.granted; reservation_id := l.reservation_id;
        END IF;
        RETURN NEXT; CONTINUE;
      END IF;
    END IF;

    v_avail := CASE WHEN r.lim IS NULL THEN 'Infinity'::float8 ELSE r.lim - used - reserved END;
    -- A refusal while reservations are held: expired ones give their amount back first.
    IF r.amount > GREATEST(v_avail, v_held) AND r.policy <> 'allow' AND reserved > 0 THEN
      WITH gone AS (
        DELETE FROM usage_reservations u
        WHERE u.tenant_id = r.tenant_id AND u.key = r.key AND u.period_start = v_ps AND u.expires_at <= p_now
        RETURNING u.amount)
      SELECT COALESCE(sum(amount), 0) INTO v_freed FROM gone;
      IF v_freed > 0 THEN
        UPDATE usage_counters uc SET reserved = uc.reserved - v_freed
          WHERE uc.tenant_id = r.tenant_id AND uc.key = r.key AND uc.period_start = v_ps;
        reserved := reserved - v_freed;
        v_avail := v_avail + v_freed;
      END IF;
    END IF;

    -- A finalize's held amount is always granted (it was counted against the limit when reserved).
    IF r.policy = 'allow' THEN v_grant := r.amount;
    ELSIF r.amount <= GREATEST(v_avail, v_held) THEN v_grant := r.amount;
    ELSIF r.policy = 'cap' THEN v_grant := GREATEST(LEAST(r.amount::float8, v_avail), v_held)::bigint;
    ELSE v_grant := v_held;
    END IF;
    IF v_grant < 0 THEN v_grant := 0; END IF;
    allowed := v_grant = r.amount OR (r.policy = 'cap' AND v_grant > 0);
    granted := v_grant;
    overage_added := GREATEST(0, v_grant - GREATEST(v_avail, 0));

    IF r.op = 'reserve' THEN
      IF v_grant > 0 THEN
        INSERT INTO usage_reservations (id, tenant_id, key, period_start, amount, expires_at, created_at)
          VALUES (r.reservation_id, r.tenant_id, r.key, v_ps, v_grant, r.expires_at, p_now);
        UPDATE usage_counters uc SET reserved = uc.reserved + v_grant, updated_at = p_now
          WHERE uc.tenant_id = r.tenant_id AND uc.key = r.key AND uc.period_start = v_ps;
        reserved := reserved + v_grant;
      ELSE
        reservation_id := NULL;
      END IF;
      overage_added := 0;
    ELSIF v_grant > 0 OR overage_added > 0 THEN
      UPDATE usage_counters uc SET used = uc.used + v_grant, overage = uc.overage + overage_added,
          updated_at = p_now,
          stripe_due = uc.stripe_due OR COALESCE(r.stripe = 'usage' AND v_grant > 0, false)
                       OR COALESCE(r.stripe = 'overage' AND overage_added > 0, false)
        WHERE uc.tenant_id = tenant_id AND uc.key = key AND uc.period_start = v_ps;
      used := used + v_grant; overage := overage + overage_added;
      IF r.thresholds IS NOT NULL AND v_grant > 0 THEN
        PERFORM usage_record_alerts(tenant_id, key, v_ps, period_end, used - v_grant, used, r.lim,
                                    r.thresholds::int[], p_now);
      END IF;
    END IF;
    IF r.idem IS NOT NULL THEN
      UPDATE usage_ledger ul SET granted = v_grant, allowed = allowed, reservation_id = reservation_id
        WHERE ul.tenant_id = r.tenant_id AND ul.idempotency_key = r.idem;
    END IF;
    RETURN NEXT;
  END LOOP;
END $$;
