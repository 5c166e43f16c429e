import { useState, type FormEvent } from 'react';
import { useMutation, useQuery, useQueryClient } from '@tanstack/react-query';
import { Button } from '../../components/Button';
import { Field } from '../../components/Field';
import { Badge, Section } from '../../components/Page';
import { Pager, usePager } from '../../components/Pager';
import { EmptyState, ErrorState, InlineError, Loading } from '../../components/States';
import { Table, Td, Th } from '../../components/Table';
import { useToast } from '../../components/Toast';
import { fetchAll } from '../../lib/api';
import { credits, dateTime } from '../../lib/format';
import { BalanceCards } from './BalanceCards';
import { balanceKey, redeem, type Posting } from './api';

const kindLabel: Record<string, string> = {
  topup: 'Purchase',
  spend: 'Usage',
  refund: 'Refund',
  redemption: 'Code redeemed',
  grant: 'Grant',
};

export default function OverviewPage() {
  return (
    <div>
      <Section title="Balance" id="balance-heading">
        <BalanceCards />
      </Section>
      <RedeemSection />
      <LedgerSection />
    </div>
  );
}

function RedeemSection() {
  const qc = useQueryClient();
  const toast = useToast();
  const [code, setCode] = useState('');
  const m = useMutation({
    mutationFn: () => redeem(code.trim()),
    onSuccess: (r) => {
      setCode('');
      qc.setQueryData(balanceKey, r.balance);
      void qc.invalidateQueries({ queryKey: ['ledger'] });
      toast({ title: 'Code redeemed', description: `${credits(r.posting.amount)} credits added.`, tone: 'success' });
    },
  });
  function submit(e: FormEvent) {
    e.preventDefault();
    if (code.trim()) m.mutate();
  }
  return (
    <Section title="Redeem a code" id="redeem-heading" description="Promotion and gift codes add credits to your team.">
      <form onSubmit={submit} className="flex flex-wrap items-end gap-3" noValidate>
        <Field label="Code" className="min-w-0 flex-1" value={code} maxLength={64} autoComplete="off" onChange={(e) => setCode(e.target.value)} />
        <Button type="submit" pending={m.isPending} disabled={!code.trim()}>
          Redeem
        </Button>
      </form>
      <div className="mt-3">
        <InlineError error={m.error} />
      </div>
    </Section>
  );
}

function LedgerSection() {
  const q = useQuery({ queryKey: ['ledger'], queryFn: () => fetchAll<Posting>('/api/credits/ledger', 4) });
  const rows = q.data ? [...q.data.items].reverse() : [];
  const pager = usePager(rows, 20);
  return (
    <Section title="History" id="ledger-heading" description="Every change to your team's credits, newest first.">
      {q.isPending ? (
        <Loading label="Loading history…" />
      ) : q.isError ? (
        <ErrorState error={q.error} onRetry={() => void q.refetch()} />
      ) : rows.length === 0 ? (
        <EmptyState title="No activity yet">Buy credits or redeem a code to get started.</EmptyState>
      ) : (
        <>
          <Table caption="Credit history">
            <thead>
              <tr>
                <Th>Date</Th>
                <Th>What</Th>
                <Th className="hidden sm:table-cell">Details</Th>
                <Th className="text-right">Credits</Th>
              </tr>
            </thead>
            <tbody className="divide-y divide-gray-100 dark:divide-gray-800">
              {pager.rows.map((p) => (
                <tr key={p.id}>
                  <Td className="whitespace-nowrap">{dateTime(p.created_at)}</Td>
                  <Td>
                    <Badge tone={p.amount >= 0 ? 'green' : 'gray'}>{kindLabel[p.kind] ?? p.kind}</Badge>
                  </Td>
                  <Td className="hidden sm:table-cell">{p.memo || p.ref || '—'}</Td>
                  <Td className={`text-right tabular-nums ${p.amount >= 0 ? 'text-green-700 dark:text-green-400' : ''}`}>
                    {p.amount >= 0 ? '+' : '−'}
                    {credits(Math.abs(p.amount))}
                  </Td>
                </tr>
              ))}
            </tbody>
          </Table>
          <Pager {...pager} label="History" />
          {q.data?.truncated && <p className="mt-2 text-xs text-gray-500">Showing the oldest 2,000 entries.</p>}
        </>
      )}
    </Section>
  );
}
