import { StrictMode } from 'react';
import { createRoot } from 'react-dom/client';
import { QueryClientProvider } from '@tanstack/react-query';
import { RouterProvider } from 'react-router';
import { newQueryClient } from './app/queryClient';
import { newRouter } from './app/router';
import { ToastProvider } from './components/Toast';
import { installGlobalErrorReporting } from './features/errors/report';
import { applyStyleNonce } from './lib/nonce';
import './index.css';

applyStyleNonce();
installGlobalErrorReporting();

const root = document.getElementById('root');
if (root) {
  createRoot(root).render(
    <StrictMode>
      <QueryClientProvider client={newQueryClient()}>
        <ToastProvider>
          <RouterProvider router={newRouter()} />
        </ToastProvider>
      </QueryClientProvider>
    </StrictMode>,
  );
}
