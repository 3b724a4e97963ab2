-- Admin console sessions, held on the server: signing out, the token's removal or expiry ends one
-- on every instance at once. The cookie carries only a random session id (signed); the row is
-- keyed by the id's sha256, so a copy of this table cannot be replayed as cookies.
CREATE TABLE "console_sessions" (
    "id_hash" TEXT NOT NULL,
    "token_hash" TEXT NOT NULL,
    "created_at" TIMESTAMP(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,
    "expires_at" TIMESTAMP(3) NOT NULL,
    "ended_at" TIMESTAMP(3),

    CONSTRAINT "console_sessions_pkey" PRIMARY KEY ("id_hash")
);

-- Expired rows are deleted at sign-in.
CREATE INDEX "console_sessions_expires_at_idx" ON "console_sessions"("expires_at");
