import { api, query, request, type List } from '../../lib/api';

export interface Balance {
  object: 'balance';
  team_id: number;
  balance: number;
  reserved: number;
  available: number;
  credits: string;
  available_credits: string;
}

export interface Posting {
  id: number;
  kind: 'topup' | 'spend' | 'refund' | 'redemption' | 'grant' | string;
  memo: string;
  ref?: string;
  amount: number;
  credits: string;
  created_at: string;
}

export interface Product {
  id: number;
  name: string;
  description: string;
  price: number;
  micro_credits: number;
  currency: string;
  price_display: string;
  credits: string;
}

export interface CartItem {
  product_id: number;
  name: string;
  unit_price: number;
  unit_micro_credits: number;
  quantity: number;
  amount: number;
  micro_credits: number;
  available: boolean;
  amount_display: string;
}

export interface Cart {
  object: 'cart';
  version: number;
  items: CartItem[];
  currency: string;
  total: number;
  micro_credits: number;
  total_display: string;
}

export interface Payment {
  id: number;
  provider: string;
  status: string;
  amount: number;
  currency: string;
  redirect_url?: string;
  instructions?: string;
}

export interface OrderItem {
  product_id: number;
  name: string;
  unit_price: number;
  quantity: number;
  amount: number;
  micro_credits: number;
  amount_display: string;
}

export interface Order {
  object: 'order';
  id: number;
  status: 'pending' | 'paid' | 'fulfilled' | 'failed' | 'cancelled' | 'refunded';
  currency: string;
  total: number;
  micro_credits: number;
  provider: string;
  items: OrderItem[];
  payment?: Payment;
  total_display: string;
  created_at: string;
  paid_at?: string;
  fulfilled_at?: string;
  refunded_at?: string;
}

export interface Budget {
  id: number;
  scope: 'team' | 'user' | 'key';
  scope_id: number;
  period: 'day' | 'month';
  amount: number;
  hard: boolean;
  webhook_url?: string;
  period_start: string;
  spent: number;
  reserved: number;
  webhook_secret?: string;
}

export interface BudgetEvent {
  id: number;
  type: string;
  budget_id?: number;
  data: { budget_id?: number; scope?: string; scope_id?: number; period?: string; amount?: number; spent?: number; hard?: boolean };
  created_at: string;
  webhook?: { status: string; attempts: number; last_status?: number };
}

export const balanceKey = ['balance'] as const;
export const cartKey = ['cart'] as const;

export const getBalance = () => api<Balance>('/api/credits/balance');
export const getLedger = (after?: number, limit = 50) => api<List<Posting>>(`/api/credits/ledger${query({ after, limit })}`);
export const redeem = (code: string) => api<{ posting: Posting; balance: Balance }>('/api/credits/redeem', { method: 'POST', body: { code } });

export const getProducts = () => api<List<Product>>('/api/shop/products?limit=100');
export const getCart = () => api<Cart>('/api/cart');
export const addToCart = (product_id: number, quantity: number) => api<Cart>('/api/cart', { method: 'POST', body: { product_id, quantity } });
export const setCartItem = (product_id: number, quantity: number, version: number) =>
  api<Cart>(`/api/cart/items/${product_id}`, { method: 'PUT', body: { quantity, version } });
export const removeCartItem = (product_id: number, version: number) =>
  api<Cart>(`/api/cart/items/${product_id}`, { method: 'DELETE', body: { version } });

/** checkout places the order; the same idempotency key replays the same order, so a retry never buys twice. */
export async function checkout(idempotencyKey: string, provider?: string): Promise<Order> {
  const r = await request<Order>('/api/checkout', {
    method: 'POST',
    headers: { 'Idempotency-Key': idempotencyKey },
    body: provider ? { provider } : {},
  });
  return r.data;
}

export const getOrders = (after?: number, status?: string) => api<List<Order>>(`/api/orders${query({ after, status, limit: 50 })}`);
export const getOrder = (id: number) => api<Order>(`/api/orders/${id}`);
export const cancelOrder = (id: number) => api<Order>(`/api/orders/${id}/cancel`, { method: 'POST' });

export const getBudgets = () => api<List<Budget & { object: 'budget' }>>('/api/budgets?limit=500');
export interface NewBudget {
  scope: 'team' | 'user' | 'key';
  scope_id?: number;
  period: 'day' | 'month';
  amount: number;
  hard: boolean;
  webhook_url?: string;
}
export const createBudget = (b: NewBudget) => api<Budget>('/api/budgets', { method: 'POST', body: b });
export const updateBudget = (id: number, c: { amount?: number; hard?: boolean; webhook_url?: string; rotate_secret?: boolean }) =>
  api<Budget>(`/api/budgets/${id}`, { method: 'PUT', body: c });
export const deleteBudget = (id: number) => api<undefined>(`/api/budgets/${id}`, { method: 'DELETE' });
export const getEvents = () => api<List<BudgetEvent>>('/api/events?limit=50');

/** newIdempotencyKey is a random key for one checkout attempt. */
export function newIdempotencyKey(): string {
  return `checkout-${crypto.randomUUID()}`;
}
