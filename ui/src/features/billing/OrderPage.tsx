import { useQuery, useQueryClient } from '@tanstack/react-query';
import { Link, useParams } from 'react-router';
import { Button } from '../../components/Button';
import { ConfirmDialog } from '../../components/ConfirmDialog';
import { Badge, Section } from '../../components/Page';
import { ErrorState, Loading } from '../../components/States';
import { Table, Td, Th } from '../../components/Table';
import { useToast } from '../../components/Toast';
import { ApiError } from '../../lib/api';
import { credits, dateTime, money } from '../../lib/format';
import { balanceKey, cancelOrder, getBalance, getOrder } from './api';
import { orderStatusLabel, orderStatusTone } from './status';

export default function OrderPage() {
  const { id } = useParams();
  const orderId = Number(id);
  const qc = useQueryClient();
  const toast = useToast();
  const q = useQuery({
    queryKey: ['order', orderId],
    queryFn: () => getOrder(orderId),
    enabled: Number.isInteger(orderId) && orderId > 0,
    // A pending or paid order changes when the payment lands: the event
    // stream says so at once; a slow poll covers a stream that is down.
    refetchInterval: (query) => (['pending', 'paid'].includes(query.state.data?.status ?? '') ? 15_000 : false),
  });
  const balance = useQuery({ queryKey: balanceKey, queryFn: getBalance });

  const back = (
    <Link className="text-sm font-semibold text-indigo-700 hover:underline dark:text-indigo-300" to="/billing/orders">
      ← All orders
    </Link>
  );
  if (!Number.isInteger(orderId) || orderId <= 0 || (q.error instanceof ApiError && q.error.status === 404)) {
    return (
      <Section title="Order not found" id="order-heading">
        <p className="mb-3 text-sm">There is no such order in your team.</p>
        {back}
      </Section>
    );
  }
  if (q.isPending) return <Loading label="Loading order…" />;
  if (q.isError) return <ErrorState error={q.error} onRetry={() => void q.refetch()} />;
  const o = q.data;
  const pay = o.payment;

  return (
    <div>
      <div className="mb-4">{back}</div>
      <Section
        title={`Order #${o.id}`}
        id="order-heading"
        actions={
          o.status === 'pending' && (
            <ConfirmDialog
              trigger={<Button variant="secondary">Cancel order</Button>}
              title={`Cancel order #${o.id}?`}
              description="The order will no longer be payable. Nothing has been charged for it."
              confirmLabel="Cancel order"
              onConfirm={async () => {
                const updated = await cancelOrder(o.id);
                qc.setQueryData(['order', o.id], updated);
                void qc.invalidateQueries({ queryKey: ['orders'] });
                toast({ title: 'Order cancelled', tone: 'success' });
              }}
            />
          )
        }
      >
        <dl className="grid gap-3 text-sm sm:grid-cols-2">
          <div>
            <dt className="text-gray-600 dark:text-gray-300">Status</dt>
            <dd className="mt-1" data-testid="order-status">
              <Badge tone={orderStatusTone[o.status]}>{orderStatusLabel[o.status]}</Badge>
            </dd>
          </div>
          <div>
            <dt className="text-gray-600 dark:text-gray-300">Placed</dt>
            <dd className="mt-1">{dateTime(o.created_at)}</dd>
          </div>
          <div>
            <dt className="text-gray-600 dark:text-gray-300">Total</dt>
            <dd className="mt-1 font-semibold">{money(o.total, o.currency)}</dd>
          </div>
          <div>
            <dt className="text-gray-600 dark:text-gray-300">Credits</dt>
            <dd className="mt-1">{credits(o.micro_credits)}</dd>
          </div>
          <div>
            <dt className="text-gray-600 dark:text-gray-300">Your team's balance</dt>
            <dd className="mt-1 tabular-nums" data-testid="order-balance">
              {balance.data ? `${credits(balance.data.balance, 2)} credits` : '—'}
            </dd>
          </div>
        </dl>
      </Section>

      {o.status === 'pending' && pay && (
        <Section title="Payment" id="payment-heading">
          {pay.redirect_url && /^https:\/\//.test(pay.redirect_url) ? (
            <a className="inline-flex rounded-md bg-indigo-600 px-3.5 py-2 text-sm font-semibold text-white hover:bg-indigo-500" href={pay.redirect_url}>
              Pay with card
            </a>
          ) : (
            <>
              <p className="text-sm text-gray-700 dark:text-gray-300">
                {pay.instructions || 'Pay as agreed with the operator. The credits are added once an administrator confirms the payment.'}
              </p>
              <p className="mt-2 text-xs text-gray-500 dark:text-gray-400">This page updates by itself when the payment is confirmed.</p>
            </>
          )}
        </Section>
      )}

      <Section title="Items" id="items-heading">
        <Table caption="Order items">
          <thead>
            <tr>
              <Th>Product</Th>
              <Th className="text-right">Qty</Th>
              <Th className="hidden sm:table-cell text-right">Credits</Th>
              <Th className="text-right">Amount</Th>
            </tr>
          </thead>
          <tbody className="divide-y divide-gray-100 dark:divide-gray-800">
            {o.items.map((it) => (
              <tr key={it.product_id}>
                <Td>{it.name}</Td>
                <Td className="text-right tabular-nums">{it.quantity}</Td>
                <Td className="hidden sm:table-cell text-right tabular-nums">{credits(it.micro_credits)}</Td>
                <Td className="text-right tabular-nums">{money(it.amount, o.currency)}</Td>
              </tr>
            ))}
          </tbody>
        </Table>
      </Section>
    </div>
  );
}
