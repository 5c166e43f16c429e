import { useRef, useState } from 'react';
import { useMutation, useQuery, useQueryClient } from '@tanstack/react-query';
import { useNavigate } from 'react-router';
import { Button } from '../../components/Button';
import { Section } from '../../components/Page';
import { EmptyState, ErrorState, InlineError, Loading } from '../../components/States';
import { useToast } from '../../components/Toast';
import { ApiError } from '../../lib/api';
import { credits, money } from '../../lib/format';
import { addToCart, cartKey, checkout, getCart, getProducts, newIdempotencyKey, removeCartItem, setCartItem, type Cart, type Product } from './api';

export default function BuyPage() {
  return (
    <div className="grid gap-6 lg:grid-cols-3">
      <div className="lg:col-span-2">
        <Products />
      </div>
      <div>
        <CartPanel />
      </div>
    </div>
  );
}

function Products() {
  const q = useQuery({ queryKey: ['products'], queryFn: getProducts });
  return (
    <Section title="Credit packs" id="products-heading" description="Credits are added to your team's wallet once the payment is confirmed.">
      {q.isPending ? (
        <Loading label="Loading products…" />
      ) : q.isError ? (
        <ErrorState error={q.error} onRetry={() => void q.refetch()} />
      ) : q.data.data.length === 0 ? (
        <EmptyState title="Nothing on sale right now">An administrator has not put any credit packs on sale yet.</EmptyState>
      ) : (
        <ul className="grid gap-4 sm:grid-cols-2">
          {q.data.data.map((p) => (
            <ProductCard key={p.id} product={p} />
          ))}
        </ul>
      )}
    </Section>
  );
}

function ProductCard({ product: p }: { product: Product }) {
  const qc = useQueryClient();
  const toast = useToast();
  const m = useMutation({
    mutationFn: () => addToCart(p.id, 1),
    onSuccess: (cart) => {
      qc.setQueryData(cartKey, cart);
      toast({ title: 'Added to cart', description: p.name, tone: 'success' });
    },
  });
  return (
    <li className="flex flex-col rounded-lg p-4 ring-1 ring-gray-200 dark:ring-gray-700">
      <h3 className="font-semibold text-gray-900 dark:text-gray-100">{p.name}</h3>
      <p className="mt-1 flex-1 text-sm text-gray-600 dark:text-gray-300">{p.description}</p>
      <p className="mt-3 text-sm">
        <span className="text-lg font-semibold text-gray-900 dark:text-gray-100">{money(p.price, p.currency)}</span>{' '}
        <span className="text-gray-600 dark:text-gray-300">for {credits(p.micro_credits)} credits</span>
      </p>
      <Button className="mt-3" variant="secondary" pending={m.isPending} onClick={() => m.mutate()}>
        Add to cart<span className="sr-only">: {p.name}</span>
      </Button>
      <InlineError error={m.error} />
    </li>
  );
}

/** conflictCart returns the current cart of a 409 cart_version_conflict answer. */
function conflictCart(err: unknown): Cart | null {
  if (err instanceof ApiError && err.code === 'cart_version_conflict') {
    return ((err.body as { cart?: Cart } | undefined)?.cart) ?? null;
  }
  return null;
}

function CartPanel() {
  const qc = useQueryClient();
  const navigate = useNavigate();
  const cart = useQuery({ queryKey: cartKey, queryFn: getCart });
  const [notice, setNotice] = useState('');
  // One idempotency key per checkout attempt: a retry after a network error
  // or a double click replays the same order instead of buying twice.
  const idem = useRef<string>('');

  const change = useMutation({
    mutationFn: ({ id, qty, version }: { id: number; qty: number; version: number }) => (qty > 0 ? setCartItem(id, qty, version) : removeCartItem(id, version)),
    onSuccess: (c) => {
      setNotice('');
      qc.setQueryData(cartKey, c);
    },
    onError: (err) => {
      const current = conflictCart(err);
      if (current) {
        qc.setQueryData(cartKey, current);
        setNotice('Your cart changed in another tab; here it is as it is now. Make your change again.');
      }
    },
  });

  const buy = useMutation({
    mutationFn: () => {
      if (!idem.current) idem.current = newIdempotencyKey();
      return checkout(idem.current);
    },
    onSuccess: (order) => {
      idem.current = '';
      void qc.invalidateQueries({ queryKey: cartKey });
      void qc.invalidateQueries({ queryKey: ['orders'] });
      if (order.payment?.redirect_url && /^https:\/\//.test(order.payment.redirect_url)) {
        window.location.assign(order.payment.redirect_url);
        return;
      }
      navigate(`/billing/orders/${order.id}`);
    },
    onError: (err) => {
      // Keep the key only where a retry should finish the same checkout.
      if (!(err instanceof ApiError) || (err.status !== 0 && err.status < 500)) idem.current = '';
    },
  });

  return (
    <Section title="Your cart" id="cart-heading">
      {cart.isPending ? (
        <Loading label="Loading cart…" />
      ) : cart.isError ? (
        <ErrorState error={cart.error} onRetry={() => void cart.refetch()} />
      ) : cart.data.items.length === 0 ? (
        <EmptyState title="Your cart is empty">Add a credit pack to buy credits.</EmptyState>
      ) : (
        <div className="space-y-4">
          <ul className="divide-y divide-gray-100 dark:divide-gray-800">
            {cart.data.items.map((it) => (
              <li key={it.product_id} className="py-3">
                <div className="flex flex-wrap items-baseline justify-between gap-2">
                  <span className="font-medium">{it.name}</span>
                  <span className="tabular-nums">{money(it.amount, cart.data.currency)}</span>
                </div>
                {!it.available && <p className="text-xs text-amber-800 dark:text-amber-300">No longer on sale: remove it to check out.</p>}
                <div className="mt-2 flex items-center gap-2">
                  <Button
                    size="sm"
                    variant="secondary"
                    aria-label={`One less ${it.name}`}
                    disabled={change.isPending}
                    onClick={() => change.mutate({ id: it.product_id, qty: it.quantity - 1, version: cart.data.version })}
                  >
                    −
                  </Button>
                  <span className="min-w-[2ch] text-center tabular-nums" aria-label={`Quantity of ${it.name}`}>
                    {it.quantity}
                  </span>
                  <Button
                    size="sm"
                    variant="secondary"
                    aria-label={`One more ${it.name}`}
                    disabled={change.isPending || it.quantity >= 1000}
                    onClick={() => change.mutate({ id: it.product_id, qty: it.quantity + 1, version: cart.data.version })}
                  >
                    +
                  </Button>
                  <Button size="sm" variant="ghost" disabled={change.isPending} onClick={() => change.mutate({ id: it.product_id, qty: 0, version: cart.data.version })}>
                    Remove<span className="sr-only"> {it.name}</span>
                  </Button>
                </div>
              </li>
            ))}
          </ul>
          <dl className="space-y-1 border-t border-gray-200 pt-3 text-sm dark:border-gray-700">
            <div className="flex justify-between">
              <dt>Credits</dt>
              <dd className="tabular-nums">{credits(cart.data.micro_credits)}</dd>
            </div>
            <div className="flex justify-between text-base font-semibold">
              <dt>Total</dt>
              <dd className="tabular-nums" data-testid="cart-total">
                {money(cart.data.total, cart.data.currency)}
              </dd>
            </div>
          </dl>
          {notice && (
            <p role="status" className="text-sm text-amber-800 dark:text-amber-300">
              {notice}
            </p>
          )}
          {!conflictCart(change.error) && <InlineError error={change.error} />}
          <InlineError error={buy.error} />
          <Button className="w-full" pending={buy.isPending} disabled={cart.data.items.some((i) => !i.available)} onClick={() => buy.mutate()}>
            Check out
          </Button>
        </div>
      )}
    </Section>
  );
}
