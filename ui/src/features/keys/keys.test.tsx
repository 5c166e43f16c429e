import { describe, expect, it } from 'vitest';
import { screen, waitFor, within } from '@testing-library/react';
import userEvent from '@testing-library/user-event';
import { customerSession, errorBody, list, mockApi, renderApp } from '../../test/utils';
import { keyStatus, parseModels } from './api';
import { expiryToISO } from './KeysPage';

const key = (id: number, name: string, over: object = {}) => ({ id, name, prefix: `sk-chorus-${id}ab`, user_id: 7, team_id: 3, created_at: '2026-12-01T00:00:00Z', cache_ttl_s: 0, ...over });

describe('helpers', () => {
  it('keyStatus, parseModels, expiryToISO', () => {
    expect(keyStatus(key(1, 'a'))).toBe('active');
    expect(keyStatus(key(1, 'a', { revoked_at: '2026-01-01T00:00:00Z' }))).toBe('revoked');
    expect(keyStatus(key(1, 'a', { expires_at: '2000-01-01T00:00:00Z' }))).toBe('expired');
    expect(parseModels(' a, b  a\nc ')).toEqual(['a', 'b', 'c']);
    const now = new Date('2026-01-01T00:00:00Z');
    expect(expiryToISO('', '', now)).toBeUndefined();
    expect(expiryToISO('7', '', now)).toBe('2026-01-08T00:00:00.000Z');
    expect(expiryToISO('custom', '', now)).toBeUndefined();
    expect(expiryToISO('custom', '2026-02-01', now)).toMatch(/^2026-02-0[12]T/);
  });
});

describe('KeysPage', () => {
  it('Empty and Error states', async () => {
    mockApi({ 'GET /api/auth/session': { body: customerSession() }, 'GET /api/keys': { body: list([]) } });
    renderApp('/keys');
    expect(await screen.findByText('No keys yet')).toBeInTheDocument();
  });

  it('Error: a failed load can be retried', async () => {
    let n = 0;
    mockApi({ 'GET /api/auth/session': { body: customerSession() }, 'GET /api/keys': () => (++n === 1 ? { status: 500, body: errorBody('db down') } : { body: list([key(1, 'web')]) }) });
    renderApp('/keys');
    expect(await screen.findByText('db down')).toBeInTheDocument();
    expect(screen.getByText('Request ID: req_test')).toBeInTheDocument();
    await userEvent.click(screen.getByRole('button', { name: 'Try again' }));
    expect(await screen.findByRole('cell', { name: 'web' })).toBeInTheDocument();
  });

  it('Create: step-up by password, secret shown once, spending limit as a key budget', async () => {
    let stepped = false;
    const { calls } = mockApi({
      'GET /api/auth/session': { body: customerSession() },
      'GET /api/keys': { body: list([key(1, 'web', { allowed_models: ['sim-small'], last_used_at: '2026-12-02T00:00:00Z' }), key(2, 'old', { revoked_at: '2026-12-02T00:00:00Z' })]) },
      'POST /api/keys': () => (stepped ? { status: 201, body: { ...key(3, 'ci'), key: 'sk-chorus-SECRET' } } : { status: 403, body: errorBody('needs a recent verification', 'mfa_required') }),
      'POST /api/auth/reauth': (c) => {
        if ((c.body as { password: string }).password !== 'right') return { status: 400, body: errorBody('The password is incorrect.', '', 'password') };
        stepped = true;
        return { body: { verified: true } };
      },
      'POST /api/budgets': { status: 201, body: { id: 9 } },
    });
    renderApp('/keys');
    await userEvent.click(await screen.findByRole('button', { name: 'Create key' }));
    const dialog = await screen.findByRole('dialog', { name: 'Create an API key' });
    await userEvent.click(within(dialog).getByRole('button', { name: 'Create key' }));
    expect(within(dialog).getByRole('alert')).toHaveTextContent('Give the key a name.');
    await userEvent.type(within(dialog).getByLabelText('Name'), 'ci');
    await userEvent.type(within(dialog).getByLabelText('Models (optional)'), 'sim-small, sim-large');
    await userEvent.selectOptions(within(dialog).getByLabelText('Expires'), '30');
    await userEvent.type(within(dialog).getByLabelText('Credits per period'), 'abc');
    await userEvent.click(within(dialog).getByRole('button', { name: 'Create key' }));
    expect(within(dialog).getByRole('alert')).toHaveTextContent('spending limit');
    await userEvent.clear(within(dialog).getByLabelText('Credits per period'));
    await userEvent.type(within(dialog).getByLabelText('Credits per period'), '2.5');
    await userEvent.click(within(dialog).getByRole('button', { name: 'Create key' }));

    const stepUp = await screen.findByRole('dialog', { name: "Confirm it's you" });
    await userEvent.type(within(stepUp).getByLabelText('Password'), 'wrong');
    await userEvent.click(within(stepUp).getByRole('button', { name: 'Confirm' }));
    expect(await within(stepUp).findByRole('alert')).toHaveTextContent('The password is incorrect.');
    await userEvent.clear(within(stepUp).getByLabelText('Password'));
    await userEvent.type(within(stepUp).getByLabelText('Password'), 'right');
    await userEvent.click(within(stepUp).getByRole('button', { name: 'Confirm' }));

    const shown = await screen.findByRole('dialog', { name: 'Your new key' });
    expect(within(shown).getByTestId('secret')).toHaveTextContent('sk-chorus-SECRET');
    const create = calls.filter((c) => c.path === '/api/keys' && c.method === 'POST');
    expect(create).toHaveLength(2);
    expect(create[1]?.body).toMatchObject({ name: 'ci', allowed_models: ['sim-small', 'sim-large'] });
    expect((create[1]?.body as { expires_at: string }).expires_at).toMatch(/Z$/);
    expect(calls.find((c) => c.path === '/api/budgets')?.body).toEqual({ scope: 'key', scope_id: 3, period: 'month', amount: 2_500_000, hard: true });
    await userEvent.click(within(shown).getByRole('button', { name: 'I have saved it' }));
    await waitFor(() => expect(screen.queryByRole('dialog')).toBeNull());
  });

  it('StepUpCancelled: no key, and it says why', async () => {
    mockApi({
      'GET /api/auth/session': { body: customerSession({ mfa_enabled: true }) },
      'GET /api/keys': { body: list([]) },
      'POST /api/keys': { status: 403, body: errorBody('needs a recent verification', 'mfa_required') },
    });
    renderApp('/keys');
    await userEvent.click(await screen.findByRole('button', { name: 'Create key' }));
    const dialog = await screen.findByRole('dialog', { name: 'Create an API key' });
    await userEvent.type(within(dialog).getByLabelText('Name'), 'ci');
    await userEvent.click(within(dialog).getByRole('button', { name: 'Create key' }));
    const stepUp = await screen.findByRole('dialog', { name: "Confirm it's you" });
    expect(within(stepUp).getByLabelText('Authentication code')).toBeInTheDocument();
    await userEvent.click(within(stepUp).getByRole('button', { name: 'Use a backup code' }));
    expect(within(stepUp).getByLabelText('Backup code')).toBeInTheDocument();
    await userEvent.click(within(stepUp).getByRole('button', { name: 'Cancel' }));
    expect(await screen.findByText(/Verification was cancelled/)).toBeInTheDocument();
  });

  it('SessionEnded: a 401 sends to sign-in and back here afterwards', async () => {
    let ended = false;
    mockApi({
      'GET /api/auth/session': () => (ended ? { status: 401, body: errorBody('Sign in first.') } : { body: customerSession() }),
      'GET /api/keys': () => {
        ended = true;
        return { status: 401, body: errorBody('Your session has ended.') };
      },
    });
    const { router } = renderApp('/keys');
    await waitFor(() => expect(router.state.location.pathname).toBe('/signin'));
    expect(router.state.location.search).toBe('?next=%2Fkeys');
  });

  it('Revoke: asks first', async () => {
    let revoked = false;
    mockApi({
      'GET /api/auth/session': { body: customerSession() },
      'GET /api/keys': () => ({ body: list([key(1, 'web', revoked ? { revoked_at: '2026-12-03T00:00:00Z' } : {})]) }),
      'DELETE /api/keys/1': () => {
        revoked = true;
        return { status: 204 };
      },
    });
    renderApp('/keys');
    await userEvent.click(await screen.findByRole('button', { name: 'Revoke key web' }));
    const confirm = await screen.findByRole('alertdialog');
    expect(within(confirm).getByRole('button', { name: 'Cancel' })).toHaveFocus();
    await userEvent.click(within(confirm).getByRole('button', { name: 'Revoke key' }));
    expect(await screen.findByText('revoked')).toBeInTheDocument();
  });
});
