import { useState, type FormEvent } from 'react';
import { useMutation, useQuery, useQueryClient } from '@tanstack/react-query';
import { Button } from '../../components/Button';
import { ConfirmDialog } from '../../components/ConfirmDialog';
import { SecretBox } from '../../components/CopyButton';
import { Dialog } from '../../components/Dialog';
import { Checkbox, Field, SelectField } from '../../components/Field';
import { Badge, PageHeader, Section } from '../../components/Page';
import { EmptyState, ErrorState, InlineError, Loading } from '../../components/States';
import { Table, Td, Th } from '../../components/Table';
import { useToast } from '../../components/Toast';
import { ApiError, STEP_UP_CANCELLED } from '../../lib/api';
import { dateTime, toMicro } from '../../lib/format';
import { useCurrentUser } from '../auth/session';
import { createBudget } from '../billing/api';
import { createKey, keyStatus, keysKey, listKeys, parseModels, revokeKey, type APIKey, type CreatedKey } from './api';

export default function KeysPage() {
  const keys = useQuery({ queryKey: keysKey, queryFn: listKeys });
  const [creating, setCreating] = useState(false);

  return (
    <div>
      <PageHeader
        title="API keys"
        description="Keys let your applications call the gateway. A key's secret is shown once, when it is created."
        actions={<Button onClick={() => setCreating(true)}>Create key</Button>}
      />
      <Section title="Your team's keys">
        {keys.isPending ? (
          <Loading label="Loading keys…" />
        ) : keys.isError ? (
          <ErrorState error={keys.error} onRetry={() => void keys.refetch()} />
        ) : keys.data.length === 0 ? (
          <EmptyState title="No keys yet">Create a key to call the gateway from your code.</EmptyState>
        ) : (
          <KeysTable keys={keys.data} />
        )}
      </Section>
      <CreateKeyDialog open={creating} onOpenChange={setCreating} />
    </div>
  );
}

function KeysTable({ keys }: { keys: APIKey[] }) {
  const qc = useQueryClient();
  const toast = useToast();
  const sorted = [...keys].sort((a, b) => b.id - a.id);
  return (
    <Table caption="API keys">
      <thead>
        <tr>
          <Th>Name</Th>
          <Th>Key</Th>
          <Th className="hidden md:table-cell">Models</Th>
          <Th className="hidden lg:table-cell">Created</Th>
          <Th className="hidden lg:table-cell">Last used</Th>
          <Th className="hidden sm:table-cell">Expires</Th>
          <Th>Status</Th>
          <Th>
            <span className="sr-only">Actions</span>
          </Th>
        </tr>
      </thead>
      <tbody className="divide-y divide-gray-100 dark:divide-gray-800">
        {sorted.map((k) => {
          const st = keyStatus(k);
          return (
            <tr key={k.id}>
              <Td className="font-medium text-gray-900 dark:text-gray-100">{k.name}</Td>
              <Td>
                <code className="font-mono text-xs">{k.prefix}…</code>
              </Td>
              <Td className="hidden md:table-cell">{k.allowed_models?.length ? k.allowed_models.join(', ') : 'All models'}</Td>
              <Td className="hidden lg:table-cell">{dateTime(k.created_at)}</Td>
              <Td className="hidden lg:table-cell">{k.last_used_at ? dateTime(k.last_used_at) : 'Never'}</Td>
              <Td className="hidden sm:table-cell">{k.expires_at ? dateTime(k.expires_at) : 'Never'}</Td>
              <Td>
                <Badge tone={st === 'active' ? 'green' : st === 'expired' ? 'amber' : 'gray'}>{st}</Badge>
              </Td>
              <Td className="text-right">
                {st !== 'revoked' && (
                  <ConfirmDialog
                    trigger={
                      <Button variant="ghost" size="sm" aria-label={`Revoke key ${k.name}`}>
                        Revoke
                      </Button>
                    }
                    title={`Revoke "${k.name}"?`}
                    description="Applications using this key stop working at once. This cannot be undone."
                    confirmLabel="Revoke key"
                    onConfirm={async () => {
                      await revokeKey(k.id);
                      await qc.invalidateQueries({ queryKey: keysKey });
                      toast({ title: 'Key revoked', description: k.name, tone: 'success' });
                    }}
                  />
                )}
              </Td>
            </tr>
          );
        })}
      </tbody>
    </Table>
  );
}

const EXPIRY = [
  { value: '', label: 'Never' },
  { value: '7', label: 'In 7 days' },
  { value: '30', label: 'In 30 days' },
  { value: '90', label: 'In 90 days' },
  { value: '365', label: 'In a year' },
  { value: 'custom', label: 'On a date…' },
];

/** expiryToISO turns the form's choice into expires_at (end of the chosen day for a date). */
export function expiryToISO(choice: string, customDate: string, now = new Date()): string | undefined {
  if (!choice) return undefined;
  if (choice === 'custom') {
    if (!customDate) return undefined;
    return new Date(`${customDate}T23:59:59`).toISOString();
  }
  return new Date(now.getTime() + Number(choice) * 86_400_000).toISOString();
}

function CreateKeyDialog({ open, onOpenChange }: { open: boolean; onOpenChange: (o: boolean) => void }) {
  const [created, setCreated] = useState<CreatedKey | null>(null);
  const [warning, setWarning] = useState('');
  const close = () => {
    onOpenChange(false);
    setTimeout(() => {
      setCreated(null);
      setWarning('');
    }, 200);
  };
  return (
    <Dialog
      open={open}
      onOpenChange={(o) => (o ? onOpenChange(true) : close())}
      title={created ? 'Your new key' : 'Create an API key'}
      dismissible={!created}
      wide
    >
      {created ? (
        <div className="space-y-4">
          <SecretBox label={`Secret of "${created.name}"`} value={created.key} />
          {warning && <p className="text-sm text-amber-800 dark:text-amber-300">{warning}</p>}
          <div className="flex justify-end">
            <Button onClick={close}>I have saved it</Button>
          </div>
        </div>
      ) : (
        <CreateKeyForm
          onCreated={(k, w) => {
            setCreated(k);
            setWarning(w);
          }}
          onCancel={close}
        />
      )}
    </Dialog>
  );
}

function CreateKeyForm({ onCreated, onCancel }: { onCreated: (k: CreatedKey, warning: string) => void; onCancel: () => void }) {
  const me = useCurrentUser();
  const qc = useQueryClient();
  const [name, setName] = useState('');
  const [models, setModels] = useState('');
  const [expiry, setExpiry] = useState('');
  const [customDate, setCustomDate] = useState('');
  const [limit, setLimit] = useState('');
  const [period, setPeriod] = useState<'day' | 'month'>('month');
  const [hard, setHard] = useState(true);
  const [formError, setFormError] = useState('');
  const owner = me.user.team_role === 'owner';

  const m = useMutation({
    mutationFn: async () => {
      const key = await createKey({
        name: name.trim(),
        ...(parseModels(models).length ? { allowed_models: parseModels(models) } : {}),
        ...(expiryToISO(expiry, customDate) ? { expires_at: expiryToISO(expiry, customDate) } : {}),
      });
      let warning = '';
      const amount = limit.trim() ? toMicro(limit) : null;
      if (amount) {
        try {
          await createBudget({ scope: 'key', scope_id: key.id, period, amount, hard });
        } catch (err) {
          warning = `The key was created, but its spending limit was not: ${err instanceof Error ? err.message : 'error'}. Add it under Billing → Budgets.`;
        }
      }
      return { key, warning };
    },
    onSuccess: ({ key, warning }) => {
      void qc.invalidateQueries({ queryKey: keysKey });
      void qc.invalidateQueries({ queryKey: ['budgets'] });
      onCreated(key, warning);
    },
  });

  function submit(e: FormEvent) {
    e.preventDefault();
    setFormError('');
    if (!name.trim()) return setFormError('Give the key a name.');
    if (expiry === 'custom' && !customDate) return setFormError('Choose the expiry date.');
    if (limit.trim() && !toMicro(limit)) return setFormError('The spending limit must be a number of credits, such as 25 or 2.5.');
    m.mutate();
  }

  const cancelled = m.error instanceof ApiError && m.error.code === STEP_UP_CANCELLED;
  const apiParam = m.error instanceof ApiError ? m.error.param : '';
  return (
    <form onSubmit={submit} className="space-y-4" noValidate>
      <Field label="Name" required value={name} maxLength={128} onChange={(e) => setName(e.target.value)} hint="What uses this key, such as “ci” or “website”." error={apiParam === 'name' ? errorText(m.error) : undefined} />
      <Field
        label="Models (optional)"
        value={models}
        onChange={(e) => setModels(e.target.value)}
        hint="Model names separated by commas, such as sim-small, sim-large. Empty: every model."
        error={apiParam === 'allowed_models' ? errorText(m.error) : undefined}
      />
      <div className="grid gap-4 sm:grid-cols-2">
        <SelectField label="Expires" value={expiry} onChange={(e) => setExpiry(e.target.value)}>
          {EXPIRY.map((o) => (
            <option key={o.value} value={o.value}>
              {o.label}
            </option>
          ))}
        </SelectField>
        {expiry === 'custom' && <Field label="Expiry date" type="date" value={customDate} min={new Date().toISOString().slice(0, 10)} onChange={(e) => setCustomDate(e.target.value)} />}
      </div>
      <fieldset className="space-y-3 rounded-md border border-gray-200 p-3 dark:border-gray-700">
        <legend className="px-1 text-sm font-medium">Spending limit (optional)</legend>
        {owner ? (
          <>
            <div className="grid gap-4 sm:grid-cols-2">
              <Field label="Credits per period" inputMode="decimal" value={limit} onChange={(e) => setLimit(e.target.value)} placeholder="e.g. 25" />
              <SelectField label="Period" value={period} onChange={(e) => setPeriod(e.target.value as 'day' | 'month')}>
                <option value="day">Per day (UTC)</option>
                <option value="month">Per month (UTC)</option>
              </SelectField>
            </div>
            <Checkbox label="Refuse requests past the limit" hint="Otherwise the team is alerted once per period." checked={hard} onChange={(e) => setHard(e.target.checked)} />
          </>
        ) : (
          <p className="text-sm text-gray-600 dark:text-gray-300">Only a team owner can set spending limits.</p>
        )}
      </fieldset>
      {formError && (
        <p role="alert" className="text-sm text-red-700 dark:text-red-300">
          {formError}
        </p>
      )}
      {!cancelled && !apiParam && <InlineError error={m.error} />}
      {cancelled && <p className="text-sm text-gray-700 dark:text-gray-300">Verification was cancelled, so no key was created.</p>}
      <div className="flex justify-end gap-2">
        <Button variant="secondary" onClick={onCancel}>
          Cancel
        </Button>
        <Button type="submit" pending={m.isPending}>
          Create key
        </Button>
      </div>
    </form>
  );
}

function errorText(err: unknown): string {
  return err instanceof Error ? err.message : '';
}

