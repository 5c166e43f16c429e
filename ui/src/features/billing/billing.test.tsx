import { describe, expect, it } from 'vitest';
import { screen, waitFor, within } from '@testing-library/react';
import userEvent from '@testing-library/user-event';
import { customerSession, errorBody, list, mockApi, renderApp } from '../../test/utils';

const session = { 'GET /api/auth/session': { body: customerSession() } };
const balance = { object: 'balance', team_id: 3, balance: 50_000_000, reserved: 10_000_000, available: 40_000_000, credits: '50', available_credits: '40' };
const product = (id: number, name: string, price: number) => ({ id, name, description: `${name} desc`, price, micro_credits: price * 10_000, currency: 'usd', price_display: '', credits: '' });
const cart = (version: number, qty: number) => ({
  object: 'cart',
  version,
  currency: 'usd',
  items: qty ? [{ product_id: 1, name: 'Starter', unit_price: 1000, unit_micro_credits: 10_000_000, quantity: qty, amount: 1000 * qty, micro_credits: 10_000_000 * qty, available: true, amount_display: '' }] : [],
  total: 1000 * qty,
  micro_credits: 10_000_000 * qty,
  total_display: '',
});
const order = (status: string) => ({
  object: 'order',
  id: 12,
  status,
  currency: 'usd',
  total: 2000,
  micro_credits: 20_000_000,
  provider: 'manual',
  items: [{ product_id: 1, name: 'Starter', unit_price: 1000, quantity: 2, amount: 2000, micro_credits: 20_000_000, amount_display: '' }],
  payment: { id: 1, provider: 'manual', status: 'pending', amount: 2000, currency: 'usd', instructions: 'Pay 20.00 USD quoting order 12' },
  total_display: '',
  created_at: '2026-12-05T10:00:00Z',
});

describe('Overview', () => {
  it('balance, history and redeeming a code', async () => {
    const { calls } = mockApi({
      ...session,
      'GET /api/credits/balance': { body: balance },
      'GET /api/credits/ledger': {
        body: list([
          { id: 1, kind: 'grant', memo: 'Welcome', amount: 50_000_000, credits: '50', created_at: '2026-12-01T00:00:00Z' },
          { id: 2, kind: 'spend', memo: '', amount: -668, credits: '-0.000668', created_at: '2026-12-02T00:00:00Z' },
        ]),
      },
      'POST /api/credits/redeem': (c) =>
        (c.body as { code: string }).code === 'GOOD'
          ? { body: { posting: { id: 3, kind: 'redemption', amount: 5_000_000 }, balance: { ...balance, available: 45_000_000, balance: 55_000_000 } } }
          : { status: 400, body: errorBody('code is invalid or expired', '', 'code') },
    });
    renderApp('/billing');
    expect(await screen.findByTestId('balance-available')).toHaveTextContent('40');
    expect(screen.getByTestId('balance-reserved')).toHaveTextContent('10');
    expect(await screen.findByText('Welcome')).toBeInTheDocument();
    const rows = screen.getAllByRole('row');
    expect(rows[1]).toHaveTextContent('Usage'); // newest first
    expect(rows[1]).toHaveTextContent('−0.000668');
    await userEvent.type(screen.getByRole('textbox', { name: 'Code' }), 'BAD');
    await userEvent.click(screen.getByRole('button', { name: 'Redeem' }));
    expect(await screen.findByText('code is invalid or expired')).toBeInTheDocument();
    await userEvent.clear(screen.getByRole('textbox', { name: 'Code' }));
    await userEvent.type(screen.getByRole('textbox', { name: 'Code' }), 'GOOD');
    await userEvent.click(screen.getByRole('button', { name: 'Redeem' }));
    await waitFor(() => expect(screen.getByTestId('balance-available')).toHaveTextContent('45'));
    expect(calls.filter((c) => c.path === '/api/credits/redeem').map((c) => c.body)).toEqual([{ code: 'BAD' }, { code: 'GOOD' }]);
  });

  it('Empty history', async () => {
    mockApi({ ...session, 'GET /api/credits/balance': { body: balance }, 'GET /api/credits/ledger': { body: list([]) } });
    renderApp('/billing');
    expect(await screen.findByText('No activity yet')).toBeInTheDocument();
  });
});

describe('Buy', () => {
  it('add, change quantity, check out with an idempotency key, land on the order', async () => {
    let c = cart(0, 0);
    const { calls } = mockApi({
      ...session,
      'GET /api/shop/products': { body: list([product(1, 'Starter', 1000), product(2, 'Team', 8000)]) },
      'GET /api/cart': () => ({ body: c }),
      'POST /api/cart': () => {
        c = cart(1, 1);
        return { body: c };
      },
      'PUT /api/cart/items/1': (call) => {
        if ((call.body as { version: number }).version !== c.version) return { status: 409, body: { ...errorBody('changed', 'cart_version_conflict'), cart: c } };
        c = cart(c.version + 1, (call.body as { quantity: number }).quantity);
        return { body: c };
      },
      'POST /api/checkout': { status: 201, body: order('pending') },
      'GET /api/orders/12': { body: order('pending') },
    });
    const { router } = renderApp('/billing/buy');
    expect(await screen.findByText('Your cart is empty')).toBeInTheDocument();
    expect(await screen.findByText('$80.00')).toBeInTheDocument();
    await userEvent.click(screen.getByRole('button', { name: /Add to cart.*Starter/ }));
    expect(await screen.findByTestId('cart-total')).toHaveTextContent('$10.00');
    await userEvent.click(screen.getByRole('button', { name: 'One more Starter' }));
    await waitFor(() => expect(screen.getByTestId('cart-total')).toHaveTextContent('$20.00'));
    await userEvent.click(screen.getByRole('button', { name: 'Check out' }));
    await waitFor(() => expect(router.state.location.pathname).toBe('/billing/orders/12'));
    const checkout = calls.find((x) => x.path === '/api/checkout');
    expect(checkout?.headers['Idempotency-Key']).toMatch(/^checkout-[0-9a-f-]{36}$/);
    expect(await screen.findByText('Pay 20.00 USD quoting order 12')).toBeInTheDocument();
  });

  it('Conflict: a stale cart is replaced by the current one', async () => {
    mockApi({
      ...session,
      'GET /api/shop/products': { body: list([]) },
      'GET /api/cart': { body: cart(1, 1) },
      'DELETE /api/cart/items/1': { status: 409, body: { ...errorBody('changed', 'cart_version_conflict'), cart: cart(5, 3) } },
    });
    renderApp('/billing/buy');
    expect(await screen.findByText('Nothing on sale right now')).toBeInTheDocument();
    await userEvent.click(await screen.findByRole('button', { name: 'One less Starter' }));
    expect(await screen.findByText(/Your cart changed in another tab/)).toBeInTheDocument();
    expect(screen.getByTestId('cart-total')).toHaveTextContent('$30.00');
  });
});

describe('Orders', () => {
  it('list, open, cancel', async () => {
    let status = 'pending';
    mockApi({
      ...session,
      'GET /api/orders': () => ({ body: list([order(status)]) }),
      'GET /api/orders/12': () => ({ body: order(status) }),
      'POST /api/orders/12/cancel': () => {
        status = 'cancelled';
        return { body: order('cancelled') };
      },
    });
    const { router } = renderApp('/billing/orders');
    await userEvent.click(await screen.findByRole('link', { name: '#12' }));
    await waitFor(() => expect(router.state.location.pathname).toBe('/billing/orders/12'));
    expect(await screen.findByTestId('order-status')).toHaveTextContent('Awaiting payment');
    await userEvent.click(screen.getByRole('button', { name: 'Cancel order' }));
    await userEvent.click(within(await screen.findByRole('alertdialog')).getByRole('button', { name: 'Cancel order' }));
    await waitFor(() => expect(screen.getByTestId('order-status')).toHaveTextContent('Cancelled'));
  });

  it('NotFound and Empty', async () => {
    mockApi({ ...session, 'GET /api/orders': { body: list([]) } });
    renderApp('/billing/orders/99');
    expect(await screen.findByText('There is no such order in your team.')).toBeInTheDocument();
    renderApp('/billing/orders');
    expect(await screen.findByText('No orders yet')).toBeInTheDocument();
  });
});

describe('Budgets', () => {
  it('create (secret once), edit, delete, alerts', async () => {
    const budgets = [{ id: 5, scope: 'key', scope_id: 1, period: 'day', amount: 5_000_000, hard: true, period_start: '', spent: 1_000_000, reserved: 0 }];
    const { calls } = mockApi({
      ...session,
      'GET /api/budgets': () => ({ body: list(budgets) }),
      'GET /api/keys': { body: list([{ id: 1, name: 'web', prefix: 'sk-chorus-ab', created_at: '' }]) },
      'GET /api/events': { body: list([{ id: 1, type: 'budget.exceeded', data: { budget_id: 5, scope: 'team', period: 'month', amount: 1_000_000, spent: 1_200_000 }, created_at: '2026-12-01T00:00:00Z', webhook: { status: 'delivered', attempts: 1 } }]) },
      'POST /api/budgets': { status: 201, body: { id: 6, webhook_secret: 'whsec_shown_once' } },
      'PUT /api/budgets/5': { body: { id: 5 } },
      'DELETE /api/budgets/5': { status: 204 },
    });
    renderApp('/billing/budgets');
    expect(await screen.findByText('Key web')).toBeInTheDocument();
    expect(await screen.findByText(/spent 1.2 of 1 credits this month/)).toBeInTheDocument();

    await userEvent.click(screen.getByRole('button', { name: 'Add budget' }));
    const d = await screen.findByRole('dialog', { name: 'Add a budget' });
    await userEvent.type(within(d).getByLabelText('Credits per period'), '100');
    await userEvent.type(within(d).getByLabelText('Alert webhook (optional)'), 'ftp://x');
    await userEvent.click(within(d).getByRole('button', { name: 'Add budget' }));
    expect(within(d).getByRole('alert')).toHaveTextContent('http(s) URL');
    await userEvent.clear(within(d).getByLabelText('Alert webhook (optional)'));
    await userEvent.type(within(d).getByLabelText('Alert webhook (optional)'), 'https://example.com/h');
    await userEvent.click(within(d).getByRole('button', { name: 'Add budget' }));
    const secret = await screen.findByRole('dialog', { name: 'Webhook signing secret' });
    expect(within(secret).getByTestId('secret')).toHaveTextContent('whsec_shown_once');
    await userEvent.click(within(secret).getByRole('button', { name: 'I have saved it' }));
    expect(calls.find((c) => c.path === '/api/budgets' && c.method === 'POST')?.body).toEqual({ scope: 'team', period: 'month', amount: 100_000_000, hard: false, webhook_url: 'https://example.com/h' });

    await userEvent.click(screen.getByRole('button', { name: 'Edit budget Key web' }));
    const e = await screen.findByRole('dialog', { name: 'Edit budget' });
    await userEvent.clear(within(e).getByLabelText('Credits per period'));
    await userEvent.type(within(e).getByLabelText('Credits per period'), '7');
    await userEvent.click(within(e).getByRole('button', { name: 'Save' }));
    await waitFor(() => expect(calls.find((c) => c.method === 'PUT')?.body).toEqual({ amount: 7_000_000, hard: true, webhook_url: '' }));

    await userEvent.click(screen.getByRole('button', { name: 'Delete budget Key web' }));
    await userEvent.click(within(await screen.findByRole('alertdialog')).getByRole('button', { name: 'Delete budget' }));
    await waitFor(() => expect(calls.some((c) => c.method === 'DELETE')).toBe(true));
  });

  it('Member: read-only', async () => {
    mockApi({ 'GET /api/auth/session': { body: customerSession({ team_role: 'member' }) }, 'GET /api/budgets': { body: list([]) }, 'GET /api/keys': { body: list([]) }, 'GET /api/events': { body: list([]) } });
    renderApp('/billing/budgets');
    expect(await screen.findByText('Only a team owner can change budgets.')).toBeInTheDocument();
    expect(screen.queryByRole('button', { name: 'Add budget' })).toBeNull();
    expect(await screen.findByText('No alerts')).toBeInTheDocument();
  });
});
