import { useQuery } from '@tanstack/react-query';
import { Link } from 'react-router';
import { Badge, Section } from '../../components/Page';
import { Pager, usePager } from '../../components/Pager';
import { EmptyState, ErrorState, Loading } from '../../components/States';
import { Table, Td, Th } from '../../components/Table';
import { fetchAll } from '../../lib/api';
import { credits, dateTime, money } from '../../lib/format';
import type { Order } from './api';
import { orderStatusLabel, orderStatusTone } from './status';

export default function OrdersPage() {
  const q = useQuery({ queryKey: ['orders'], queryFn: () => fetchAll<Order>('/api/orders', 10) });
  const rows = q.data ? [...q.data.items].reverse() : [];
  const pager = usePager(rows, 20);
  return (
    <Section title="Orders" id="orders-heading" description="Your team's purchases, newest first.">
      {q.isPending ? (
        <Loading label="Loading orders…" />
      ) : q.isError ? (
        <ErrorState error={q.error} onRetry={() => void q.refetch()} />
      ) : rows.length === 0 ? (
        <EmptyState title="No orders yet">
          <Link className="font-semibold text-indigo-700 hover:underline dark:text-indigo-300" to="/billing/buy">
            Buy credits
          </Link>
        </EmptyState>
      ) : (
        <>
          <Table caption="Orders">
            <thead>
              <tr>
                <Th>Order</Th>
                <Th className="hidden sm:table-cell">Date</Th>
                <Th>Status</Th>
                <Th className="hidden sm:table-cell text-right">Credits</Th>
                <Th className="text-right">Total</Th>
              </tr>
            </thead>
            <tbody className="divide-y divide-gray-100 dark:divide-gray-800">
              {pager.rows.map((o) => (
                <tr key={o.id}>
                  <Td>
                    <Link className="font-semibold text-indigo-700 hover:underline dark:text-indigo-300" to={`/billing/orders/${o.id}`}>
                      #{o.id}
                    </Link>
                  </Td>
                  <Td className="hidden sm:table-cell whitespace-nowrap">{dateTime(o.created_at)}</Td>
                  <Td>
                    <Badge tone={orderStatusTone[o.status]}>{orderStatusLabel[o.status]}</Badge>
                  </Td>
                  <Td className="hidden sm:table-cell text-right tabular-nums">{credits(o.micro_credits)}</Td>
                  <Td className="text-right tabular-nums">{money(o.total, o.currency)}</Td>
                </tr>
              ))}
            </tbody>
          </Table>
          <Pager {...pager} label="Orders" />
        </>
      )}
    </Section>
  );
}
