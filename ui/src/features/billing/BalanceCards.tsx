import { useQuery } from '@tanstack/react-query';
import { ErrorState, Loading } from '../../components/States';
import { credits } from '../../lib/format';
import { balanceKey, getBalance } from './api';

/** BalanceCards shows what the team can spend and what requests in flight hold. */
export function BalanceCards() {
  const b = useQuery({ queryKey: balanceKey, queryFn: getBalance });
  if (b.isPending) return <Loading label="Loading balance…" />;
  if (b.isError) return <ErrorState error={b.error} onRetry={() => void b.refetch()} />;
  const cards = [
    { label: 'Available', value: credits(b.data.available, 2), note: 'credits you can spend now' },
    { label: 'Reserved', value: credits(b.data.reserved, 2), note: 'held for requests in flight' },
    { label: 'Balance', value: credits(b.data.balance, 2), note: 'available + reserved' },
  ];
  return (
    <dl className="grid gap-4 sm:grid-cols-3">
      {cards.map((c) => (
        <div key={c.label} className="rounded-lg bg-white p-4 shadow-sm ring-1 ring-gray-200 dark:bg-gray-900 dark:ring-gray-800">
          <dt className="text-sm text-gray-600 dark:text-gray-300">{c.label}</dt>
          <dd className="mt-1 text-2xl font-semibold tabular-nums text-gray-900 dark:text-gray-100" data-testid={`balance-${c.label.toLowerCase()}`}>
            {c.value}
          </dd>
          <dd className="text-xs text-gray-500 dark:text-gray-400">{c.note}</dd>
        </div>
      ))}
    </dl>
  );
}
