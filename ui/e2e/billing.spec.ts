import { SessionClient } from './client';
import type { Page } from '@playwright/test';
import { checkA11y, expect, shot, signIn, test } from './fixtures';

/** addButton is a pack's "Add to cart" button (its name reads "Add to cart : Pack" or "Add to cart: Pack"). */
const addButton = (p: Page, name: string) => p.getByRole('button', { name: `Add to cart: ${name}` }).or(p.getByRole('button', { name: `Add to cart : ${name}` }));

test('cart, checkout, the order page, cancel', async ({ page, state, problems: _ }) => {
  await signIn(page, state.customer.email, state.customer.password);
  await page.goto('/billing');
  await expect(page.getByTestId('balance-balance')).toHaveText(/^50|^49\.99/);
  await page.getByRole('link', { name: 'Buy credits' }).click();
  await page.getByRole('button', { name: `Add to cart: ${state.productName}` }).or(page.getByRole('button', { name: `Add to cart : ${state.productName}` })).click();
  await expect(page.getByTestId('cart-total')).toHaveText('$10.00');
  await page.getByRole('button', { name: `One more ${state.productName}` }).click();
  await expect(page.getByTestId('cart-total')).toHaveText('$20.00');
  await shot(page, 'billing-cart');
  await checkA11y(page, 'cart');
  await page.getByRole('button', { name: 'Check out' }).click();

  await expect(page).toHaveURL(/\/billing\/orders\/\d+$/);
  await expect(page.getByTestId('order-status')).toHaveText('Awaiting payment');
  await expect(page.getByRole('heading', { name: 'Payment' })).toBeVisible();
  await shot(page, 'billing-order');
  await checkA11y(page, 'order');
  await page.getByRole('button', { name: 'Cancel order' }).click();
  await page.getByRole('alertdialog').getByRole('button', { name: 'Cancel order' }).click();
  await expect(page.getByTestId('order-status')).toHaveText('Cancelled');

  await page.getByRole('link', { name: '← All orders' }).click();
  await expect(page.getByRole('row').nth(1)).toContainText('Cancelled');
  await expect(page.getByRole('row').nth(1)).toContainText('$20.00');
});

test('redeem a bad code; add a budget', async ({ page, state, problems: _ }) => {
  await signIn(page, state.customer.email, state.customer.password);
  await page.goto('/billing');
  await page.getByRole('textbox', { name: 'Code' }).fill('NOT-A-REAL-CODE');
  await page.getByRole('button', { name: 'Redeem' }).click();
  await expect(page.getByRole('alert')).toBeVisible();
  await shot(page, 'billing-redeem-error');

  await page.getByRole('link', { name: 'Budgets' }).click();
  await page.getByRole('button', { name: 'Add budget' }).click();
  const d = page.getByRole('dialog', { name: 'Add a budget' });
  await d.getByLabel('Credits per period').fill('20');
  await d.getByLabel('Hard limit: refuse requests past it').check();
  await checkA11y(page, 'budget dialog');
  await d.getByRole('button', { name: 'Add budget' }).click();
  await expect(page.getByRole('row', { name: /Whole team/ })).toContainText('/ 20');
  await shot(page, 'billing-budgets');
});

test('redeem a code: the balance grows by its credits', async ({ page, state, problems: _ }) => {
  const res = await fetch(`${state.baseURL}/api/admin/codes`, {
    method: 'POST',
    headers: { Authorization: `Bearer ${state.adminKey}`, 'Content-Type': 'application/json' },
    body: JSON.stringify({ count: 1, amount: 3_000_000, memo: 'e2e redeem' }),
  });
  expect(res.status).toBe(201);
  const batch = (await res.json()) as { codes?: string[] };
  const code = batch.codes?.[0] ?? '';
  expect(code).not.toBe('');

  await signIn(page, state.customer.email, state.customer.password);
  await page.goto('/billing');
  const balance = page.getByTestId('balance-balance');
  await expect(balance).toHaveText(/\d/);
  const before = (await balance.textContent()) ?? '';
  await page.getByRole('textbox', { name: 'Code' }).fill(code);
  await page.getByRole('button', { name: 'Redeem' }).click();
  await expect(balance).not.toHaveText(before, { timeout: 5_000 });
  const after = parseFloat((await balance.textContent()) ?? '0');
  expect(after - parseFloat(before)).toBeCloseTo(3, 1);
  await shot(page, 'billing-redeemed');
});

test('two tabs add packs at once: both land; a stale edit shows the refreshed cart', async ({ page, context, state, problems: _ }) => {
  await signIn(page, state.customer.email, state.customer.password);
  const other = await context.newPage();
  await Promise.all([page.goto('/billing/buy'), other.goto('/billing/buy')]);
  const add = (p: typeof page, name: string) => addButton(p, name).click();
  await Promise.all([add(page, state.productName), add(other, 'Team pack')]);
  await other.reload();
  await expect(other.getByTestId('cart-total')).toHaveText('$90.00');

  // The other tab changes the cart; this tab's next change carries an old version and is refused with the cart as it is now.
  await other.getByRole('button', { name: 'One more Team pack' }).click();
  await expect(other.getByTestId('cart-total')).toHaveText('$170.00');
  await page.getByRole('button', { name: `One more ${state.productName}` }).click();
  await expect(page.getByRole('status').filter({ hasText: 'Your cart changed in another tab' })).toBeVisible();
  await expect(page.getByTestId('cart-total')).toHaveText('$170.00');
  await expect(page.getByLabel('Quantity of Team pack')).toHaveText('2');
  await shot(page, 'billing-cart-conflict');
  await page.getByRole('button', { name: `One more ${state.productName}` }).click();
  await expect(page.getByTestId('cart-total')).toHaveText('$180.00');
  await other.close();

  await page.getByRole('button', { name: 'Remove Team pack' }).click();
  await expect(page.getByTestId('cart-total')).toHaveText('$20.00');
  await page.getByRole('button', { name: `Remove ${state.productName}` }).click();
  await expect(page.getByText('Your cart is empty')).toBeVisible();
});

test('an order marked paid by an admin updates the order page and the balance live', async ({ page, state, problems: _ }) => {
  await signIn(page, state.customer.email, state.customer.password);
  const stream = page.waitForResponse((r) => r.url().endsWith('/api/events/stream'));
  await page.goto('/billing/buy');
  expect((await stream).headers()['content-type']).toMatch(/^text\/event-stream/);
  await addButton(page, state.productName).click();
  await expect(page.getByTestId('cart-total')).toHaveText('$10.00');
  await page.getByRole('button', { name: 'Check out' }).click();
  await expect(page).toHaveURL(/\/billing\/orders\/\d+$/);
  const orderId = Number(/(\d+)$/.exec(page.url())?.[1]);
  await expect(page.getByTestId('order-status')).toHaveText('Awaiting payment');
  await expect(page.getByTestId('order-balance')).toHaveText(/credits$/);
  const before = (await page.getByTestId('order-balance').textContent()) ?? '';
  // A marker that a reload would wipe.
  await page.evaluate(() => ((window as unknown as { __noReload: boolean }).__noReload = true));

  const admin = new SessionClient(state.baseURL);
  await admin.login(state.admin.email, state.admin.password);
  await admin.reauth(state.admin.password);
  const paidAt = Date.now();
  await admin.call('POST', `/api/admin/orders/${orderId}/mark-paid`, { reference: `e2e-bank-transfer-${orderId}` });

  // The order page polls only every 15 s: within 4 s, only the event stream can have told it.
  await expect(page.getByTestId('order-status')).toHaveText('Credits added', { timeout: 4_000 });
  await expect(page.getByTestId('order-balance')).not.toHaveText(before, { timeout: 4_000 });
  console.log(`order ${orderId}: paid → page updated in ${Date.now() - paidAt} ms`);
  const after = Number(((await page.getByTestId('order-balance').textContent()) ?? '').replace(/[^\d.]/g, ''));
  expect(after - Number(before.replace(/[^\d.]/g, ''))).toBeCloseTo(10, 1);
  expect(await page.evaluate(() => (window as unknown as { __noReload?: boolean }).__noReload)).toBe(true);
  await expect(page.getByRole('heading', { name: 'Payment' })).toHaveCount(0);
  await shot(page, 'billing-order-paid');
});
