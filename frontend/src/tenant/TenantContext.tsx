// The clinic served at this address (GET /api/tenant, by Host), and its branding. A host that
// belongs to no clinic gets a page that says so, and nothing else.
import { createContext, useContext, useEffect, type ReactNode } from 'react';
import type { Branding, Tenant } from '../api/types';
import { api } from '../api/client';
import { useApi } from '../api/useApi';
import { Loading } from '../components/Loading';
import { UnknownTenantPage } from '../pages/UnknownTenantPage';
import { ServerErrorPage } from '../pages/ServerErrorPage';

const TenantContext = createContext<Tenant | null>(null);

export function useTenant(): Tenant {
  const t = useContext(TenantContext);
  if (!t) throw new Error('useTenant outside TenantProvider');
  return t;
}

/** Black or white, whichever reads better on the brand colour (WCAG relative luminance). */
export function contrastText(hex: string): string {
  const m = /^#([0-9a-f]{2})([0-9a-f]{2})([0-9a-f]{2})$/i.exec(hex);
  if (!m) return '#ffffff';
  const lin = (c: string) => {
    const v = parseInt(c, 16) / 255;
    return v <= 0.03928 ? v / 12.92 : ((v + 0.055) / 1.055) ** 2.4;
  };
  const L = 0.2126 * lin(m[1]) + 0.7152 * lin(m[2]) + 0.0722 * lin(m[3]);
  return (1.05 / (L + 0.05)) >= ((L + 0.05) / 0.05) ? '#ffffff' : '#111827';
}

export function applyBranding(b: Branding | undefined, fallbackName: string): void {
  const root = document.documentElement;
  const color = b?.primary_color && /^#[0-9a-f]{6}$/i.test(b.primary_color) ? b.primary_color : '#0f766e';
  root.style.setProperty('--brand', color);
  root.style.setProperty('--brand-text', contrastText(color));
  document.title = b?.company_name || fallbackName;
}

export function TenantProvider({ children }: { children: ReactNode }) {
  const { data, error, loading, reload } = useApi((signal) => api.tenant(signal), []);

  useEffect(() => {
    if (data) applyBranding(data.branding, data.name);
  }, [data]);

  if (loading && !data) return <Loading label="Loading…" full />;
  if (error) {
    if (error.status === 404) return <UnknownTenantPage host={window.location.hostname} />;
    return <ServerErrorPage message={error.message} onRetry={reload} />;
  }
  if (!data) return null;
  return <TenantContext.Provider value={data}>{children}</TenantContext.Provider>;
}
