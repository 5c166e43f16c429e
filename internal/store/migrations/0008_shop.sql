-- The shop: credit packs (products), one cart per user, orders with their
-- items as sold, one payment per order, and the provider events already
-- processed (webhooks are delivered at least once).
--
-- Prices and totals are minor units of the order's currency; credits are
-- micro-credits.

CREATE TABLE products (
    id          {{id}},
    name        TEXT NOT NULL,
    description TEXT NOT NULL DEFAULT '',
    price       BIGINT NOT NULL,
    credits     BIGINT NOT NULL,
    active      {{bool}} NOT NULL,
    archived_at {{timestamp}},
    created_at  {{timestamp}} NOT NULL,
    updated_at  {{timestamp}} NOT NULL
);

-- A cart row exists once the user first changed their cart; its version
-- grows with every change (optimistic concurrency for clients, and the row
-- a change locks so that concurrent changes to one cart queue).
CREATE TABLE carts (
    user_id    BIGINT PRIMARY KEY REFERENCES users (id) ON DELETE CASCADE,
    version    BIGINT NOT NULL,
    updated_at {{timestamp}} NOT NULL
);

CREATE TABLE cart_items (
    user_id    BIGINT NOT NULL REFERENCES carts (user_id) ON DELETE CASCADE,
    product_id BIGINT NOT NULL REFERENCES products (id),
    quantity   BIGINT NOT NULL,
    seq        BIGINT NOT NULL, -- the cart version that added the line: lines are listed in the order added
    PRIMARY KEY (user_id, product_id)
);

-- Orders are never deleted; the checkout's idempotency key is unique per
-- user, and request_hash tells a retry from another request under the same
-- key.
CREATE TABLE orders (
    id              {{id}},
    team_id         BIGINT NOT NULL REFERENCES teams (id),
    user_id         BIGINT NOT NULL REFERENCES users (id),
    status          TEXT NOT NULL,
    currency        TEXT NOT NULL,
    total           BIGINT NOT NULL,
    credits         BIGINT NOT NULL,
    provider        TEXT NOT NULL,
    idempotency_key TEXT NOT NULL,
    request_hash    TEXT NOT NULL,
    created_at      {{timestamp}} NOT NULL,
    updated_at      {{timestamp}} NOT NULL,
    paid_at         {{timestamp}},
    fulfilled_at    {{timestamp}},
    refunded_at     {{timestamp}},
    UNIQUE (user_id, idempotency_key)
);
CREATE INDEX orders_team_id ON orders (team_id, id);
CREATE INDEX orders_status ON orders (status, id);

CREATE TABLE order_items (
    order_id     BIGINT NOT NULL REFERENCES orders (id),
    line         INTEGER NOT NULL,
    product_id   BIGINT NOT NULL REFERENCES products (id), -- a product once ordered cannot be deleted
    name         TEXT NOT NULL,
    unit_price   BIGINT NOT NULL,
    unit_credits BIGINT NOT NULL,
    quantity     BIGINT NOT NULL,
    PRIMARY KEY (order_id, line)
);

CREATE TABLE payments (
    id               {{id}},
    order_id         BIGINT NOT NULL UNIQUE REFERENCES orders (id),
    team_id          BIGINT NOT NULL,
    provider         TEXT NOT NULL,
    status           TEXT NOT NULL,
    amount           BIGINT NOT NULL,
    currency         TEXT NOT NULL,
    external_id      TEXT NOT NULL DEFAULT '', -- e.g. the Stripe Checkout Session
    reference        TEXT NOT NULL DEFAULT '', -- e.g. the Stripe PaymentIntent, or a manual payment's reference
    refund_reference TEXT NOT NULL DEFAULT '',
    redirect_url     TEXT NOT NULL DEFAULT '',
    instructions     TEXT NOT NULL DEFAULT '',
    created_at       {{timestamp}} NOT NULL,
    updated_at       {{timestamp}} NOT NULL
);
CREATE INDEX payments_reference ON payments (provider, reference);
CREATE INDEX payments_status ON payments (status, id);

-- Provider events already applied, written in the transaction of their
-- effect: a redelivered event finds its row and changes nothing.
CREATE TABLE payment_events (
    provider    TEXT NOT NULL,
    event_id    TEXT NOT NULL,
    type        TEXT NOT NULL,
    order_id    BIGINT NOT NULL DEFAULT 0,
    received_at {{timestamp}} NOT NULL,
    PRIMARY KEY (provider, event_id)
);
