import { useState, type FormEvent } from 'react';
import { useMutation, useQuery, useQueryClient } from '@tanstack/react-query';
import { Button } from '../../components/Button';
import { ConfirmDialog } from '../../components/ConfirmDialog';
import { SecretBox } from '../../components/CopyButton';
import { Dialog } from '../../components/Dialog';
import { Checkbox, Field, SelectField } from '../../components/Field';
import { Badge, Section } from '../../components/Page';
import { EmptyState, ErrorState, InlineError, Loading } from '../../components/States';
import { Table, Td, Th } from '../../components/Table';
import { useToast } from '../../components/Toast';
import { credits, dateTime, toMicro } from '../../lib/format';
import { useCurrentUser } from '../auth/session';
import { keysKey, listKeys, type APIKey } from '../keys/api';
import { createBudget, deleteBudget, getBudgets, getEvents, updateBudget, type Budget } from './api';

const budgetsKey = ['budgets'] as const;

export default function BudgetsPage() {
  const me = useCurrentUser();
  const owner = me.user.team_role === 'owner';
  const q = useQuery({ queryKey: budgetsKey, queryFn: getBudgets });
  const keys = useQuery({ queryKey: keysKey, queryFn: listKeys });
  const [creating, setCreating] = useState(false);
  const [secret, setSecret] = useState('');

  return (
    <div>
      <Section
        title="Budgets"
        id="budgets-heading"
        description="Cap or watch spending per day or month (UTC): a hard budget refuses requests past it, a soft one alerts once per period."
        actions={owner && <Button onClick={() => setCreating(true)}>Add budget</Button>}
      >
        {!owner && <p className="mb-3 text-sm text-gray-600 dark:text-gray-300">Only a team owner can change budgets.</p>}
        {q.isPending ? (
          <Loading label="Loading budgets…" />
        ) : q.isError ? (
          <ErrorState error={q.error} onRetry={() => void q.refetch()} />
        ) : q.data.data.length === 0 ? (
          <EmptyState title="No budgets">Without a budget, spending is limited only by your credits.</EmptyState>
        ) : (
          <BudgetTable budgets={q.data.data} keys={keys.data ?? []} owner={owner} onSecret={setSecret} />
        )}
      </Section>
      <Alerts />
      <Dialog open={creating} onOpenChange={setCreating} title="Add a budget">
        {creating && (
          <BudgetForm
            keys={keys.data ?? []}
            onDone={(s) => {
              setCreating(false);
              if (s) setSecret(s);
            }}
          />
        )}
      </Dialog>
      <Dialog open={!!secret} onOpenChange={(o) => !o && setSecret('')} title="Webhook signing secret" dismissible={false}>
        <SecretBox label="Verify alert webhooks with this secret" value={secret} />
        <div className="mt-4 flex justify-end">
          <Button onClick={() => setSecret('')}>I have saved it</Button>
        </div>
      </Dialog>
    </div>
  );
}

function scopeLabel(b: Budget, keys: APIKey[]): string {
  if (b.scope === 'team') return 'Whole team';
  if (b.scope === 'key') return `Key ${keys.find((k) => k.id === b.scope_id)?.name ?? `#${b.scope_id}`}`;
  return `Member #${b.scope_id}`;
}

function BudgetTable({ budgets, keys, owner, onSecret }: { budgets: Budget[]; keys: APIKey[]; owner: boolean; onSecret: (s: string) => void }) {
  const qc = useQueryClient();
  const [editing, setEditing] = useState<Budget | null>(null);
  return (
    <>
      <Table caption="Budgets">
        <thead>
          <tr>
            <Th>Applies to</Th>
            <Th>Spent this period</Th>
            <Th className="hidden sm:table-cell">Kind</Th>
            {owner && (
              <Th>
                <span className="sr-only">Actions</span>
              </Th>
            )}
          </tr>
        </thead>
        <tbody className="divide-y divide-gray-100 dark:divide-gray-800">
          {budgets.map((b) => (
            <tr key={b.id}>
              <Td>
                <span className="font-medium text-gray-900 dark:text-gray-100">{scopeLabel(b, keys)}</span>
                <span className="block text-xs">per {b.period}</span>
              </Td>
              <Td>
                <span className="tabular-nums">
                  {credits(b.spent, 2)} / {credits(b.amount, 2)}
                </span>
                <meter className="mt-1 block w-full max-w-[10rem]" min={0} max={b.amount} low={b.amount * 0.8} high={b.amount * 0.95} optimum={0} value={Math.min(b.spent, b.amount)} aria-label={`Spent of ${scopeLabel(b, keys)} budget`} />
              </Td>
              <Td className="hidden sm:table-cell">
                <Badge tone={b.hard ? 'red' : 'indigo'}>{b.hard ? 'Hard limit' : 'Alert'}</Badge>
                {b.webhook_url && <span className="block text-xs">webhook</span>}
              </Td>
              {owner && (
                <Td className="whitespace-nowrap text-right">
                  <Button variant="ghost" size="sm" onClick={() => setEditing(b)} aria-label={`Edit budget ${scopeLabel(b, keys)}`}>
                    Edit
                  </Button>
                  <ConfirmDialog
                    trigger={
                      <Button variant="ghost" size="sm" aria-label={`Delete budget ${scopeLabel(b, keys)}`}>
                        Delete
                      </Button>
                    }
                    title="Delete this budget?"
                    description={`${scopeLabel(b, keys)}, ${credits(b.amount)} credits per ${b.period}. Spending will no longer be ${b.hard ? 'capped' : 'watched'} by it.`}
                    confirmLabel="Delete budget"
                    onConfirm={async () => {
                      await deleteBudget(b.id);
                      await qc.invalidateQueries({ queryKey: budgetsKey });
                    }}
                  />
                </Td>
              )}
            </tr>
          ))}
        </tbody>
      </Table>
      <Dialog open={!!editing} onOpenChange={(o) => !o && setEditing(null)} title="Edit budget">
        {editing && (
          <BudgetForm
            keys={keys}
            budget={editing}
            onDone={(s) => {
              setEditing(null);
              if (s) onSecret(s);
            }}
          />
        )}
      </Dialog>
    </>
  );
}

function BudgetForm({ keys, budget, onDone }: { keys: APIKey[]; budget?: Budget; onDone: (secret?: string) => void }) {
  const qc = useQueryClient();
  const toast = useToast();
  const [scope, setScope] = useState<'team' | 'key'>(budget?.scope === 'key' ? 'key' : 'team');
  const [keyId, setKeyId] = useState(budget?.scope === 'key' ? String(budget.scope_id) : '');
  const [period, setPeriod] = useState<'day' | 'month'>(budget?.period ?? 'month');
  const [amount, setAmount] = useState(budget ? String(budget.amount / 1e6) : '');
  const [hard, setHard] = useState(budget?.hard ?? false);
  const [webhook, setWebhook] = useState(budget?.webhook_url ?? '');
  const [rotate, setRotate] = useState(false);
  const [formError, setFormError] = useState('');
  const activeKeys = keys.filter((k) => !k.revoked_at);

  const m = useMutation({
    mutationFn: async () => {
      const micro = toMicro(amount) ?? 0;
      if (budget) return updateBudget(budget.id, { amount: micro, hard, webhook_url: webhook.trim(), ...(rotate ? { rotate_secret: true } : {}) });
      return createBudget({ scope, ...(scope === 'key' ? { scope_id: Number(keyId) } : {}), period, amount: micro, hard, ...(webhook.trim() ? { webhook_url: webhook.trim() } : {}) });
    },
    onSuccess: (b) => {
      void qc.invalidateQueries({ queryKey: budgetsKey });
      toast({ title: budget ? 'Budget updated' : 'Budget added', tone: 'success' });
      onDone(b.webhook_secret);
    },
  });

  function submit(e: FormEvent) {
    e.preventDefault();
    setFormError('');
    if (!toMicro(amount)) return setFormError('The amount must be a number of credits, such as 100 or 2.5.');
    if (!budget && scope === 'key' && !keyId) return setFormError('Choose the key.');
    if (webhook.trim() && !/^https?:\/\//.test(webhook.trim())) return setFormError('The webhook must be an http(s) URL.');
    m.mutate();
  }

  return (
    <form onSubmit={submit} className="space-y-4" noValidate>
      {!budget && (
        <div className="grid gap-4 sm:grid-cols-2">
          <SelectField label="Applies to" value={scope} onChange={(e) => setScope(e.target.value as 'team' | 'key')}>
            <option value="team">The whole team</option>
            <option value="key">One API key</option>
          </SelectField>
          {scope === 'key' && (
            <SelectField label="Key" value={keyId} onChange={(e) => setKeyId(e.target.value)}>
              <option value="">Choose a key…</option>
              {activeKeys.map((k) => (
                <option key={k.id} value={k.id}>
                  {k.name} ({k.prefix}…)
                </option>
              ))}
            </SelectField>
          )}
          <SelectField label="Period (UTC)" value={period} onChange={(e) => setPeriod(e.target.value as 'day' | 'month')}>
            <option value="day">Day</option>
            <option value="month">Month</option>
          </SelectField>
        </div>
      )}
      <Field label="Credits per period" inputMode="decimal" required value={amount} onChange={(e) => setAmount(e.target.value)} />
      <Checkbox label="Hard limit: refuse requests past it" hint="Otherwise an alert is raised once per period." checked={hard} onChange={(e) => setHard(e.target.checked)} />
      <Field label="Alert webhook (optional)" type="url" value={webhook} onChange={(e) => setWebhook(e.target.value)} placeholder="https://example.com/hooks/chorus" hint="Alerts are POSTed here, signed with a secret shown once." />
      {budget?.webhook_url && <Checkbox label="Issue a new signing secret" checked={rotate} onChange={(e) => setRotate(e.target.checked)} />}
      {formError && (
        <p role="alert" className="text-sm text-red-700 dark:text-red-300">
          {formError}
        </p>
      )}
      <InlineError error={m.error} />
      <div className="flex justify-end gap-2">
        <Button variant="secondary" onClick={() => onDone()}>
          Cancel
        </Button>
        <Button type="submit" pending={m.isPending}>
          {budget ? 'Save' : 'Add budget'}
        </Button>
      </div>
    </form>
  );
}

function Alerts() {
  const q = useQuery({ queryKey: ['events'], queryFn: getEvents });
  const rows = q.data ? [...q.data.data].reverse() : [];
  return (
    <Section title="Alerts" id="alerts-heading" description="Budgets that reached their amount.">
      {q.isPending ? (
        <Loading label="Loading alerts…" />
      ) : q.isError ? (
        <ErrorState error={q.error} onRetry={() => void q.refetch()} />
      ) : rows.length === 0 ? (
        <EmptyState title="No alerts" />
      ) : (
        <ul className="divide-y divide-gray-100 text-sm dark:divide-gray-800">
          {rows.map((e) => (
            <li key={e.id} className="py-2">
              <span className="font-medium">{dateTime(e.created_at)}</span> — {e.data.scope ?? 'budget'} budget #{e.data.budget_id ?? e.budget_id}: spent {credits(e.data.spent ?? 0, 2)} of{' '}
              {credits(e.data.amount ?? 0, 2)} credits this {e.data.period ?? 'period'}
              {e.webhook && <span className="text-xs text-gray-500"> · webhook {e.webhook.status}</span>}
            </li>
          ))}
        </ul>
      )}
    </Section>
  );
}
