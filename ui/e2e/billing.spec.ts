import { checkA11y, expect, shot, signIn, test } from './fixtures';

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
